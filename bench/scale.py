"""Scale curves: `make bench-scale` (or `python -m bench.scale proofs|catchup|all`).

proofs   Builds one ledger directly with the store and real signatures (`tests.chain`'s
         ChainBuilder: 4 validators' commits, a member's signed transactions the size of a
         real bl.issue, one state write per transaction; no consensus, no contracts) up to
         `--max` transactions in blocks of `--block`, and at 10^3, 10^4, 10^5, 10^6 measures:
         - the evidence bundle of one transaction (`ledger.bundle`): inclusion-proof hashes
           and bytes, the whole entry's JSON bytes and what it is made of (binary bytes of
           transaction, header, commit, and result code with its proof); time to assemble
           it from the store, and to verify it offline (`client.verify.verify_bundle`);
         - `tradeledger ledger verify DIR` (the CLI, as a subprocess) end to end;
         - the RSS of a real node process (`node.main`) opened on that ledger, idle, after a
           few API reads (it cannot decide blocks: its three peers do not exist).
catchup  A real 4-validator devnet: stops node 3, drives `--catchup-duration` s of saturating
         batch load through nodes 0-2, restarts node 3 and times until it reaches their
         height: transactions and blocks replayed per second (commits verified, contracts
         executed), with and without its process start. It also samples the RSS of nodes
         0-2 against the transactions they hold, for a slope per transaction.
Results go to bench/results/scale-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, cast

import httpx

from bench.harness import RESULTS_DIR, Generators, Harness, Options, base_spec
from bench.measure import latency_summary, percentile, rss_anon_bytes, rss_bytes, top_frames
from bench.net import BenchNet
from client.verify import verify_bundle
from contracts.testing import issue_body
from ledger import merkle
from ledger.codec import Value, encode
from ledger.store import LedgerStore
from ledger.types import Transaction
from node import devnet
from node.config import Address, NodeConfig, write_node_key
from tests.chain import ChainBuilder, key

CHECKPOINTS = (1_000, 10_000, 100_000, 1_000_000)
SAMPLES = 200  # bundles assembled and verified per checkpoint
SIGN_CHUNK = 10_000  # transactions signed per worker task
NODE_START_TIMEOUT_S = 120.0
VERIFY_TIMEOUT_S = 3600.0
CATCHUP_TIMEOUT_S = 900.0
PROFILE_S = 120  # py-spy's own limit; it is stopped when the node has caught up


class _Raw:
    """Already-signed transaction bytes where ChainBuilder expects a Transaction (it only
    calls `encode()`): signing happens in worker processes, bytes cross the pipe."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def encode(self) -> bytes:
        return self.data


def _sign_chunk(start: int, count: int, chain_id: str) -> list[bytes]:
    member = key("member-0")  # ChainBuilder's member key: the genesis knows it
    return [
        Transaction.create(
            member,
            chain_id=chain_id,
            kind="bl.issue",
            nonce=nonce,
            expiry_height=1_000_000,
            body=issue_body(f"SCALE-{nonce}", "seller", to_order=True),
        ).encode()
        for nonce in range(start, start + count)
    ]


# --- proofs, ledger verify, node memory --------------------------------------------------------


def build_and_measure(
    directory: Path, maximum: int, per_block: int, workers: int
) -> list[dict[str, Any]]:
    builder = ChainBuilder(validator_count=4)
    data_dir = directory / "data"
    ledger_dir = data_dir / "ledger"
    genesis_file = directory / "genesis.json"
    genesis_file.write_text(builder.genesis.to_json())
    checkpoints = [n for n in CHECKPOINTS if n <= maximum] or [maximum]
    ids: list[bytes] = []
    rows = []
    store = LedgerStore.open(ledger_dir, builder.genesis, {})
    build_s = 0.0
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for target in checkpoints:
            started = time.perf_counter()
            while len(ids) < target:
                count = min(target - len(ids), SIGN_CHUNK * workers)
                chunks = [
                    (start, min(SIGN_CHUNK, len(ids) + count + 1 - start))
                    for start in range(len(ids) + 1, len(ids) + count + 1, SIGN_CHUNK)
                ]
                futures = [
                    pool.submit(_sign_chunk, start, size, builder.chain_id)
                    for start, size in chunks
                ]
                signed = [data for future in futures for data in future.result()]
                for offset in range(0, len(signed), per_block):
                    block = signed[offset : offset + per_block]
                    block_ids = [Transaction.decode(data).id for data in block]
                    writes: dict[str, Value | None] = {
                        f"tx/{tx_id.hex()}": {"code": "ok", "height": builder.height + 1}
                        for tx_id in block_ids
                    }
                    executed = builder.next_block(
                        cast(Sequence[Transaction], [_Raw(data) for data in block]), dict(writes)
                    )
                    store.persist_block(executed)
                    ids.extend(block_ids)
            build_s += time.perf_counter() - started
            print(
                f"scale: ledger at {len(ids):,} transactions ({build_s:.0f} s building)", flush=True
            )
            row: dict[str, Any] = {"transactions": len(ids), "blocks": store.height}
            row.update(measure_bundles(store, builder, ids))
            store.close()
            row["ledger_verify"] = ledger_verify(ledger_dir)
            row["node_rss"] = node_rss(directory, builder, data_dir, genesis_file)
            row["disk_bytes"] = sum(
                f.stat().st_blocks * 512 for f in ledger_dir.iterdir() if f.is_file()
            )
            row["build_s"] = build_s
            rows.append(row)
            print("  " + proof_line(row), flush=True)
            store = LedgerStore.open(ledger_dir, builder.genesis, {})
            builder.resume(store)
    store.close()
    return rows


def measure_bundles(store: LedgerStore, builder: ChainBuilder, ids: list[bytes]) -> dict[str, Any]:
    from ledger.bundle import bundle_entry, bundle_to_json

    chooser = random.Random(len(ids))
    assemble_ms, verify_ms, inclusion_us = [], [], []
    json_bytes, proof_hashes = [], []
    parts: dict[str, list[int]] = {"transaction": [], "header": [], "commit": [], "code": []}
    for tx_id in chooser.sample(ids, min(SAMPLES, len(ids))):
        started = time.perf_counter()
        entry = bundle_entry(store, tx_id)
        assert entry is not None
        bundle = bundle_to_json(
            genesis=builder.genesis, document_id=tx_id.hex(), document=None, entries=[entry]
        )
        assemble_ms.append((time.perf_counter() - started) * 1000)
        text = json.dumps(bundle, separators=(",", ":"))
        json_bytes.append(len(text))
        proof_hashes.append(len(entry.inclusion_proof))
        parts["transaction"].append(len(entry.transaction))
        parts["header"].append(len(encode(entry.header.to_value())))
        parts["commit"].append(len(encode(entry.commit.to_value())))
        parts["code"].append(len(encode(entry.code)) + len(encode(list(entry.code_proof))))
        parsed = json.loads(text)
        started = time.perf_counter()
        verify_bundle(parsed, builder.genesis)
        verify_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        merkle.verify_inclusion(
            merkle.leaf_hash(entry.transaction),
            entry.log_index,
            entry.header.log_size,
            entry.inclusion_proof,
            entry.header.log_root,
        )
        inclusion_us.append((time.perf_counter() - started) * 1e6)
    hashes = int(percentile(proof_hashes, 0.5))
    return {
        "inclusion_proof_hashes": hashes,
        "inclusion_proof_bytes": hashes * merkle.HASH_SIZE_BYTES,
        "entry_binary_bytes": {name: int(percentile(v, 0.5)) for name, v in parts.items()},
        "bundle_json_bytes": int(percentile(json_bytes, 0.5)),
        "assemble": latency_summary(assemble_ms),
        "verify": latency_summary(verify_ms),
        "inclusion_verify_us_p50": percentile(inclusion_us, 0.5),
    }


def ledger_verify(ledger_dir: Path) -> dict[str, Any]:
    tradeledger = Path(sys.executable).parent / "tradeledger"
    started = time.perf_counter()
    done = subprocess.run(
        [str(tradeledger), "ledger", "verify", str(ledger_dir), "--json"],
        capture_output=True,
        timeout=VERIFY_TIMEOUT_S,
        check=False,
    )
    elapsed = time.perf_counter() - started
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = {"ok": False, "output": done.stdout.decode(errors="replace")[-300:]}
    transactions = int(report.get("transactions") or 0)
    return {
        "ok": bool(report.get("ok")),
        "seconds": elapsed,
        "tx_per_s": transactions / elapsed if elapsed > 0 else math.nan,
        "exit": done.returncode,
    }


def node_rss(
    directory: Path, builder: ChainBuilder, data_dir: Path, genesis_file: Path
) -> dict[str, Any]:
    """Start validator 0 of the built chain on its ledger, read a little, take its RSS."""
    node_dir = directory / "node"
    node_dir.mkdir(exist_ok=True)
    key_file = node_dir / "node.key"
    if not key_file.exists():
        write_node_key(key_file, key("validator-0"))
    p2p_port, api_port = devnet.free_ports("127.0.0.1", 2)
    config = NodeConfig(
        path=node_dir / "node.toml",
        name="scale-node",
        key_file=key_file,
        genesis_file=genesis_file,
        data_dir=data_dir,
        p2p_listen=Address(host="127.0.0.1", port=p2p_port),
        api_listen=Address(host="127.0.0.1", port=api_port),
    )
    config.path.write_text(config.to_toml())
    url = f"http://127.0.0.1:{api_port}"
    log = (node_dir / "node.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "node.main", "--config", str(config.path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    started = time.monotonic()
    try:
        with httpx.Client(timeout=30.0) as client:
            while True:
                try:
                    status = client.get(f"{url}/v1/status")
                    if status.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() - started > NODE_START_TIMEOUT_S:
                    return {"error": "the node did not start; see node/node.log"}
                time.sleep(0.2)
            start_s = time.monotonic() - started
            height = int(status.json()["height"])
            client.get(f"{url}/v1/blocks/latest")
            client.get(f"{url}/v1/blocks/{max(1, height // 2)}")
            client.get(f"{url}/v1/proofs/consistency", params={"from": 1, "to": height})
            return {
                "rss_bytes": rss_bytes(process.pid),
                "rss_anon_bytes": rss_anon_bytes(process.pid),
                "start_s": start_s,
            }
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def proof_line(row: dict[str, Any]) -> str:
    verify = row["verify"]
    parts = row["entry_binary_bytes"]
    ledger = row["ledger_verify"]
    rss = row["node_rss"].get("rss_bytes")
    anon = row["node_rss"].get("rss_anon_bytes")
    return (
        f"{row['transactions']:>9,} tx: inclusion proof {row['inclusion_proof_hashes']} hashes "
        f"= {row['inclusion_proof_bytes']} B; bundle entry JSON {row['bundle_json_bytes']:,} B "
        f"(binary: tx {parts['transaction']}, header {parts['header']}, commit {parts['commit']}, "
        f"code + proof {parts['code']}); verify p50 {verify['p50_ms']:.2f} ms "
        f"p99 {verify['p99_ms']:.2f} ms; assemble p50 {row['assemble']['p50_ms']:.2f} ms; "
        f"ledger verify {ledger['seconds']:.1f} s ({ledger['tx_per_s']:,.0f} tx/s, "
        f"ok={ledger['ok']}); idle node RSS {rss / 2**20 if rss else math.nan:.0f} MB "
        f"(of which heap {anon / 2**20 if anon else math.nan:.0f} MB)"
    )


# --- catch-up ----------------------------------------------------------------------------------


def start_py_spy(net: BenchNet, index: int) -> tuple[subprocess.Popen[bytes], Path] | None:
    """py-spy on the catching-up node for at most PROFILE_S (raw collapsed stacks)."""
    pid = net.pid(index)
    py_spy = Path(sys.executable).parent / "py-spy"
    if pid is None or not py_spy.exists():
        return None
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    output = RESULTS_DIR / f"profile-catchup-node{index}-{time.strftime('%Y%m%dT%H%M%S')}.txt"
    command = [
        str(py_spy), "record", "--pid", str(pid), "--rate", "100", "--nonblocking",
        "--format", "raw", "--output", str(output), "--duration", str(PROFILE_S),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, output


def finish_py_spy(profiler: tuple[subprocess.Popen[bytes], Path] | None) -> dict[str, Any] | None:
    if profiler is None:
        return None
    process, output = profiler
    process.send_signal(signal.SIGINT)  # py-spy writes what it sampled so far
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    if not output.exists():
        return {"error": "py-spy wrote nothing"}
    return {"file": str(output), **top_frames(output)}


def catchup(duration_s: float, batch: int, in_flight: int, profile: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tradeledger-catchup-") as directory:
        net = BenchNet.create(Path(directory) / "devnet", 4)
        generators: Generators | None = None
        try:
            lagging = 3
            before = net.status(lagging)
            assert before is not None
            net.kill(lagging)
            running = [0, 1, 2]
            options = Options(
                duration_s=duration_s, batch_size=batch, in_flight=in_flight, generators=2
            )
            generators = Generators(net, options.generators, running)
            harness = Harness(options, net, generators, running)
            spec = base_spec("saturate-batch", options)
            count = max(20_000, int(3 * duration_s * 2000))
            print(
                f"catch-up: node {lagging} stopped; {duration_s:.0f} s of load on nodes 0-2 ...",
                flush=True,
            )
            harness.memory.append(harness.memory_point("start"))
            load = harness.run_phase(spec, count, options.generators, 2.0)
            target = net.status(0)
            assert target is not None
            behind_blocks = int(target["height"]) - int(before["height"])
            behind_tx = int(target["log_size"]) - int(before["log_size"])
            print(
                f"catch-up: restarting node {lagging}, {behind_blocks} blocks behind",
                flush=True,
            )
            started = time.monotonic()
            net.start_stopped()
            up = None
            profiler: tuple[subprocess.Popen[bytes], Path] | None = None
            deadline = started + CATCHUP_TIMEOUT_S
            while time.monotonic() < deadline:
                status = net.status(lagging)
                if status is not None:
                    if up is None:
                        up = (time.monotonic(), int(status["height"]), int(status["log_size"]))
                        if profile:
                            profiler = start_py_spy(net, lagging)
                    if int(status["height"]) >= int(target["height"]):
                        break
                time.sleep(0.1)
            done = time.monotonic()
            frames = finish_py_spy(profiler)
            final = net.status(lagging)
            caught_up = final is not None and int(final["height"]) >= int(target["height"])
            assert up is not None
            replay_s = done - up[0]
            replay_tx = int(target["log_size"]) - up[2]
            replay_blocks = int(target["height"]) - up[1]
            return {
                "behind_blocks": behind_blocks,
                "behind_tx": behind_tx,
                "caught_up": caught_up,
                "total_s": done - started,
                "process_start_s": up[0] - started,
                "replay_s": replay_s,
                "replay_tx": replay_tx,
                "replay_blocks": replay_blocks,
                "tx_per_s": replay_tx / replay_s if replay_s > 0 else math.nan,
                "blocks_per_s": replay_blocks / replay_s if replay_s > 0 else math.nan,
                "tx_per_s_with_start": behind_tx / (done - started),
                "load": {k: load[k] for k in ("committed_per_s", "tx_per_block", "latency", "cpu")},
                "memory": harness.memory,
                "memory_slope": memory_slope(harness.memory),
                "profile": frames,
            }
        finally:
            if generators is not None:
                generators.close()
            net.stop()


def memory_slope(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Bytes of RSS per committed transaction, per node, between the first and last point."""
    if len(points) < 2:
        return {}
    first, last = points[0], points[-1]
    added = last["log_size"] - first["log_size"]
    slopes = [
        (after - before) / added if added else math.nan
        for before, after in zip(first["rss_bytes"], last["rss_bytes"], strict=True)
    ]
    return {
        "from": first,
        "to": last,
        "rss_bytes_per_tx": slopes,
        "rss_bytes_at_1e6_tx_estimate": [
            after + slope * (1_000_000 - last["log_size"])
            for after, slope in zip(last["rss_bytes"], slopes, strict=True)
        ],
    }


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("what", nargs="?", default="all", choices=["all", "proofs", "catchup"])
    parser.add_argument("--max", type=int, default=1_000_000, help="transactions in the ledger")
    parser.add_argument("--block", type=int, default=1000, help="transactions per block")
    parser.add_argument("--workers", type=int, default=2, help="signing processes")
    parser.add_argument("--catchup-duration", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="py-spy the catching-up node")
    parser.add_argument("--dir", type=Path, default=None, help="build the ledger here (kept)")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": dict(vars(args)),
    }
    report["args"]["dir"] = str(args.dir)
    if args.what in ("all", "proofs"):
        if args.dir is not None:
            args.dir.mkdir(parents=True, exist_ok=False)
            report["proofs"] = build_and_measure(args.dir, args.max, args.block, args.workers)
        else:
            with tempfile.TemporaryDirectory(prefix="tradeledger-scale-") as directory:
                report["proofs"] = build_and_measure(
                    Path(directory), args.max, args.block, args.workers
                )
    if args.what in ("all", "catchup"):
        result = catchup(args.catchup_duration, args.batch, args.in_flight, args.profile)
        report["catchup"] = result
        print(
            f"catch-up: {result['replay_blocks']} blocks / {result['replay_tx']:,} tx replayed in "
            f"{result['replay_s']:.1f} s after the process answered "
            f"({result['process_start_s']:.1f} s to start): {result['tx_per_s']:,.0f} tx/s, "
            f"{result['blocks_per_s']:.1f} blocks/s; "
            f"{result['tx_per_s_with_start']:,.0f} tx/s including the start; caught up: "
            f"{result['caught_up']}",
            flush=True,
        )
        profile = result.get("profile")
        if profile and "self" in profile:
            print(f"catch-up profile of node 3 ({profile['file']}), own / inclusive samples:")
            for (frame, share), (inclusive, inclusive_share) in zip(
                profile["self"][:15], profile["inclusive"][:15], strict=False
            ):
                print(
                    f"  {100 * share:5.1f}% {frame:<60} {100 * inclusive_share:5.1f}% {inclusive}"
                )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"scale-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
