"""A tiny masked-diffusion LM and its training loop: a test and benchmark helper (not library code).

`TinyDiffusionLM(vocab_size, ...)` is a small bidirectional transformer whose forward returns
logits ``[B, L, V]``; `train_tiny_diffusion` trains it with the masked-diffusion objective on a
list of token sequences. Used by tests/test_infill_diffusion.py and benchmarks/bench_infill.py.
"""

from __future__ import annotations

import time
from typing import Sequence


def _torch_module():
    import torch.nn as nn

    class TinyDiffusionLM(nn.Module):
        """A small bidirectional transformer for masked diffusion (LLaDA objective)."""

        def __init__(self, vocab_size: int, *, d_model: int = 64, n_layers: int = 2, n_heads: int = 4,
                     max_len: int = 128, mask_token_id: int = 0):
            import torch

            super().__init__()
            self.mask_token_id = mask_token_id
            self.vocab_size = vocab_size
            self.emb = nn.Embedding(vocab_size, d_model)
            self.pos = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
            layer = nn.TransformerEncoderLayer(d_model, n_heads, 4 * d_model, dropout=0.0, batch_first=True,
                                               norm_first=True)
            self.body = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab_size)

        def forward(self, input_ids):
            h = self.emb(input_ids) + self.pos[: input_ids.shape[1]]
            return self.head(self.norm(self.body(h)))

    return TinyDiffusionLM


def __getattr__(name: str):
    if name == "TinyDiffusionLM":
        cls = _torch_module()
        globals()["TinyDiffusionLM"] = cls
        return cls
    raise AttributeError(name)


def train_tiny_diffusion(model, sequences: Sequence[Sequence[int]], *, length: int, eos_id: int,
                         steps: int = 300, batch_size: int = 32, lr: float = 3e-3, seed: int = 0,
                         time_budget_s: float | None = None) -> list[float]:
    """Train ``model`` with the masked-diffusion objective on ``sequences`` (token ids, padded
    with EOS to ``length``): mask each position with probability t ~ U(0, 1), cross-entropy on
    masked positions weighted by 1/t. Returns the loss curve."""
    import torch

    torch.manual_seed(seed)
    data = torch.full((len(sequences), length), eos_id, dtype=torch.long)
    for i, s in enumerate(sequences):
        s = list(s)[:length]
        data[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    t0 = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, len(data), (batch_size,))
        x = data[idx]
        t = torch.rand(batch_size, 1).clamp_min(0.05)
        m = torch.rand(x.shape) < t
        xin = torch.where(m, torch.full_like(x, model.mask_token_id), x)
        logits = model(xin)
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.reshape(-1),
                                               reduction="none").reshape(x.shape)
        loss = ((ce * m) / t).sum() / (batch_size * length)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if time_budget_s is not None and time.perf_counter() - t0 > time_budget_s:
            break
    model.eval()
    return losses
