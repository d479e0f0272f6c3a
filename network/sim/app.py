"""The simulator's application: values are small blocks that carry the previous commit,
their BFT time, and the evidence their proposer had pending.

    value = {height, time_ms, last_commit, evidence, proposer, nonce}   (canonical msgpack)

`validate` is deterministic in (height, value, decided prefix), as `Application` requires:
the previous commit must be valid and for the decided block at height-1, the time must be
that commit's median (`Commit.median_time_ms`) and later than the previous block's, and each
evidence must be valid, older than the block, and not committed before.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger import crypto
from ledger.codec import decode, encode
from ledger.crypto import PUBLIC_KEY_SIZE_BYTES
from ledger.errors import LedgerError
from ledger.fields import Fields
from ledger.types import (
    BLOCK_EVIDENCE_COUNT_MAX,
    Commit,
    DuplicateVoteEvidence,
    ValidatorSet,
    VoteKind,
)
from network.consensus import CheckedValue, Decided

EvidenceKey = tuple[bytes, int, int, VoteKind]  # offender, height, round, kind


def evidence_key(evidence: DuplicateVoteEvidence) -> EvidenceKey:
    vote = evidence.first.vote
    return (vote.validator, vote.height, vote.round, vote.kind)


class VerificationCache:
    """Signature checks are deterministic; the simulator checks each distinct object once."""

    __slots__ = ("_chain_id", "_results", "_validators")

    def __init__(self, chain_id: str, validators: ValidatorSet) -> None:
        self._chain_id = chain_id
        self._validators = validators
        self._results: dict[object, bool] = {}

    def commit_ok(self, commit: Commit) -> bool:
        result = self._results.get(commit)
        if result is None:
            try:
                commit.verify(self._chain_id, self._validators)
                result = True
            except LedgerError:
                result = False
            self._results[commit] = result
        return result

    def evidence_ok(self, evidence: DuplicateVoteEvidence) -> bool:
        result = self._results.get(evidence)
        if result is None:
            try:
                evidence.validate(self._chain_id, self._validators)
                result = True
            except LedgerError:
                result = False
            self._results[evidence] = result
        return result


@dataclass(frozen=True, slots=True, kw_only=True)
class SimBlock:
    height: int
    time_ms: int
    last_commit: Commit | None
    evidence: tuple[DuplicateVoteEvidence, ...]
    proposer: bytes
    nonce: int

    def encode(self) -> bytes:
        return encode(
            {
                "evidence": [e.to_value() for e in self.evidence],
                "height": self.height,
                "last_commit": None if self.last_commit is None else self.last_commit.to_value(),
                "nonce": self.nonce,
                "proposer": self.proposer,
                "time_ms": self.time_ms,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> SimBlock:
        r = Fields(decode(data), "block")
        last_commit = r.raw("last_commit")
        block = cls(
            evidence=r.items(
                "evidence", DuplicateVoteEvidence.from_value, length_max=BLOCK_EVIDENCE_COUNT_MAX
            ),
            height=r.integer("height", minimum=1),
            last_commit=None if last_commit is None else Commit.from_value(last_commit),
            nonce=r.integer("nonce"),
            proposer=r.binary("proposer", size=PUBLIC_KEY_SIZE_BYTES),
            time_ms=r.integer("time_ms"),
        )
        r.finish()
        return block


def value_hash(value: bytes) -> bytes:
    return crypto.sha256(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutedBlock:
    value: bytes
    block: SimBlock
    value_hash: bytes
    commit: Commit


class SimApplication:
    """One replica's application and store: survives the replica's crash."""

    def __init__(
        self, *, validators: ValidatorSet, genesis_time_ms: int, cache: VerificationCache
    ) -> None:
        self._validators = validators
        self._genesis_time_ms = genesis_time_ms
        self._cache = cache
        self.chain: list[ExecutedBlock] = []
        self.committed_evidence: set[EvidenceKey] = set()
        self.pending_evidence: dict[EvidenceKey, DuplicateVoteEvidence] = {}
        self._verdicts: dict[bytes, CheckedValue | None] = {}
        self._nonce = 0

    @property
    def height(self) -> int:
        """The last executed (decided and persisted) height."""
        return len(self.chain)

    def validate(self, height: int, value: bytes) -> CheckedValue | None:
        if height != self.height + 1:
            return None
        verdict = self._verdicts.get(value, _UNSEEN)
        if verdict is _UNSEEN:
            verdict = self._validate(height, value)
            self._verdicts[value] = verdict
        assert verdict is not _UNSEEN
        return verdict

    def _validate(self, height: int, value: bytes) -> CheckedValue | None:
        try:
            block = SimBlock.decode(value)
        except LedgerError:
            return None
        if block.height != height:
            return None
        if block.time_ms != self._time_for(block.last_commit):
            return None
        if height == 1:
            if block.last_commit is not None:
                return None
        else:
            previous = self.chain[-1]
            commit = block.last_commit
            if commit is None or commit.height != height - 1:
                return None
            if commit.block_hash != previous.value_hash or not self._cache.commit_ok(commit):
                return None
            if block.time_ms <= previous.block.time_ms:
                return None  # BFT time must be strictly increasing
        keys = set()
        for evidence in block.evidence:
            key = evidence_key(evidence)
            if key in keys or key in self.committed_evidence or key[1] >= height:
                return None
            if not self._cache.evidence_ok(evidence):
                return None
            keys.add(key)
        return CheckedValue(value_hash=value_hash(value), time_ms=block.time_ms)

    def _time_for(self, last_commit: Commit | None) -> int:
        if last_commit is None:
            return self._genesis_time_ms
        if not last_commit.signatures:
            return -1
        return last_commit.median_time_ms(self._validators)

    def make_value(self, height: int, proposer: bytes) -> bytes:
        """A fresh value for `height`, carrying the pending evidence."""
        assert height == self.height + 1
        last_commit = self.chain[-1].commit if self.chain else None
        evidence = sorted(
            (
                e
                for k, e in self.pending_evidence.items()
                if k not in self.committed_evidence and k[1] < height
            ),
            key=lambda e: e.hash(),
        )[:BLOCK_EVIDENCE_COUNT_MAX]
        self._nonce += 1
        block = SimBlock(
            height=height,
            time_ms=self._time_for(last_commit),
            last_commit=last_commit,
            evidence=tuple(evidence),
            proposer=proposer,
            nonce=self._nonce,
        )
        return block.encode()

    def add_evidence(self, evidence: DuplicateVoteEvidence) -> None:
        key = evidence_key(evidence)
        if key in self.committed_evidence or key in self.pending_evidence:
            return
        if key[1] > self.height + 1 or not self._cache.evidence_ok(evidence):
            return
        if len(self.pending_evidence) < BLOCK_EVIDENCE_COUNT_MAX:
            self.pending_evidence[key] = evidence

    def execute(self, decided: Decided) -> ExecutedBlock:
        assert decided.height == self.height + 1
        block = SimBlock.decode(decided.value)
        executed = ExecutedBlock(
            value=decided.value, block=block, value_hash=decided.value_hash, commit=decided.commit
        )
        self.chain.append(executed)
        for evidence in block.evidence:
            key = evidence_key(evidence)
            self.committed_evidence.add(key)
            self.pending_evidence.pop(key, None)
        self._verdicts.clear()
        return executed


_UNSEEN = CheckedValue(value_hash=bytes(32), time_ms=-1)
