"""Scenarios: one fault or attack each, injected while the workload runs; then heal and check.

A scenario is `function(ctx, duration_s) -> notes`. The runner (`run_scenario`) then heals
the network (proxy rules cleared, paused nodes resumed, stopped nodes started), waits for
the nodes to converge, stops them all, runs the checker over every data directory and
starts them again. Every wait is a bounded condition poll; the only sleeps are the fault
timing itself (how long a node stays killed, paused or partitioned).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from client import bodies
from contracts.testing import issue_body
from ledger.types import Transaction
from tests.adversarial import attacks, byzantine
from tests.adversarial.checker import CheckResult, NodeChain, check, load_chain, load_genesis
from tests.adversarial.cluster import Cluster
from tests.adversarial.proxy import Rule
from tests.adversarial.workload import Ledger, Submitter, Workload

CONSENSUS_TIMEOUTS_S = 2.0  # propose 1 s + prevote 0.5 s + precommit 0.5 s (round 0)
CONVERGE_TIMEOUT_S = 90.0
PROGRESS_TIMEOUT_S = 60.0
TRADERS = 3
RACE_OFFER_BLOCKS = 10_000  # a race's offers never lapse during a run


@dataclass
class Context:
    cluster: Cluster
    ledger: Ledger
    rng: random.Random
    seed: int
    log: Callable[[str], None] = print
    notes: dict[str, object] = field(default_factory=dict)
    byzantine_keys: set[str] = field(default_factory=set)  # keys that were run Byzantine
    flood_transactions: int = 2_000  # hostile-clients: how many one organisation floods
    # storage-damage: only truncate the LevelDB MANIFEST. Damage to a table can wedge a node
    # that started on it (docs/adversarial.md, "Findings"): random damage is torture only.
    damage_manifest_only: bool = False

    @property
    def nodes(self) -> list[int]:
        return list(range(self.cluster.size))

    def sleep(self, seconds: float) -> None:
        """Fault timing only: how long a fault lasts."""
        time.sleep(seconds)


@contextlib.contextmanager
def workload(
    ctx: Context, duration_s: float, *, nodes: list[int] | None = None, traders: int = TRADERS
) -> Iterator[Workload]:
    targets = nodes or ctx.nodes
    load = Workload(
        ctx.ledger,
        ctx.rng,
        traders=traders,
        duration_s=duration_s,
        operations_max=10_000,
        nodes=lambda: targets,
    )
    load.start()
    try:
        yield load
    finally:
        load.stop()


# --- process faults ------------------------------------------------------------------------


def kill_restart(ctx: Context, duration_s: float) -> None:
    """SIGKILL a random validator at a random moment of the load, restart it, repeat."""
    cluster = ctx.cluster
    deadline = time.monotonic() + duration_s
    with workload(ctx, duration_s + 5):
        rounds = 0
        while time.monotonic() < deadline and rounds < 50:
            rounds += 1
            victim = ctx.rng.randrange(cluster.size)
            ctx.sleep(ctx.rng.uniform(0.05, 2.0))  # a random moment: mid block write at times
            cluster.kill(victim)
            ctx.sleep(ctx.rng.uniform(0.5, 3.0))
            cluster.start(victim)
            cluster.wait_ready([victim])
        ctx.notes["kills"] = rounds


def pause_resume(ctx: Context, duration_s: float) -> None:
    """SIGSTOP a validator for longer than the consensus timeouts, then SIGCONT."""
    cluster = ctx.cluster
    deadline = time.monotonic() + duration_s
    with workload(ctx, duration_s + 5):
        rounds = 0
        while time.monotonic() < deadline and rounds < 20:
            rounds += 1
            victim = ctx.rng.randrange(cluster.size)
            others = [i for i in ctx.nodes if i != victim]
            cluster.pause(victim)
            ctx.sleep(CONSENSUS_TIMEOUTS_S * ctx.rng.uniform(2.0, 5.0))
            cluster.wait_progress(others, 1, PROGRESS_TIMEOUT_S)  # three decide without it
            cluster.resume(victim)
            ctx.sleep(ctx.rng.uniform(0.5, 2.0))
        ctx.notes["pauses"] = rounds


# --- network faults ------------------------------------------------------------------------


def partition_halves(ctx: Context, duration_s: float) -> None:
    """2|2: no side holds a quorum, so nothing may be decided until the partition heals."""
    cluster, proxy = ctx.cluster, ctx.cluster.proxy
    order = ctx.nodes
    ctx.rng.shuffle(order)
    groups = [sorted(order[:2]), sorted(order[2:])]
    with workload(ctx, duration_s + 5):
        proxy.partition(*groups)
        cluster.count("partition-2|2")
        # Let in-flight rounds finish, then heights must stand still: no quorum anywhere.
        ctx.sleep(CONSENSUS_TIMEOUTS_S)
        before = cluster.heights()
        ctx.sleep(max(1.0, duration_s - CONSENSUS_TIMEOUTS_S))
        after = cluster.heights()
        proxy.heal()
        # A decision already in flight may land (one height); nothing past the highest
        # height seen before may be decided (a lagging node may still sync up to it).
        top_before, top_after = max(before.values()), max(after.values())
        assert top_after <= top_before + 1, (
            f"decided without a quorum during 2|2 {groups}: heights {before} -> {after}"
        )
        cluster.wait_progress(ctx.nodes, 2, PROGRESS_TIMEOUT_S)
    ctx.notes["groups"] = groups


def partition_minority(ctx: Context, duration_s: float) -> None:
    """3|1 (one node isolated): the three decide; the one catches up after the heal. A
    double-transfer race straddles the partition."""
    cluster, proxy = ctx.cluster, ctx.cluster.proxy
    isolated = ctx.rng.randrange(cluster.size)
    majority = [i for i in ctx.nodes if i != isolated]
    with workload(ctx, duration_s + 5):
        proxy.partition(majority, [isolated])
        cluster.count("partition-3|1")
        double_transfer(ctx, (isolated, ctx.rng.choice(majority)))
        cluster.wait_progress(majority, 2, PROGRESS_TIMEOUT_S)
        ctx.sleep(max(0.5, duration_s - 5))
        proxy.heal()
        cluster.wait_progress(ctx.nodes, 2, PROGRESS_TIMEOUT_S)
    ctx.notes["isolated"] = isolated


def asymmetric(ctx: Context, duration_s: float) -> None:
    """One node's outgoing bytes are dropped (it still hears everyone), then healed."""
    cluster, proxy = ctx.cluster, ctx.cluster.proxy
    mute = ctx.rng.randrange(cluster.size)
    others = [i for i in ctx.nodes if i != mute]
    with workload(ctx, duration_s + 5):
        for other in others:
            proxy.set_rule(mute, other, Rule(blocked=True))
        cluster.count("asymmetric-drop")
        cluster.wait_progress(others, 2, PROGRESS_TIMEOUT_S)
        ctx.sleep(max(0.5, duration_s - 3))
        proxy.heal()
        cluster.wait_progress(ctx.nodes, 2, PROGRESS_TIMEOUT_S)
    ctx.notes["mute"] = mute


def delay(ctx: Context, duration_s: float) -> None:
    """Every link delayed 20-250 ms with jitter (order kept); blocks still commit."""
    cluster, proxy = ctx.cluster, ctx.cluster.proxy
    delay_ms = ctx.rng.randint(20, 250)
    with workload(ctx, duration_s + 5):
        proxy.set_all(ctx.nodes, Rule(delay_ms=delay_ms, jitter_ms=delay_ms // 2))
        cluster.count("delay")
        cluster.wait_progress(ctx.nodes, 2, PROGRESS_TIMEOUT_S)
        ctx.sleep(max(0.5, duration_s - 3))
        proxy.heal()
    ctx.notes["delay_ms"] = delay_ms


def duplicate(ctx: Context, duration_s: float) -> None:
    """TLS records duplicated on the wire: connections are torn down and redialled."""
    cluster, proxy = ctx.cluster, ctx.cluster.proxy
    with workload(ctx, duration_s + 5):
        proxy.set_all(ctx.nodes, Rule(duplicate=0.01))
        cluster.count("duplicate")
        ctx.sleep(max(0.5, duration_s))
        proxy.heal()
        cluster.wait_progress(ctx.nodes, 2, PROGRESS_TIMEOUT_S)


def clock_skew(ctx: Context, duration_s: float) -> None:
    """One validator's clock runs minutes ahead, then jumps back behind the others (a
    restart with its clock set back). Blocks keep committing; block time (the median of the
    precommits) stays strictly increasing: the checker's `verify_directory` asserts it."""
    cluster = ctx.cluster
    victim = ctx.rng.randrange(cluster.size)
    others = [i for i in ctx.nodes if i != victim]
    with workload(ctx, duration_s + 5):
        for offset_ms in (ctx.rng.randint(60_000, 600_000), -ctx.rng.randint(60_000, 600_000)):
            cluster.stop(victim)
            cluster.start(victim, clock_offset_ms=offset_ms)
            cluster.count("clock-skew" if offset_ms > 0 else "clock-jump-back")
            cluster.wait_ready([victim])
            cluster.wait_progress(ctx.nodes, 2, PROGRESS_TIMEOUT_S)
            ctx.sleep(max(0.5, duration_s / 2 - 3))
        cluster.stop(victim)
        cluster.start(victim)
        cluster.wait_ready([victim])
        cluster.wait_progress(others, 1, PROGRESS_TIMEOUT_S)
    ctx.notes["clock_victim"] = victim


# --- races -----------------------------------------------------------------------------------


def double_transfer(ctx: Context, nodes: tuple[int, int]) -> list[str]:
    """The holder offers one bill to two organisations at once through two nodes. Returns the
    two transactions' ids; the checker holds them to: at most one `ok`, ever."""
    ledger = ctx.ledger
    submitter = Submitter(ledger, "racer")
    try:
        reference = f"RACE-{ctx.rng.randrange(10**12)}"
        issue = ledger.sign(
            ledger.key("carrier"), "bl.issue", issue_body(reference, "seller", to_order=True)
        )
        op = submitter.submit(nodes[1], issue, "carrier", wait_ms=20_000)
        if op.outcome != "committed" or op.code != "ok":
            return []
        document = op.tx_id
        expiry = ledger.height_seen + RACE_OFFER_BLOCKS
        offers = [
            ledger.sign(
                ledger.key("seller"),
                "bl.transfer",
                bodies.bl_transfer(document, recipient, expiry),
            )
            for recipient in ("buyer", "bank-nl")
        ]
        tag = f"race:{document[:16]}"
        threads = [
            threading.Thread(
                target=_submit_quietly, args=(ledger, node, tx, tag), name=f"race-{node}"
            )
            for node, tx in zip(nodes, offers, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        return [tx.id.hex() for tx in offers]
    finally:
        submitter.close()


def _submit_quietly(ledger: Ledger, node: int, tx: Transaction, tag: str) -> None:
    submitter = Submitter(ledger, f"racer-{node}")
    try:
        submitter.submit(node, tx, "seller", tags=(tag,), wait_ms=6_000)
    finally:
        submitter.close()


def race(ctx: Context, duration_s: float) -> None:
    """Double transfers through every pair of nodes, while the workload runs."""
    deadline = time.monotonic() + duration_s
    count = 0
    with workload(ctx, duration_s + 5, traders=2):
        while time.monotonic() < deadline and count < 12:
            a, b = ctx.rng.sample(ctx.nodes, 2)
            double_transfer(ctx, (a, b))
            count += 1
    ctx.notes["races"] = count


# --- attacks ---------------------------------------------------------------------------------


def invalid_transactions(ctx: Context, duration_s: float) -> None:
    """Replayed, cross-chain, expired, forged, malleated, revoked-key and out-of-role
    transactions: refused with the right code, or committed with a refusal code."""
    with workload(ctx, duration_s + 5, traders=2):
        findings = attacks.invalid_transactions(ctx.cluster, ctx.ledger, ctx.rng)
    assert not findings, "; ".join(findings)


def hostile_clients(ctx: Context, duration_s: float) -> None:
    """Oversized, slow and malformed requests and a one-organisation flood: every node stays
    up and bounded, and another organisation still commits."""
    findings = attacks.hostile_clients(
        ctx.cluster, ctx.ledger, ctx.rng, duration_s, flood=ctx.flood_transactions
    )
    assert not findings, "; ".join(findings)


def byzantine_validator(ctx: Context, duration_s: float) -> None:
    """A validator's key in a misbehaving process (equivocation, invalid proposals, votes
    for unknown blocks, garbage, replays); the honest node for that key is stopped."""
    cluster = ctx.cluster
    victim = ctx.rng.randrange(cluster.size)
    others = [i for i in ctx.nodes if i != victim]
    cluster.stop(victim)
    with workload(ctx, duration_s + 5, nodes=others):
        stats = byzantine.run_process(
            cluster, victim, seed=ctx.rng.randrange(2**32), duration_s=duration_s
        )
        cluster.count("byzantine")
        cluster.wait_progress(others, 2, PROGRESS_TIMEOUT_S)
    ctx.notes["byzantine"] = {"node": victim, **stats}
    ctx.notes["offender"] = str(cluster.net.nodes[victim]["node_key"])


def storage_damage(ctx: Context, duration_s: float) -> None:
    """Truncate or flip bytes of one stopped node's files; it must refuse to start or come
    back agreeing with the others (repaired from its peers when it refused)."""
    with workload(ctx, duration_s + 5):
        notes = attacks.storage_damage(ctx.cluster, ctx.rng, manifest_only=ctx.damage_manifest_only)
    ctx.notes.update(notes)


SCENARIOS: dict[str, Callable[[Context, float], None]] = {
    "kill-restart": kill_restart,
    "pause-resume": pause_resume,
    "partition-2|2": partition_halves,
    "partition-3|1": partition_minority,
    "asymmetric": asymmetric,
    "delay": delay,
    "duplicate": duplicate,
    "double-transfer": race,
    "invalid-transactions": invalid_transactions,
    "hostile-clients": hostile_clients,
    "byzantine": byzantine_validator,
    "storage-damage": storage_damage,
    "clock-skew": clock_skew,
}
SKIPPED: dict[str, str] = {}


# --- running and checking ----------------------------------------------------------------------


def heal(ctx: Context) -> None:
    cluster = ctx.cluster
    cluster.proxy.heal()
    for index in sorted(cluster.paused):
        cluster.resume(index)
    cluster.start_stopped()
    cluster.wait_ready(ctx.nodes)
    cluster.wait_converged(CONVERGE_TIMEOUT_S)


def check_cluster(ctx: Context) -> CheckResult:
    """Stop every node, check every ledger against the history, start them again."""
    cluster = ctx.cluster
    cluster.stop_all()
    try:
        quick = {i: load_chain(i, cluster.data_dir(i), full=False, verify=False) for i in ctx.nodes}
        longest = max(quick.values(), key=lambda c: (c.height, -c.index)).index
        chains: dict[int, NodeChain] = {
            i: load_chain(i, cluster.data_dir(i), full=i == longest) for i in ctx.nodes
        }
        genesis = load_genesis(cluster.data_dir(longest))
        result = check(ctx.ledger.history.snapshot(), chains, genesis)
    finally:
        cluster.start_stopped()
        cluster.wait_ready(ctx.nodes)
    return result


def recover(ctx: Context) -> CheckResult:
    """After a failed scenario: heal and check, so the run can go on."""
    heal(ctx)
    return check_cluster(ctx)


def run_scenario(ctx: Context, name: str, duration_s: float) -> CheckResult:
    """Run one scenario, heal, check; raises AssertionError (with the seed) on a violation."""
    ctx.notes = {}
    SCENARIOS[name](ctx, duration_s)
    heal(ctx)
    result = check_cluster(ctx)
    offender = ctx.notes.get("offender")
    if isinstance(offender, str):
        ctx.byzantine_keys.add(offender)
        if result.evidence_offenders.get(offender, 0) == 0:
            result.violations.append(
                f"byzantine: no evidence names the equivocating key {offender[:16]}"
            )
    for named in sorted(set(result.evidence_offenders) - ctx.byzantine_keys):
        result.violations.append(f"evidence: names {named[:16]}, which never ran Byzantine")
    return result
