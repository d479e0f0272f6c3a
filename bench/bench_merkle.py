"""Benchmark ledger.merkle: `python -m bench.bench_merkle [--leaves N]`. Not run in CI.

Appends LEAVES_DEFAULT leaves to a MerkleLog over a MemoryNodeStore in blocks of
BLOCK_LEAVES (persisting each block, as the store does), then times proof generation and
verification at random indices and past sizes (fixed seed) of the full tree.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from ledger.merkle import (
    HASH_SIZE_BYTES,
    MemoryNodeStore,
    MerkleLog,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

LEAVES_DEFAULT = 100_000
BLOCK_LEAVES = 100  # leaves appended and persisted together, like one block
PROOF_SAMPLES = 2_000  # proofs generated and verified per kind
SEED = 6962


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f}/s  ({seconds * 1e6 / count:8.1f} µs each)"


def _timed(work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leaves", type=int, default=LEAVES_DEFAULT)
    leaf_count: int = parser.parse_args().leaves
    rng = random.Random(SEED)
    leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(leaf_count)]

    store = MemoryNodeStore()
    log = MerkleLog(store, 0)

    def append_all() -> None:
        for begin in range(0, leaf_count, BLOCK_LEAVES):
            store.put_nodes(log.append(leaves[begin : begin + BLOCK_LEAVES]))
            log.mark_persisted()

    seconds = _timed(append_all)
    print(f"leaves: {leaf_count:,}  nodes stored: {len(store):,}  block: {BLOCK_LEAVES} leaves")
    print(f"append (incl. put_nodes)       {_rate(leaf_count, seconds)}")

    # A reopened log reads every node from the store: no help from the in-memory frontier.
    log = MerkleLog(store, leaf_count)
    past_sizes = [rng.randint(1, leaf_count) for _ in range(PROOF_SAMPLES)]
    roots: dict[int, bytes] = {}
    seconds = _timed(lambda: roots.update((size, log.root(size)) for size in past_sizes))
    print(f"root at a past size            {_rate(PROOF_SAMPLES, seconds)}")
    final_root = log.root()

    indices = [rng.randrange(leaf_count) for _ in range(PROOF_SAMPLES)]
    inclusion: list[list[bytes]] = []
    seconds = _timed(
        lambda: inclusion.extend(log.inclusion_proof(index, leaf_count) for index in indices)
    )
    print(f"inclusion proof: generate      {_rate(PROOF_SAMPLES, seconds)}")

    def verify_all_inclusion() -> None:
        for index, proof in zip(indices, inclusion, strict=True):
            verify_inclusion(leaves[index], index, leaf_count, proof, final_root)

    seconds = _timed(verify_all_inclusion)
    print(f"inclusion proof: verify        {_rate(PROOF_SAMPLES, seconds)}")

    consistency: list[list[bytes]] = []
    seconds = _timed(
        lambda: consistency.extend(log.consistency_proof(size, leaf_count) for size in past_sizes)
    )
    print(f"consistency proof: generate    {_rate(PROOF_SAMPLES, seconds)}")

    def verify_all_consistency() -> None:
        for size, proof in zip(past_sizes, consistency, strict=True):
            verify_consistency(size, leaf_count, proof, roots[size], final_root)

    seconds = _timed(verify_all_consistency)
    print(f"consistency proof: verify      {_rate(PROOF_SAMPLES, seconds)}")

    for name, proofs in (("inclusion", inclusion), ("consistency", consistency)):
        sizes = [len(proof) * HASH_SIZE_BYTES for proof in proofs]
        print(
            f"{name} proof size: min {min(sizes)} B, mean {sum(sizes) / len(sizes):.0f} B, "
            f"max {max(sizes)} B"
        )


if __name__ == "__main__":
    main()
