"""Layout ratchet (style guide): no module under ``constrain/grammar/`` over 600 lines and no
function there over 80 lines, so the grammar engine's split by role cannot regress silently."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "constrain" / "grammar"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
MODULES = sorted(ROOT.glob("*.py"))


def _functions(tree: ast.AST):
    """Every function and method (nested ones too): (qualified name, first line, lines spanned,
    nested functions included)."""
    stack = [(tree, "")]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                yield name, child.lineno, child.end_lineno - child.lineno + 1
                stack.append((child, name + "."))
            elif isinstance(child, ast.ClassDef):
                stack.append((child, f"{prefix}{child.name}."))
            else:
                stack.append((child, prefix))


def test_modules_are_found():
    assert len(MODULES) >= 10, MODULES  # the ratchet must look at the real package


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_size(path: Path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_MODULE_LINES, f"{path.name}: {n} lines (max {MAX_MODULE_LINES}); split it by role"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_function_size(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [f"{name} (line {line}): {n} lines" for name, line, n in _functions(tree)
            if n > MAX_FUNCTION_LINES]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_ratchet_catches_a_long_function():
    """The measure itself: a 90-line function is caught, nested functions and methods too."""
    body = "\n".join(f"    x{i} = {i}" for i in range(89))
    tree = ast.parse(f"def f():\n{body}\n")
    assert [n for _, _, n in _functions(tree)] == [90]
    inner = "\n".join(f"        y{i} = {i}" for i in range(50))
    tree = ast.parse(f"def g():\n    a = 1\n    def h():\n{inner}\n    return h\n")
    assert sorted(_functions(tree)) == [("g", 1, 54), ("g.h", 3, 51)]
    tree = ast.parse(f"class C:\n    def m(self):\n{inner}\n")
    assert list(_functions(tree)) == [("C.m", 2, 51)]
