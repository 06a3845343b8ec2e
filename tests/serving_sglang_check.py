"""Run inside the vLLM venv (which also holds SGLang 0.5.23 installed without its CUDA dependencies)
by tests/test_serving_sglang.py: constrain's SGLang grammar backend against SGLang's own base
classes and registry (no SGLang server: its wheel needs CUDA). Prints ``RESULT {...}``."""

import json
import sys


def main(model_dir: str) -> None:
    import torch
    from sglang.srt.constrained import base_grammar_backend as sg
    from transformers import AutoTokenizer

    from constrain.integrations import sglang as cs

    cs.register()
    tok = AutoTokenizer.from_pretrained(model_dir)
    backend = sg.GRAMMAR_BACKEND_REGISTRY["constrain"](None, tok, 49152, {2})
    out = {"registered": isinstance(backend, sg.BaseGrammarBackend)}
    g = backend.dispatch_json(json.dumps({"type": "object", "properties": {"name": {"type": "string"}},
                                          "required": ["name"]}))
    out["is_grammar_object"] = isinstance(g, sg.BaseGrammarObject)
    helper = g.try_jump_forward(tok)
    text, _ = g.jump_forward_str_state(helper)
    out["jump_forward"] = text
    ids = tok.encode(text, add_special_tokens=False)
    g.jump_and_retokenize([], ids, -1)
    mask = g.allocate_vocab_mask(49152, 2, "cpu")
    g.fill_vocab_mask(mask, 1)
    logits = torch.zeros(2, 49152)
    g.apply_vocab_mask(logits, g.move_vocab_mask(mask[1:2], "cpu"))
    allowed = torch.isfinite(logits[0]).nonzero().flatten().tolist()
    out["allowed_after_jump"] = len(allowed)
    ok = allowed == g.matcher.allowed_tokens().tolist() and tok.convert_tokens_to_ids("Ċ") not in allowed
    out["mask_matches_matcher"] = ok
    c = g.copy()
    a = tok.encode("Ann", add_special_tokens=False)
    for t in a:
        c.accept_token(t)
    c.rollback(len(a))
    out["copy_independent"] = g.matcher.num_tokens == len(ids) and c.matcher.num_tokens == len(ids)
    rest = tok.encode('Ann"}', add_special_tokens=False)
    for t in rest:
        g.accept_token(t)
    g.accept_token(2)
    out["terminated_after_eos"] = g.is_terminated()
    bad = backend.dispatch_regex("((")
    out["bad_regex_is_invalid_object"] = isinstance(bad, sg.InvalidGrammarObject)
    r = backend.dispatch_ebnf("json")
    out["ebnf_shipped_name"] = isinstance(r, cs.ConstrainGrammar)
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
