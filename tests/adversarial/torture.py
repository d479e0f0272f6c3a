"""The full adversarial run: `make torture SEED=... DURATION=...`.

    python -m tests.adversarial.torture [--seed N] [--duration S] [--scenario-s S]
                                        [--scenarios a,b,...] [--keep DIR]

One 4-validator cluster; scenarios are drawn from the seed in rounds (every scenario once
per round, in a seeded order) until the duration is spent; after each scenario the network
is healed and every ledger is checked against the history. Prints the seed and the replay
command first, one line per scenario, and a summary (faults by kind, transactions committed,
violations). Exit status 1 on any violation or scenario failure. Bounded: the run stops
starting scenarios at the duration, and each scenario is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from tests.adversarial.cluster import Cluster
from tests.adversarial.history import History
from tests.adversarial.scenarios import SCENARIOS, SKIPPED, Context, recover, run_scenario
from tests.adversarial.workload import Ledger

SCENARIO_S_DEFAULT = 15.0
DURATION_S_DEFAULT = 240.0
DURATION_S_MAX = 4 * 3600.0
SCENARIO_OVERHEAD_S = 240.0  # heal, converge, stop, check, restart: at most this long


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="adversarial suite against real node processes")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--duration", type=float, default=DURATION_S_DEFAULT)
    parser.add_argument("--scenario-s", type=float, default=SCENARIO_S_DEFAULT)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--keep", type=Path, default=None, help="keep the devnet and history here")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    duration = min(max(args.duration, 1.0), DURATION_S_MAX)
    names = [n for n in args.scenarios.split(",") if n]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    replay = f"make torture SEED={seed} DURATION={args.duration:g}" + (
        f" SCENARIOS={args.scenarios}" if args.scenarios != ",".join(SCENARIOS) else ""
    )
    _say(f"torture: seed={seed} duration={duration:g}s scenarios={len(names)}")
    _say(f"torture: replay with: {replay}")
    for name, why in SKIPPED.items():
        _say(f"torture: skipped {name}: {why}")
    rng = random.Random(seed)
    directory = Path(tempfile.mkdtemp(prefix="tradeledger-torture-"))
    started = time.monotonic()
    deadline = started + duration
    cluster = Cluster.create(
        directory / "devnet", seed=seed, lifetime_s=duration + SCENARIO_OVERHEAD_S * 2
    )
    history = History()
    ledger = Ledger(cluster=cluster, history=history, chain_id=cluster.net.chain_id)
    ctx = Context(cluster=cluster, ledger=ledger, rng=rng, seed=seed, log=_say)
    failures: list[str] = []
    results: list[dict[str, object]] = []
    last = None
    try:
        rounds = 0
        while time.monotonic() < deadline and rounds < 1_000:
            rounds += 1
            order = list(names)
            rng.shuffle(order)
            for name in order:
                if time.monotonic() >= deadline:
                    break
                scenario_s = min(args.scenario_s, max(3.0, deadline - time.monotonic()))
                began = time.monotonic()
                try:
                    result = run_scenario(ctx, name, scenario_s)
                except Exception as exc:  # noqa: BLE001 - report with the seed, heal, go on
                    failures.append(f"{name}: {type(exc).__name__}: {exc}")
                    _say(f"FAIL      {name:22} {time.monotonic() - began:5.0f}s {exc}")
                    traceback.print_exc(file=sys.stdout)
                    try:
                        result = recover(ctx)
                    except Exception as again:  # noqa: BLE001 - the cluster is lost: stop
                        _say(f"torture: cannot heal the cluster after {name}: {again}")
                        break
                last = result
                status = "ok" if result.ok else "VIOLATION"
                _say(
                    f"{status:9} {name:22} {time.monotonic() - began:5.0f}s {result.summary()} "
                    f"notes={json.dumps(ctx.notes, default=str, sort_keys=True)}"
                )
                for violation in result.violations[:20]:
                    _say(f"    {violation}")
                results.append({"scenario": name, "ok": result.ok, **ctx.notes})
                if not result.ok:
                    failures.append(f"{name}: {len(result.violations)} violations")
    finally:
        cluster.close()
        history.dump(directory / "history.jsonl")
    elapsed = time.monotonic() - started
    _say(f"torture: {len(results)} scenarios in {elapsed:.0f}s, seed={seed}")
    _say(f"torture: faults injected: {json.dumps(dict(sorted(cluster.faults.items())))}")
    _say(f"torture: proxy: {json.dumps(dict(sorted(cluster.proxy.stats.items())))}")
    _say(f"torture: client operations: {json.dumps(history.counts(), sort_keys=True)}")
    if last is not None:
        _say(
            f"torture: ledger: {last.blocks} blocks, {last.transactions} transactions "
            f"({last.codes.get('ok', 0)} ok), {last.bills} bills, evidence against "
            f"{dict(last.evidence_offenders) or 'nobody'}"
        )
    if failures:
        _say(f"torture: FAILED ({'; '.join(failures)}); seed={seed}; replay: {replay}")
        _say(f"torture: devnet, logs and history kept in {directory}")
        return 1
    _say("torture: violations: 0")
    if args.keep is not None:
        shutil.copytree(directory, args.keep, dirs_exist_ok=True)
    shutil.rmtree(directory, ignore_errors=True)
    return 0


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
