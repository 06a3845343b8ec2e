"""constrain's benchmark suite: ``python -m benchmarks --help``.

Each ``bench_*.py`` script also runs on its own (``python benchmarks/bench_regex.py``); the entry
point (:mod:`benchmarks.__main__`) runs them through :mod:`benchmarks.runner`, which records the
machine and versions next to the raw results (``benchmarks/results/<suite>.json``), and
:mod:`benchmarks.report` turns those files into ``docs/benchmarks/index.md`` and its plots.
"""
