"""A first figure for a running devnet: committed transactions/s, blocks/s, and catch-up.

    .venv/bin/python -m bench.bench_devnet [TRANSACTIONS]

Creates a 4-validator devnet in a temporary directory, pre-signs TRANSACTIONS bill-of-lading
issues outside the timed window, submits them to the four nodes from one asyncio client
(httpx; at most CONCURRENCY requests in flight), and waits until every one is committed.
Then stops one node, commits more, restarts it and times its catch-up. The full load
harness (separate load-generator processes, latency percentiles) is issue 8's `make bench`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.devnet_harness import Devnet, wait_until

CONCURRENCY = 64


async def submit_all(net: Devnet, payloads: list[bytes], nodes: list[int]) -> None:
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(index: int, data: bytes) -> None:
            async with semaphore:
                answer = await client.post(
                    f"{net.url(nodes[index % len(nodes)])}/v1/transactions",
                    content=data,
                    headers={"content-type": "application/msgpack"},
                )
                assert answer.status_code == 202, answer.text

        await asyncio.gather(*(one(i, data) for i, data in enumerate(payloads)))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as directory:
        net = Devnet.create(Path(directory) / "devnet")
        try:
            txs = [net.bill(f"BENCH-{i}", expiry_height=10_000) for i in range(count)]
            payloads = [tx.encode() for tx in txs]
            start_height = net.height(0)
            started = time.perf_counter()
            asyncio.run(submit_all(net, payloads, [0, 1, 2, 3]))
            submitted = time.perf_counter() - started
            last = txs[-1].id.hex()

            def all_committed() -> bool:
                return (
                    all(
                        net.http.get(f"{net.url(0)}/v1/transactions/{tx.id.hex()}")
                        .json()
                        .get("status")
                        == "committed"
                        for tx in (txs[0], txs[len(txs) // 2], txs[-1])
                    )
                    and net.mempool_size(0) == 0
                )

            wait_until(all_committed, 600, "every transaction to commit")
            elapsed = time.perf_counter() - started
            blocks = net.height(0) - start_height
            print(f"submitted {count} in {submitted:.2f} s ({count / submitted:,.0f}/s)")
            print(
                f"committed {count} tx in {elapsed:.2f} s: {count / elapsed:,.0f} tx/s, "
                f"{blocks} blocks ({blocks / elapsed:.1f} blocks/s, {count / max(blocks, 1):.0f} "
                f"tx/block); last {last[:16]}"
            )
            net.kill(3)
            more = [net.bill(f"BENCH-LATE-{i}", expiry_height=10_000) for i in range(count)]
            asyncio.run(submit_all(net, [tx.encode() for tx in more], [0, 1, 2]))
            wait_until(
                lambda: net.mempool_size(0) == 0,
                600,
                "the second batch to commit",
            )
            target = net.height(0)
            behind = target - net.height(3) if net.height(3) > 0 else target
            started = time.perf_counter()
            net.restart_stopped()
            wait_until(lambda: net.height(3) >= target, 600, "node 3 to catch up")
            caught_up = time.perf_counter() - started
            print(
                f"catch-up: node 3 replayed up to height {target} ({count} tx, about {behind} "
                f"blocks behind) in {caught_up:.2f} s including process start "
                f"({count / caught_up:,.0f} tx/s)"
            )
        finally:
            net.stop()


if __name__ == "__main__":
    main()
