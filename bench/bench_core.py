"""Benchmarks of the ledger core: codec, signatures, store block writes.

    .venv/bin/python -m bench.bench_core

Prints one line per figure. Not run in CI: speed is measured here, not asserted in tests.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ledger import crypto
from ledger.codec import decode, encode
from ledger.store import ExecutedBlock, LedgerStore
from ledger.types import Transaction
from tests.chain import ChainBuilder


def rate(label: str, count: int, run: Callable[[], object], unit: str = "ops") -> float:
    started = time.perf_counter()
    run()
    elapsed = time.perf_counter() - started
    per_second = count / elapsed
    print(f"{label:<48} {per_second:>12,.0f} {unit}/s")
    return per_second


def main() -> None:
    chain = ChainBuilder()
    tx = chain.transaction(
        "bl.issue", reference="MAEU-123456789", hs_codes=["847130"], weight_g=1_200_000
    )
    data = tx.encode()
    print(f"sample transaction: {len(data)} bytes")
    n = 50_000
    value = tx.to_value()
    rate("codec encode (transaction)", n, lambda: [encode(value) for _ in range(n)])
    rate("codec decode (transaction, strict)", n, lambda: [decode(data) for _ in range(n)])
    rate(
        "Transaction.decode (decode + validate)",
        n,
        lambda: [Transaction.decode(data) for _ in range(n)],
    )
    key = crypto.SigningKey.generate()
    payload = tx.signed_payload()
    m = 10_000
    rate(
        "Ed25519 sign",
        m,
        lambda: [key.sign(crypto.Domain.TRANSACTION, "c", payload) for _ in range(m)],
    )
    signature = key.sign(crypto.Domain.TRANSACTION, "c", payload)

    def verify_one(_: int) -> bool:
        crypto.verify(key.public_key, crypto.Domain.TRANSACTION, "c", payload, signature)
        return True

    rate("Ed25519 verify, 1 thread (strict)", m, lambda: [verify_one(i) for i in range(m)])
    with ThreadPoolExecutor(2) as pool:
        rate("Ed25519 verify, 2 threads (strict)", m, lambda: list(pool.map(verify_one, range(m))))

    for per_block in (1, 100, 1000):
        blocks = max(20, 2000 // per_block)
        builder = ChainBuilder()
        executed = []
        for _ in range(blocks):
            txs = [builder.transaction(i=i) for i in range(per_block)]
            executed.append(builder.next_block(txs, {f"doc/{t.nonce}": t.nonce for t in txs}))
        with (
            tempfile.TemporaryDirectory() as path,
            LedgerStore.open(path, builder.genesis) as store,
        ):

            def write_all(
                store: LedgerStore = store, executed: list[ExecutedBlock] = executed
            ) -> None:
                for block in executed:
                    store.persist_block(block)

            blocks_per_s = rate(
                f"store persist_block, {per_block} tx/block (synced)", blocks, write_all, "blocks"
            )
            print(f"{'':<48} {blocks_per_s * per_block:>12,.0f} tx/s")


if __name__ == "__main__":
    main()
