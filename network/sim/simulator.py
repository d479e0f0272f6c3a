"""A deterministic simulator that runs n real consensus replicas (network.consensus.Replica)
over a simulated network, simulated time and simulated disks, from one seed.

Everything random comes from one `random.Random(seed)` owned by the `Simulator`: keys, delays,
drops, duplicates, partitions, crashes, clock skews and Byzantine choices. Two runs of one
seed process the same events in the same order, and `RunResult.trace_hash` proves it.

A run has two phases (TigerBeetle's VOPR shape):
1. faults (`FaultMix`): drops, duplicates, reordering delays, partitions (symmetric or one
   direction only), crashes with restart from the write-ahead log (also in the middle of a
   WAL append, and right after it, before anything is sent), skewed clocks, and Byzantine
   validators that equivocate, vote for unknown blocks or stay silent;
2. healed: every link up, no loss, every crashed replica restarted; every honest replica
   must then decide at least one more height within `liveness_ms_max` (liveness).

After every event the checker holds (`Checker`): no two honest replicas decide different
values at a height; every decided value has a valid commit (real Ed25519 signatures) for
its hash; no honest replica signs two different messages for one (height, round, step);
block times strictly increase; committed evidence names a Byzantine validator.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ledger.crypto import SigningKey
from ledger.errors import LedgerError
from ledger.types import (
    ConsensusParams,
    DuplicateVoteEvidence,
    SignedVote,
    Validator,
    ValidatorSet,
    Vote,
)
from network.consensus import (
    ConsensusConfig,
    ConsensusMessage,
    Decided,
    InvalidMessage,
    LaggingPeer,
    MessageKind,
    Outbound,
    Proposal,
    Replica,
    SignedProposal,
    Timeout,
    ValueRequest,
    WalRecord,
    drain_ready,
    verify_message,
)
from network.sim.app import SimApplication, SimBlock, VerificationCache, value_hash
from network.sim.memory_wal import MemoryWal
from network.sim.mixes import MIXES, Behaviour, FaultMix
from network.wal import load_wal_records, persist_wal_record

CHAIN_ID = "tradeledger-sim"
GENESIS_TIME_MS = 1_700_000_000_000
SIM_PARAMS = ConsensusParams(
    timeout_propose_ms=300,
    timeout_prevote_ms=150,
    timeout_precommit_ms=150,
    timeout_increase_ms=100,
)
REBROADCAST_INTERVAL_MS = 400
EVENTS_MAX = 400_000  # per run; a run that needs more is reported, not waited for
RESTART_DELAY_MS_MIN = 50
RESTART_DELAY_MS_MAX = 1_500
PARTITION_MS_MIN = 200
PARTITION_MS_MAX = 2_000

# event kinds, in the order they are processed at equal times
_DELIVER, _WAKE, _CRASH, _RESTART, _PARTITION, _UNPARTITION, _EVIDENCE = range(7)


def replay_command(seed: int, mix: str) -> str:
    return (
        f"make sim SEEDS=1 SEED_START={seed} MIX={mix}   "
        f"(or: .venv/bin/python -m network.sim --seeds 1 --seed-start {seed} --mix {mix}; "
        f"pytest tests/test_sim_seeds.py --sim-seed={seed} --sim-mix={mix})"
    )


@dataclass(slots=True)
class RunResult:
    seed: int
    mix: str
    violations: list[str] = field(default_factory=list)
    decisions: int = 0  # (honest replica, height) decisions
    height: int = 0  # the height every honest replica reached
    crashes: int = 0
    torn_writes: int = 0
    partitions: int = 0
    drops: int = 0
    duplicates: int = 0
    equivocations: int = 0  # conflicting messages Byzantine validators signed
    evidence_committed: int = 0
    delivered: int = 0
    events: int = 0
    sim_time_ms: int = 0
    trace_hash: str = ""

    @property
    def ok(self) -> bool:
        return not self.violations

    def describe(self) -> str:
        lines = [f"seed {self.seed} mix {self.mix}: {len(self.violations)} violation(s)"]
        lines += [f"  - {v}" for v in self.violations[:5]]
        lines.append(f"  replay: {replay_command(self.seed, self.mix)}")
        return "\n".join(lines)


class _Crash(Exception):
    """Raised inside a replica's drain to simulate the process dying there."""


class Checker:
    """The invariants, checked as each signature and decision happens (i.e. after every
    event). Its memory is the simulator's, not a replica's: it survives crashes."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self._signed: dict[tuple[int, int, int, MessageKind], bytes] = {}
        self._decided: dict[int, bytes] = {}  # height -> value hash first decided
        self._times: dict[int, int] = {}  # height -> block time
        self.violations: list[str] = []

    def violation(self, text: str) -> None:
        self.violations.append(f"t={self._sim.now_ms}ms {text}")

    def on_signed(self, node: int, message: SignedProposal | SignedVote) -> None:
        if isinstance(message, SignedProposal):
            p = message.proposal
            key = (node, p.height, p.round, MessageKind.PROPOSAL)
            payload = p.signed_payload() + p.value
        else:
            v = message.vote
            key = (node, v.height, v.round, MessageKind.of_vote(v.kind))
            payload = v.signed_payload()
        earlier = self._signed.setdefault(key, payload)
        if earlier != payload:
            self.violation(
                f"double-sign: honest replica {node} signed two different {key[3].value}s "
                f"at height {key[1]} round {key[2]}"
            )

    def on_decided(self, node: int, decided: Decided, block: SimBlock) -> None:
        height = decided.height
        commit = decided.commit
        if commit.block_hash != value_hash(decided.value) or commit.height != height:
            self.violation(
                f"replica {node} decided height {height} with a commit for another value"
            )
        if not self._sim.cache.commit_ok(commit):
            self.violation(f"replica {node} decided height {height} without a valid commit")
        first = self._decided.setdefault(height, decided.value_hash)
        if first != decided.value_hash:
            self.violation(
                f"agreement: replica {node} decided {decided.value_hash.hex()[:12]} at height "
                f"{height}, another honest replica decided {first.hex()[:12]}"
            )
        self._times.setdefault(height, block.time_ms)
        previous = self._times.get(height - 1)
        if previous is not None and block.time_ms <= previous:
            self.violation(f"block time not increasing at height {height}")
        for evidence in block.evidence:
            offender = evidence.offender
            if offender not in self._sim.byzantine_keys:
                self.violation(f"evidence committed at height {height} names an honest replica")


class _Coalition:
    """The Byzantine validators' shared plan (an omniscient adversary, from the sim's rng).

    Honest replicas are split into groups A and B. A Byzantine message goes as it is to A
    (and to Byzantine peers) and in a second, conflicting version to B. A Byzantine proposer
    proposes another valid value to B, and the coalition's votes to B back that value, so
    with more than f Byzantine validators A and B can decide differently. One honest witness
    in A also gets the B versions (later), so the equivocation becomes evidence.
    """

    def __init__(self, sim: Simulator, honest: list[int]) -> None:
        self._sim = sim
        shuffled = list(honest)
        sim.rng.shuffle(shuffled)
        half = max(1, len(shuffled) // 2)
        self.group_b = set(shuffled[:half])
        self.group_a = set(shuffled[half:])
        self.witness = min(self.group_a) if self.group_a else None
        self._alternative: dict[tuple[int, int], bytes] = {}  # (height, round) -> B's hash
        self._forks: dict[ConsensusMessage, ConsensusMessage | None] = {}

    def fork(self, node: Node, message: ConsensusMessage) -> ConsensusMessage | None:
        """The B version of `message`, made once and then re-sent byte for byte."""
        if message in self._forks:
            return self._forks[message]
        forked: ConsensusMessage | None = None
        if isinstance(message, SignedProposal):
            p = message.proposal
            if node.app.height + 1 == p.height:
                value = node.app.make_value(p.height, p.proposer)
                alternative = Proposal(
                    height=p.height,
                    round=p.round,
                    pol_round=-1,
                    value=value,
                    value_hash=value_hash(value),
                    proposer=p.proposer,
                )
                self._alternative[(p.height, p.round)] = alternative.value_hash
                forked = SignedProposal.sign(node.key, CHAIN_ID, alternative)
        elif isinstance(message, SignedVote):
            v = message.vote
            target = self._alternative.get((v.height, v.round))
            if target is None:
                target = None if v.block_hash is not None else self._sim.rng.randbytes(32)
            if target != v.block_hash:
                vote = Vote(
                    kind=v.kind,
                    height=v.height,
                    round=v.round,
                    block_hash=target,
                    timestamp_ms=v.timestamp_ms,
                    validator=v.validator,
                )
                forked = SignedVote.sign(node.key, CHAIN_ID, vote)
        if forked is not None:
            self._sim.result.equivocations += 1
        self._forks[message] = forked
        return forked


class Node:
    """One validator: its replica (None while crashed), and what survives a crash: the key,
    the application with its store, and the write-ahead log. Implements `ReadyHandler`."""

    def __init__(self, sim: Simulator, index: int, key: SigningKey, behaviour: Behaviour | None):
        self.sim = sim
        self.index = index
        self.key = key
        self.behaviour = behaviour
        self.app = SimApplication(
            validators=sim.validators, genesis_time_ms=GENESIS_TIME_MS, cache=sim.cache
        )
        self.wal = MemoryWal()
        self.replica: Replica | None = None
        self.clock_skew_ms = sim.rng.randint(0, sim.mix.clock_skew_ms_max)
        self._wakes: set[int] = set()
        self._unknown_forks: dict[ConsensusMessage, ConsensusMessage] = {}

    @property
    def honest(self) -> bool:
        return self.behaviour is None

    def clock_ms(self) -> int:
        return GENESIS_TIME_MS + self.sim.now_ms + self.clock_skew_ms

    def config(self) -> ConsensusConfig:
        return ConsensusConfig(
            chain_id=CHAIN_ID,
            validators=self.sim.validators,
            node_key=self.key.public_key,
            params=SIM_PARAMS,
            rebroadcast_interval_ms=REBROADCAST_INTERVAL_MS,
        )

    def start(self) -> None:
        """Start, or restart from the WAL and the store (the app's executed height)."""
        assert self.replica is None
        self.wal.recover()
        self.replica = Replica(
            self.config(),
            self.app,
            now_ms=self.clock_ms(),
            last_decided_height=self.app.height,
            wal_records=load_wal_records(self.wal),
        )
        self.drive(None)

    def crash(self) -> None:
        self.replica = None
        if self.sim.mix.lose_wal_on_crash:
            self.wal.reset()
        self._wakes.clear()
        self.sim.result.crashes += 1

    def drive(self, action: Callable[[Replica], object] | None) -> None:
        replica = self.replica
        if replica is None:
            return
        try:
            replica.tick(self.clock_ms())
            if action is not None:
                try:
                    action(replica)
                except InvalidMessage:
                    self.sim.invalid_messages += 1
            drain_ready(replica, self)
        except _Crash:
            self.crash()
            if self.sim.faults_on:
                delay = self.sim.rng.randint(RESTART_DELAY_MS_MIN, RESTART_DELAY_MS_MAX)
                self.sim.push(self.sim.now_ms + delay, _RESTART, self.index, None)

    def wake(self, time_ms: int) -> None:
        self._wakes.discard(time_ms)
        self.drive(None)

    # --- ReadyHandler ----------------------------------------------------------------------

    def persist(self, record: WalRecord) -> None:
        data = record.encode()
        sim = self.sim
        crash_here = (
            self.honest
            and sim.faults_on
            and sim.rng.random() < sim.mix.crash_on_persist_probability
        )
        if crash_here and sim.rng.random() < 0.5:
            frame_size = len(data) + 8
            self.wal.append_torn(data, sim.rng.randrange(frame_size))
            sim.result.torn_writes += 1
            raise _Crash  # died in the middle of the append: nothing was signed
        persist_wal_record(self.wal, record)
        if crash_here:
            raise _Crash  # died after the append, before anything was signed or sent

    def sign_and_send(self, message: Proposal | Vote) -> SignedProposal | SignedVote:
        signed: SignedProposal | SignedVote
        if isinstance(message, Proposal):
            signed = SignedProposal.sign(self.key, CHAIN_ID, message)
        else:
            signed = SignedVote.sign(self.key, CHAIN_ID, message)
        if self.honest:
            self.sim.checker.on_signed(self.index, signed)
        self.send(Outbound(message=signed))
        return signed

    def send(self, outbound: Outbound) -> None:
        sim = self.sim
        message = outbound.message
        recipients = [outbound.to] if outbound.to is not None else sim.keys_except(self.index)
        if self.behaviour is Behaviour.SILENT:
            return
        own = _signer(message) == self.key.public_key
        if self.behaviour is Behaviour.UNKNOWN_BLOCKS and own and isinstance(message, SignedVote):
            message = self._unknown_fork(message)
        if self.behaviour is Behaviour.EQUIVOCATE and own and sim.coalition is not None:
            forked = sim.coalition.fork(self, message)
            if forked is not None:
                for key in recipients:
                    target = sim.index_of[key]
                    in_b = target in sim.coalition.group_b
                    sim.transmit(self.index, target, forked if in_b else message)
                    if target == sim.coalition.witness and isinstance(forked, SignedVote):
                        sim.transmit(self.index, target, forked, extra_delay_ms=50)
                return
        for key in recipients:
            sim.transmit(self.index, sim.index_of[key], message)

    def _unknown_fork(self, signed: SignedVote) -> SignedVote:
        forked = self._unknown_forks.get(signed)
        if forked is None:
            vote = signed.vote
            unknown = Vote(
                kind=vote.kind,
                height=vote.height,
                round=vote.round,
                block_hash=self.sim.rng.randbytes(32),
                timestamp_ms=vote.timestamp_ms,
                validator=vote.validator,
            )
            forked = SignedVote.sign(self.key, CHAIN_ID, unknown)
            self._unknown_forks[signed] = forked
            self.sim.result.equivocations += 1
        assert isinstance(forked, SignedVote)
        return forked

    def schedule(self, timeout: Timeout) -> None:
        time_ms = max(self.sim.now_ms, timeout.deadline_ms - GENESIS_TIME_MS - self.clock_skew_ms)
        if time_ms not in self._wakes:
            self._wakes.add(time_ms)
            self.sim.push(time_ms, _WAKE, self.index, None)

    def execute_and_persist(self, decided: Decided) -> None:
        executed = self.app.execute(decided)
        if self.honest:
            self.sim.checker.on_decided(self.index, decided, executed.block)
            self.sim.result.decisions += 1
        self.sim.trace(f"decided {self.index} {decided.height} {decided.value_hash.hex()}")
        self.wal.reset()  # the store holds the height now; its WAL records are not needed

    def report_evidence(self, evidence: DuplicateVoteEvidence) -> None:
        self.app.add_evidence(evidence)
        for key in self.sim.keys_except(self.index):  # evidence gossip
            self.sim.transmit(self.index, self.sim.index_of[key], evidence)

    def serve_lagging(self, lagging: LaggingPeer) -> None:
        """Block sync, reduced to its effect: the stored value and commit, over the network."""
        if not 1 <= lagging.height <= self.app.height:
            return
        executed = self.app.chain[lagging.height - 1]
        decided = Decided(value=executed.value, commit=executed.commit)
        self.sim.transmit(self.index, self.sim.index_of[lagging.peer], decided)

    def get_value(self, request: ValueRequest) -> bytes | None:
        return self.app.make_value(request.height, self.key.public_key)


def _signer(message: ConsensusMessage) -> bytes | None:
    if isinstance(message, SignedProposal):
        return message.proposal.proposer
    if isinstance(message, SignedVote):
        return message.vote.validator
    return None


Payload = ConsensusMessage | DuplicateVoteEvidence | None


class Simulator:
    def __init__(self, seed: int, mix: FaultMix | str = "clean") -> None:
        self.seed = seed
        self.mix = MIXES[mix] if isinstance(mix, str) else mix
        self.rng = random.Random(seed)
        self.now_ms = 0
        self.result = RunResult(seed=seed, mix=self.mix.name)
        self._trace = hashlib.sha256(f"{seed}:{self.mix.name}".encode())
        self._queue: list[tuple[int, int, int, int, Payload]] = []
        self._sequence = 0
        self.invalid_messages = 0
        keys = [SigningKey(self.rng.randbytes(32)) for _ in range(self.mix.validator_count)]
        keys.sort(key=lambda k: k.public_key)
        self.validators = ValidatorSet.of(
            [
                Validator(node_key=k.public_key, power=1, organisation=f"org-{i}")
                for i, k in enumerate(keys)
            ]
        )
        self.cache = VerificationCache(CHAIN_ID, self.validators)
        self._message_ok: dict[ConsensusMessage, bool] = {}
        self.index_of = {k.public_key: i for i, k in enumerate(keys)}
        byzantine = self.rng.sample(range(len(keys)), len(self.mix.byzantine))
        behaviours = dict(zip(byzantine, self.mix.byzantine, strict=True))
        self.nodes = [Node(self, i, k, behaviours.get(i)) for i, k in enumerate(keys)]
        self.byzantine_keys = {keys[i].public_key for i in byzantine}
        self.honest = [n.index for n in self.nodes if n.honest]
        equivocators = [i for i, b in behaviours.items() if b is Behaviour.EQUIVOCATE]
        self.coalition = _Coalition(self, self.honest) if equivocators else None
        self.checker = Checker(self)
        self.faults_on = True
        self._blocked: set[tuple[int, int]] = set()  # directed links that are down
        self._drop_probability = self.mix.drop_probability
        self._duplicate_probability = self.mix.duplicate_probability

    # --- plumbing --------------------------------------------------------------------------

    def push(self, time_ms: int, kind: int, target: int, payload: Payload) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (time_ms, self._sequence, kind, target, payload))

    def trace(self, text: str) -> None:
        self._trace.update(text.encode())

    def keys_except(self, index: int) -> list[bytes]:
        return [n.key.public_key for n in self.nodes if n.index != index]

    def transmit(
        self,
        source: int,
        target: int,
        message: ConsensusMessage | DuplicateVoteEvidence,
        extra_delay_ms: int = 0,
    ) -> None:
        """Put `message` on the link source -> target, with the link's faults."""
        if (source, target) in self._blocked:
            self.result.drops += 1
            return
        if self.rng.random() < self._drop_probability:
            self.result.drops += 1
            return
        copies = 1
        if self.rng.random() < self._duplicate_probability:
            copies = 2
            self.result.duplicates += 1
        kind = _EVIDENCE if isinstance(message, DuplicateVoteEvidence) else _DELIVER
        for _ in range(copies):
            delay = self.rng.randint(self.mix.delay_ms_min, self.mix.delay_ms_max)
            self.push(self.now_ms + delay + extra_delay_ms, kind, target, message)

    def _verified(self, message: ConsensusMessage) -> bool:
        ok = self._message_ok.get(message)
        if ok is None:
            try:
                verify_message(message, CHAIN_ID, self.validators)
                ok = True
            except LedgerError:
                ok = False
            self._message_ok[message] = ok
        return ok

    # --- faults ----------------------------------------------------------------------------

    def _schedule_faults(self) -> None:
        mix = self.mix
        for _ in range(self.rng.randint(0, mix.partition_count_max)):
            self.push(self.rng.randint(0, mix.fault_phase_ms), _PARTITION, 0, None)
        for _ in range(self.rng.randint(0, mix.crash_count_max)):
            self.push(self.rng.randint(0, mix.fault_phase_ms), _CRASH, 0, None)

    def _partition(self) -> None:
        n = len(self.nodes)
        side = {i for i in range(n) if self.rng.random() < 0.5}
        blocked = {(a, b) for a in range(n) for b in range(n) if (a in side) != (b in side)}
        if self.mix.asymmetric_links:
            blocked = {link for link in blocked if self.rng.random() < 0.5}
        self._blocked |= blocked
        self.result.partitions += 1
        duration = self.rng.randint(PARTITION_MS_MIN, PARTITION_MS_MAX)
        self.push(self.now_ms + duration, _UNPARTITION, 0, None)

    def _crash_random(self) -> None:
        alive = [i for i in self.honest if self.nodes[i].replica is not None]
        if not alive:
            return
        node = self.nodes[self.rng.choice(alive)]
        node.crash()
        delay = self.rng.randint(RESTART_DELAY_MS_MIN, RESTART_DELAY_MS_MAX)
        self.push(self.now_ms + delay, _RESTART, node.index, None)

    def heal(self) -> None:
        """Phase 2: every link up, no loss, every crashed replica back."""
        self.faults_on = False
        self._blocked.clear()
        self._drop_probability = 0.0
        self._duplicate_probability = 0.0
        self.trace(f"heal {self.now_ms}")
        for node in self.nodes:
            if node.replica is None and node.behaviour is not Behaviour.SILENT:
                node.start()

    # --- running ---------------------------------------------------------------------------

    def _process(self, time_ms: int, kind: int, target: int, payload: Payload) -> None:
        self.now_ms = time_ms
        self.result.events += 1
        node = self.nodes[target]
        if kind == _DELIVER:
            assert payload is not None
            assert not isinstance(payload, DuplicateVoteEvidence)
            self.trace(f"{time_ms} d{target} {_fingerprint(payload)}")
            if node.replica is None or not self._verified(payload):
                return
            self.result.delivered += 1
            message = payload
            node.drive(lambda replica: replica.step(message))
        elif kind == _WAKE:
            self.trace(f"{time_ms} w{target}")
            node.wake(time_ms)
        elif kind == _EVIDENCE:
            assert isinstance(payload, DuplicateVoteEvidence)
            self.trace(f"{time_ms} e{target}")
            node.app.add_evidence(payload)
        elif kind == _RESTART:
            self.trace(f"{time_ms} r{target}")
            if node.replica is None and self.faults_on:
                node.start()
        elif kind == _CRASH and self.faults_on:
            self.trace(f"{time_ms} c")
            self._crash_random()
        elif kind == _PARTITION and self.faults_on:
            self.trace(f"{time_ms} p")
            self._partition()
        elif kind == _UNPARTITION:
            self.trace(f"{time_ms} u")
            self._blocked.clear()

    def _run_until(self, done: Callable[[], bool], time_ms_max: int) -> bool:
        while not done():
            if self.checker.violations:
                return False
            if not self._queue or self._queue[0][0] > time_ms_max:
                return False
            if self.result.events >= EVENTS_MAX:
                self.checker.violation(f"event budget of {EVENTS_MAX} exhausted")
                return False
            time_ms, _, kind, target, payload = heapq.heappop(self._queue)
            self._process(time_ms, kind, target, payload)
        return True

    def honest_height(self) -> int:
        return min(self.nodes[i].app.height for i in self.honest)

    def max_height(self) -> int:
        return max(self.nodes[i].app.height for i in self.honest)

    def run(self) -> RunResult:
        """Run both phases; the result lists violations (with the replay command)."""
        try:
            self._run()
        except AssertionError as exc:  # a replica's own invariant broke: report the seed
            self.checker.violation(f"assertion failed: {exc!r}")
        result = self.result
        result.violations = list(self.checker.violations)
        result.height = self.honest_height()
        result.sim_time_ms = self.now_ms
        result.evidence_committed = len(
            set().union(*(self.nodes[i].app.committed_evidence for i in self.honest))
        )
        result.trace_hash = self._trace.hexdigest()
        return result

    def _run(self) -> None:
        mix = self.mix
        self._schedule_faults()
        for node in self.nodes:
            if node.behaviour is not Behaviour.SILENT:
                node.start()
        self._run_until(lambda: self.max_height() >= mix.heights, mix.fault_phase_ms)
        if self.checker.violations:
            return
        self.heal()
        target = self.max_height() + 1
        deadline_ms = self.now_ms + mix.liveness_ms_max
        live = self._run_until(lambda: self.honest_height() >= target, deadline_ms)
        if not live and not self.checker.violations:
            behind = {i: self.nodes[i].app.height for i in self.honest}
            self.checker.violation(
                f"liveness: honest replicas did not all reach height {target} within "
                f"{mix.liveness_ms_max}ms of healing (heights {behind})"
            )


def _fingerprint(message: ConsensusMessage) -> str:
    if isinstance(message, SignedProposal | SignedVote):
        return message.signature[:6].hex()
    return message.value_hash[:6].hex()


def run_seed(seed: int, mix: FaultMix | str) -> RunResult:
    return Simulator(seed, mix).run()


__all__ = [
    "CHAIN_ID",
    "Checker",
    "Node",
    "RunResult",
    "Simulator",
    "replay_command",
    "run_seed",
]
