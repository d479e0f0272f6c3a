"""`make bench`: the devnet benchmark (`bench.harness`) by default; the micro-benchmarks
(`bench/bench_*.py`) with `--micro`, or both with `--all`.

    .venv/bin/python -m bench.run_all [--micro | --all] [HARNESS OPTIONS ...]

Options other than `--micro` / `--all` go to `bench.harness` (see its `--help`).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def run_micro() -> None:
    """Each `bench/bench_*.py` with its defaults (they read sys.argv: give them none)."""
    saved = sys.argv
    try:
        for module in sorted(m.name for m in pkgutil.iter_modules(bench.__path__)):
            if module.startswith("bench_"):
                print(f"\n== bench.{module}", flush=True)
                sys.argv = [f"bench.{module}"]
                importlib.import_module(f"bench.{module}").main()
    finally:
        sys.argv = saved


def main(argv: list[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    micro = "--micro" in arguments
    everything = "--all" in arguments
    arguments = [a for a in arguments if a not in ("--micro", "--all")]
    if micro or everything:
        run_micro()
    if not micro or everything:
        from bench import harness

        print("\n== bench.harness", flush=True)
        harness.main(arguments)


if __name__ == "__main__":
    main()
