"""Shared pytest options. `--sim-seed` / `--sim-mix` replay one simulator run."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--sim-seed", type=int, default=None, help="run only this simulator seed (replay)"
    )
    parser.addoption("--sim-mix", default=None, help="the fault mix of --sim-seed")
