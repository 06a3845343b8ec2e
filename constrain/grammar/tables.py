"""The Earley tables as one flat int32 array, for the numba core (`native/earley_kernels.py`).

`EarleyTables.build` reads an `earley.Earley` recognizer (its Python tables are the reference)
and lays every table the per-byte kernels need end to end in ``tab`` (int32); ``off`` (int64)
holds each section's start, in the order of `SECTIONS`, then the scalars of `SCALARS`. One
array pair keeps a kernel call's argument unboxing short. Built once per engine (pickled with
it); cost linear in the tables' sizes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EarleyTables", "SECTIONS", "SCALARS"]

# section names, in `off` order (off[i] .. off[i + 1] is section i)
SECTIONS = (
    "dr_next", "dr_lhs",            # per dotted rule: symbol after the dot (-1 at the end), lhs
    "wait_ptr", "wait_lhs", "wait_dr",  # CSR per symbol: (lhs, dotted rule) with the dot before it
    "nullable",                     # per symbol
    "clo_ptr", "clo",               # CSR per nonterminal (sym - T): its prediction closure
    "pt_ptr", "pt",                 # CSR per nonterminal: the terminals its closure predicts
    "dn_ptr", "dn",                 # CSR per nonterminal: direct predicted nonterminals
    "dt_ptr", "dt",                 # CSR per nonterminal: direct predicted terminals
    "trans",                        # [G * 256] concatenated terminal DFAs (-1 dead)
    "acc", "live", "term_of",       # per DFA state
    "q0", "q0w",                    # per terminal: start state (after a word byte)
    "word",                         # per byte: a word character
)
# scalars after the sections' offsets (off[len(SECTIONS) + 1 + k])
SCALARS = ("n_terms", "n_syms", "start", "has_clo", "n_states")


def _csr(rows: list) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(rows) + 1, dtype=np.int32)
    ptr[1:] = np.cumsum([len(r) for r in rows]) if rows else []
    flat = np.fromiter((x for r in rows for x in r), dtype=np.int32, count=int(ptr[-1]))
    return ptr, flat


class EarleyTables:
    """``tab`` (int32, every section of `SECTIONS` end to end) and ``off`` (int64 section starts
    plus the `SCALARS`). Immutable once built."""

    __slots__ = ("tab", "off", "__weakref__")

    def __init__(self, tab: np.ndarray, off: np.ndarray):
        self.tab = tab
        self.off = off

    @classmethod
    def build(cls, e) -> "EarleyTables":
        """From an `earley.Earley` (its ``dr_next``, ``wait_on``, closures, DFA arrays)."""
        T = e.n_terms
        S = e.n_syms
        NT = S - T
        wait = [e.wait_on.get(s, ()) for s in range(S)]
        wait_ptr, wait_lhs = _csr([[a for a, _ in w] for w in wait])
        _, wait_dr = _csr([[d for _, d in w] for w in wait])
        clo_rows = [sorted(e.clo.get(a, ())) for a in range(T, S)] if e.clo is not None else [[]] * NT
        pt_rows = [sorted(e._pterms.get(a, ())) for a in range(T, S)] if e.clo is not None else [[]] * NT
        dn_rows = [e.direct_nts.get(a, []) for a in range(T, S)]
        dt_rows = [e.direct_terms.get(a, []) for a in range(T, S)]
        clo_ptr, clo = _csr(clo_rows)
        pt_ptr, pt = _csr(pt_rows)
        dn_ptr, dn = _csr(dn_rows)
        dt_ptr, dt = _csr(dt_rows)
        trans = np.ascontiguousarray(e.trans, dtype=np.int32)
        parts = [
            np.asarray(e.dr_next, np.int32), np.asarray(e.dr_lhs, np.int32),
            wait_ptr, wait_lhs, wait_dr,
            np.asarray(e.nullable, np.int32),
            clo_ptr, clo, pt_ptr, pt, dn_ptr, dn, dt_ptr, dt,
            trans.reshape(-1),
            np.asarray(e.acc, np.int32), np.asarray(e._live_list, np.int32),
            np.asarray(e.term_of, np.int32),
            np.asarray(e.q0, np.int32), np.asarray(e.q0w, np.int32),
            np.asarray(e._word_list, np.int32),
        ]
        assert len(parts) == len(SECTIONS)
        sizes = [len(p) for p in parts]
        off = np.zeros(len(SECTIONS) + 1 + len(SCALARS), dtype=np.int64)
        off[1:len(SECTIONS) + 1] = np.cumsum(sizes)
        off[len(SECTIONS) + 1:] = (T, S, e.start_sym, e.clo is not None, trans.shape[0])
        tab = np.concatenate(parts).astype(np.int32) if parts else np.zeros(0, np.int32)
        return cls(np.ascontiguousarray(tab), off)

    def section(self, name: str) -> np.ndarray:
        """A view of one section (tests and debugging)."""
        i = SECTIONS.index(name)
        return self.tab[self.off[i]:self.off[i + 1]]
