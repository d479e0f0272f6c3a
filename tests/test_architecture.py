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


CLIENT_MAY_NOT_IMPORT = frozenset({"contracts", "network", "node"})
# Offline verification and the transaction bodies are pure: no network, clock or disk.
PURE_CLIENT_MODULES = (
    "client/verify.py",
    "client/bodies.py",
    "client/dcsa.py",
    "client/errors.py",
)


def test_client_imports_only_the_ledger() -> None:
    """client -> ledger only (DESIGN.md): the SDK, CLI and offline verification must work
    without the node's code, so body shapes are written in client/bodies.py."""
    files = python_files("client")
    assert files
    offenders = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in files
        for module in imported_modules(path)
        if module.split(".")[0] in CLIENT_MAY_NOT_IMPORT
    }
    assert not offenders, f"client imports beyond ledger: {sorted(offenders)}"


@pytest.mark.parametrize("module", PURE_CLIENT_MODULES)
def test_offline_verification_is_pure(module: str) -> None:
    path = ROOT / module
    offenders = {
        name
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN | {"click", "rich"}
        or name.startswith(("client.sdk", "client.cli"))
    }
    assert not offenders, f"{module} imports {sorted(offenders)}"


def float_sources(path: Path) -> list[str]:
    """Where a module could make a float: true division, a float literal, `float(...)`, or
    the math module (whose functions return floats)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.Div):
            found.append(f"{path.name}:{node.lineno}: true division")
        elif isinstance(node, ast.Constant) and type(node.value) is float:
            found.append(f"{path.name}:{node.lineno}: float literal")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "float"
        ):
            found.append(f"{path.name}:{node.lineno}: float()")
    found.extend(f"{path.name}: imports {m}" for m in imported_modules(path) if m == "math")
    return found


def test_contracts_cannot_make_a_float() -> None:
    # Their writes are encoded by `codec.encode_float_free`, which relies on this.
    found = [source for path in python_files("contracts") for source in float_sources(path)]
    assert found == []


def test_the_float_checker_sees_each_source(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import math\nx = 1 / 2\ny = 0.5\nz = float('1')\nw = 3\nw /= 2\n")
    assert len(float_sources(module)) == 5
