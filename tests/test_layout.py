"""The layout's size rules (docs/architecture.md): no module over 600 lines, and no function over
40 lines unless a comment in it starting "# Long because" says why. import-linter holds the
layers in the test command itself."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "audit",
    "bench",
    "chains",
    "core",
    "devnode",
    "ledger",
    "mappings",
    "proposals",
    "rates",
    "sidechains",
    "signer",
    "sonportal",
    "sons",
]
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 40
WHY = "# Long because"


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts and "node_modules" not in path.parts:
                yield path


def _long_functions(path: Path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = lines[node.lineno - 1 : node.end_lineno]
            if len(body) > MAX_FUNCTION_LINES and not any(WHY in line for line in body):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({len(body)})")
    return found


def test_the_packages_exist():
    assert all((ROOT / package / "__init__.py").exists() for package in PACKAGES)


@pytest.mark.parametrize("path", list(_modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_600_lines(path):
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


def test_no_function_is_over_40_lines_without_saying_why():
    assert [f for path in _modules() for f in _long_functions(path)] == []
