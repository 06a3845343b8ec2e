"""The language-model protocol the samplers use, and `HFModel`, its adapter for transformers.

Protocol (structural; toy models in tests implement it in a few lines)::

    class LanguageModel(Protocol):
        vocab: Vocabulary                      # token id -> bytes, EOS ids
        def logprobs(self, contexts: list[list[int]]) -> np.ndarray: ...
            # [len(contexts), vocab.size] natural-log next-token probabilities after each context
            # (a context is the list of *generated* token ids; the prompt is the model's business)

Samplers call ``logprobs`` once per step with the (deduplicated) contexts of all live particles.
"""

from __future__ import annotations

import math
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

__all__ = ["LanguageModel", "HFModel"]


@runtime_checkable
class LanguageModel(Protocol):
    """Anything with ``vocab`` and ``logprobs(contexts) -> [len(contexts), vocab.size]``."""

    vocab: object

    def logprobs(self, contexts: list[list[int]]) -> np.ndarray: ...


class _Store:
    """KV tensors of one batched forward: ``layers[i] = (keys, values)`` of shape [B, H, T, D]."""

    __slots__ = ("layers", "rows")

    def __init__(self, layers: list[tuple], rows: int):
        self.layers = layers
        self.rows = rows


class _Entry:
    """Cache entry of one context: its next-token log-probs and where its KV cache lives."""

    __slots__ = ("logprobs", "store", "row", "stamp")

    def __init__(self, logprobs: np.ndarray, store: _Store, row: int, stamp: int):
        self.logprobs = logprobs
        self.store = store
        self.row = row
        self.stamp = stamp


class HFModel:
    """A transformers causal LM behind the sampler protocol, with a per-context KV cache.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A causal LM (``model(input_ids, past_key_values=..., use_cache=True)``).
    tokenizer
        Its tokenizer; the `Vocabulary` is built from it (cached per tokenizer and logits width).
    prompt : str | list[dict] | None
        The prompt. A string is wrapped in the tokenizer's chat template as one user message
        when the tokenizer has a template and ``chat`` is not False; a list of ``{"role",
        "content"}`` messages always goes through the template; ``None`` needs ``prompt_ids``.
    prompt_ids : sequence of int, optional
        Token ids of the prompt, used as is (overrides ``prompt``).
    temperature : float
        Log-probabilities are ``log_softmax(logits / temperature)``.
    chat : bool | None
        Force (True) or skip (False) the chat template for a string prompt; None: use it when the
        tokenizer has one.
    system : str, optional
        System message prepended when the chat template is used.
    vocab : Vocabulary, optional
        Use this vocabulary instead of building one.

    Notes
    -----
    KV cache. Every context the samplers ask about is keyed by its token tuple. A call for
    contexts whose parents (the context minus its last token) were computed by the previous call
    runs *one* batched forward of one token per context: the parents' KV rows are gathered into a
    batch (``index_select`` when they come from one earlier batch: the same rows in the same order
    reuse that batch as is; resampling, which copies and reorders particles, becomes a gather).
    Contexts without a cached parent are prefilled from the cached prompt. Identical contexts
    (particles copied by resampling) share one row. Entries not used by the latest call are
    dropped, except the prompt's. Cost per step: one forward of ``B`` new tokens plus, when the
    particle set changed, one copy of the gathered KV (``B * prompt+t`` positions per layer).
    """

    def __init__(self, model, tokenizer, prompt=None, *, prompt_ids: Sequence[int] | None = None,
                 temperature: float = 1.0, chat: bool | None = None, system: str | None = None,
                 vocab=None):
        import torch

        from ..vocab import logits_width, vocabulary_for

        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.model = model
        self.tokenizer = tokenizer
        self.temperature = float(temperature)
        self._torch = torch
        self.vocab = vocab if vocab is not None else vocabulary_for(tokenizer, logits_width(model, tokenizer))
        self.prompt_ids = self._prompt_ids(prompt, prompt_ids, chat, system)
        self._cache: dict[tuple[int, ...], _Entry] = {}
        self._stamp = 0
        try:
            self._device = next(model.parameters()).device
        except StopIteration:  # pragma: no cover
            self._device = torch.device("cpu")
        self.forward_calls = 0
        self.forward_tokens = 0
        try:
            import inspect
            params = inspect.signature(model.forward).parameters
        except (TypeError, ValueError):  # pragma: no cover
            params = {}
        # transformers >= 5.2x names the argument `cache` (`past_key_values` is deprecated)
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._keep_kw = "logits_to_keep" in params

    # ------------------------------------------------------------------------------- prompt
    def _prompt_ids(self, prompt, prompt_ids, chat, system) -> list[int]:
        tok = self.tokenizer
        if prompt_ids is not None:
            ids = [int(i) for i in prompt_ids]
        elif prompt is None:
            ids = []
        else:
            messages = None
            if isinstance(prompt, (list, tuple)):
                messages = list(prompt)
            elif chat or (chat is None and getattr(tok, "chat_template", None)):
                messages = [{"role": "user", "content": str(prompt)}]
            if messages is not None:
                if system is not None and not (messages and messages[0].get("role") == "system"):
                    messages = [{"role": "system", "content": system}] + messages
                text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
                ids = tok(text, add_special_tokens=False)["input_ids"]
            else:
                ids = tok(str(prompt))["input_ids"]
        if not ids:
            bos = getattr(tok, "bos_token_id", None)
            if bos is None:
                raise ValueError("empty prompt and the tokenizer has no BOS token")
            ids = [int(bos)]
        return [int(i) for i in ids]

    def set_prompt(self, prompt=None, *, prompt_ids=None, chat=None, system=None) -> None:
        """Replace the prompt (drops the KV cache)."""
        self.prompt_ids = self._prompt_ids(prompt, prompt_ids, chat, system)
        self._cache.clear()

    def clear_cache(self) -> None:
        """Drop every cached KV tensor."""
        self._cache.clear()

    # ------------------------------------------------------------------------------- forward
    def _forward(self, input_ids, layers):
        from transformers import DynamicCache

        torch = self._torch
        past = DynamicCache(ddp_cache_data=layers) if layers is not None else DynamicCache()
        kw = {self._cache_kw: past, "use_cache": True}
        if self._keep_kw:
            kw["logits_to_keep"] = 1  # no lm_head over the whole prompt at prefill
        with torch.inference_mode():
            out = self.model(input_ids=input_ids.to(self._device), **kw)
        self.forward_calls += 1
        self.forward_tokens += int(input_ids.numel())
        logits = out.logits[:, -1, :].float()
        if self.temperature != 1.0:
            logits = logits / self.temperature
        lp = torch.log_softmax(logits, dim=-1).cpu().numpy()
        cache = getattr(out, "past_key_values", None)
        if cache is None:
            cache = getattr(out, "cache", None)
        new_layers = [(layer.keys, layer.values) for layer in cache.layers]
        return lp, _Store(new_layers, int(input_ids.shape[0]))

    def _prompt_entry(self) -> _Entry:
        e = self._cache.get(())
        if e is None:
            torch = self._torch
            ids = torch.tensor([self.prompt_ids], dtype=torch.long)
            lp, store = self._forward(ids, None)
            e = _Entry(lp[0], store, 0, self._stamp)
            self._cache[()] = e
        return e

    def _gather(self, parents: list[_Entry]):
        """Batched KV layers for ``parents`` (one row each, in order)."""
        torch = self._torch
        s0 = parents[0].store
        rows = [p.row for p in parents]
        if all(p.store is s0 for p in parents):
            if rows == list(range(s0.rows)):
                return s0.layers
            idx = torch.tensor(rows, dtype=torch.long, device=self._device)
            return [(k.index_select(0, idx), v.index_select(0, idx)) for k, v in s0.layers]
        out = []
        for li in range(len(s0.layers)):
            ks = [p.store.layers[li][0][p.row:p.row + 1] for p in parents]
            vs = [p.store.layers[li][1][p.row:p.row + 1] for p in parents]
            out.append((torch.cat(ks, 0), torch.cat(vs, 0)))
        return out

    def logprobs(self, contexts: list[list[int]]) -> np.ndarray:
        """Next-token log-probabilities after ``prompt + context`` for each context.

        Returns a float32 array ``[len(contexts), vocab.size]``. See the class notes for the
        cache; contexts must have the same length to share one forward (the samplers' case).
        """
        torch = self._torch
        self._stamp += 1
        stamp = self._stamp
        keys = [tuple(int(t) for t in c) for c in contexts]
        uniq = list(dict.fromkeys(keys))
        todo: dict[int, list[tuple[int, ...]]] = {}  # length -> contexts extending a cached parent
        cold: list[tuple[int, ...]] = []
        for k in uniq:
            e = self._cache.get(k)
            if e is not None:
                e.stamp = stamp
                continue
            if not k:
                self._prompt_entry().stamp = stamp
                continue
            parent = self._cache.get(k[:-1])
            if parent is not None:
                todo.setdefault(len(k), []).append(k)
            else:
                cold.append(k)
        for _, group in sorted(todo.items()):
            parents = [self._cache[k[:-1]] for k in group]
            layers = self._gather(parents)
            ids = torch.tensor([[k[-1]] for k in group], dtype=torch.long)
            lp, store = self._forward(ids, layers)
            for j, k in enumerate(group):
                self._cache[k] = _Entry(lp[j], store, j, stamp)
        for k in cold:
            root = self._prompt_entry()
            ids = torch.tensor([list(k)], dtype=torch.long)
            # DynamicCache.update concatenates into new tensors: the prompt's KV is not modified
            lp, store = self._forward(ids, list(root.store.layers))
            self._cache[k] = _Entry(lp[0], store, 0, stamp)
        v = self.vocab.size
        out = np.empty((len(keys), v), dtype=np.float32)
        for i, k in enumerate(keys):
            row = self._cache[k].logprobs if k else self._prompt_entry().logprobs
            w = min(v, row.shape[0])
            out[i, :w] = row[:w]
            if w < v:
                out[i, w:] = -math.inf
        # keep only what the latest call used (and the prompt)
        for k in [k for k, e in self._cache.items() if e.stamp != stamp and k]:
            del self._cache[k]
        return out
