"""One node's per-transaction work, stage by stage, in one process (no network, no HTTP).

    python -m bench.bench_pipeline [--count 2000] [--block 1000] [--mix bl.issue=1,...]
                                   [--profile prepare|admit|blocks]

Stages, each timed over the same pre-signed mix (bench/workload.py): `prepare` (decode and
verify the signature), `admit` (mempool admission against the committed state), `build`
(the proposer executes a block), `check` (another validator executes the proposed block),
`persist` (one synced write batch), `mempool` (removing what the block committed or made
stale). Bills for the transfers are issued and committed first. `--profile` prints cProfile's
view of one stage (`blocks`: build to mempool).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import contracts
from bench.workload import DEFAULT_MIX, SENDER_OF_KIND, Signer, kind_sequence, parse_mix
from ledger.crypto import SigningKey
from ledger.store import LedgerStore
from ledger.types import (
    Commit,
    Genesis,
    Member,
    Organisation,
    Validator,
    ValidatorSet,
)
from network.consensus import Decided
from node.devnet import DEMO_ORGANISATIONS
from node.execution import LedgerApplication
from node.main import GC_MIDDLE_THRESHOLD, GC_OLD_THRESHOLD, GC_YOUNG_THRESHOLD
from node.mempool import Mempool, prepare
from tests.chain import signed_commit

CHAIN = "bench-pipeline"


def _genesis(validators: list[SigningKey], members: dict[str, SigningKey]) -> Genesis:
    return Genesis(
        chain_id=CHAIN,
        genesis_time_ms=1_700_000_000_000,
        organisations=tuple(
            Organisation(
                id=spec.id,
                name=spec.name,
                country=spec.country,
                roles=frozenset(spec.roles),
                admin_keys=(SigningKey(bytes([i + 100]) * 32).public_key,),
            )
            for i, spec in enumerate(DEMO_ORGANISATIONS)
        ),
        members=tuple(
            Member(key=key.public_key, organisation=org, name="clerk")
            for org, key in members.items()
        ),
        validators=ValidatorSet.of(
            [
                Validator(node_key=key.public_key, power=1, organisation=spec.id)
                for key, spec in zip(validators, DEMO_ORGANISATIONS, strict=False)
            ]
        ),
    )


class Chain:
    def __init__(self, path: Path, genesis: Genesis, validators: list[SigningKey]) -> None:
        self.store = LedgerStore.open(path, genesis, contracts.genesis_writes(genesis))
        self.validators = validators
        self.mempool = Mempool()
        self.app = LedgerApplication(
            self.store, validators[0].public_key, self.mempool.verified_transaction
        )

    def commit_for(self, block_hash: bytes, height: int) -> Commit:
        timestamp_ms = 1_700_000_000_000 + height * 1000
        return signed_commit(CHAIN, height, block_hash, self.validators[:3], [timestamp_ms] * 3)


def _timed(label: str, count: int, fn: Callable[[], object], profile: str | None) -> object:
    profiler = cProfile.Profile() if profile == label else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    result = fn()
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - start
    print(f"{label:>10}: {elapsed * 1e6 / count:8.1f} us/tx  ({count / elapsed:9.0f} tx/s)")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--block", type=int, default=1000)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--mix", default=",".join(f"{k}={v}" for k, v in DEFAULT_MIX.items()))
    args = parser.parse_args()
    validators = [SigningKey(bytes([i + 1]) * 32) for i in range(4)]
    orgs = sorted(set(SENDER_OF_KIND.values()))
    members = {org: SigningKey(bytes([i + 50]) * 32) for i, org in enumerate(orgs)}
    genesis = _genesis(validators, members)
    signer = Signer(
        chain_id=CHAIN,
        seeds={org: key.seed for org, key in members.items()},
        label="pipe",
        nonce_base=0,
        expiry_height=100_000,
        offer_expiry_height=100_000,
    )
    with tempfile.TemporaryDirectory() as tmp:
        a = Chain(Path(tmp) / "a", genesis, validators)
        b = Chain(Path(tmp) / "b", genesis, validators)
        # Setup: bills for the transfers, committed on both.
        bills = [signer.sign("bl.issue", 10_000_000 + i) for i in range(args.count // 4)]
        setup = [prepare(s.data, CHAIN) for s in bills]
        for chain in (a, b):
            for tx, s in zip(setup, bills, strict=True):
                chain.mempool.admit(tx, s.data, chain.store, chain.store.height + 1)
        for start in range(0, len(bills), args.block):
            value = a.app.build([s.data for s in bills[start : start + args.block]])
            decided_hash = a.app.check(a.store.height + 1, value).block.hash()
            commit = a.commit_for(decided_hash, a.store.height + 1)
            for chain in (a, b):
                chain.app.execute_and_persist(Decided(value=value, commit=commit))
        refs = [s.id.hex() for s in bills]
        mix = parse_mix(args.mix)
        kinds = kind_sequence(mix, args.count)
        signed = signer.sign_mix(kinds, refs)
        datas = [s.data for s in signed]
        n = len(datas)
        print(f"{n} transactions, blocks of {args.block}, mix {mix}")
        gc.freeze()  # the collector as a running node has it (node/main.py)
        gc.set_threshold(GC_YOUNG_THRESHOLD, GC_MIDDLE_THRESHOLD, GC_OLD_THRESHOLD)
        txs = _timed("prepare", n, lambda: [prepare(d, CHAIN) for d in datas], args.profile)
        assert isinstance(txs, list)

        def admit(chain: Chain) -> None:
            for tx, data in zip(txs, datas, strict=True):
                chain.mempool.admit(tx, data, chain.store, chain.store.height + 1)

        _timed("admit", n, lambda: admit(a), args.profile)
        admit(b)
        profiler = cProfile.Profile() if args.profile == "blocks" else None
        # One height at a time: a builds (the proposer), b checks (a validator), both persist.
        seconds = dict.fromkeys(("build", "check", "persist", "mempool"), 0.0)
        for start in range(0, n, args.block):
            chunk = datas[start : start + args.block]
            if profiler:
                profiler.enable()
            t0 = time.perf_counter()
            value = a.app.build(chunk)
            t1 = time.perf_counter()
            candidate = b.app.check(b.store.height + 1, value)
            t2 = time.perf_counter()
            decided = Decided(
                value=value, commit=a.commit_for(candidate.block.hash(), b.store.height + 1)
            )
            t3 = time.perf_counter()
            a.app.execute_and_persist(decided)
            b.app.execute_and_persist(decided)
            t4 = time.perf_counter()
            b.mempool.remove([tx.id for tx in candidate.transactions])
            b.mempool.drop_used_nonces(candidate.result.writes)
            t5 = time.perf_counter()
            if profiler:
                profiler.disable()
            seconds["build"] += t1 - t0
            seconds["check"] += t2 - t1
            seconds["persist"] += (t4 - t3) / 2
            seconds["mempool"] += t5 - t4
            codes = candidate.result.code_values()
            assert all(code == "ok" for code in codes), sorted(set(codes))
        for label, total in seconds.items():
            print(f"{label:>10}: {total * 1e6 / n:8.1f} us/tx")
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(35)
        a.store.close()
        b.store.close()


if __name__ == "__main__":
    main()
