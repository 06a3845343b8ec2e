"""Token-trie walks with a lexer state, and their per-vocabulary caches (`Walker`, `VCache`).

For an Earley set let ``L`` be its distinct DFA states (its *lexer state*). One numba walk
(`constrain.native.grammar_kernels.walk_lexer`) of the vocabulary's token trie with ``L`` gives
the *context-independent* tokens (every byte keeps some partial lexeme alive: allowed, no parser
needed) and the *completion nodes*: trie nodes where some lexeme may end with a subtree where the
pure lexer path dies. Completion nodes with the same accepting lexemes are grouped (`Group`); the
mask builder (`masks`) closes the parser over each group and walks the group's subtrees again.
The kernel takes a subtree whole where an alive state provably survives every path below it (the
state's cover bytes and reach, `native.grammar_kernels.dfa_cover`, against the node's bytes below
and height, `native.vocab_kernels.subtree_bytes`): a dense state's walk costs its tokens, not
its trie nodes.

Walks are cached per vocabulary (`VCache`): root walks per ``L``, sub-walks per (completion node
set, new lexer state), and single-DFA-state walks, of which large walks are unions
(`Walker.walk`); those of the terminals' start states are registered when a vocabulary is first
compiled (`Walker.warm_single`) and made on first use. Every new lexer state counts against
``GrammarLimits.max_lexer_states``. Single-state walks and their unions are also shared between
grammars, keyed by the canonical forms of the automata reachable from their states
(`Walker.shape`, `_SharedWalks`, `shared_walks`).
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from ..errors import LimitExceeded
from ..native.grammar_kernels import dfa_cover, dfa_shape, walk_nodes
from .limits import GrammarLimits, SharedLock

__all__ = ["Group", "VCache", "Walk", "Walker", "shared_walks"]

_SPLIT_NODES = 4096  # walks over at least this many trie nodes are unions of single-state walks


_PER_TRIE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _per_trie(trie, name: str, key, make):
    """``make(trie)``, computed once per (trie, ``name``, ``key``) and kept while the trie lives."""
    d = _PER_TRIE.get(trie)
    if d is None:
        d = {}
        try:
            _PER_TRIE[trie] = d
        except TypeError:  # pragma: no cover - a trie type without weak references
            pass
    hit = d.get(name)
    if hit is None or hit[0] != key:
        hit = d[name] = (key, make(trie))
    return hit[1]


def _large_first_byte_nodes(trie) -> list:
    """The depth-1 trie nodes with at least `_SPLIT_NODES` nodes below (a vector pass over the
    trie, ~1 ms at 262k tokens), once per trie."""
    return _per_trie(trie, "large_first", _SPLIT_NODES, lambda t: np.flatnonzero(
        (t.node_depth == 1) & (t.node_subtree >= _SPLIT_NODES)).tolist())


def _below_bytes(trie) -> np.ndarray:
    """Per trie node the bytes strictly below it and its height (`native.vocab_kernels.
    subtree_bytes`: uint64 [n_nodes, 5], 40 bytes per node), once per trie (~1 ms per 100k
    nodes)."""
    from ..native.vocab_kernels import subtree_bytes

    return _per_trie(trie, "below", 0, lambda t: subtree_bytes(t.node_byte, t.node_depth))


class _KernelScratch:
    """One thread's output arrays of `walk_lexer` for one trie (reused: a fresh multi-megabyte
    array per walk costs page faults), grown on demand."""

    __slots__ = ("trie", "below", "cnode", "cdepth", "cptr", "csrc")

    def __init__(self, trie):
        self.trie = weakref.ref(trie)
        self.below = _below_bytes(trie)
        self.cnode = self.cdepth = self.cptr = self.csrc = np.zeros(0, dtype=np.int32)

    def arrays(self, nn: int, cap_src: int):
        if len(self.cnode) < nn + 1:
            self.cnode = np.empty(nn + 1, dtype=np.int32)
            self.cdepth = np.empty(nn + 1, dtype=np.int32)
            self.cptr = np.empty(nn + 2, dtype=np.int32)
        if len(self.csrc) < cap_src:
            self.csrc = np.empty(cap_src, dtype=np.int32)
        return self.cnode, self.cdepth, self.cptr, self.csrc


_tls = threading.local()


def _kernel_scratch(trie) -> _KernelScratch:
    """This thread's `_KernelScratch` for ``trie`` (one kept per thread: the last trie walked)."""
    s = getattr(_tls, "scratch", None)
    if s is None or s.trie() is not trie:
        s = _tls.scratch = _KernelScratch(trie)
    return s


_SHARED_WALK_BYTES = 64 << 20  # per trie: walks shared by every grammar


class _SharedWalks:
    """Walks of one trie shared by every grammar, keyed by the canonical forms of the automata
    reachable from their DFA states (`Walker.shape`), a walk being a function of those forms:
    single-state walks (`Walker.walk1`: (idx, val, completion nodes) per (start nodes, shape)),
    their unions (`Walker._union_walk`: (row, completion nodes, sources) per (start nodes,
    shapes in order)) and the walks of small subtrees with several states at once
    (`Walker._joint_walk`, same key and result as a union). JSON strings, numbers, whitespace and
    identifiers are walked once per vocabulary and process, not once per compiled grammar. Holds
    at most `_SHARED_WALK_BYTES` (then cleared); the arrays are read-only."""

    __slots__ = ("lock", "singles", "unions", "joints", "nbytes")

    def __init__(self):
        self.lock = threading.Lock()
        self.singles: dict = {}
        self.unions: dict = {}
        self.joints: dict = {}
        self.nbytes = 0

    def put(self, table: dict, key: tuple, walk: tuple) -> tuple:
        """Store ``walk`` (a tuple of arrays; a list of tuples for sources of over 62 states)
        under ``key`` in ``table`` (``singles``, ``unions`` or ``joints``) unless present; returns
        the stored one."""
        size = 64 + len(key[0]) + (sum(len(k) for k in key[1]) if type(key[1]) is tuple else len(key[1]))
        for a in walk:
            if isinstance(a, np.ndarray):
                a.flags.writeable = False
                size += a.nbytes
            else:
                size += 64 * len(a)
        with self.lock:
            if size > _SHARED_WALK_BYTES:
                return walk
            if self.nbytes + size > _SHARED_WALK_BYTES:
                self.singles.clear()
                self.unions.clear()
                self.joints.clear()
                self.nbytes = 0
            hit = table.get(key)
            if hit is None:
                hit = table[key] = walk
                self.nbytes += size
            return hit

    def snapshot(self) -> tuple:
        """What is held now (shallow copies), for `restore`."""
        with self.lock:
            return dict(self.singles), dict(self.unions), dict(self.joints), self.nbytes

    def restore(self, snap: tuple) -> None:
        """Hold exactly what `snapshot` returned (benchmarks: a timed first pass that must not see
        the walks of an untimed pass over the same grammar)."""
        with self.lock:
            self.singles, self.unions, self.joints = dict(snap[0]), dict(snap[1]), dict(snap[2])
            self.nbytes = snap[3]

    def clear(self) -> None:
        self.restore(({}, {}, {}, 0))


def shared_walks(vocab) -> _SharedWalks:
    """The walks ``vocab``'s trie shares between grammars (`_SharedWalks`: ``snapshot``,
    ``restore``, ``clear``)."""
    return _shared_walks(vocab.trie)


def _shared_walks(trie) -> _SharedWalks:
    return _per_trie(trie, "shared_walks", 0, lambda t: _SharedWalks())


_COVER_MIN_BYTES = 8  # DFA states surely alive on fewer bytes are not worth a whole-subtree test

_FEW_NODES = 48  # completion nodes grouped in Python below this (numpy's fixed costs above)


def _bit_indices(code: int) -> tuple:
    """The indices of the set bits of ``code``, increasing."""
    out = []
    while code:
        low = code & -code
        out.append(low.bit_length() - 1)
        code ^= low
    return tuple(out)


def _src_codes(srcs: np.ndarray, ptr: np.ndarray, k: int):
    """Per node ``c`` the set ``srcs[ptr[c]:ptr[c + 1]]`` (indices into a lexer state of ``k``
    DFA states): an int64 array of bit sets when ``k <= 62`` (no Python work per node), else a
    list of tuples."""
    n = len(ptr) - 1
    if k <= 62:
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        bits = np.left_shift(np.int64(1), srcs.astype(np.int64))
        return np.bitwise_or.reduceat(bits, ptr[:-1].astype(np.int64))
    cs = srcs.tolist()
    cp = ptr.tolist()
    return [tuple(cs[cp[c]:cp[c + 1]]) for c in range(n)]


class Group:
    """Completion nodes of one walk sharing their accepting sources and whether their last byte
    is a word character (at any depth: the parser's closure after completing the same lexemes
    does not depend on where in the token they end)."""

    __slots__ = ("srcs", "after_word", "nodes", "sub", "sel")

    def __init__(self, srcs, after_word, nodes, sub=None, sel=None):
        self.srcs = srcs
        self.sel = sel  # int32: the DFA states of ``srcs`` (of the walk's lexer state), sorted
        self.after_word = after_word
        self.nodes = nodes
        # new lexer state L2 -> Walk of these nodes' subtrees; shared by every group with the
        # same nodes (`VCache.subs`): e.g. the node "--" is reached under many lexer states
        self.sub: dict = {} if sub is None else sub


class VCache:
    """Per-vocabulary caches of one engine: root walks per lexer state, and whole masks per
    chart signature (bounded by ``GrammarLimits.mask_cache_bytes``; cleared when full)."""

    __slots__ = ("vocab", "roots", "subs", "single", "masks", "contrib", "mask_bytes", "hits", "misses",
                 "uncounted")

    def __init__(self, vocab):
        self.vocab = vocab
        self.roots: dict = {}
        self.subs: dict = {}  # completion node ids (bytes) -> {L2: Walk}
        self.single: dict = {}  # (start node ids (bytes), DFA state) -> single-state walk
        # single-walk keys not counted as lexer states (`Walker.warm_single`): fixed by the
        # grammar and the trie
        self.uncounted: frozenset = frozenset()
        self.masks: dict = {}
        self.contrib: dict = {}  # (id of a node set's sub dict, signature or ("t", template)) -> (idx, val)
        self.mask_bytes = 0
        self.hits = self.misses = 0

    def reserve(self, nbytes: int, budget: int) -> bool:
        """Account ``nbytes`` more cached rows; when over ``budget`` clear every cached row first.
        False when one row alone exceeds the budget (then it is not cached)."""
        if nbytes > budget:
            return False
        if self.mask_bytes + nbytes > budget:
            self.masks.clear()
            self.contrib.clear()
            self.mask_bytes = 0
        self.mask_bytes += nbytes
        return True


class Walk:
    """Result of walking some trie subtrees with a lexer state: marked tokens + completion groups."""

    __slots__ = ("row", "idx", "val", "groups")

    def __init__(self, row=None, idx=None, val=None, groups=()):
        self.row = row  # dense int32 row (root walks) or None
        self.idx = idx  # sparse words (sub walks)
        self.val = val
        self.groups = groups


class Walker:
    """The token-trie walks of one grammar (its normal form ``nf``'s terminal DFAs) and their
    caches per vocabulary. Thread-safe: cache updates happen under the engine's ``lock``."""

    def __init__(self, nf, limits: GrammarLimits, lock: SharedLock):
        self.limits = limits
        self._lock = lock
        self.trans = nf.trans
        self.acc = nf.acc
        # per DFA state the bytes (and how many of them) that surely keep it alive: subtrees the
        # walks take whole (`native.grammar_kernels.dfa_cover`)
        self.cover = dfa_cover(nf.trans, _COVER_MIN_BYTES)
        self._live_list = (nf.trans >= 0).any(axis=1).tolist()
        self._word_list = nf.word.tolist()
        self.word_arr = np.asarray(nf.word, dtype=np.int64)  # per byte: 1 for a word byte
        self.q0 = nf.q0.tolist()
        self.q0w = nf.q0w.tolist()
        self._vcaches: dict[int, VCache] = {}
        self._n_lexer_states = 0
        self._shapes: dict[int, bytes] = {}  # DFA state -> `shape`

    def shape(self, g: int) -> bytes:
        """The canonical form of the DFA reachable from state ``g`` (`native.grammar_kernels.
        dfa_shape`), memoised: equal forms have equal trie walks, in any grammar."""
        k = self._shapes.get(g)
        if k is None:
            G = self.trans.shape[0]
            ids = np.full(G, -1, dtype=np.int32)
            order = np.empty(G, dtype=np.int32)
            cap = 1024
            while True:
                out = np.empty(cap, dtype=np.int32)
                w = dfa_shape(self.trans, self.acc, g, ids, order, out)
                if w >= 0:
                    break
                cap *= 4
            k = self._shapes[g] = out[:w].tobytes()
        return k

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._vcaches = {id(vc.vocab): vc for vc in self._vcaches.values()}  # ids changed

    def vcache(self, vocab) -> VCache:
        """The caches of this engine for ``vocab`` (token walks depend on the vocabulary)."""
        vc = self._vcaches.get(id(vocab))
        if vc is None or vc.vocab is not vocab:
            with self._lock:
                vc = self._vcaches.get(id(vocab))
                if vc is None or vc.vocab is not vocab:
                    vc = self._vcaches[id(vocab)] = VCache(vocab)
        return vc

    def count_lexer_state(self) -> None:
        """Count one more cached lexer state (call under the lock); `LimitExceeded` past
        ``max_lexer_states``."""
        self._n_lexer_states += 1
        if self._n_lexer_states > self.limits.max_lexer_states:
            raise LimitExceeded("max_lexer_states", self.limits.max_lexer_states,
                                "distinct lexer states met by this grammar's masks")

    def warm_single(self, vocab, vc: VCache) -> None:
        """Register the single-state walks (`walk1`) of every terminal's start states over the
        whole trie, and below each first-byte node with a large subtree (a leading space: a
        lexeme ending there starts new ones, ``after_word`` per that byte), as not counted against
        ``max_lexer_states`` (their number is fixed by the grammar and the trie). They are made on
        first use and cached, so that the walks of lexer states made mostly of predicted
        terminals become unions of cached rows; making them all here cost one kernel walk per
        (start state, start node) at compile time (~10 ms on a 262k vocabulary for a typical
        JSON Schema), most never used. Cost now: O(terminals × large first-byte nodes) keys."""
        t = vocab.trie
        if t.n_nodes < _SPLIT_NODES or vc.uncounted:
            return
        live = self._live_list
        word = self._word_list
        roots = [(0, sorted(set(self.q0) | set(self.q0w)))]
        for x in _large_first_byte_nodes(t):
            roots.append((x, sorted(set(self.q0w if word[t.node_byte[x]] else self.q0))))
        keys = set()
        for x, states in roots:
            skey = np.array([x], dtype=np.int32).tobytes()
            keys.update((skey, g) for g in states if live[g])
        vc.uncounted = frozenset(keys)

    def root_walk(self, vocab, L: tuple, vc: VCache | None = None) -> Walk:
        """The cached walk of the whole trie with lexer state ``L`` (context-independent row)."""
        if vc is None:
            vc = self.vcache(vocab)
        w = vc.roots.get(L)
        if w is None:
            w = self.walk(vocab, L, np.zeros(1, dtype=np.int32), dense=True, vc=vc)
            with self._lock:
                if L not in vc.roots:
                    self.count_lexer_state()
                    vc.roots[L] = w
                w = vc.roots[L]
        return w

    def sub_walk(self, vocab, vc: VCache, grp: Group, L2: tuple) -> Walk:
        """The cached walk of ``grp``'s subtrees with the lexer state ``L2``."""
        w = grp.sub.get(L2)
        if w is None:
            w = self.walk(vocab, L2, grp.nodes, dense=False, vc=vc)
            with self._lock:
                if L2 not in grp.sub:
                    self.count_lexer_state()
                    grp.sub[L2] = w
        return w

    def walk(self, vocab, L: tuple, starts: np.ndarray, dense: bool, vc: VCache) -> Walk:
        """Walk the subtrees below ``starts`` (the whole trie when ``dense``) with lexer state ``L``.
        Large walks are the union of cached single-state walks (`walk1`, shared between grammars):
        the states are followed independently, so the marked tokens are the union of theirs, and
        a node is a completion node of ``L`` for the states accepting there. A single state only
        drops a completion node when nothing dies below it under that state, so some nodes that a
        walk of ``L`` drops (nothing dies below under all states together) are kept: their
        closures add only tokens allowed already. Contexts with different keywords then share the
        walks of their common states (identifiers, numbers after a space): O(k) cached rows OR-ed
        instead of a walk of O(alive nodes × k). Completion nodes are handled as arrays (no
        Python work per node)."""
        t = vocab.trie
        nn = t.n_nodes
        if not dense:  # completion nodes lie in the starts' subtrees
            nn = min(nn, int(t.node_subtree[starts].sum()))
        if nn >= _SPLIT_NODES:
            row, cn, codes = self._union_walk(vocab, L, starts, nn, vc)
        else:
            row, cn, codes = self._joint_walk(vocab, L, starts, nn)
        gl = self._groups(t, cn, codes, vc, L)
        if dense:
            return Walk(row=row, groups=gl)
        idx = np.flatnonzero(row).astype(np.int64)
        return Walk(idx=idx, val=row[idx], groups=gl)

    def _union_walk(self, vocab, L: tuple, starts: np.ndarray, nn: int, vc: VCache):
        """`walk`'s result as the union of the single-state walks of ``L``'s states: (dense row,
        completion nodes (sorted int32), per node the set of indices into ``L`` of the states
        accepting there (`_src_codes`)), read-only: shared between grammars (`_SharedWalks`)."""
        skey = starts.tobytes()
        shared = _shared_walks(vocab.trie)
        uk = (skey, tuple([self.shape(g) for g in L]))
        hit = shared.unions.get(uk)
        if hit is None:
            hit = shared.put(shared.unions, uk, self._union_of_singles(vocab, L, starts, skey, nn, vc))
        return hit

    def _joint_walk(self, vocab, L: tuple, starts: np.ndarray, nn: int):
        """`_walk_kernel` of ``L`` below ``starts``, shared between grammars: the kernel follows
        each state of ``L`` on its own (a node's sources are indices into ``L``), so the walk is a
        function of the start nodes and the shapes of ``L``'s states in order."""
        shared = _shared_walks(vocab.trie)
        jk = (starts.tobytes(), tuple([self.shape(g) for g in L]))
        hit = shared.joints.get(jk)
        if hit is None:
            walk = self._walk_kernel(vocab.trie, np.asarray(L, dtype=np.int32), starts, nn, vocab.words)
            hit = shared.put(shared.joints, jk, walk)
        return hit

    def _union_of_singles(self, vocab, L: tuple, starts: np.ndarray, skey: bytes, nn: int,
                          vc: VCache):
        """`_union_walk`'s result, from the single-state walks (`walk1`)."""
        row = np.zeros(vocab.words, dtype=np.int32)
        nodes, srcs = [], []
        for j, g in enumerate(L):
            idx, val, cn = self.walk1(vocab, g, starts, skey, nn, vc)
            row[idx] |= val
            if len(cn):
                nodes.append(cn)
                srcs.append(np.full(len(cn), j, dtype=np.int32))
        if not nodes:
            return row, np.zeros(0, dtype=np.int32), _src_codes(np.zeros(0, np.int32), np.zeros(1, np.int32), len(L))
        nodes = np.concatenate(nodes)
        srcs = np.concatenate(srcs)
        order = np.argsort(nodes, kind="stable")  # per node, its states in increasing order
        nodes = nodes[order]
        cn, first = np.unique(nodes, return_index=True)
        ptr = np.append(first, len(nodes)).astype(np.int32)
        return row, cn.astype(np.int32), _src_codes(srcs[order], ptr, len(L))

    def _groups(self, t, cn: np.ndarray, codes, vc: VCache, L: tuple) -> tuple:
        """Completion nodes grouped by (last byte is a word byte, accepting states), each group's
        sub-walk dict shared through ``vc.subs`` by every group with the same nodes. ``codes``:
        `_src_codes` of the nodes (indices into the walk's lexer state ``L``). Few nodes (most
        sub-walks) are grouped in Python; many (root walks: thousands) with numpy, no Python work
        per node."""
        if not len(cn):
            return ()
        word = self.word_arr[t.node_byte[cn]]
        bits = isinstance(codes, np.ndarray)  # bit sets of at most 62 states, else tuples
        if len(cn) <= _FEW_NODES:
            table: dict = {}
            for c, code, w in zip(cn.tolist(), codes.tolist() if bits else codes, word.tolist()):
                lst = table.get((code, w))
                if lst is None:
                    table[(code, w)] = [c]
                else:
                    lst.append(c)
            parts = [((code, w), np.array(v, dtype=np.int32)) for (code, w), v in table.items()]
        else:
            if bits:
                inv = np.unique(codes * 2 + word, return_inverse=True)[1]
            else:
                ids: dict = {}
                inv = np.array([ids.setdefault((c, w), len(ids)) for c, w in zip(codes, word.tolist())],
                               dtype=np.int64)
            order = np.argsort(inv, kind="stable")
            bounds = np.flatnonzero(np.diff(inv[order])) + 1
            parts = []
            for part in np.split(order, bounds):
                k = int(part[0])
                code = int(codes[k]) if bits else codes[k]
                parts.append(((code, int(word[k])), np.ascontiguousarray(cn[part], dtype=np.int32)))
        gl = []
        subs = vc.subs
        for (code, w), arr in parts:
            srcs = _bit_indices(code) if bits else code
            key = arr.tobytes()
            sub = subs.get(key)
            if sub is None:
                sub = subs.setdefault(key, {})
            sel = np.array(sorted(L[j] for j in srcs), dtype=np.int32)
            gl.append(Group(srcs, bool(w), arr, sub, sel))
        return tuple(gl)

    def walk1(self, vocab, g: int, starts: np.ndarray, skey: bytes, nn: int, vc: VCache):
        """The cached walk below ``starts`` with the single DFA state ``g``: (word indices, their
        bits, completion nodes as a list). Counted as a lexer state unless its key is one
        `warm_single` registered (their number is fixed by the grammar and the trie)."""
        k = (skey, g)
        r = vc.single.get(k)
        if r is None:
            shared = _shared_walks(vocab.trie)
            sk = (skey, self.shape(g))
            r = shared.singles.get(sk)
            if r is None:
                row, cn, _ = self._walk_kernel(vocab.trie, np.array([g], dtype=np.int32), starts, nn,
                                               vocab.words)
                idx = np.flatnonzero(row)  # cn: int32 array
                r = shared.put(shared.singles, sk, (idx, row[idx], cn))
            with self._lock:
                if k not in vc.single:
                    if k not in vc.uncounted:
                        self.count_lexer_state()
                    vc.single[k] = r
                r = vc.single[k]
        return r

    def _walk_kernel(self, t, lex: np.ndarray, starts: np.ndarray, nn: int, words: int):
        """One `walk_lexer` call: (dense row, completion nodes (int32), per node the set of
        indices into ``lex`` of the states accepting there (`_src_codes`)); ``nn`` bounds the
        nodes below ``starts``."""
        row = np.zeros(words, dtype=np.int32)
        s = _kernel_scratch(t)
        k = len(lex)
        cap_src = max(min(4 * nn, nn * k), 1024)
        while True:
            cnode, cdepth, cptr, csrc = s.arrays(nn, cap_src)
            nc, nodes, codes = walk_nodes(self.trans, self.acc, self.cover, lex, starts, t.node_byte,
                                          t.node_depth, t.node_subtree, s.below, t.tok_ptr,
                                          t.tok_ids, t.max_depth, row, cnode, cdepth, cptr, csrc)
            if nc >= 0:
                break
            row[:] = 0
            cap_src = 4 * len(csrc)
        if k > 62:
            codes = _src_codes(csrc[:int(cptr[nc])], cptr[:nc + 1], k)
        return row, nodes, codes
