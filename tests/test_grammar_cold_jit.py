"""numba compiles the Earley kernels outside every time budget: in a fresh process with an empty
numba cache (seconds of JIT), a matcher's first `advance` and a first `accepts` still succeed
under the default limits (the feed kernel is called once when the first matcher starts), and
so does a first mask."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import numpy as np
    import constrain as cn
    from constrain.grammar.api import Grammar
    g = Grammar('start: "a"+ "b"')
    vocab = cn.Vocabulary([b"a", b"b", b"ab", None], eos_ids=[3])
    c = g.compile(vocab, cache=False)
    m = c.matcher()
    bm = np.zeros((1, 1), dtype=np.int32)
    m.fill_mask(bm, 0)
    assert bm[0, 0] & 7 == 0b101  # "a", "ab"
    m.advance(0)
    m.advance(2)
    assert m.is_accepting()
    assert Grammar('start: "x" "y"+').accepts("xyy")
    print("ok")
""")


def test_first_advance_with_a_cold_numba_cache(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().endswith("ok")
