"""The consensus core and the contracts stay pure: no I/O, clock, randomness or threads.

Checked by parsing every module's imports with `ast` (also imports inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE_PACKAGES = ("network/consensus", "contracts")
FORBIDDEN = frozenset(
    {
        "asyncio",
        "socket",
        "time",
        "random",
        "os",
        "plyvel",
        "nacl",
        "uvicorn",
        "fastapi",
        "httpx",
        "threading",
        "subprocess",
    }
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            modules.add(node.args[0].value)
    return modules


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_packages_import_no_io(package: str) -> None:
    files = python_files(package)
    if package == "network/consensus":
        assert files, "the consensus core must exist"
    offenders = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in files
        for module in imported_modules(path)
        if module.split(".")[0] in FORBIDDEN or module in {"importlib", "ctypes"}
    }
    assert not offenders, f"forbidden imports in {package}: {sorted(offenders)}"


def test_the_checker_sees_every_import_form(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text(
        "import os.path\nfrom time import monotonic\n"
        "def f():\n    import random\n    return __import__('socket')\n"
    )
    found = {m.split(".")[0] for m in imported_modules(module)}
    assert {"os", "time", "random", "socket"} <= found


def test_consensus_core_does_not_import_the_simulator_or_node() -> None:
    for path in python_files("network/consensus"):
        for module in imported_modules(path):
            assert not module.startswith(("network.sim", "node", "network.wal")), (path, module)
