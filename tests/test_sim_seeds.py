"""Many simulator seeds across every fault mix: safety after every event, liveness after heal.

Replay one run:  pytest tests/test_sim_seeds.py --sim-seed=<seed> [--sim-mix=<mix>]
"""

from __future__ import annotations

import pytest

from network.sim import DEFAULT_MIXES, run_seed

SIM_SEEDS = 400  # rotating over the mixes: 40 seeds of each of the 10 mixes
# Seeds that once failed, beyond the rotation, each with what it found.
REGRESSIONS = [
    (10248, "chaos"),  # a restarted replica re-proposed its valid value without the POL
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "seed" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--sim-seed")
    mix = metafunc.config.getoption("--sim-mix")
    seeds = range(SIM_SEEDS) if chosen is None else [chosen]
    cases = [(seed, mix or DEFAULT_MIXES[seed % len(DEFAULT_MIXES)]) for seed in seeds]
    if chosen is None:
        cases += REGRESSIONS
    metafunc.parametrize(("seed", "mix"), cases, ids=[f"{m}-{s}" for s, m in cases])


def test_seed(seed: int, mix: str) -> None:
    result = run_seed(seed, mix)
    assert result.ok, result.describe()
    assert result.decisions > 0
