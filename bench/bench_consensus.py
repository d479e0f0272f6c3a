"""Consensus throughput in the simulator: heights decided per second of CPU, no faults, and
simulator seeds per second across the fault mixes.

    .venv/bin/python -m bench.bench_consensus
"""

from __future__ import annotations

import time

from network.sim import DEFAULT_MIXES, run_seed

SEEDS = 100


def main() -> None:
    started = time.perf_counter()
    clean = [run_seed(seed, "clean") for seed in range(SEEDS)]
    clean_s = time.perf_counter() - started
    decisions = sum(r.decisions for r in clean)
    print(
        f"clean n=4: {decisions} replica-decisions in {clean_s:.2f}s ({decisions / clean_s:.0f}/s)"
    )
    started = time.perf_counter()
    results = [run_seed(seed, DEFAULT_MIXES[seed % len(DEFAULT_MIXES)]) for seed in range(SEEDS)]
    mixed_s = time.perf_counter() - started
    events = sum(r.events for r in results)
    print(
        f"all mixes: {SEEDS} seeds in {mixed_s:.2f}s ({SEEDS / mixed_s:.1f} seeds/s, "
        f"{events / mixed_s:.0f} events/s), violations={sum(len(r.violations) for r in results)}"
    )


if __name__ == "__main__":
    main()
