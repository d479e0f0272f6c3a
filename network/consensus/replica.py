"""The Tendermint consensus algorithm (Buchman, Kwon, Milosevic 2018, Algorithm 1) as a pure
state machine: messages and clock readings in, one `Ready` of work out.

No I/O, no clock, no randomness: `tick(now_ms)` is the only way time enters, `step(message)`
the only way peers do (after the caller checked the signature), `propose(request, value)` the
way the application answers a value request. Every rule cites its line Lnn of the paper (the
restatement is /work/shared/specs/tendermint-algorithm.md). After every input all rules are
re-evaluated until none fires (spec pitfall 8).

Departures from the paper, each for a reason given where it happens:
- Own messages leave as *decisions to sign* (`Ready.to_sign`) and count only once fed back,
  signed, through `step` (pitfall 11); the decision is made durable first (pitfall 17).
- The height changes at `advance` after a decision, not inside L49-L54, so the application
  has executed height h before it is asked whether a value of h+1 is valid.
- A `Decided` (value + commit from a peer) decides a height by certificate: L49 with the
  2f+1 precommits delivered together (pitfall 18/21), used by lagging replicas.
- Gossip (pitfall 14): own messages are re-sent every `rebroadcast_interval_ms`, a
  re-proposal travels with its POL, and a replica answers a peer that is at a decided
  height with that height's `Decided`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.types import (
    NIL_ROUND,
    Commit,
    CommitSignature,
    DuplicateVoteEvidence,
    SignedVote,
    Vote,
    VoteKind,
)
from network.consensus.app import Application, CheckedValue
from network.consensus.config import ConsensusConfig
from network.consensus.errors import InvalidMessage, MisuseError
from network.consensus.messages import (
    ConsensusMessage,
    Decided,
    MessageKind,
    Proposal,
    SignedProposal,
    message_height,
)
from network.consensus.ready import (
    LaggingPeer,
    Outbound,
    Ready,
    Step,
    Timeout,
    TimeoutKind,
    ValueRequest,
    WalRecord,
)
from network.consensus.votes import VoteSet

OwnMessage = Proposal | Vote
OwnKey = tuple[int, MessageKind]  # (round, kind) within the current height


class _ProposalEntry:
    """A proposal in the message log, with valid(v)/id(v) asked of the application once."""

    __slots__ = ("_checked", "_done", "signed")

    def __init__(self, signed: SignedProposal) -> None:
        self.signed = signed
        self._checked: CheckedValue | None = None
        self._done = False

    @property
    def proposal(self) -> Proposal:
        return self.signed.proposal

    def checked(self, app: Application) -> CheckedValue | None:
        """The application's verdict, None if invalid or if its hash is not the one signed."""
        if not self._done:
            proposal = self.signed.proposal
            verdict = app.validate(proposal.height, proposal.value)
            if verdict is not None and verdict.value_hash != proposal.value_hash:
                verdict = None
            self._checked = verdict
            self._done = True
        return self._checked


class Replica:
    """One validator's (or observer's) consensus state machine. See the module docstring."""

    def __init__(
        self,
        config: ConsensusConfig,
        app: Application,
        *,
        now_ms: int,
        last_decided_height: int = 0,
        wal_records: Sequence[WalRecord] = (),
    ) -> None:
        """Start at `last_decided_height + 1`. `wal_records` are the write-ahead log's records
        (any heights; those of other heights are ignored): after a crash they restore the
        round, step, lock, valid value and own messages of the current height."""
        self._config = config
        self._limits = config.limits
        self._validators = config.validators
        self._app = app
        self._me = config.node_key
        self._is_validator = self._validators.power_of(self._me) > 0
        self._now_ms = now_ms
        # work for the next Ready
        self._out_own: list[OwnMessage] = []  # new decisions: persist, then sign
        self._out_resign: list[OwnMessage] = []  # restored decisions: already durable
        self._out_send: list[Outbound] = []
        self._out_timeouts: list[Timeout] = []
        self._out_decided: list[Decided] = []
        self._out_evidence: list[DuplicateVoteEvidence] = []
        self._out_lagging: list[LaggingPeer] = []
        self._value_request: ValueRequest | None = None
        self._issued: Ready | None = None
        # across heights
        self._retained: dict[int, Decided] = {}
        self._next_height: dict[ConsensusMessage, None] = {}  # ordered set, bounded
        self._next_height_counts: dict[bytes, int] = {}  # buffered messages per validator
        self._reply_ms: dict[bytes, int] = {}  # last catch-up answer per peer
        self._timers: dict[tuple[TimeoutKind, int, int], int] = {}
        self._persisted_valid_hash: bytes | None = None  # valid_hash whose bytes the WAL holds
        self._awaiting_advance = False
        self._reset_height(last_decided_height + 1)
        self._arm(TimeoutKind.REBROADCAST, 0, config.rebroadcast_interval_ms)
        records = [r for r in wal_records if r.height == self._height]
        if records:
            self._restore(records)
        else:
            self._start_round(0)  # L10
        self._evaluate()

    # --- read-only view ------------------------------------------------------------------

    @property
    def node_key(self) -> bytes:
        return self._me

    @property
    def now_ms(self) -> int:
        return self._now_ms

    @property
    def height(self) -> int:
        """h_p: the height being decided."""
        return self._height

    @property
    def round(self) -> int:
        """round_p."""
        return self._round

    @property
    def state(self) -> tuple[int, int, Step]:
        """(h_p, round_p, step_p)."""
        return (self._height, self._round, self._step)

    @property
    def lock(self) -> tuple[int, bytes | None]:
        """(lockedRound_p, id(lockedValue_p))."""
        return (self._locked_round, self._locked_hash)

    @property
    def valid(self) -> tuple[int, bytes | None]:
        """(validRound_p, id(validValue_p))."""
        return (self._valid_round, self._valid_hash)

    def own_messages(self) -> dict[OwnKey, OwnMessage]:
        return dict(self._own)

    # --- inputs ----------------------------------------------------------------------------

    def step(self, message: ConsensusMessage) -> None:
        """Handle a message whose signature the caller has checked (`verify_message`).
        Raises InvalidMessage for a message no honest validator sends."""
        if isinstance(message, Decided):
            self._on_decided_message(message)
            self._evaluate()
            return
        sender = (
            message.proposal.proposer
            if isinstance(message, SignedProposal)
            else message.vote.validator
        )
        if self._validators.power_of(sender) == 0:
            raise InvalidMessage(f"{sender.hex()[:16]} is not a validator")
        height = message_height(message)
        if height == self._height + 1:
            count = self._next_height_counts.get(sender, 0)
            if (
                message not in self._next_height
                and count < self._limits.next_height_messages_per_validator_max
            ):
                self._next_height[message] = None
                self._next_height_counts[sender] = count + 1
            return
        if height < self._height or (height == self._height and self._awaiting_advance):
            self._answer_lagging(sender, height)
            return
        if height != self._height:
            return  # beyond h_p + 1: not buffered (pitfall 12); block sync's job
        if isinstance(message, SignedProposal):
            self._add_proposal(message)
        else:
            self._add_vote(message)
        self._evaluate()

    def tick(self, now_ms: int) -> None:
        """The clock reading; fires every timer whose deadline has passed."""
        self._now_ms = max(self._now_ms, now_ms)
        while True:
            due = [
                (d, k.value, r, k, h) for (k, h, r), d in self._timers.items() if d <= self._now_ms
            ]
            if not due:
                return
            _, _, round_, kind, height = min(due)
            del self._timers[(kind, height, round_)]
            self._on_timeout(kind, height, round_)
            self._evaluate()

    def propose(self, request: ValueRequest, value: bytes) -> bool:
        """getValue() of L18 answered. False if the request went stale (round moved on)."""
        if (
            self._awaiting_advance
            or (request.height, request.round) != (self._height, self._round)
            or self._step is not Step.PROPOSE
            or (self._round, MessageKind.PROPOSAL) in self._own
            or not self._is_proposer()
        ):
            return False
        if len(value) > self._limits.value_size_bytes_max:
            raise MisuseError(f"value of {len(value)} bytes exceeds the limit")
        checked = self._app.validate(self._height, value)
        if checked is None:
            raise MisuseError("the application proposed a value its own validate() refuses")
        self._emit_proposal(value, checked.value_hash, NIL_ROUND)  # L19
        # L22-L24 for our own fresh proposal, decided now rather than when it comes back
        # signed, so the proposal and the prevote share one WAL record (one durable sync on
        # every height's critical path instead of two). Valid by the check above; acceptable
        # when not locked or locked on this very value. The signed proposal still enters
        # the log through `step` (pitfall 11); the step is then past PROPOSE, so L22 does
        # not fire twice.
        if self._locked_round == NIL_ROUND or self._locked_hash == checked.value_hash:
            self._prevote(checked.value_hash)
        self._evaluate()
        return True

    # --- outputs ---------------------------------------------------------------------------

    def has_ready(self) -> bool:
        return bool(
            self._out_own
            or self._out_resign
            or self._out_send
            or self._out_timeouts
            or self._out_decided
            or self._out_evidence
            or self._out_lagging
            or self._value_request is not None
        )

    def ready(self) -> Ready:
        """The work to do now, in order (see `Ready`). Call `advance` when it is done."""
        own = tuple(self._out_own)
        persist = None
        if own:
            value_changed = self._valid_hash != self._persisted_valid_hash
            persist = WalRecord(
                height=self._height,
                round=self._round,
                step=self._step,
                locked_round=self._locked_round,
                locked_hash=self._locked_hash,
                valid_round=self._valid_round,
                valid_hash=self._valid_hash,
                valid_value=self._valid_value if value_changed else None,
                valid_pol=self._valid_pol() if value_changed else (),
                proposals=tuple(m for m in own if isinstance(m, Proposal)),
                votes=tuple(m for m in own if isinstance(m, Vote)),
            )
        ready = Ready(
            persist=persist,
            to_sign=own + tuple(self._out_resign),
            send=tuple(self._out_send),
            timeouts=tuple(self._out_timeouts),
            decided=tuple(self._out_decided),
            evidence=tuple(self._out_evidence),
            lagging=tuple(self._out_lagging),
            value_request=self._value_request,
        )
        self._issued = ready
        return ready

    def _valid_pol(self) -> tuple[SignedVote, ...]:
        """The prevotes of the valid round for the valid value (its proof of lock)."""
        prevotes = self._prevotes.get(self._valid_round)
        if self._valid_hash is None or prevotes is None:
            return ()
        return tuple(prevotes.for_hash(self._valid_hash))

    def advance(self, ready: Ready) -> None:
        """`ready` is done (persisted, sent, executed). Starts the next height after a
        decision."""
        if ready is not self._issued:
            raise MisuseError("advance() takes the Ready that the last ready() returned")
        self._issued = None
        own_count = 0 if ready.persist is None else len(ready.persist.own_keys())
        del self._out_own[:own_count]
        del self._out_resign[: len(ready.to_sign) - own_count]
        del self._out_send[: len(ready.send)]
        del self._out_timeouts[: len(ready.timeouts)]
        del self._out_decided[: len(ready.decided)]
        del self._out_evidence[: len(ready.evidence)]
        del self._out_lagging[: len(ready.lagging)]
        if ready.persist is not None:
            self._persisted_valid_hash = ready.persist.valid_hash
        if ready.value_request is not None and self._value_request == ready.value_request:
            self._value_request = None
        if ready.decided and self._awaiting_advance:
            self._enter_next_height()

    # --- message log -----------------------------------------------------------------------

    def _reset_height(self, height: int) -> None:
        """L53-L54 (and the initial state L1-L9): a fresh height, an empty message log."""
        self._height = height
        self._round = 0
        self._step = Step.PROPOSE
        self._locked_round = NIL_ROUND
        self._locked_hash: bytes | None = None
        self._valid_round = NIL_ROUND
        self._valid_hash: bytes | None = None
        self._valid_value: bytes | None = None
        self._proposals: dict[int, list[_ProposalEntry]] = {}
        self._prevotes: dict[int, VoteSet] = {}
        self._precommits: dict[int, VoteSet] = {}
        self._senders: dict[int, dict[bytes, None]] = {}  # round -> validators heard from
        self._rounds_of: dict[bytes, set[int]] = {}  # validator -> rounds it has messages in
        self._decide_rounds: set[int] = set()  # rounds with a precommit quorum for a value
        self._skip_rounds: set[int] = set()  # rounds > round_p with f+1 senders
        self._own: dict[OwnKey, OwnMessage] = {}
        self._own_signed: dict[OwnKey, SignedProposal | SignedVote] = {}
        self._evidence_keys: set[tuple[bytes, int, VoteKind]] = set()
        self._fired_l34 = self._fired_l36 = self._fired_l47 = False
        self._persisted_valid_hash = None  # the WAL is reset per height
        self._timers = {k: d for k, d in self._timers.items() if k[0] is TimeoutKind.REBROADCAST}

    def _admit_round(self, sender: bytes, round_: int) -> bool:
        """Bound what one validator may make us keep for rounds above round_p (pitfall 12)."""
        if round_ > self._limits.round_max:
            return False
        rounds = self._rounds_of.setdefault(sender, set())
        if round_ <= self._round or round_ in rounds:
            rounds.add(round_)
            return True
        future = sorted(r for r in rounds if r > self._round)
        if len(future) >= self._limits.future_rounds_per_validator_max:
            if round_ < future[0]:
                return False
            self._evict(sender, future[0])
        rounds.add(round_)
        return True

    def _evict(self, sender: bytes, round_: int) -> None:
        for tallies in (self._prevotes, self._precommits):
            if round_ in tallies:
                tallies[round_].remove(sender)
        entries = self._proposals.get(round_, [])
        self._proposals[round_] = [e for e in entries if e.proposal.proposer != sender]
        self._senders.get(round_, {}).pop(sender, None)
        self._rounds_of[sender].discard(round_)
        if self._sender_power(round_) < self._config.skip_power:
            self._skip_rounds.discard(round_)
        if round_ in self._decide_rounds and not self._precommits[round_].hashes_with_power(
            self._config.quorum_power
        ):
            self._decide_rounds.discard(round_)

    def _heard(self, sender: bytes, round_: int) -> None:
        self._senders.setdefault(round_, {})[sender] = None
        if round_ > self._round and self._sender_power(round_) >= self._config.skip_power:
            self._skip_rounds.add(round_)

    def _sender_power(self, round_: int) -> int:
        return sum(self._validators.power_of(v) for v in self._senders.get(round_, {}))

    def _add_proposal(self, signed: SignedProposal) -> None:
        proposal = signed.proposal
        if proposal.proposer != self._validators.proposer(proposal.height, proposal.round):
            raise InvalidMessage(
                f"not the proposer of height {proposal.height} round {proposal.round}"
            )
        if len(proposal.value) > self._limits.value_size_bytes_max:
            raise InvalidMessage(f"proposal value of {len(proposal.value)} bytes is too large")
        if proposal.proposer == self._me:
            self._own_signed[(proposal.round, MessageKind.PROPOSAL)] = signed
        if not self._admit_round(proposal.proposer, proposal.round):
            return
        entries = self._proposals.setdefault(proposal.round, [])
        if any(e.signed.proposal.value_hash == proposal.value_hash for e in entries):
            return  # the same value again (pitfall 1)
        if len(entries) >= self._limits.proposals_per_round_max:
            return
        entries.append(_ProposalEntry(signed))
        self._heard(proposal.proposer, proposal.round)

    def _add_vote(self, signed: SignedVote) -> None:
        vote = signed.vote
        if vote.validator == self._me:
            self._own_signed[(vote.round, MessageKind.of_vote(vote.kind))] = signed
        if not self._admit_round(vote.validator, vote.round):
            return
        tallies = self._prevotes if vote.kind is VoteKind.PREVOTE else self._precommits
        votes = tallies.get(vote.round)
        if votes is None:
            votes = tallies[vote.round] = VoteSet(self._validators)
        conflicting = votes.add(signed)
        if conflicting is not None:
            self._report_equivocation(conflicting, signed)
        if (
            vote.kind is VoteKind.PRECOMMIT
            and vote.block_hash is not None
            and votes.power_for(vote.block_hash) >= self._config.quorum_power
        ):
            self._decide_rounds.add(vote.round)
        self._heard(vote.validator, vote.round)

    def _report_equivocation(self, first: SignedVote, second: SignedVote) -> None:
        key = (first.vote.validator, first.vote.round, first.vote.kind)
        if key in self._evidence_keys:
            return
        if len(self._evidence_keys) >= self._limits.evidence_per_height_max:
            return
        self._evidence_keys.add(key)
        self._out_evidence.append(DuplicateVoteEvidence(first=first, second=second))

    # --- the rules of Algorithm 1 ----------------------------------------------------------

    def _evaluate(self) -> None:
        for _ in range(self._limits.rule_firings_per_input_max):
            if not self._fire_one():
                return
        raise AssertionError("rules kept firing: a rule lacks its guard")

    def _fire_one(self) -> bool:
        """Fire one enabled rule; False when none is enabled."""
        if self._awaiting_advance:
            return False
        quorum = self._config.quorum_power
        # L49: a proposal and 2f+1 precommits for its id in one round r, any r, any step.
        for round_ in sorted(self._decide_rounds):
            for block_hash in self._precommits[round_].hashes_with_power(quorum):
                for entry in self._proposals.get(round_, []):
                    if entry.proposal.value_hash == block_hash and entry.checked(self._app):
                        self._decide(round_, entry)  # L50: valid(v) checked above
                        return True
        # L55: f+1 validators sent messages of one round above round_p: skip to it.
        skip = [r for r in self._skip_rounds if r > self._round]
        self._skip_rounds = set(skip)
        if skip:
            self._start_round(max(skip))
            return True
        prevotes = self._prevotes.get(self._round)
        if self._step is Step.PROPOSE:
            for entry in self._proposals.get(self._round, []):
                if self._on_proposal(entry):
                    return True
        if self._step >= Step.PREVOTE and not self._fired_l36 and prevotes is not None:
            # L36: proposal of round_p and 2f+1 prevotes for its id, valid, step >= prevote.
            for entry in self._proposals.get(self._round, []):
                block_hash = entry.proposal.value_hash
                checked = (
                    entry.checked(self._app) if prevotes.power_for(block_hash) >= quorum else None
                )
                if checked is None:
                    continue
                self._fired_l36 = True
                if self._step is Step.PREVOTE:  # L37-L41
                    self._locked_round = self._round
                    self._locked_hash = block_hash
                    self._precommit(block_hash, checked.time_ms)
                self._valid_round = self._round  # L42-L43
                self._valid_hash = block_hash
                self._valid_value = entry.proposal.value
                return True
        if self._step is Step.PREVOTE and prevotes is not None:
            if prevotes.power_for(None) >= quorum:  # L44-L46: locks untouched
                self._precommit(None, None)
                return True
            if not self._fired_l34 and prevotes.power_any >= quorum:  # L34-L35
                self._fired_l34 = True
                delay_ms = self._config.timeout_prevote_ms(self._round)
                self._arm(TimeoutKind.PREVOTE, self._round, delay_ms)
                return True
        precommits = self._precommits.get(self._round)
        if not self._fired_l47 and precommits is not None and precommits.power_any >= quorum:
            self._fired_l47 = True  # L47-L48: no step guard
            delay_ms = self._config.timeout_precommit_ms(self._round)
            self._arm(TimeoutKind.PRECOMMIT, self._round, delay_ms)
            return True
        return False

    def _on_proposal(self, entry: _ProposalEntry) -> bool:
        """L22-L27 and L28-L33, in step propose. True if this proposal made us prevote."""
        proposal = entry.proposal
        block_hash = proposal.value_hash
        pol_round = proposal.pol_round
        if pol_round == NIL_ROUND:  # L22: a fresh value
            acceptable = self._locked_round == NIL_ROUND or self._locked_hash == block_hash
        else:
            # L28: only 0 <= vr < round_p (checked by Proposal), and only once the POL of
            # round vr is here (pitfall 4); otherwise wait, L57 prevotes nil in the end.
            pol = self._prevotes.get(pol_round)
            if pol is None or pol.power_for(block_hash) < self._config.quorum_power:
                return False
            acceptable = self._locked_round <= pol_round or self._locked_hash == block_hash
        valid = entry.checked(self._app) is not None
        self._prevote(block_hash if valid and acceptable else None)  # L24/L26, L30/L32
        return True

    def _decide(self, round_: int, entry: _ProposalEntry) -> None:
        """L49-L51: decision. The commit is the precommits for id(v) of round `round_`."""
        block_hash = entry.proposal.value_hash
        signatures = tuple(
            CommitSignature(
                validator=signed.vote.validator,
                timestamp_ms=signed.vote.timestamp_ms,
                signature=signed.signature,
            )
            for signed in self._precommits[round_].for_hash(block_hash)
        )
        commit = Commit(
            height=self._height, round=round_, block_hash=block_hash, signatures=signatures
        )
        self._record_decision(Decided(value=entry.proposal.value, commit=commit))

    def _record_decision(self, decided: Decided) -> None:
        assert decided.height == self._height
        assert not self._awaiting_advance
        self._out_decided.append(decided)
        self._retained[decided.height] = decided
        while len(self._retained) > self._limits.decided_retained_max:
            del self._retained[min(self._retained)]
        # Departure: L52-L54 (next height, reset, StartRound(0)) run in `advance`, once the
        # application has executed this value, so validate() of h+1 sees the new prefix.
        self._awaiting_advance = True

    def _enter_next_height(self) -> None:
        self._awaiting_advance = False
        self._reset_height(self._height + 1)  # L52-L54
        self._start_round(0)
        buffered = list(self._next_height)
        self._next_height.clear()
        self._next_height_counts.clear()
        for message in buffered:
            try:
                self.step(message)
            except InvalidMessage:
                continue  # a bad buffered message cannot be reported to its sender now
        self._evaluate()

    def _on_decided_message(self, decided: Decided) -> None:
        """Decision by certificate (departure, see module docstring): the caller checked the
        commit; we check the value is valid and is the one the commit is for (pitfall 21)."""
        if self._awaiting_advance or decided.height != self._height:
            return
        checked = self._app.validate(self._height, decided.value)
        if checked is None or checked.value_hash != decided.value_hash:
            raise InvalidMessage("a commit for a value that is not valid here")
        self._record_decision(decided)

    # --- StartRound, own messages, timers --------------------------------------------------

    def _start_round(self, round_: int) -> None:
        """L11-L21."""
        assert round_ >= self._round
        self._round = round_
        self._step = Step.PROPOSE
        self._fired_l34 = self._fired_l36 = self._fired_l47 = False
        self._value_request = None
        self._skip_rounds = {r for r in self._skip_rounds if r > round_}
        if self._is_proposer():
            if (round_, MessageKind.PROPOSAL) in self._own:
                return  # restored from the WAL and re-signed: never a second proposal
            if self._valid_value is not None:  # L15-L16: re-propose validValue (pitfall 5)
                assert self._valid_hash is not None
                self._emit_proposal(self._valid_value, self._valid_hash, self._valid_round)
            else:
                self._value_request = ValueRequest(height=self._height, round=round_)  # L18
        else:
            self._arm(TimeoutKind.PROPOSE, round_, self._config.timeout_propose_ms(round_))  # L21

    def _is_proposer(self) -> bool:
        proposer = self._validators.proposer(self._height, self._round)
        return self._is_validator and proposer == self._me

    def _emit_own(self, message: OwnMessage, kind: MessageKind) -> None:
        key = (message.round, kind)
        # The double-sign guard: one message per (height, round, step), ever (pitfall 17).
        assert key not in self._own, f"second {kind.value} at height {self._height} {key}"
        self._own[key] = message
        self._out_own.append(message)

    def _emit_proposal(self, value: bytes, value_hash: bytes, pol_round: int) -> None:
        proposal = Proposal(
            height=self._height,
            round=self._round,
            pol_round=pol_round,
            value=value,
            value_hash=value_hash,
            proposer=self._me,
        )
        self._emit_own(proposal, MessageKind.PROPOSAL)
        self._value_request = None
        if pol_round != NIL_ROUND:  # send the POL along with the re-proposal (pitfall 14)
            for signed in self._prevotes[pol_round].for_hash(value_hash):
                self._out_send.append(Outbound(message=signed))

    def _prevote(self, block_hash: bytes | None) -> None:
        assert self._step is Step.PROPOSE
        if self._is_validator:
            self._emit_own(
                self._vote(VoteKind.PREVOTE, block_hash, self._now_ms), MessageKind.PREVOTE
            )
        self._step = Step.PREVOTE

    def _precommit(self, block_hash: bytes | None, value_time_ms: int | None) -> None:
        assert self._step is Step.PREVOTE
        # BFT time (pitfall 19): a precommit for v is later than v's block time, so the
        # median of a commit's timestamps (the next block's time) is strictly later.
        timestamp_ms = self._now_ms
        if value_time_ms is not None:
            timestamp_ms = max(timestamp_ms, value_time_ms + 1)
        if self._is_validator:
            self._emit_own(
                self._vote(VoteKind.PRECOMMIT, block_hash, timestamp_ms), MessageKind.PRECOMMIT
            )
        self._step = Step.PRECOMMIT

    def _vote(self, kind: VoteKind, block_hash: bytes | None, timestamp_ms: int) -> Vote:
        return Vote(
            kind=kind,
            height=self._height,
            round=self._round,
            block_hash=block_hash,
            timestamp_ms=timestamp_ms,
            validator=self._me,
        )

    def _arm(self, kind: TimeoutKind, round_: int, delay_ms: int) -> None:
        """One timer per (kind, height, round) (pitfall 13)."""
        key = (kind, self._height, round_)
        if key in self._timers:
            return
        deadline_ms = self._now_ms + delay_ms
        self._timers[key] = deadline_ms
        self._out_timeouts.append(
            Timeout(kind=kind, height=self._height, round=round_, deadline_ms=deadline_ms)
        )

    def _on_timeout(self, kind: TimeoutKind, height: int, round_: int) -> None:
        if kind is TimeoutKind.REBROADCAST:
            self._rebroadcast()
            self._timers.pop((kind, self._height, 0), None)
            self._arm(TimeoutKind.REBROADCAST, 0, self._config.rebroadcast_interval_ms)
            return
        if self._awaiting_advance or height != self._height or round_ != self._round:
            return  # stale: every handler re-checks its guard (pitfall 7)
        if kind is TimeoutKind.PROPOSE and self._step is Step.PROPOSE:
            self._prevote(None)  # L57-L60
        elif kind is TimeoutKind.PREVOTE and self._step is Step.PREVOTE:
            self._precommit(None, None)  # L61-L64
        elif kind is TimeoutKind.PRECOMMIT:
            self._start_round(self._round + 1)  # L65-L67: no step check

    def _rebroadcast(self) -> None:
        """Re-send own signed messages of recent rounds (gossip, pitfall 14), the latest
        non-nil precommit (it may complete a decision elsewhere) and a re-proposal's POL."""
        if self._awaiting_advance:
            return
        keys = sorted((k for k in self._own_signed if k[0] >= self._round - 1), key=_own_order)
        precommits = sorted(
            (
                k
                for k, m in self._own_signed.items()
                if k[1] is MessageKind.PRECOMMIT and isinstance(m, SignedVote) and m.vote.block_hash
            ),
            key=_own_order,
        )
        if precommits and precommits[-1] not in keys:
            keys.insert(0, precommits[-1])
        for key in keys:
            message = self._own_signed[key]
            self._out_send.append(Outbound(message=message))
            if isinstance(message, SignedProposal) and message.proposal.pol_round != NIL_ROUND:
                pol = self._prevotes.get(message.proposal.pol_round)
                if pol is not None:
                    for signed in pol.for_hash(message.proposal.value_hash):
                        self._out_send.append(Outbound(message=signed))

    def _answer_lagging(self, peer: bytes, height: int) -> None:
        """A peer still works on a height we decided: send it that decision, or ask the driver
        to serve it from the store (rate-limited per peer)."""
        if peer == self._me:
            return
        last_ms = self._reply_ms.get(peer)
        if last_ms is not None and self._now_ms - last_ms < self._config.rebroadcast_interval_ms:
            return
        self._reply_ms[peer] = self._now_ms
        decided = self._retained.get(height)
        if decided is None:
            self._out_lagging.append(LaggingPeer(peer=peer, height=height))
        else:
            self._out_send.append(Outbound(message=decided, to=peer))

    # --- restart ---------------------------------------------------------------------------

    def _restore(self, records: list[WalRecord]) -> None:
        """Rebuild the height from its WAL records: own messages (re-signed byte for byte,
        never replaced), round, step, lock and valid value (pitfall 17)."""
        values: dict[bytes, bytes] = {}
        proofs: dict[bytes, tuple[SignedVote, ...]] = {}
        for record in records:
            messages: list[OwnMessage] = [*record.proposals, *record.votes]
            for message in messages:
                kind = (
                    MessageKind.PROPOSAL
                    if isinstance(message, Proposal)
                    else MessageKind.of_vote(message.kind)
                )
                key = (message.round, kind)
                assert self._own.get(key, message) == message, f"WAL holds two {key}"
                self._own[key] = message
                if isinstance(message, Proposal):
                    values[message.value_hash] = message.value
            if record.valid_value is not None and record.valid_hash is not None:
                values[record.valid_hash] = record.valid_value
                proofs[record.valid_hash] = record.valid_pol
        last = records[-1]
        self._round = last.round
        self._step = last.step
        self._locked_round, self._locked_hash = last.locked_round, last.locked_hash
        self._valid_round, self._valid_hash = last.valid_round, last.valid_hash
        if last.valid_hash is not None:
            assert last.valid_hash in values, "WAL lost the bytes of the valid value"
            self._valid_value = values[last.valid_hash]
        self._persisted_valid_hash = last.valid_hash
        if last.valid_hash is not None:
            for signed in proofs.get(last.valid_hash, ()):  # checked when first received
                self._add_vote(signed)
        self._out_resign.extend(self._own[k] for k in sorted(self._own, key=_own_order))
        if self._step is Step.PROPOSE:
            self._start_round(self._round)  # the proposal or the propose timer (L11-L21)


def _own_order(key: OwnKey) -> tuple[int, int]:
    return (key[0], list(MessageKind).index(key[1]))
