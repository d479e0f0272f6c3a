"""The simulator itself: reproducible, sensitive, and checking what it claims to check."""

from __future__ import annotations

import itertools

import pytest

from ledger.types import ValidatorSet
from network.sim import Behaviour, Simulator, run_seed
from network.sim.simulator import CHAIN_ID


@pytest.mark.parametrize("mix", ["chaos", "seven", "crash", "equivocate"])
def test_a_replayed_seed_gives_an_identical_trace(mix: str) -> None:
    first = run_seed(11, mix)
    second = run_seed(11, mix)
    assert first.trace_hash == second.trace_hash
    assert first == second
    assert run_seed(12, mix).trace_hash != first.trace_hash


def test_more_byzantine_validators_than_tolerated_break_agreement_and_are_caught() -> None:
    results = [run_seed(seed, "overload") for seed in range(20)]
    caught = [r for r in results if any("agreement" in v for v in r.violations)]
    assert len(caught) >= 5, "f+1 colluding equivocators should split the honest replicas"
    description = caught[0].describe()
    assert f"--sim-seed={caught[0].seed}" in description
    assert f"SEED_START={caught[0].seed}" in description


def test_restarting_without_the_wal_is_caught_as_double_signing() -> None:
    results = [run_seed(seed, "amnesia") for seed in range(10)]
    assert sum(any("double-sign" in v for v in r.violations) for r in results) >= 3


def test_crashes_and_torn_wal_writes_happen_and_nothing_breaks() -> None:
    results = [run_seed(seed, "crash") for seed in range(20)]
    assert all(r.ok for r in results), [r.describe() for r in results if not r.ok]
    assert sum(r.crashes for r in results) >= 20
    assert sum(r.torn_writes for r in results) >= 3


def test_equivocation_is_committed_as_evidence_that_names_the_offender() -> None:
    committed_runs = 0
    for seed in range(10):
        sim = Simulator(seed, "equivocate")
        result = sim.run()
        assert result.ok, result.describe()
        assert result.equivocations > 0
        offenders = {
            evidence.offender
            for node in sim.nodes
            if node.honest
            for block in node.app.chain
            for evidence in block.block.evidence
        }
        (byzantine,) = [n.key.public_key for n in sim.nodes if n.behaviour is not None]
        assert offenders <= {byzantine}
        committed_runs += offenders == {byzantine}
    assert committed_runs >= 5


def test_decided_blocks_carry_commits_and_strictly_increasing_bft_time() -> None:
    sim = Simulator(3, "lossy")
    assert sim.run().ok
    validators: ValidatorSet = sim.validators
    for node in sim.nodes:
        chain = node.app.chain
        assert len(chain) >= 2
        for previous, block in itertools.pairwise(chain):
            assert block.block.last_commit is not None
            block.block.last_commit.verify(CHAIN_ID, validators)
            assert block.block.time_ms == block.block.last_commit.median_time_ms(validators)
            assert block.block.time_ms > previous.block.time_ms
        for block in chain:
            block.commit.verify(CHAIN_ID, validators)


def test_silent_and_unknown_block_validators_do_not_stop_progress() -> None:
    for mix in ("silent", "unknown-blocks"):
        sim = Simulator(5, mix)
        result = sim.run()
        assert result.ok, result.describe()
        assert {n.behaviour for n in sim.nodes} >= {None}
        assert any(n.behaviour in (Behaviour.SILENT, Behaviour.UNKNOWN_BLOCKS) for n in sim.nodes)
        assert result.height >= 1


def test_faults_are_injected() -> None:
    totals = [run_seed(seed, "chaos") for seed in range(10)]
    assert sum(r.partitions for r in totals) > 0
    assert sum(r.drops for r in totals) > 0
    assert sum(r.duplicates for r in totals) > 0
    assert sum(r.crashes for r in totals) > 0
    assert sum(r.equivocations for r in totals) > 0
