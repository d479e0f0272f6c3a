"""Medians over several `make bench` runs: `python -m bench.summary bench/results/2026*.json`.

Per phase: the median (and range) of committed tx/s, and the medians of p50/p99 latency,
blocks/s, transactions per block and node CPU; then the ceiling, the peer and disk figures.
Runs of different revisions are listed, not mixed silently.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def _median(values: list[float]) -> float:
    clean = [v for v in values if v == v]  # drop NaN
    return statistics.median(clean) if clean else float("nan")


def summarise(reports: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"{len(reports)} runs; revisions: "
        + ", ".join(sorted({str(r.get("revision", "?")) for r in reports}))
    ]
    phases: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for report in reports:
        for phase in report.get("phases", []):
            phases[phase["name"]].append(phase)
    for name, runs in phases.items():
        rates = [p["committed_per_s"] for p in runs]
        cpu = [_median([c["cpu_percent"] for c in p["cpu"]]) for p in runs]
        lines.append(
            f"  {name:<16} committed {_median(rates):>7,.0f} tx/s "
            f"[{min(rates):,.0f}..{max(rates):,.0f}]  "
            f"p50 {_median([p['latency']['p50_ms'] for p in runs]):>8.1f} ms  "
            f"p99 {_median([p['latency']['p99_ms'] for p in runs]):>8.1f} ms  "
            f"{_median([p['blocks_per_s'] for p in runs]):5.1f} blocks/s  "
            f"{_median([p['tx_per_block'] for p in runs]):7.1f} tx/block  "
            f"node cpu {_median(cpu):3.0f}%"
        )
    ceilings = [r["ceiling"] for r in reports if r.get("ceiling")]
    if ceilings:
        lines.append(
            "  ed25519 verifies/s: "
            f"{_median([c['verify_per_s_1_thread'] for c in ceilings]):,.0f} (1 thread), "
            f"{_median([c['verify_per_s_2_threads'] for c in ceilings]):,.0f} (2 threads); "
            f"ceiling {_median([c.get('tx_per_s', float('nan')) for c in ceilings]):,.0f} tx/s; "
            f"ours/ceiling {_median([c.get('ratio', float('nan')) for c in ceilings]):.3f}"
        )
    peers = [r["peer"] for r in reports if r.get("peer") and "commits_per_s" in r["peer"]]
    if peers:
        lines.append(
            f"  PySyncObj: {_median([p['commits_per_s'] for p in peers]):,.0f} commits/s, "
            f"p50 {_median([p['p50_ms'] for p in peers]):.1f} ms, "
            f"p99 {_median([p['p99_ms'] for p in peers]):.1f} ms; "
            f"ours/peer {_median([p.get('ratio', float('nan')) for p in peers]):.4f}"
        )
    disks = [r["disk"] for r in reports if r.get("disk")]
    if disks:
        lines.append(
            f"  disk: {_median([d['bytes_per_tx'] for d in disks]):,.0f} bytes/tx, "
            f"{_median([d['ledger_over_raw'] for d in disks]):.2f} x raw"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        sys.exit("usage: python -m bench.summary bench/results/<run>.json ...")
    reports = [json.loads(path.read_text()) for path in paths if not path.name.startswith("scale")]
    for line in summarise(reports):
        print(line)


if __name__ == "__main__":
    main()
