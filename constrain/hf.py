"""Hugging Face ``transformers`` integration: a ``LogitsProcessor`` that enforces a constraint.

Usage::

    proc = constrain.LogitsProcessor(constrain.Regex(r"\\d{3}-\\d{4}"), tokenizer)
    out = model.generate(**inputs, logits_processor=[proc], max_new_tokens=16)

Works with greedy and sampled decoding, left-padded batches, ``num_return_sequences`` and beam
search. Matcher states are keyed by each row's *generated* token ids (not by row index), so beam
reordering between steps is handled; rows that share a generated prefix share one matcher.
"""

from __future__ import annotations

import numpy as np
import torch
import transformers

from .bitmask import apply_mask, set_token_bits
from .errors import TokenRejected
from .outcome import COMPLETE, FAILED, TRUNCATED, DeadEnd, Outcome, check_on_error, warn_failure
from .vocab import vocabulary_for

__all__ = ["LogitsProcessor"]

class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_FINISHED = _Sentinel("finished")  # the row emitted EOS; HF pads it from now on


class _Failed:
    """State of a row whose matcher raised, hit a dead end, or holds a rejected token (a ``-inf``
    beam): it allows only EOS from now on; ``error`` says why."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException):
        self.error = error


class LogitsProcessor(transformers.LogitsProcessor):
    """Mask the scores of every token the constraint does not allow next.

    Parameters
    ----------
    constraint
        A constraint (an object with ``.compile(vocab)``, e.g. ``constrain.Regex``) or an already
        compiled one (an object with ``.matcher()`` and no ``.compile``).
    tokenizer
        The Hugging Face tokenizer of the model. Optional when ``vocab`` is given.
    vocab : Vocabulary, optional
        Use this vocabulary instead of building one from ``tokenizer``.
    vocab_size : int, optional
        Logits width to build the vocabulary for; defaults to the width of the scores at the first
        call (so the vocabulary, and the compiled constraint, are built lazily then).

    Notes
    -----
    * The vocabulary comes from `constrain.vocab.vocabulary_for` (cached per tokenizer object, logits
      width and EOS ids, for as long as the tokenizer lives), so many processors for one tokenizer
      share one; its EOS ids follow `constrain.vocab.default_eos_ids` unless ``eos_ids`` is given.
      The constraint is compiled once per processor.
    * The processor returns a masked *copy* of the scores (HF may keep the raw logits it passed).
    * Scores wider than the vocabulary: the extra ids are disallowed.
    * A new generation is detected when ``input_ids`` is not one column longer than at the previous
      call, or when the prompt part of the rows changed; state is then reset. Call :meth:`reset`
      (or use a fresh processor) when you feed a previous output back in as a new prompt.
    * ``on_error="eos"`` (default): never raises inside ``generate`` once built. A row whose
      matcher raises (a limit, the mask time budget), whose matcher allows nothing, or whose last
      token the constraint rejects (a ``-inf`` beam) *fails*: it allows only the tokenizer's EOS
      and pad ids from then on (the vocabulary's EOS ids when no tokenizer is given), so that HF,
      which stops on its own EOS id, finishes it; one ``RuntimeWarning`` per failed row (none
      for rejected beams). ``on_error="raise"``: the matcher's exception propagates out of
      ``generate``.
    * After ``generate``, :meth:`outcomes` tells for every row whether the constraint was
      completed, cut by the token budget, or failed (with the error).
    """

    def __init__(self, constraint, tokenizer=None, *, vocab=None, vocab_size: int | None = None,
                 eos_ids=None, on_error: str = "eos"):
        is_compiled = not hasattr(constraint, "compile") and hasattr(constraint, "matcher")
        if not is_compiled and not hasattr(constraint, "compile"):
            raise TypeError(
                f"constraint must have .compile(vocab) or .matcher(); got {type(constraint).__name__}")
        if tokenizer is None and vocab is None and not is_compiled:
            raise ValueError("pass a tokenizer or a vocab")
        self.constraint = constraint
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.vocab_size = vocab_size
        # The vocabulary's EOS ids: `vocab.default_eos_ids` (the library's one rule) unless given.
        self.eos_ids = tuple(int(e) for e in eos_ids) if eos_ids is not None else None
        self.compiled = constraint if is_compiled else None
        self.on_error = check_on_error(on_error)
        self._eos: np.ndarray | None = None  # int64 ids used for EOS masks
        self._stop: frozenset[int] = frozenset()  # ids that finish a row
        self._extra_ids: np.ndarray = np.zeros(0, dtype=np.int64)  # pad id for finished rows
        self.reset()

    # -- state ------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the current generation (the compiled constraint and vocabulary are kept)."""
        self._prompt_len: int | None = None
        self._prompt: torch.Tensor | None = None
        self._last_len: int | None = None
        self._states: dict[tuple[int, ...], object] = {}
        self._root = None
        self._failures: dict[tuple[int, ...], BaseException] = {}  # prefix -> why it failed

    def _build(self, width: int) -> None:
        if self.vocab is None:
            if self.compiled is not None and getattr(self.compiled, "vocab", None) is not None:
                self.vocab = self.compiled.vocab
            elif self.tokenizer is not None:
                size = self.vocab_size if self.vocab_size is not None else width
                self.vocab = vocabulary_for(self.tokenizer, size, self.eos_ids)
        if self.compiled is None:
            self.compiled = self.constraint.compile(self.vocab)
        eos: list[int] = []
        if self.vocab is not None and getattr(self.vocab, "eos_ids", None) is not None:
            eos = [int(e) for e in np.asarray(self.vocab.eos_ids).reshape(-1)]
        if not eos and self.tokenizer is not None and getattr(self.tokenizer, "eos_token_id", None) is not None:
            eos = [int(self.tokenizer.eos_token_id)]
        self._eos = np.asarray(sorted(set(eos)), dtype=np.int64)
        self._stop = frozenset(eos)
        # Rows that are finished (or dead) get the tokenizer's EOS and pad ids when known: HF stops
        # on its own EOS id, which may be only one of the vocabulary's EOS ids.
        fin = []
        for name in ("eos_token_id", "pad_token_id"):
            t = getattr(self.tokenizer, name, None) if self.tokenizer is not None else None
            if isinstance(t, int):
                fin.append(t)
        self._extra_ids = np.asarray(sorted(set(fin)), dtype=np.int64)

    def _new_generation(self, input_ids: torch.Tensor) -> None:
        self._prompt_len = int(input_ids.shape[1])
        self._prompt = input_ids.detach().clone()
        self._states = {}
        self._failures = {}
        self._root = self.compiled.matcher()

    # -- transitions ------------------------------------------------------------------------------

    def _child(self, parent, tok: int, key: tuple[int, ...] = ()):
        if parent is _FINISHED or isinstance(parent, _Failed):
            return parent
        if tok in self._stop:
            return _FINISHED
        try:
            m = parent.fork()
            m.advance(tok)
            return m
        except Exception as e:  # TokenRejected (e.g. a -inf beam), a limit, a matcher bug
            return self._fail(key, e, warn=not isinstance(e, TokenRejected))

    def _fail(self, key: tuple[int, ...], error: BaseException, *, warn: bool = True) -> _Failed:
        """Record that the row with generated prefix ``key`` failed (raise if asked to)."""
        if self.on_error == "raise" and not isinstance(error, TokenRejected):
            raise error
        self._failures.setdefault(key, error)
        if warn:
            warn_failure(f"constrain.LogitsProcessor: the row with {len(key)} generated tokens "
                         f"{list(key[-4:])}", error, stacklevel=5)
        return _Failed(error)

    def _state_for(self, key: tuple[int, ...], new: dict, old: dict):
        st = new.get(key)
        if st is not None:
            return st
        st = old.get(key)
        if st is None:
            if not key:
                st = self._root
            else:
                parent = old.get(key[:-1])
                if parent is None:
                    parent = new.get(key[:-1])
                if parent is None:  # not a one-token extension of a known row: walk from the root
                    parent = self._root
                    for j, t in enumerate(key[:-1]):
                        parent = self._child(parent, t, key[:j + 1])
                st = self._child(parent, key[-1], key)
        new[key] = st
        return st

    # -- the call ---------------------------------------------------------------------------------

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        width = int(scores.shape[-1])
        if self.compiled is None or self._eos is None:
            self._build(width)
        n, length = int(input_ids.shape[0]), int(input_ids.shape[1])
        if (self._prompt_len is None or self._last_len is None or length != self._last_len + 1
                or self._prompt is None or self._prompt.shape[0] != n
                or not torch.equal(input_ids[:, : self._prompt_len].to(self._prompt.device),
                                   self._prompt[:, : self._prompt_len])):
            self._new_generation(input_ids)
        self._last_len = length

        gen = input_ids[:, self._prompt_len:].detach().cpu().numpy()
        words = int(self.vocab.words) if self.vocab is not None and hasattr(self.vocab, "words") \
            else (width + 31) // 32
        vsize = int(self.vocab.size) if self.vocab is not None and hasattr(self.vocab, "size") else width
        buf = np.zeros((n, words), dtype=np.int32)

        old, new = self._states, {}
        filled: dict[int, int] = {}  # id(state) -> row already filled with that state's mask
        for row in range(n):
            key = tuple(int(t) for t in gen[row])
            st = self._state_for(key, new, old)
            src = filled.get(id(st))
            if src is not None:
                buf[row] = buf[src]
                continue
            filled[id(st)] = row
            if st is not _FINISHED and not isinstance(st, _Failed):
                try:
                    st.fill_mask(buf, row)
                except Exception as e:
                    st = new[key] = self._fail(key, e)
                    buf[row] = 0
                else:
                    if not buf[row].any():
                        st = new[key] = self._fail(key, DeadEnd(
                            f"the constraint allows no token after {len(key)} generated tokens"))
            if st is _FINISHED or isinstance(st, _Failed):
                buf[row] = 0
                self._allow(buf, row, self._extra_ids if self._extra_ids.size else self._eos, vsize)
                if not buf[row].any():
                    self._allow(buf, row, self._eos, vsize)
        self._states = new  # evicts every prefix no row uses any more

        out = scores.clone()
        apply_mask(out, torch.from_numpy(buf), vocab_size=vsize)
        return out

    # -- after generate ---------------------------------------------------------------------------

    def outcomes(self, sequences) -> list[Outcome]:
        """One `Outcome` per row of ``generate``'s output (the ``sequences`` tensor, prompt
        included, or the ``GenerateOutput`` object), for the generation this processor just ran.

        ``complete``: the row ended with an EOS id in an accepting state. ``truncated``: no EOS
        (the token budget ran out); ``valid`` says whether the text is in the language anyway.
        ``failed``: the row's matcher raised or allowed nothing (``error``), or it holds a token
        the constraint rejects. Cost: at most one token advanced per row from the cached states
        (a walk from the start for rows this processor has not seen).
        """
        seq = getattr(sequences, "sequences", sequences)
        if self._prompt_len is None or self._root is None:
            raise RuntimeError("outcomes() needs a generation run by this processor first")
        gen = seq[:, self._prompt_len:].detach().cpu().numpy() if hasattr(seq, "detach") \
            else np.asarray(seq)[:, self._prompt_len:]
        return [self._outcome([int(t) for t in row]) for row in gen]

    def _outcome(self, tokens: list[int]) -> Outcome:
        end = next((j for j, t in enumerate(tokens) if t in self._stop), None)
        body = tokens if end is None else tokens[:end]
        n = len(body) + (end is not None)
        for j in range(len(body) + 1):  # a failure recorded on the way
            err = self._failures.get(tuple(body[:j]))
            if err is not None:
                return Outcome(FAILED, False, err, n)
        st = None
        for j in range(len(body), -1, -1):  # the longest prefix with a cached state
            st = self._states.get(tuple(body[:j]))
            if st is not None:
                break
        if st is None:
            st, j = self._root, 0
        saved, self.on_error = self.on_error, "eos"
        try:
            for i in range(j, len(body)):
                st = self._child(st, body[i], tuple(body[:i + 1]))
        finally:
            self.on_error = saved
        if isinstance(st, _Failed):
            return Outcome(FAILED, False, st.error, n)
        accepting = bool(st.is_accepting())
        if end is None:
            return Outcome(TRUNCATED, accepting, None, n)
        if accepting:
            return Outcome(COMPLETE, True, None, n)
        return Outcome(FAILED, False, DeadEnd(f"EOS after {len(body)} tokens, before the output "
                                              "was complete"), n)

    @staticmethod
    def _allow(buf: np.ndarray, row: int, ids: np.ndarray, vsize: int) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < min(vsize, 32 * buf.shape[1]))]
        set_token_bits(buf[row], ids)
