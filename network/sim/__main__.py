"""Run many simulator seeds and print totals.

    python -m network.sim --seeds 1000 --seed-start 0 --mix all

Seed s of `--mix all` runs mix DEFAULT_MIXES[s % len(DEFAULT_MIXES)]. Exit status 1 if any
run has a violation (for `--mix overload`, which has more Byzantine validators than the
protocol tolerates, violations are expected and only counted).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from network.sim.mixes import DEFAULT_MIXES, MIXES
from network.sim.simulator import RunResult, run_seed

TOTAL_FIELDS = (
    "decisions",
    "crashes",
    "torn_writes",
    "partitions",
    "drops",
    "duplicates",
    "equivocations",
    "evidence_committed",
    "delivered",
    "events",
)


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def mix_for(seed: int, mix: str) -> str:
    return DEFAULT_MIXES[seed % len(DEFAULT_MIXES)] if mix == "all" else mix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m network.sim", description=__doc__)
    parser.add_argument("--seeds", type=int, default=100, help="how many seeds to run")
    parser.add_argument("--seed-start", type=int, default=0, help="the first seed")
    parser.add_argument(
        "--mix", default="all", choices=["all", *MIXES], help="fault mix (all: rotate)"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the totals")
    args = parser.parse_args(argv)
    started = time.monotonic()
    totals: Counter[str] = Counter()
    per_mix: Counter[str] = Counter()
    failed: list[RunResult] = []
    expected_violation_runs = 0
    for seed in range(args.seed_start, args.seed_start + args.seeds):
        mix = mix_for(seed, args.mix)
        result = run_seed(seed, mix)
        per_mix[mix] += 1
        for name in TOTAL_FIELDS:
            totals[name] += getattr(result, name)
        totals["violations"] += len(result.violations)
        if not result.ok:
            if MIXES[mix].expect_violations:
                expected_violation_runs += 1
            else:
                failed.append(result)
                _say(result.describe())
        if not args.quiet and (seed - args.seed_start + 1) % 500 == 0:
            _say(f"... {seed - args.seed_start + 1} seeds")
    elapsed = time.monotonic() - started
    _say(f"seeds={args.seeds} seed_start={args.seed_start} mix={args.mix} elapsed_s={elapsed:.1f}")
    _say("mixes: " + " ".join(f"{m}={c}" for m, c in sorted(per_mix.items())))
    _say("totals: " + " ".join(f"{k}={totals[k]}" for k in (*TOTAL_FIELDS, "violations")))
    _say(f"failed_seeds={len(failed)} expected_violation_seeds={expected_violation_runs}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
