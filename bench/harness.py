"""`make bench`: throughput and latency of a real 4-validator devnet, with the machine's
Ed25519 ceiling and a PySyncObj peer measured in the same run.

    .venv/bin/python -m bench.harness [--rate 2000] [--duration 20] [--batch 100] ...

1. Starts a 4-validator devnet on loopback (`node.devnet`: one process per node, LevelDB,
   synced block batches, mutual TLS between nodes) in a temporary directory.
2. Starts `--generators` load-generator processes (`bench.loadgen`); each signs its share of
   every phase before the phase's timed window (real bl.issue / bl.transfer / coo.issue /
   pay.attest transactions, `bench.workload`). A setup phase first issues the bills that
   the first transfers name.
3. Runs the phases (`--phases`), each bounded by `--duration` and by its pre-signed count:
     latency          one transaction in flight (`POST /v1/transactions?wait=true`)
     open-single      open loop at `--rate` tx/s, one transaction per request
     open-batch       open loop at `--rate` tx/s, `--batch` transactions per batch request
     saturate-single  `--connections` single requests in flight (closed loop)
     saturate-batch   about `--in-flight` transactions in flight in batches (closed loop)
   After each phase it waits until every mempool is empty and the nodes agree on the height.
4. For each phase: committed tx/s, blocks/s and transactions per block over the window
   (`--warmup` s after the start to the end: from node 0's `/v1/status` height and log size),
   submit-to-commit latency p50/p95/p99 (see `bench.loadgen` for how commits are observed),
   CPU per node (/proc/<pid>/stat over the window), refusals and errors.
5. After the devnet stops: bytes on disk per committed transaction (each node's data
   directory), then the Ed25519 verify ceiling (pynacl, 1 and 2 threads) and the PySyncObj
   peer (`../shared/bench/peer_pysyncobj.py` as a subprocess), with the ratios.
Writes everything to `bench/results/<timestamp>.json`; the last line printed reads
`committed: <N> tx/s, p50 <a> ms, p99 <b> ms` (the saturate-batch phase, else the last phase).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection as Pipe
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from bench.loadgen import DRAIN_S, GeneratorConfig, PhaseSpec, generator_main
from bench.measure import (
    cpu_seconds,
    disk_bytes,
    ed25519_verify_ceiling,
    git_revision,
    latency_summary,
    machine_cpu_seconds,
    rss_anon_bytes,
    rss_bytes,
    top_frames,
)
from bench.net import BenchNet
from bench.workload import (
    DEFAULT_MIX,
    OFFER_EXPIRY_BLOCKS,
    SENDER_OF_KIND,
    kind_sequence,
    parse_mix,
)
from ledger.store import LedgerStore

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
PEER_SCRIPT = REPO.parent / "shared" / "bench" / "peer_pysyncobj.py"
PHASES = ("latency", "open-single", "open-batch", "saturate-single", "saturate-batch")
NODES = 4
VALIDATORS_VERIFYING_EACH_TX = 4  # every validator verifies every signature once
PREPARE_TIMEOUT_S = 600.0
SETTLE_TIMEOUT_S = 120.0
SETUP_DURATION_S = 120.0
LATENCY_COUNT = 3000  # pre-signed for the one-in-flight phase (it is time-bounded)
SATURATE_HEADROOM = 4  # pre-sign this many times the best rate seen so far x duration
SATURATE_COUNT_MIN = 20_000
EXPIRY_BLOCKS = 90_000  # transactions expire this far past the height at signing
STATUS_SAMPLE_S = 1.0
SAMPLE_TIMEOUT_S = 60.0
NONCES_PER_GENERATOR = 10**9  # nonces are unique per sender: one block of them per phase


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    rate_per_s: float = 2000.0
    duration_s: float = 30.0
    warmup_s: float = 3.0
    batch_size: int = 100
    generators: int = 2
    connections: int = 256  # saturate-single: requests in flight, all generators together
    in_flight: int = 6000  # saturate-batch: transactions in flight, all generators together
    latency_s: float = 8.0
    phases: tuple[str, ...] = PHASES
    mix: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MIX))
    setup_bills: int = 2000
    saturate_count_max: int = 300_000
    peer: bool = True
    peer_script: Path = PEER_SCRIPT
    peer_duration_s: float = 10.0
    ceiling: bool = True
    profile: str = ""  # a phase name: py-spy samples node 0 during that phase's window
    keep: bool = False
    results_dir: Path = RESULTS_DIR


@dataclass
class Sample:
    at: float  # time.monotonic()
    height: int
    log_size: int
    cpu_s: list[float]
    mempool: int
    machine_busy_s: float
    machine_total_s: float
    rss_bytes: list[int]


class Generators:
    """The load-generator processes and their pipes."""

    def __init__(self, net: BenchNet, count: int, nodes: list[int] | None = None) -> None:
        seeds = net.member_seeds(sorted(set(SENDER_OF_KIND.values())))
        urls = tuple(net.url(i) for i in (nodes if nodes is not None else range(NODES)))
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Pipe] = []
        self.processes: list[BaseProcess] = []
        for index in range(count):
            parent, child = context.Pipe()
            config = GeneratorConfig(index=index, chain_id=net.chain_id, seeds=seeds, urls=urls)
            process = context.Process(
                target=generator_main, args=(child, config), name=f"loadgen-{index}", daemon=True
            )
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)

    def call(
        self, indexes: list[int], command: str, arguments: list[Any], timeout_s: float
    ) -> list[Any]:
        for index, argument in zip(indexes, arguments, strict=True):
            self.pipes[index].send((command, argument))
        answers = []
        deadline = time.monotonic() + timeout_s
        for index in indexes:
            if not self.pipes[index].poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"load generator {index} did not answer {command!r}")
            _kind, answer = self.pipes[index].recv()
            answers.append(answer)
        return answers

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("exit", None))
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)


class Harness:
    def __init__(
        self,
        options: Options,
        net: BenchNet,
        generators: Generators,
        nodes: list[int] | None = None,
    ) -> None:
        self.options = options
        self.node_indexes = nodes if nodes is not None else list(range(NODES))
        self.net = net
        self.generators = generators
        self.bills: list[str] = []
        self.best_rate = 0.0
        self.admitted_bytes = 0
        self.admitted = 0
        self.memory: list[dict[str, Any]] = []
        self.phases_run = 0
        self.pids = [pid for pid in (net.pid(i) for i in self.node_indexes) if pid is not None]
        assert len(self.pids) == len(self.node_indexes), "a node is not running"

    def sample(self) -> Sample:
        deadline = time.monotonic() + SAMPLE_TIMEOUT_S
        status = self.net.status(self.node_indexes[0])
        while status is None and time.monotonic() < deadline:  # busy executing a large block
            status = self.net.status(self.node_indexes[0])
        assert status is not None, f"node 0 did not answer /v1/status in {SAMPLE_TIMEOUT_S} s"
        busy, total = machine_cpu_seconds()
        return Sample(
            rss_bytes=[rss_bytes(pid) for pid in self.pids],
            machine_busy_s=busy,
            machine_total_s=total,
            at=time.monotonic(),
            height=int(status["height"]),
            log_size=int(status["log_size"]),
            cpu_s=[cpu_seconds(pid) for pid in self.pids],
            mempool=int(status["mempool"]["transactions"]),
        )

    def memory_point(self, label: str) -> dict[str, Any]:
        return {
            "after": label,
            "log_size": self.sample().log_size,
            "rss_bytes": [rss_bytes(pid) for pid in self.pids],
            "rss_anon_bytes": [rss_anon_bytes(pid) for pid in self.pids],
        }

    def run_phase(
        self, spec: PhaseSpec, count: int, generators: int, warmup_s: float
    ) -> dict[str, Any]:
        """Sign `count` transactions over `generators` processes, run them, measure."""
        options = self.options
        indexes = list(range(generators))
        height = self.sample().height
        specs = []
        for index in indexes:
            share = count // generators + (1 if index < count % generators else 0)
            kinds = (
                kind_sequence(options.mix, share) if spec.name != "setup" else ["bl.issue"] * share
            )
            transfers = kinds.count("bl.transfer")
            bills, self.bills = self.bills[:transfers], self.bills[transfers:]
            specs.append(
                replace(
                    spec,
                    kinds=tuple(kinds),
                    bills=tuple(bills),
                    label=f"{spec.name}-g{index}-{time.time_ns()}",
                    nonce_base=(self.phases_run * 64 + index) * NONCES_PER_GENERATOR,
                    expiry_height=height + EXPIRY_BLOCKS,
                    offer_expiry_height=height + OFFER_EXPIRY_BLOCKS,
                    seed=index,
                )
            )
        self.phases_run += 1
        prepared = self.generators.call(indexes, "prepare", specs, PREPARE_TIMEOUT_S)
        go = time.monotonic() + 0.5
        window_start = go + warmup_s
        window_end = go + spec.duration_s
        for index in indexes:
            self.generators.pipes[index].send(("run", go))
        profile = self.start_profile(spec.name, window_start, window_end)
        time.sleep(max(0.0, go - time.monotonic()))
        timeline = [self.sample()]
        first: Sample | None = None
        while True:
            now = time.monotonic()
            finished = all(self.generators.pipes[i].poll() for i in indexes)
            if first is None and now >= window_start:
                first = self.sample()
                timeline.append(first)
            elif now >= window_end or finished:
                timeline.append(self.sample())
                break
            elif now - timeline[-1].at >= STATUS_SAMPLE_S:
                timeline.append(self.sample())
            time.sleep(0.02)
        last = timeline[-1]
        if first is None:  # the work was done before the window opened
            first = timeline[0]
        results = []
        for index in indexes:
            pipe = self.generators.pipes[index]
            if not pipe.poll(DRAIN_S + 60):
                raise TimeoutError(f"load generator {index} did not finish {spec.name}")
            results.append(pipe.recv()[1])
        settled = self.net.wait_settled(self.node_indexes, SETTLE_TIMEOUT_S)
        frames = self.finish_profile(profile)
        return self.summarise(
            spec, prepared, results, first, last, timeline, go, window_start, settled, frames
        )

    def summarise(
        self,
        spec: PhaseSpec,
        prepared: list[Any],
        results: list[dict[str, Any]],
        first: Sample,
        last: Sample,
        timeline: list[Sample],
        go: float,
        window_start: float,
        settled: bool,
        frames: dict[str, Any] | None,
    ) -> dict[str, Any]:
        window_s = last.at - first.at
        committed = last.log_size - first.log_size
        blocks = last.height - first.height
        latencies = [ms for r in results for at, ms in r["latency_ms"] if at >= window_start]
        refused: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        codes: Counter[str] = Counter()
        for r in results:
            refused.update(r["refused"])
            errors.update(r["errors"])
            codes.update(r["codes"])
            self.bills.extend(r["issued_bills"])
            self.bills.extend(r["unused_bills"])
            self.admitted_bytes += r["admitted_bytes"]
            self.admitted += r["admitted"]
        last_send = max(r["last_send"] for r in results)
        committed_per_s = committed / window_s if window_s > 0 else 0.0
        if spec.name != "setup":
            self.best_rate = max(self.best_rate, committed_per_s)
        cpu = []
        for position, (node, pid) in enumerate(zip(self.node_indexes, self.pids, strict=True)):
            used = last.cpu_s[position] - first.cpu_s[position]
            cpu.append(
                {
                    "node": node,
                    "cpu_percent": 100 * used / window_s if window_s > 0 else math.nan,
                    "cpu_us_per_tx": 1e6 * used / committed if committed else math.nan,
                    "rss_bytes": rss_bytes(pid),
                }
            )
        self.memory.append(
            {
                "after": spec.name,
                "log_size": last.log_size,
                "rss_bytes": [c["rss_bytes"] for c in cpu],
                "rss_anon_bytes": [rss_anon_bytes(pid) for pid in self.pids],
            }
        )
        return {
            "name": spec.name,
            "mode": spec.mode,
            "submit": spec.submit,
            "batch_size": spec.batch_size if spec.submit == "batch" else 1,
            "offered_per_s": spec.rate_per_s * len(results) if spec.mode == "open" else None,
            "in_flight": spec.in_flight * len(results) if spec.mode == "saturate" else None,
            "generators": len(results),
            "signed": sum(p["signed"] for p in prepared),
            "sign_s": max(p["sign_s"] for p in prepared),
            "sent": sum(r["sent"] for r in results),
            "requests": sum(r["requests"] for r in results),
            "admitted": sum(r["admitted"] for r in results),
            "refused": dict(refused),
            "errors": dict(errors),
            "late": sum(r["late"] for r in results),
            "lag_ms_max": max(r["lag_ms_max"] for r in results),
            "exhausted_early": sum(r["unsent_requests"] for r in results) == 0
            and last_send < go + spec.duration_s - 1.0,
            "timeline": [
                {
                    "s": s.at - go,
                    "height": s.height,
                    "log_size": s.log_size,
                    "mempool": s.mempool,
                    "rss_bytes": s.rss_bytes,
                }
                for s in timeline
            ],
            "window_s": window_s,
            "committed": committed,
            "committed_per_s": committed_per_s,
            "blocks": blocks,
            "blocks_per_s": blocks / window_s if window_s > 0 else 0.0,
            "tx_per_block": committed / blocks if blocks else 0.0,
            "mempool_mean": sum(s.mempool for s in timeline) / len(timeline),
            "latency": latency_summary(latencies),
            "codes": dict(codes),
            "cpu": cpu,
            "generators_cpu_percent": [100 * r["cpu_s"] / spec.duration_s for r in results],
            # the whole machine over the window, in % of one core (2 cores: 200%), everyone's
            "machine_cpu_percent": 100 * (last.machine_busy_s - first.machine_busy_s) / window_s
            if window_s > 0
            else math.nan,
            "machine_cores": os.cpu_count(),
            "settled": settled,
            "profile": frames,
        }

    # --- py-spy ------------------------------------------------------------------------------

    def start_profile(
        self, phase: str, start: float, end: float
    ) -> tuple[subprocess.Popen[bytes], Path] | None:
        if self.options.profile != phase:
            return None
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(py_spy).exists():
            print("profile: py-spy not found (pip install -e '.[bench]'); not profiling")
            return None
        output = (
            self.options.results_dir / f"profile-{phase}-node0-{time.strftime('%Y%m%dT%H%M%S')}.txt"
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        time.sleep(max(0.0, start - time.monotonic()))
        command = [
            py_spy, "record", "--pid", str(self.pids[0]), "--rate", "100", "--nonblocking", "--gil",
            "--format", "raw", "--output", str(output),
            "--duration", str(max(1, int(end - time.monotonic()))),
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return process, output

    def finish_profile(
        self, profile: tuple[subprocess.Popen[bytes], Path] | None
    ) -> dict[str, Any] | None:
        if profile is None:
            return None
        process, output = profile
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=10)
            return {"error": "py-spy did not finish"}
        if not output.exists():
            return {"error": f"py-spy wrote nothing: {stderr.decode(errors='replace')[-300:]}"}
        return {"file": str(output), **top_frames(output)}


# --- phases ----------------------------------------------------------------------------------


def base_spec(name: str, options: Options) -> PhaseSpec:
    """A phase's load shape. Single requests: at most `connections` in flight (open loop) or
    exactly that many (saturating). Batches: about `in_flight` transactions in flight in
    either mode (a batch holds its connection until its probe commits)."""
    generators = options.generators
    single = name.endswith("single") or name == "latency"
    batches = max(1, math.ceil(options.in_flight / (options.batch_size * generators)))
    requests = max(1, options.connections // generators)
    return PhaseSpec(
        name=name,
        mode="open" if name.startswith("open") else "saturate",
        submit="single" if single else "batch",
        batch_size=options.batch_size,
        rate_per_s=options.rate_per_s / generators,
        in_flight=1 if name == "latency" else requests if single else batches,
        connections_max=requests if single else batches,
        duration_s=options.latency_s if name == "latency" else options.duration_s,
        kinds=(),
        bills=(),
        label="",
        nonce_base=0,
        expiry_height=1,
        offer_expiry_height=1,
        seed=0,
    )


def run(options: Options) -> dict[str, Any]:
    started = time.monotonic()
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "options": {
            name: str(value) if isinstance(value, Path) else value
            for name, value in ((n, getattr(options, n)) for n in Options.__dataclass_fields__)
        },
        "machine": {"cpus": os.cpu_count(), "load_average_start": os.getloadavg()},
        "revision": git_revision(REPO),
        "phases": [],
    }
    work = Path(tempfile.mkdtemp(prefix="tradeledger-bench-"))
    print(f"devnet: 4 validators in {work} (LevelDB, synced block writes)", flush=True)
    net = BenchNet.create(work / "devnet", NODES)
    generators: Generators | None = None
    try:
        generators = Generators(net, options.generators)
        harness = Harness(options, net, generators)
        setup = replace(
            base_spec("saturate-batch", options), name="setup", duration_s=SETUP_DURATION_S
        )
        if options.setup_bills:
            result = harness.run_phase(setup, options.setup_bills, options.generators, 0.0)
            print(
                f"setup: {result['admitted']} bills issued and committed for the transfers "
                f"({result['committed_per_s']:,.0f} tx/s)",
                flush=True,
            )
            report["setup"] = result
        for name in options.phases:
            spec = base_spec(name, options)
            if name == "latency":
                count, generators_used, warmup = LATENCY_COUNT, 1, 0.5
            elif spec.mode == "open":
                count = math.ceil(options.rate_per_s * options.duration_s)
                generators_used, warmup = options.generators, options.warmup_s
            else:
                count = max(
                    SATURATE_COUNT_MIN,
                    math.ceil(
                        SATURATE_HEADROOM
                        * max(options.rate_per_s, harness.best_rate)
                        * options.duration_s
                    ),
                )
                count = min(count, options.saturate_count_max)
                generators_used, warmup = options.generators, options.warmup_s
            print(f"phase {name}: signing {count} transactions ...", flush=True)
            result = harness.run_phase(spec, count, generators_used, warmup)
            report["phases"].append(result)
            print("  " + phase_line(result), flush=True)
        final = net.status(0)
        report["ledger"] = {
            "height": final["height"] if final else None,
            "transactions": final["log_size"] if final else None,
            "admitted_bytes": harness.admitted_bytes,
            "admitted": harness.admitted,
        }
        report["memory"] = harness.memory
    finally:
        if generators is not None:
            generators.close()
        net.stop()
    report["disk"] = disk_report(net, report.get("ledger", {}))
    if not options.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        report["devnet_dir"] = str(work)
    if options.ceiling:
        print("ed25519 ceiling: measuring ...", flush=True)
        report["ceiling"] = ed25519_verify_ceiling()
    if options.peer:
        report["peer"] = run_peer(options)
    report["elapsed_s"] = time.monotonic() - started
    report["machine"]["load_average_end"] = os.getloadavg()
    return report


def disk_report(net: BenchNet, ledger: dict[str, Any]) -> dict[str, Any]:
    transactions = ledger.get("transactions") or 0
    blocks = ledger.get("height") or 0
    raw = ledger.get("admitted_bytes") or 0
    nodes = []
    for index in range(NODES):
        data = net.data_dir(index)
        ledger_bytes = disk_bytes(data / "ledger")
        nodes.append(
            {
                "node": index,
                "data_bytes": disk_bytes(data),
                "ledger_bytes": ledger_bytes,
                "bytes_per_tx": ledger_bytes / transactions if transactions else math.nan,
            }
        )
    median_ledger = sorted(n["ledger_bytes"] for n in nodes)[NODES // 2]
    # The same after a full LevelDB compaction: without LevelDB's own log (recent writes,
    # uncompressed, up to a memtable's worth) and the tables compaction has not merged yet,
    # i.e. what the ledger costs in the long run.
    for index, entry in enumerate(nodes):
        path = net.data_dir(index) / "ledger"
        with LedgerStore.open(path) as store:
            store.compact()
        entry["ledger_bytes_compacted"] = disk_bytes(path)
    compacted = sorted(n["ledger_bytes_compacted"] for n in nodes)[NODES // 2]
    return {
        "ledger_bytes_compacted_median": compacted,
        "compacted_over_raw": compacted / raw if raw else math.nan,
        "compacted_bytes_per_tx": compacted / transactions if transactions else math.nan,
        "nodes": nodes,
        "transactions": transactions,
        "blocks": blocks,
        "raw_tx_bytes": raw,
        "ledger_bytes_median": median_ledger,
        "ledger_over_raw": median_ledger / raw if raw else math.nan,
        "bytes_per_tx": median_ledger / transactions if transactions else math.nan,
        "overhead_bytes_per_block": (median_ledger - raw) / blocks if blocks else math.nan,
    }


def run_peer(options: Options) -> dict[str, Any]:
    """PySyncObj, 4 nodes, 5 ms batching, compaction off, saturated (its best figure)."""
    if not options.peer_script.exists():
        print(f"peer: {options.peer_script} not found; skipped")
        return {"skipped": f"{options.peer_script} not found"}
    if importlib.util.find_spec("pysyncobj") is None:
        print("peer: pysyncobj is not installed (pip install -e '.[bench]'); skipped")
        return {"skipped": "pysyncobj not installed"}
    print("peer: PySyncObj 4 nodes, 5 ms batching, saturated ...", flush=True)
    with tempfile.TemporaryDirectory() as directory:
        output = Path(directory) / "peer.json"
        command = [
            sys.executable, str(options.peer_script), "--nodes", "4", "--window", "1024",
            "--submitters", "leader", "--ae-period", "0.005", "--tick-period", "0.005",
            "--compaction-min-entries", str(10**9), "--duration", str(options.peer_duration_s),
            "--warmup", "2", "--reps", "1", "--json", str(output),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=options.peer_duration_s + 150, check=False
            )
        except subprocess.TimeoutExpired:
            return {"skipped": "timed out"}
        if not output.exists():
            return {"skipped": f"no result: {done.stderr.decode(errors='replace')[-400:]}"}
        summary = json.loads(output.read_text())["summary"]
        if not summary:
            return {"skipped": "the peer run failed"}
        best = summary[0]
        return {
            "config": "4 nodes, leader submits, window 1024, 5 ms batching, compaction off",
            "commits_per_s": best["commits_per_s_median"],
            "p50_ms": best["p50_ms_median"],
            "p99_ms": best["p99_ms_median"],
        }


# --- printing --------------------------------------------------------------------------------


def phase_line(result: dict[str, Any]) -> str:
    latency = result["latency"]
    cpu = " ".join(f"{c['cpu_percent']:.0f}" for c in result["cpu"])
    generators = " ".join(f"{g:.0f}" for g in result["generators_cpu_percent"])
    offered = (
        f"offered {result['offered_per_s']:,.0f}/s"
        if result["offered_per_s"] is not None
        else f"in flight {result['in_flight'] * result['batch_size']} tx"
    )
    refused = sum(result["refused"].values())
    errors = sum(result["errors"].values())
    flags = []
    if result["exhausted_early"]:
        flags.append("pre-signed count exhausted before the end: raise --saturate-count-max")
    if result["late"]:
        flags.append(f"{result['late']} requests left late (lag max {result['lag_ms_max']:.0f} ms)")
    if not result["settled"]:
        flags.append("mempools not empty after the phase")
    return (
        f"{result['name']:<16} {offered:<18} committed {result['committed_per_s']:>8,.0f} tx/s  "
        f"p50 {latency['p50_ms']:>7.1f} p95 {latency['p95_ms']:>7.1f} "
        f"p99 {latency['p99_ms']:>7.1f} ms (n={latency['count']})  "
        f"{result['blocks_per_s']:5.1f} blocks/s {result['tx_per_block']:6.1f} tx/block  "
        f"cpu% nodes {cpu}, generators {generators}, machine {result['machine_cpu_percent']:.0f} "
        f"of {100 * (result['machine_cores'] or 1)}  refused {refused} errors {errors}"
        + ("  [" + "; ".join(flags) + "]" if flags else "")
    )


def print_report(report: dict[str, Any]) -> tuple[float, float, float]:
    print()
    print("=" * 100)
    print(
        f"tradeledger devnet benchmark at {report['revision']}: 4 validators, "
        f"{report['options']['generators']} load "
        f"generators, batch {report['options']['batch_size']}, {os.cpu_count()} CPUs "
        f"(load average at start {report['machine']['load_average_start'][0]:.2f}: a shared "
        "machine, figures are noisy)"
    )
    for result in report["phases"]:
        print("  " + phase_line(result))
        if result.get("codes"):
            print(f"    result codes of measured commits: {result['codes']}")
        if result.get("refused"):
            print(f"    refused at admission: {result['refused']}")
        if result.get("errors"):
            print(f"    errors: {result['errors']}")
        profile = result.get("profile")
        if profile and "self" in profile:
            samples = int(profile["samples"][0][1]) if profile.get("samples") else 0
            print(
                f"    py-spy node 0, {samples} samples at 100 Hz ({profile['file']}); "
                "functions by own samples:"
            )
            for frame, share in profile["self"][:15]:
                print(f"      {100 * share:5.1f}%  {frame}")
            print("    the project's functions by inclusive samples:")
            for frame, share in profile["inclusive"][:25]:
                print(f"      {100 * share:5.1f}%  {frame}")
    disk = report["disk"]
    print(
        f"  disk: {disk['bytes_per_tx']:,.0f} bytes per committed transaction (median node's "
        f"ledger {disk['ledger_bytes_median'] / 1e6:,.1f} MB for {disk['transactions']} tx in "
        f"{disk['blocks']} blocks; {disk['ledger_over_raw']:.2f} x the raw transaction bytes); "
        f"after a full compaction {disk['compacted_bytes_per_tx']:,.0f} bytes, "
        f"{disk['compacted_over_raw']:.2f} x"
    )
    memory = report.get("memory") or []
    if memory:
        print(
            "  memory (RSS MB per node, of which heap) after each phase: "
            + "; ".join(
                f"{m['after']} @ {m['log_size']} tx: "
                + " ".join(
                    f"{rss / 2**20:.0f} ({anon / 2**20:.0f})"
                    for rss, anon in zip(m["rss_bytes"], m["rss_anon_bytes"], strict=True)
                )
                for m in memory
            )
        )
    headline = headline_phase(report)
    committed = headline["committed_per_s"] if headline else 0.0
    p50 = headline["latency"]["p50_ms"] if headline else math.nan
    p99 = headline["latency"]["p99_ms"] if headline else math.nan
    ceiling = report.get("ceiling")
    if ceiling:
        limit = ceiling["verify_per_s_2_threads"] / VALIDATORS_VERIFYING_EACH_TX
        report["ceiling"]["tx_per_s"] = limit
        report["ceiling"]["ratio"] = committed / limit
        print(
            f"  ed25519 (pynacl): {ceiling['verify_per_s_1_thread']:,.0f} verifies/s 1 thread, "
            f"{ceiling['verify_per_s_2_threads']:,.0f} 2 threads -> ceiling "
            f"{limit:,.0f} signed tx/s with 4 validators; ours {committed:,.0f} = "
            f"{100 * committed / limit:.1f}% of it"
        )
    peer = report.get("peer")
    if peer and "commits_per_s" in peer:
        peer["ratio"] = committed / peer["commits_per_s"]
        print(
            f"  peer PySyncObj ({peer['config']}): {peer['commits_per_s']:,.0f} commits/s, "
            f"p50 {peer['p50_ms']:.1f} ms, p99 {peer['p99_ms']:.1f} ms -> ours/peer "
            f"{committed / peer['commits_per_s']:.3f}"
        )
    elif peer:
        print(f"  peer PySyncObj: skipped ({peer.get('skipped')})")
    print(f"  run took {report['elapsed_s']:.0f} s")
    return committed, p50, p99


def headline_phase(report: dict[str, Any]) -> dict[str, Any] | None:
    phases: dict[str, dict[str, Any]] = {p["name"]: p for p in report["phases"]}
    if "saturate-batch" in phases:
        return phases["saturate-batch"]
    ordered = list(phases.values())
    return ordered[-1] if ordered else None


def write_report(report: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    return path


@contextlib.contextmanager
def _heartbeat(seconds_max: float) -> Iterator[None]:
    """A watchdog: the whole run is bounded; past `seconds_max` the process exits."""
    done = threading.Event()

    def watch() -> None:
        if not done.wait(seconds_max):
            print(f"bench: still running after {seconds_max:.0f} s; giving up", flush=True)
            os._exit(3)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


def parse_options(argv: list[str] | None = None) -> Options:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m bench.harness", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--rate", type=float, default=defaults.rate_per_s, help="open loop: tx/s offered"
    )
    parser.add_argument("--duration", type=float, default=defaults.duration_s, help="s per phase")
    parser.add_argument(
        "--warmup", type=float, default=defaults.warmup_s, help="s before the window"
    )
    parser.add_argument(
        "--batch", type=int, default=defaults.batch_size, help="tx per batch (<= 1000)"
    )
    parser.add_argument("--generators", type=int, default=defaults.generators, help="processes")
    parser.add_argument("--connections", type=int, default=defaults.connections,
                        help="saturate-single: in flight; open: connections")  # fmt: skip
    parser.add_argument("--in-flight", type=int, default=defaults.in_flight,
                        help="saturate-batch: transactions in flight")  # fmt: skip
    parser.add_argument("--latency-duration", type=float, default=defaults.latency_s)
    parser.add_argument(
        "--phases", default=",".join(defaults.phases), help=f"of {','.join(PHASES)}"
    )
    parser.add_argument("--mix", default=",".join(f"{k}={v}" for k, v in DEFAULT_MIX.items()))
    parser.add_argument("--setup-bills", type=int, default=defaults.setup_bills)
    parser.add_argument("--saturate-count-max", type=int, default=defaults.saturate_count_max)
    parser.add_argument("--no-peer", action="store_true", help="skip the PySyncObj peer")
    parser.add_argument("--peer-script", type=Path, default=defaults.peer_script)
    parser.add_argument("--peer-duration", type=float, default=defaults.peer_duration_s)
    parser.add_argument("--no-ceiling", action="store_true", help="skip the Ed25519 ceiling")
    parser.add_argument("--profile", default="", help="py-spy node 0 during this phase")
    parser.add_argument("--keep", action="store_true", help="keep the devnet directory")
    parser.add_argument("--results-dir", type=Path, default=defaults.results_dir)
    args = parser.parse_args(argv)
    phases = tuple(name.strip() for name in args.phases.split(",") if name.strip())
    for name in phases:
        if name not in PHASES:
            parser.error(f"--phases: unknown phase {name!r} (known: {', '.join(PHASES)})")
    if args.profile and args.profile not in phases:
        parser.error(f"--profile: {args.profile!r} is not among the phases run")
    if not 1 <= args.batch <= 1000:
        parser.error("--batch: 1..1000 (the API's batch limit)")
    if args.rate <= 0 or args.duration <= args.warmup or args.generators < 1:
        parser.error("--rate > 0, --duration > --warmup and --generators >= 1")
    return Options(
        rate_per_s=args.rate,
        duration_s=args.duration,
        warmup_s=args.warmup,
        batch_size=args.batch,
        generators=args.generators,
        connections=args.connections,
        in_flight=args.in_flight,
        latency_s=args.latency_duration,
        phases=phases,
        mix=parse_mix(args.mix),
        setup_bills=args.setup_bills,
        saturate_count_max=args.saturate_count_max,
        peer=not args.no_peer,
        peer_script=args.peer_script,
        peer_duration_s=args.peer_duration,
        ceiling=not args.no_ceiling,
        profile=args.profile,
        keep=args.keep,
        results_dir=args.results_dir,
    )


def main(argv: list[str] | None = None) -> None:
    options = parse_options(argv)
    phases = len(options.phases)
    bound_s = 300 + phases * (options.duration_s + DRAIN_S + SETTLE_TIMEOUT_S) + SETUP_DURATION_S
    with _heartbeat(bound_s):
        report = run(options)
        committed, p50, p99 = print_report(report)
        path = write_report(report, options.results_dir)
    print(f"  results: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    print(f"committed: {committed:.0f} tx/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
