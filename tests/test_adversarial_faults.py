"""The fast subset of the adversarial suite (the full run is `make torture`, docs/adversarial.md).

One 4-validator cluster of real node processes whose peer links run through the fault proxy
serves the module; each test injects one kind of fault or attack for a few seconds while the
workload runs, then heals the network and waits for the nodes to converge. The last test
stops every node and runs the whole checker over every data directory and the history.

The seed is printed; replay with TRADELEDGER_ADVERSARIAL_SEED=<seed>.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adversarial import scenarios
from tests.adversarial.cluster import Cluster
from tests.adversarial.history import History
from tests.adversarial.scenarios import Context, check_cluster, heal
from tests.adversarial.workload import Ledger

pytestmark = pytest.mark.timeout(180)

SEED = int(os.environ.get("TRADELEDGER_ADVERSARIAL_SEED", random.SystemRandom().randrange(2**32)))
FAULT_S = 4.0
REPLAY = f"replay: TRADELEDGER_ADVERSARIAL_SEED={SEED} pytest {Path(__file__).name}"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    print(f"adversarial seed {SEED} ({REPLAY})")
    cluster = Cluster.create(tmp_path_factory.mktemp("adversarial"), seed=SEED, lifetime_s=900)
    history = History()
    ledger = Ledger(cluster=cluster, history=history, chain_id=cluster.net.chain_id)
    context = Context(cluster=cluster, ledger=ledger, rng=random.Random(SEED), seed=SEED)
    context.flood_transactions = 500
    context.damage_manifest_only = True
    try:
        yield context
    finally:
        cluster.close()


def _run(ctx: Context, name: str, duration_s: float = FAULT_S) -> None:
    ctx.notes = {}
    try:
        scenarios.SCENARIOS[name](ctx, duration_s)
        heal(ctx)
    except AssertionError as exc:
        raise AssertionError(f"{name}: {exc} ({REPLAY})") from exc
    print(f"{name}: {ctx.notes} faults={ctx.cluster.faults}")


def test_one_validator_isolated_while_a_double_transfer_straddles_the_partition(
    ctx: Context,
) -> None:
    _run(ctx, "partition-3|1")


def test_sigkill_at_random_moments_then_restart(ctx: Context) -> None:
    _run(ctx, "kill-restart")


def test_sigstop_longer_than_the_consensus_timeouts(ctx: Context) -> None:
    _run(ctx, "pause-resume", 2.0)


def test_invalid_transactions_are_refused_or_committed_with_their_refusal_code(
    ctx: Context,
) -> None:
    _run(ctx, "invalid-transactions")


def test_an_equivocating_byzantine_validator_is_named_in_evidence(ctx: Context) -> None:
    _run(ctx, "byzantine", 5.0)
    ctx.byzantine_keys.add(str(ctx.notes["offender"]))


def test_a_damaged_store_refuses_to_start_or_agrees_with_its_peers(ctx: Context) -> None:
    _run(ctx, "storage-damage", 2.0)


def test_hostile_clients_leave_the_node_up_and_others_committing(ctx: Context) -> None:
    _run(ctx, "hostile-clients")


def test_the_checker_finds_no_violation_on_any_node(ctx: Context) -> None:
    result = check_cluster(ctx)
    print(f"checked: {result.summary()}")
    assert result.ok, "\n".join([*result.violations[:20], REPLAY])
    offenders = set(result.evidence_offenders)
    assert offenders == ctx.byzantine_keys, (offenders, ctx.byzantine_keys, REPLAY)
    assert result.codes.get("ok", 0) > 20
