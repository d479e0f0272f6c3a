"""Unit tests of the pure consensus core: one rule of Algorithm 1 at a time, by hand."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pytest

from ledger import crypto
from ledger.crypto import SigningKey
from ledger.types import (
    ConsensusParams,
    DuplicateVoteEvidence,
    SignedVote,
    Validator,
    ValidatorSet,
    Vote,
    VoteKind,
)
from network.consensus import (
    CheckedValue,
    ConsensusConfig,
    ConsensusLimits,
    Decided,
    InvalidMessage,
    LaggingPeer,
    MessageKind,
    MisuseError,
    Outbound,
    Proposal,
    Ready,
    Replica,
    SignedProposal,
    Step,
    Timeout,
    TimeoutKind,
    ValueRequest,
    WalRecord,
    drain_ready,
)

CHAIN = "test-chain"
KEYS = sorted((SigningKey(bytes([i + 1]) * 32) for i in range(4)), key=lambda k: k.public_key)
VALIDATORS = ValidatorSet.of(
    [Validator(node_key=k.public_key, power=1, organisation=f"org{i}") for i, k in enumerate(KEYS)]
)
PARAMS = ConsensusParams(
    timeout_propose_ms=100, timeout_prevote_ms=50, timeout_precommit_ms=50, timeout_increase_ms=10
)
A = b"value A"
B = b"value B"


def h(value: bytes) -> bytes:
    return crypto.sha256(value)


class FakeApp:
    """valid(v) is "not in `invalid`"; every value's block time is `time_ms`."""

    def __init__(self) -> None:
        self.invalid: set[bytes] = set()
        self.time_ms = 0

    def validate(self, height: int, value: bytes) -> CheckedValue | None:
        if value in self.invalid:
            return None
        return CheckedValue(value_hash=h(value), time_ms=self.time_ms)


def config(index: int, limits: ConsensusLimits | None = None) -> ConsensusConfig:
    return ConsensusConfig(
        chain_id=CHAIN,
        validators=VALIDATORS,
        node_key=KEYS[index].public_key,
        params=PARAMS,
        rebroadcast_interval_ms=10_000,
        limits=limits or ConsensusLimits(),
    )


def proposer_index(height: int, round_: int) -> int:
    return (height + round_) % len(KEYS)


def proposal(
    height: int, round_: int, value: bytes, pol_round: int = -1, by: int | None = None
) -> SignedProposal:
    index = proposer_index(height, round_) if by is None else by
    unsigned = Proposal(
        height=height,
        round=round_,
        pol_round=pol_round,
        value=value,
        value_hash=h(value),
        proposer=KEYS[index].public_key,
    )
    return SignedProposal.sign(KEYS[index], CHAIN, unsigned)


def vote(
    index: int,
    kind: VoteKind,
    height: int,
    round_: int,
    value: bytes | None,
    timestamp_ms: int = 0,
) -> SignedVote:
    unsigned = Vote(
        kind=kind,
        height=height,
        round=round_,
        block_hash=None if value is None else h(value),
        timestamp_ms=timestamp_ms,
        validator=KEYS[index].public_key,
    )
    return SignedVote.sign(KEYS[index], CHAIN, unsigned)


def prevote(index: int, height: int, round_: int, value: bytes | None) -> SignedVote:
    return vote(index, VoteKind.PREVOTE, height, round_, value)


def precommit(index: int, height: int, round_: int, value: bytes | None) -> SignedVote:
    return vote(index, VoteKind.PRECOMMIT, height, round_, value)


@dataclass
class Recorder:
    """A ReadyHandler that signs with the replica's key and records everything in order."""

    key: SigningKey
    value: bytes | None = None
    log: list[tuple[str, object]] = field(default_factory=list)

    def persist(self, record: WalRecord) -> None:
        self.log.append(("persist", record))

    def sign_and_send(self, message: Proposal | Vote) -> SignedProposal | SignedVote:
        signed = (
            SignedProposal.sign(self.key, CHAIN, message)
            if isinstance(message, Proposal)
            else SignedVote.sign(self.key, CHAIN, message)
        )
        self.log.append(("sign", signed))
        return signed

    def send(self, outbound: Outbound) -> None:
        self.log.append(("send", outbound))

    def schedule(self, timeout: Timeout) -> None:
        self.log.append(("schedule", timeout))

    def execute_and_persist(self, decided: Decided) -> None:
        self.log.append(("decided", decided))

    def report_evidence(self, evidence: DuplicateVoteEvidence) -> None:
        self.log.append(("evidence", evidence))

    def serve_lagging(self, lagging: LaggingPeer) -> None:
        self.log.append(("lagging", lagging))

    def get_value(self, request: ValueRequest) -> bytes | None:
        self.log.append(("value", request))
        return self.value

    def of(self, kind: str) -> list[object]:
        return [item for k, item in self.log if k == kind]

    def signed_votes(self) -> list[Vote]:
        return [s.vote for s in self.of("sign") if isinstance(s, SignedVote)]

    def records(self) -> list[WalRecord]:
        return [r for r in self.of("persist") if isinstance(r, WalRecord)]

    def decided(self) -> list[Decided]:
        return [d for d in self.of("decided") if isinstance(d, Decided)]


class Single:
    """One replica driven by hand through `drain_ready`."""

    def __init__(
        self,
        index: int,
        *,
        app: FakeApp | None = None,
        limits: ConsensusLimits | None = None,
        now_ms: int = 0,
        last_decided_height: int = 0,
        records: list[WalRecord] | None = None,
        value: bytes | None = None,
    ) -> None:
        self.index = index
        self.app = app or FakeApp()
        self.out = Recorder(KEYS[index], value=value)
        self.replica = Replica(
            config(index, limits),
            self.app,
            now_ms=now_ms,
            last_decided_height=last_decided_height,
            wal_records=records or [],
        )
        drain_ready(self.replica, self.out)

    def step(self, *messages: SignedProposal | SignedVote | Decided) -> None:
        for message in messages:
            self.replica.step(message)
            drain_ready(self.replica, self.out)

    def tick(self, now_ms: int) -> None:
        self.replica.tick(now_ms)
        drain_ready(self.replica, self.out)

    def votes(self, kind: VoteKind, round_: int) -> list[bytes | None]:
        return [
            v.block_hash for v in self.out.signed_votes() if v.kind is kind and v.round == round_
        ]


def lock_on_a_in_round_0(replica: Single) -> None:
    """Replica 0 at height 1: proposal A, 3 prevotes for A: it locks A and precommits A."""
    replica.step(proposal(1, 0, A), prevote(1, 1, 0, A), prevote(2, 1, 0, A))
    assert replica.replica.lock == (0, h(A))


def move_to_round(replica: Single, round_: int, height: int = 1) -> None:
    """Round skip (L55): messages of `round_` from f+1 = 2 other validators."""
    others = [i for i in range(4) if i != replica.index][:2]
    replica.step(*(prevote(i, height, round_, None) for i in others))
    assert replica.replica.round == round_


# --- a cluster ----------------------------------------------------------------------------


class Cluster:
    """Four replicas that deliver to each other in FIFO order, no faults."""

    def __init__(self) -> None:
        self.apps = [FakeApp() for _ in KEYS]
        self.outs = [Recorder(k, value=f"value from {i}".encode()) for i, k in enumerate(KEYS)]
        self.replicas = [
            Replica(config(i), self.apps[i], now_ms=0, last_decided_height=0)
            for i in range(len(KEYS))
        ]
        self.queue: deque[tuple[int, SignedProposal | SignedVote | Decided]] = deque()
        self.sent = [0] * len(KEYS)

    def pump(self, until_height: int = 2, steps_max: int = 10_000) -> None:
        """Deliver until every replica works on `until_height` (heights follow each other
        with no time passing: every proposer proposes at once)."""
        for i, replica in enumerate(self.replicas):
            drain_ready(replica, self.outs[i])
            self._route(i)
        for _ in range(steps_max):
            if all(r.height >= until_height for r in self.replicas):
                return
            target, message = self.queue.popleft()
            self.replicas[target].step(message)
            drain_ready(self.replicas[target], self.outs[target])
            self._route(target)
        raise AssertionError("the cluster did not settle")

    def _route(self, source: int) -> None:
        log = self.outs[source].log
        for kind, item in log[self.sent[source] :]:
            if kind == "sign":
                assert isinstance(item, SignedProposal | SignedVote)
                self.queue.extend((t, item) for t in range(len(KEYS)) if t != source)
        self.sent[source] = len(log)


def test_four_replicas_decide_one_value_with_a_valid_commit() -> None:
    cluster = Cluster()
    cluster.pump()
    decided = [out.decided() for out in cluster.outs]
    assert all(len(d) >= 1 for d in decided)
    first = {d[0].value for d in decided}
    assert first == {b"value from 1"}  # proposer(1, 0) is validator 1
    for d in decided:
        d[0].commit.verify(CHAIN, VALIDATORS)
        assert d[0].commit.height == 1
        assert d[0].value_hash == h(b"value from 1")
    assert all(r.height >= 2 for r in cluster.replicas)


def test_every_signature_follows_a_durable_record_of_it() -> None:
    cluster = Cluster()
    cluster.pump()
    for out in cluster.outs:
        persisted: set[tuple[int, int, MessageKind]] = set()
        for kind, item in out.log:
            if isinstance(item, WalRecord):
                persisted.update((item.height, r, k) for r, k in item.own_keys())
            if kind == "sign":
                if isinstance(item, SignedProposal):
                    key = (item.proposal.height, item.proposal.round, MessageKind.PROPOSAL)
                else:
                    assert isinstance(item, SignedVote)
                    key = (item.vote.height, item.vote.round, MessageKind.of_vote(item.vote.kind))
                assert key in persisted, f"signed {key} before persisting it"


def test_proposer_asks_for_a_value_and_a_stale_request_is_refused() -> None:
    replica = Single(1, value=A)  # proposer(1, 0)
    requests = replica.out.of("value")
    assert requests == [ValueRequest(height=1, round=0)]
    proposals = [p for p in replica.out.of("sign") if isinstance(p, SignedProposal)]
    assert [p.proposal.value for p in proposals] == [A]
    assert replica.replica.propose(ValueRequest(height=1, round=0), B) is False  # already did
    assert replica.replica.propose(ValueRequest(height=1, round=5), B) is False


def test_proposer_handles_its_own_proposal_and_prevotes_it() -> None:
    replica = Single(1, value=A)
    assert replica.votes(VoteKind.PREVOTE, 0) == [h(A)]
    assert replica.replica.state == (1, 0, Step.PREVOTE)


def test_proposer_records_its_proposal_and_prevote_in_one_wal_record() -> None:
    # One durable sync on the height's critical path instead of two.
    replica = Single(1, value=A)
    records = replica.out.records()
    assert len(records) == 1
    assert [p.value for p in records[0].proposals] == [A]
    assert [(v.kind, v.block_hash) for v in records[0].votes] == [(VoteKind.PREVOTE, h(A))]
    # Restarted from that record, it re-signs both and proposes and prevotes nothing new.
    restarted = Single(1, value=B, records=records)
    assert restarted.out.of("value") == []
    assert restarted.votes(VoteKind.PREVOTE, 0) == [h(A)]
    assert restarted.out.records() == []


def test_the_application_must_accept_its_own_value() -> None:
    app = FakeApp()
    app.invalid.add(A)
    replica = Replica(config(1), app, now_ms=0)
    ready = replica.ready()
    assert ready.value_request is not None
    replica.advance(ready)
    with pytest.raises(MisuseError):
        replica.propose(ready.value_request, A)


def test_fresh_valid_proposal_gets_a_prevote_and_an_invalid_one_nil() -> None:
    replica = Single(0)
    replica.step(proposal(1, 0, A))
    assert replica.votes(VoteKind.PREVOTE, 0) == [h(A)]
    app = FakeApp()
    app.invalid.add(B)
    other = Single(0, app=app)
    other.step(proposal(1, 0, B))
    assert other.votes(VoteKind.PREVOTE, 0) == [None]


def test_polka_locks_and_precommits() -> None:
    replica = Single(0)
    lock_on_a_in_round_0(replica)
    assert replica.votes(VoteKind.PRECOMMIT, 0) == [h(A)]
    assert replica.replica.valid == (0, h(A))
    assert replica.replica.state == (1, 0, Step.PRECOMMIT)
    # the lock is durable before the precommit leaves (pitfall 17)
    record = replica.out.records()[-1]
    assert record.locked_round == 0
    assert record.locked_hash == h(A)
    assert record.votes[-1].kind is VoteKind.PRECOMMIT


def test_locked_replica_prevotes_nil_for_another_fresh_value() -> None:
    replica = Single(0)
    lock_on_a_in_round_0(replica)
    move_to_round(replica, 1)
    replica.step(proposal(1, 1, B))  # L22 with lockedValue != B
    assert replica.votes(VoteKind.PREVOTE, 1) == [None]
    assert replica.replica.lock == (0, h(A))  # a new round never unlocks


def test_locked_replica_prevotes_its_locked_value_again() -> None:
    replica = Single(0)
    lock_on_a_in_round_0(replica)
    move_to_round(replica, 1)
    replica.step(proposal(1, 1, A))
    assert replica.votes(VoteKind.PREVOTE, 1) == [h(A)]


def test_a_re_proposal_waits_for_its_proof_of_lock() -> None:
    replica = Single(0)
    move_to_round(replica, 1)
    replica.step(proposal(1, 1, A, pol_round=0))
    assert replica.votes(VoteKind.PREVOTE, 1) == []  # L28 needs the POL of round 0
    replica.step(prevote(1, 1, 0, A), prevote(2, 1, 0, A))
    assert replica.votes(VoteKind.PREVOTE, 1) == []  # 2 < 2f+1
    replica.step(prevote(3, 1, 0, A))
    assert replica.votes(VoteKind.PREVOTE, 1) == [h(A)]


def test_a_newer_proof_of_lock_overrides_the_lock() -> None:
    replica = Single(0)
    lock_on_a_in_round_0(replica)
    replica.step(prevote(1, 1, 1, B), prevote(2, 1, 1, B), prevote(3, 1, 1, B))  # POL(B, r=1)
    move_to_round(replica, 2)
    replica.step(proposal(1, 2, B, pol_round=1))  # L29: lockedRound 0 <= vr 1
    assert replica.votes(VoteKind.PREVOTE, 2) == [h(B)]


def test_an_older_proof_of_lock_does_not_override_the_lock() -> None:
    replica = Single(0)
    replica.step(prevote(1, 1, 0, B), prevote(2, 1, 0, B), prevote(3, 1, 0, B))  # POL(B, r=0)
    move_to_round(replica, 1)
    replica.step(proposal(1, 1, A), prevote(1, 1, 1, A), prevote(2, 1, 1, A))  # lock A at 1
    assert replica.replica.lock == (1, h(A))
    move_to_round(replica, 4)
    replica.step(proposal(1, 4, B, pol_round=0))  # vr 0 < lockedRound 1, B != A
    assert replica.votes(VoteKind.PREVOTE, 4) == [None]


def test_nil_polka_precommits_nil_and_keeps_the_lock() -> None:
    replica = Single(0)
    lock_on_a_in_round_0(replica)
    move_to_round(replica, 1)
    replica.step(proposal(1, 1, B))
    replica.step(prevote(1, 1, 1, None), prevote(3, 1, 1, None))
    assert replica.votes(VoteKind.PRECOMMIT, 1) == [None]  # L44
    assert replica.replica.lock == (0, h(A))


def test_timeouts_grow_with_the_round_and_stale_ones_do_nothing() -> None:
    replica = Single(0, now_ms=1_000)
    first = [t for t in replica.out.of("schedule") if isinstance(t, Timeout)]
    propose_0 = [t for t in first if t.kind is TimeoutKind.PROPOSE]
    assert propose_0 == [Timeout(kind=TimeoutKind.PROPOSE, height=1, round=0, deadline_ms=1_100)]
    move_to_round(replica, 2)  # validator 0 proposes round 3 of height 1, not round 2
    propose_2 = [
        t
        for t in replica.out.of("schedule")
        if isinstance(t, Timeout) and t.kind is TimeoutKind.PROPOSE and t.round == 2
    ]
    assert propose_2[0].deadline_ms == 1_000 + 100 + 2 * 10
    replica.tick(1_100)  # round 0's propose timeout is stale now
    assert replica.votes(VoteKind.PREVOTE, 0) == []
    assert replica.votes(VoteKind.PREVOTE, 2) == []
    replica.tick(1_120)  # L57: round 2's fires
    assert replica.votes(VoteKind.PREVOTE, 2) == [None]


def test_prevote_and_precommit_timeouts_follow_their_quorums() -> None:
    replica = Single(0)
    replica.step(proposal(1, 0, A))
    replica.step(prevote(1, 1, 0, B), prevote(2, 1, 0, None))  # 3 prevotes, no 2f+1 for one
    timers = [t for t in replica.out.of("schedule") if isinstance(t, Timeout)]
    assert [t.kind for t in timers if t.kind is TimeoutKind.PREVOTE] == [TimeoutKind.PREVOTE]
    replica.tick(50)  # L61
    assert replica.votes(VoteKind.PRECOMMIT, 0) == [None]
    replica.step(precommit(1, 1, 0, None), precommit(2, 1, 0, B))  # L47: any 2f+1
    replica.tick(100)  # L65
    assert replica.replica.round == 1


def test_round_skip_needs_f_plus_one_validators_in_one_round() -> None:
    replica = Single(0)
    replica.step(prevote(1, 1, 3, None), prevote(2, 1, 5, None))
    assert replica.replica.round == 0  # one at 3 and one at 5 make f+1 of nothing
    replica.step(precommit(3, 1, 5, None))
    assert replica.replica.round == 5


def test_decision_on_a_later_rounds_precommits_from_any_step() -> None:
    replica = Single(0)
    replica.step(proposal(1, 2, A), *(precommit(i, 1, 2, A) for i in (1, 2, 3)))
    decided = replica.out.decided()
    assert [d.value for d in decided] == [A]
    assert decided[0].commit.round == 2
    decided[0].commit.verify(CHAIN, VALIDATORS)
    assert replica.replica.height == 2


def test_no_decision_without_the_value_or_on_an_invalid_value() -> None:
    app = FakeApp()
    app.invalid.add(B)
    replica = Single(0, app=app)
    replica.step(*(precommit(i, 1, 0, A) for i in (1, 2, 3)))
    assert replica.out.decided() == []  # precommits alone are not a value
    replica.step(proposal(1, 1, B), *(precommit(i, 1, 1, B) for i in (1, 2, 3)))
    assert replica.out.decided() == []
    replica.step(proposal(1, 0, A))  # the late proposal completes L49
    assert [d.value for d in replica.out.decided()] == [A]


def test_precommit_time_is_after_the_value_time() -> None:
    app = FakeApp()
    app.time_ms = 5_000
    replica = Single(0, app=app, now_ms=1_000)
    lock_on_a_in_round_0(replica)
    (precommit_vote,) = [v for v in replica.out.signed_votes() if v.kind is VoteKind.PRECOMMIT]
    assert precommit_vote.timestamp_ms == 5_001
    later = Single(0, now_ms=9_000)
    lock_on_a_in_round_0(later)
    (precommit_vote,) = [v for v in later.out.signed_votes() if v.kind is VoteKind.PRECOMMIT]
    assert precommit_vote.timestamp_ms == 9_000


def test_conflicting_votes_become_evidence_once() -> None:
    replica = Single(0)
    replica.step(prevote(2, 1, 0, A), prevote(2, 1, 0, B), prevote(2, 1, 0, None))
    replica.step(prevote(2, 1, 0, A))  # a duplicate is a no-op
    evidence = [e for e in replica.out.of("evidence") if isinstance(e, DuplicateVoteEvidence)]
    assert len(evidence) == 1
    evidence[0].validate(CHAIN, VALIDATORS)
    assert evidence[0].offender == KEYS[2].public_key


def test_an_equivocators_votes_count_for_both_values() -> None:
    replica = Single(0)
    replica.step(prevote(3, 1, 0, B))  # validator 3 prevotes B first ...
    move_to_round(replica, 1)
    replica.step(proposal(1, 1, A, pol_round=0), prevote(1, 1, 0, A), prevote(2, 1, 0, A))
    assert replica.votes(VoteKind.PREVOTE, 1) == []
    replica.step(prevote(3, 1, 0, A))  # ... and A too: the POL forwarded with the proposal
    assert replica.votes(VoteKind.PREVOTE, 1) == [h(A)]


def test_messages_from_outside_the_validator_set_or_wrong_proposer_are_invalid() -> None:
    replica = Single(0)
    with pytest.raises(InvalidMessage, match="not the proposer"):
        replica.replica.step(proposal(1, 0, A, by=2))
    outsider = SigningKey(bytes([99]) * 32)
    stray = Vote(
        kind=VoteKind.PREVOTE,
        height=1,
        round=0,
        block_hash=None,
        timestamp_ms=0,
        validator=outsider.public_key,
    )
    with pytest.raises(InvalidMessage, match="not a validator"):
        replica.replica.step(SignedVote.sign(outsider, CHAIN, stray))


def test_next_height_messages_are_buffered_bounded_and_replayed() -> None:
    limits = ConsensusLimits(next_height_messages_per_validator_max=1)
    replica = Single(0, limits=limits)
    replica.step(prevote(1, 2, 0, None), prevote(2, 2, 0, None))
    replica.step(prevote(1, 2, 1, None), precommit(2, 2, 1, None))  # over validator 1's share
    replica.step(prevote(1, 3, 0, None))  # h_p + 2: dropped
    replica.step(proposal(1, 0, A), *(precommit(i, 1, 0, A) for i in (1, 2, 3)))
    assert replica.replica.height == 2
    # the two buffered round-0 prevotes of height 2 were replayed, not the round-1 ones (no
    # round skip): with our own nil prevote after the propose timeout, a quorum of nil
    replica.tick(10_000)
    assert replica.votes(VoteKind.PRECOMMIT, 0)[-1] is None
    assert replica.replica.state == (2, 0, Step.PRECOMMIT)


def test_future_rounds_kept_per_validator_are_bounded() -> None:
    limits = ConsensusLimits(future_rounds_per_validator_max=2)
    replica = Single(0, limits=limits)
    replica.step(prevote(2, 1, 10, None), prevote(2, 1, 11, None), prevote(2, 1, 12, None))
    replica.step(prevote(3, 1, 10, None))  # validator 2's round 10 was evicted for 12
    assert replica.replica.round == 0
    replica.step(prevote(3, 1, 12, None))
    assert replica.replica.round == 12
    replica.step(prevote(2, 1, 5, None))  # below the kept future rounds: dropped, no error


def test_a_lagging_peer_gets_the_decision() -> None:
    replica = Single(0, limits=ConsensusLimits(decided_retained_max=1))
    replica.step(proposal(1, 0, A), *(precommit(i, 1, 0, A) for i in (1, 2, 3)))
    replica.step(proposal(2, 0, B), *(precommit(i, 2, 0, B) for i in (1, 2, 3)))
    replica.step(prevote(3, 2, 4, None))  # validator 3 is still at height 2
    sent = [o for o in replica.out.of("send") if isinstance(o, Outbound)]
    assert sent[-1].to == KEYS[3].public_key
    assert isinstance(sent[-1].message, Decided)
    assert sent[-1].message.height == 2
    replica.step(prevote(2, 1, 4, None))  # height 1 is no longer retained: block sync
    assert replica.out.of("lagging") == [LaggingPeer(peer=KEYS[2].public_key, height=1)]


def test_a_decided_message_decides_a_lagging_replica() -> None:
    cluster = Cluster()
    cluster.pump()
    decided = cluster.outs[0].decided()[0]
    fresh = Single(3)
    fresh.step(decided)
    assert fresh.out.decided() == [decided]
    assert fresh.replica.height == 2
    app = FakeApp()
    app.invalid.add(decided.value)
    refusing = Single(3, app=app)
    with pytest.raises(InvalidMessage):
        refusing.replica.step(decided)


def test_advance_takes_only_the_ready_just_issued() -> None:
    replica = Replica(config(0), FakeApp(), now_ms=0)
    replica.ready()
    stale = Ready(
        persist=None,
        to_sign=(),
        send=(),
        timeouts=(),
        decided=(),
        evidence=(),
        lagging=(),
        value_request=None,
    )
    with pytest.raises(MisuseError):
        replica.advance(stale)


# --- crash-safe signing -------------------------------------------------------------------


def test_restart_from_the_wal_re_signs_the_same_vote_and_never_another() -> None:
    before = Single(0, now_ms=100)
    before.step(proposal(1, 0, A))
    records = before.out.records()
    assert [v.block_hash for v in records[-1].votes] == [h(A)]
    after = Single(0, now_ms=5_000, records=records)  # crash, restart
    resigned = after.out.signed_votes()
    assert resigned == before.out.signed_votes()  # byte for byte the same vote
    assert after.out.records() == []  # nothing new to persist
    assert after.replica.state == (1, 0, Step.PREVOTE)
    after.step(proposal(1, 0, B))  # a conflicting proposal for the same round
    after.tick(100_000)  # and every timeout
    prevotes_0 = [v for v in after.out.signed_votes() if v.round == 0 and v.kind.value == "prevote"]
    assert {v.block_hash for v in prevotes_0} == {h(A)}


def test_restart_restores_the_lock_and_the_valid_value() -> None:
    before = Single(0)
    lock_on_a_in_round_0(before)
    move_to_round(before, 1)
    after = Single(0, now_ms=1_000, records=before.out.records())
    assert after.replica.lock == (0, h(A))
    assert after.replica.valid == (0, h(A))
    move_to_round(after, 2)
    after.step(proposal(1, 2, B))
    assert after.votes(VoteKind.PREVOTE, 2) == [None]  # still locked on A: no amnesia


def test_a_restarted_proposer_re_sends_its_proposal_and_asks_for_no_value() -> None:
    before = Single(1, value=A)
    records = before.out.records()
    assert records[0].proposals[0].value == A
    after = Single(1, now_ms=50, records=records, value=B)
    assert after.out.of("value") == []
    proposals = [s for s in after.out.of("sign") if isinstance(s, SignedProposal)]
    assert [p.proposal.value for p in proposals] == [A]


def test_a_restarted_proposer_re_proposes_its_valid_value() -> None:
    before = Single(2)  # proposer(1, 1) is validator 2
    lock_on_a_in_round_0_by(before)
    move_to_round(before, 1)
    proposals = [s.proposal for s in before.out.of("sign") if isinstance(s, SignedProposal)]
    assert [(p.value, p.pol_round) for p in proposals] == [(A, 0)]  # L15-L16
    sent = [o.message for o in before.out.of("send") if isinstance(o, Outbound)]
    assert sum(isinstance(m, SignedVote) and m.vote.round == 0 for m in sent) >= 3  # the POL


def test_a_restarted_proposer_re_proposes_its_valid_value_with_its_proof_of_lock() -> None:
    # Found by `make sim` (seed 10248, chaos): replicas locked on A restarted without the
    # prevotes behind their lock, re-proposed A without its POL, and an unlocked peer could
    # never accept it: the height stalled. The WAL now keeps the POL with the valid value.
    before = Single(2)
    lock_on_a_in_round_0_by(before)
    after = Single(2, records=before.out.records())  # nobody re-sends the round-0 prevotes
    assert after.replica.lock == (0, h(A))
    move_to_round(after, 1)  # proposer(1, 1) is validator 2
    proposals = [s.proposal for s in after.out.of("sign") if isinstance(s, SignedProposal)]
    assert [(p.value, p.pol_round) for p in proposals] == [(A, 0)]
    sent = [o.message for o in after.out.of("send") if isinstance(o, Outbound)]
    pol = {
        m.vote.validator
        for m in sent
        if isinstance(m, SignedVote) and m.vote.round == 0 and m.vote.block_hash == h(A)
    }
    assert len(pol) >= 3


def lock_on_a_in_round_0_by(replica: Single) -> None:
    others = [i for i in range(4) if i != replica.index][:2]
    replica.step(proposal(1, 0, A), *(prevote(i, 1, 0, A) for i in others))
    assert replica.replica.lock == (0, h(A))


def test_wal_records_of_other_heights_are_ignored() -> None:
    before = Single(0)
    before.step(proposal(1, 0, A))
    after = Single(0, last_decided_height=1, records=before.out.records())
    assert after.replica.height == 2
    assert after.out.signed_votes() == []
