"""SIGKILL a writer in the middle of persisting blocks, many times: the store is never torn.

A child process appends blocks (dozens of transactions and state writes each) in a loop and
announces each block before writing it. The parent kills it with SIGKILL at a random point
after a random announcement, reopens the store (which checks its own integrity) and asserts
that it holds exactly the blocks before the announced one, or those and the announced one.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import signal
from multiprocessing.connection import Connection
from pathlib import Path

from ledger.store import LedgerStore
from ledger.verify import verify_directory
from tests.chain import ChainBuilder

KILLS = int(os.environ.get("TRADELEDGER_CRASH_KILLS", "200"))
ANNOUNCE_TIMEOUT_S = 30.0


def _writer(path: str, seed: int, conn: Connection) -> None:
    rng = random.Random(seed)
    chain = ChainBuilder()
    store = LedgerStore.open(path, chain.genesis)
    chain.resume(store)
    while True:
        count = rng.randrange(0, 40)
        txs = [
            chain.transaction(payload=rng.randbytes(rng.randrange(16, 600))) for _ in range(count)
        ]
        writes = {f"doc/{chain.height + 1}/{i}": rng.randbytes(200) for i in range(count)}
        executed = chain.next_block(txs, dict(writes))
        conn.send(executed.block.height)
        store.persist_block(executed)


def test_sigkill_never_tears_the_store(tmp_path: Path) -> None:
    seed = int(os.environ.get("TRADELEDGER_CRASH_SEED", random.SystemRandom().randrange(2**32)))
    rng = random.Random(seed)
    path = str(tmp_path / "db")
    context = multiprocessing.get_context("fork")
    outcomes = {"announced block lost": 0, "announced block kept": 0}
    for kill in range(KILLS):
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_writer, args=(path, rng.randrange(2**32), sender))
        child.start()
        sender.close()
        announced = 0
        for _ in range(rng.randint(1, 3)):
            assert receiver.poll(ANNOUNCE_TIMEOUT_S), f"writer stalled (seed {seed}, kill {kill})"
            announced = receiver.recv()
        for _ in range(rng.randrange(0, 50_000)):  # move the kill to a random point of the write
            pass
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=ANNOUNCE_TIMEOUT_S)
        assert child.exitcode == -signal.SIGKILL
        # The writer may have announced (and written) more blocks before the kill landed.
        with contextlib.suppress(EOFError):  # EOF: the dead writer's end of the pipe
            while receiver.poll(0):
                announced = receiver.recv()
        receiver.close()
        with LedgerStore.open(path) as store:  # checks integrity; raises if torn
            assert store.height in (announced - 1, announced), (
                f"height {store.height} after announcing {announced} (seed {seed}, kill {kill})"
            )
            lost = store.height == announced - 1
        outcomes["announced block lost" if lost else "announced block kept"] += 1
        if kill % 50 == 49:
            report = verify_directory(path)
            assert report.ok, f"{report.problem} (seed {seed}, kill {kill})"
    assert sum(outcomes.values()) == KILLS
    assert all(outcomes.values()), f"kills never landed on both sides of a write: {outcomes}"
    report = verify_directory(path)
    assert report.ok, f"{report.problem} (seed {seed})"
    assert report.height > KILLS // 2
    print(f"seed {seed}: {KILLS} kills {outcomes}, final height {report.height}")
