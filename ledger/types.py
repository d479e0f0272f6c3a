"""The ledger's data types: transactions, votes, commits, headers, blocks, evidence, genesis.

Each type is a frozen dataclass with `to_value()` (the canonical value that is encoded, hashed
and signed) and `from_value(value, path)` that validates and names the offending field.
Transactions travel and are stored as their canonical bytes; `Transaction.decode` is the
one way in from outside.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ledger import crypto, merkle
from ledger.codec import INT_MAX, Value, decode, encode, value_to_json
from ledger.crypto import HASH_SIZE_BYTES, PUBLIC_KEY_SIZE_BYTES, SIGNATURE_SIZE_BYTES, Domain
from ledger.errors import DecodeError, ValidationError
from ledger.fields import Fields, check_binary, check_text

ZERO_HASH = bytes(HASH_SIZE_BYTES)
TRANSACTION_SIZE_BYTES_MAX = 64 * 1024
TRANSACTION_KIND_LENGTH_MAX = 64
NIL_ROUND = -1


# --- transactions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Transaction:
    """A member's signed request to change the ledger.

    `kind` names the operation (``"bl.issue"``, ``"coo.revoke"``, ...), `body` its arguments.
    `nonce` makes each transaction unique per sender; `expiry_height` is the last height at
    which it may be committed. The id is the hash of the signed fields without the signature,
    so re-encoding a signature cannot make a second id for one request.
    """

    chain_id: str
    kind: str
    sender: bytes
    nonce: int
    expiry_height: int
    body: dict[str, Value]
    signature: bytes = b""
    _id: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _payload: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def signed_value(self) -> dict[str, Value]:
        return {
            "body": self.body,
            "chain_id": self.chain_id,
            "expiry_height": self.expiry_height,
            "kind": self.kind,
            "nonce": self.nonce,
            "sender": self.sender,
        }

    def signed_payload(self) -> bytes:
        """The canonical bytes the signature covers (cut from the decoded bytes, or encoded
        once per object)."""
        payload = self._payload
        if payload is None:
            payload = encode(self.signed_value())
            object.__setattr__(self, "_payload", payload)
        return payload

    @property
    def id(self) -> bytes:
        """Computed once per object (`replace` makes a new object, which computes its own)."""
        cached = self._id
        if cached is None:
            cached = crypto.tagged_hash(Domain.TRANSACTION_ID, self.signed_payload())
            object.__setattr__(self, "_id", cached)
        return cached

    def to_value(self) -> dict[str, Value]:
        return {**self.signed_value(), "signature": self.signature}

    def encode(self) -> bytes:
        return encode(self.to_value())

    @classmethod
    def create(
        cls,
        key: crypto.SigningKey,
        *,
        chain_id: str,
        kind: str,
        nonce: int,
        expiry_height: int,
        body: dict[str, Value],
    ) -> Transaction:
        unsigned = cls(
            chain_id=chain_id,
            kind=kind,
            sender=key.public_key,
            nonce=nonce,
            expiry_height=expiry_height,
            body=body,
        )
        unsigned.validate()
        signature = key.sign(Domain.TRANSACTION, chain_id, unsigned.signed_payload())
        return cls(**{**_fields_of(unsigned), "signature": signature})

    def validate(self) -> None:
        """Stateless checks: shapes and sizes. The signature is checked by `verify_signature`."""
        from_value = Transaction.from_value(self.to_value() | {"signature": bytes(64)})
        del from_value

    def verify_signature(self) -> None:
        crypto.verify(
            self.sender, Domain.TRANSACTION, self.chain_id, self.signed_payload(), self.signature
        )

    @classmethod
    def from_value(cls, value: Value, path: str = "tx") -> Transaction:
        r = Fields(value, path)
        body = r.raw("body")
        if not isinstance(body, dict):
            raise ValidationError(r.path("body"), "expected a map")
        tx = cls(
            body=body,
            chain_id=r.text("chain_id", length_max=crypto.CHAIN_ID_LENGTH_MAX),
            expiry_height=r.integer("expiry_height", minimum=1),
            kind=r.text("kind", length_max=TRANSACTION_KIND_LENGTH_MAX),
            nonce=r.integer("nonce"),
            sender=r.binary("sender", size=PUBLIC_KEY_SIZE_BYTES),
            signature=r.binary("signature", size=SIGNATURE_SIZE_BYTES),
        )
        r.finish()
        if not tx.chain_id.isascii():
            raise ValidationError(f"{path}.chain_id", "must be ASCII")
        return tx

    @classmethod
    def decode(cls, data: bytes) -> Transaction:
        """The transaction encoded by `data`; DecodeError or ValidationError if it is not one."""
        if len(data) > TRANSACTION_SIZE_BYTES_MAX:
            raise DecodeError(
                f"transaction of {len(data)} bytes exceeds {TRANSACTION_SIZE_BYTES_MAX}"
            )
        tx = cls.from_value(decode(data))
        object.__setattr__(tx, "_payload", _signed_payload_of(data))
        return tx


_SIGNATURE_FIELD = b"\xa9signature\xc4\x40"  # the last key of a transaction map, and its header
_SIGNATURE_FIELD_SIZE_BYTES = len(_SIGNATURE_FIELD) + SIGNATURE_SIZE_BYTES


def transaction_id(data: bytes) -> bytes:
    """`Transaction.decode(data).id` without decoding, for bytes already known canonical.

    A canonical transaction is a 7-key map whose last key is ``signature``; its signed
    payload is the same map without that entry: header 0x86 instead of 0x87, tail removed.
    """
    return crypto.tagged_hash(Domain.TRANSACTION_ID, _signed_payload_of(data))


def _signed_payload_of(data: bytes) -> bytes:
    assert data[0] == 0x87, "not a canonical transaction"
    assert data[-_SIGNATURE_FIELD_SIZE_BYTES:-SIGNATURE_SIZE_BYTES] == _SIGNATURE_FIELD
    return b"\x86" + data[1:-_SIGNATURE_FIELD_SIZE_BYTES]


# --- validators and votes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Validator:
    node_key: bytes  # the Ed25519 key the node signs votes with (and its TLS identity)
    power: int
    organisation: str

    def to_value(self) -> dict[str, Value]:
        return {"node_key": self.node_key, "organisation": self.organisation, "power": self.power}

    @classmethod
    def from_value(cls, value: Value, path: str) -> Validator:
        r = Fields(value, path)
        validator = cls(
            node_key=r.binary("node_key", size=PUBLIC_KEY_SIZE_BYTES),
            organisation=r.text("organisation", length_max=64),
            power=r.integer("power", minimum=1, maximum=1_000_000),
        )
        r.finish()
        return validator


VALIDATOR_COUNT_MAX = 128


@dataclass(frozen=True, slots=True)
class ValidatorSet:
    """Validators in canonical order (by node key). Quorum is more than 2/3 of the power."""

    validators: tuple[Validator, ...]

    def __post_init__(self) -> None:
        keys = [v.node_key for v in self.validators]
        if not self.validators:
            raise ValidationError("validators", "at least one validator is required")
        if len(keys) > VALIDATOR_COUNT_MAX:
            raise ValidationError("validators", f"at most {VALIDATOR_COUNT_MAX} validators")
        if keys != sorted(set(keys)):
            raise ValidationError("validators", "must be sorted by node key, without duplicates")

    @classmethod
    def of(cls, validators: list[Validator] | tuple[Validator, ...]) -> ValidatorSet:
        return cls(tuple(sorted(validators, key=lambda v: v.node_key)))

    @property
    def total_power(self) -> int:
        return sum(v.power for v in self.validators)

    @property
    def quorum_power(self) -> int:
        """The least power that is more than two thirds of the total."""
        return self.total_power * 2 // 3 + 1

    def power_of(self, node_key: bytes) -> int:
        for validator in self.validators:
            if validator.node_key == node_key:
                return validator.power
        return 0

    def proposer(self, height: int, round_: int) -> bytes:
        """Round-robin by height and round (all validators have equal turns per power unit)."""
        index = (height + round_) % len(self.validators)
        return self.validators[index].node_key

    def to_value(self) -> list[Value]:
        return [v.to_value() for v in self.validators]

    def hash(self) -> bytes:
        return crypto.tagged_hash(Domain.VALIDATOR_SET, encode(self.to_value()))


class VoteKind(enum.Enum):
    PREVOTE = "prevote"
    PRECOMMIT = "precommit"

    @property
    def domain(self) -> Domain:
        return Domain.PREVOTE if self is VoteKind.PREVOTE else Domain.PRECOMMIT


@dataclass(frozen=True, slots=True, kw_only=True)
class Vote:
    """A validator's prevote or precommit for a block hash, or for nil (`block_hash is None`).

    `timestamp_ms` is the validator's clock when it voted; the precommits of a commit give
    the next block its time (the median, as in Tendermint's BFT time).
    """

    kind: VoteKind
    height: int
    round: int
    block_hash: bytes | None
    timestamp_ms: int
    validator: bytes

    def to_value(self) -> dict[str, Value]:
        return {
            "block_hash": self.block_hash,
            "height": self.height,
            "kind": self.kind.value,
            "round": self.round,
            "timestamp_ms": self.timestamp_ms,
            "validator": self.validator,
        }

    def signed_payload(self) -> bytes:
        return encode(self.to_value())

    @classmethod
    def from_value(cls, value: Value, path: str) -> Vote:
        r = Fields(value, path)
        kind = r.text("kind", length_max=16)
        if kind not in ("prevote", "precommit"):
            raise ValidationError(r.path("kind"), f"unknown vote kind {kind!r}")
        vote = cls(
            block_hash=r.optional_binary("block_hash", size=HASH_SIZE_BYTES),
            height=r.integer("height", minimum=1),
            kind=VoteKind(kind),
            round=r.integer("round", maximum=1_000_000),
            timestamp_ms=r.integer("timestamp_ms"),
            validator=r.binary("validator", size=PUBLIC_KEY_SIZE_BYTES),
        )
        r.finish()
        return vote


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedVote:
    vote: Vote
    signature: bytes

    def verify(self, chain_id: str) -> None:
        crypto.verify(
            self.vote.validator,
            self.vote.kind.domain,
            chain_id,
            self.vote.signed_payload(),
            self.signature,
        )

    @classmethod
    def sign(cls, key: crypto.SigningKey, chain_id: str, vote: Vote) -> SignedVote:
        assert vote.validator == key.public_key
        return cls(vote=vote, signature=key.sign(vote.kind.domain, chain_id, vote.signed_payload()))

    def to_value(self) -> dict[str, Value]:
        return {"signature": self.signature, "vote": self.vote.to_value()}

    @classmethod
    def from_value(cls, value: Value, path: str) -> SignedVote:
        r = Fields(value, path)
        signed = cls(
            signature=r.binary("signature", size=SIGNATURE_SIZE_BYTES),
            vote=r.nested("vote", Vote.from_value),
        )
        r.finish()
        return signed


# --- commits and evidence -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitSignature:
    validator: bytes
    timestamp_ms: int
    signature: bytes

    def to_value(self) -> dict[str, Value]:
        return {
            "signature": self.signature,
            "timestamp_ms": self.timestamp_ms,
            "validator": self.validator,
        }

    @classmethod
    def from_value(cls, value: Value, path: str) -> CommitSignature:
        r = Fields(value, path)
        signature = cls(
            signature=r.binary("signature", size=SIGNATURE_SIZE_BYTES),
            timestamp_ms=r.integer("timestamp_ms"),
            validator=r.binary("validator", size=PUBLIC_KEY_SIZE_BYTES),
        )
        r.finish()
        return signature


@dataclass(frozen=True, slots=True, kw_only=True)
class Commit:
    """The certificate that a block was decided: precommits for its header hash from
    validators holding more than 2/3 of the power, in one round."""

    height: int
    round: int
    block_hash: bytes
    signatures: tuple[CommitSignature, ...]

    def precommit(self, signature: CommitSignature) -> Vote:
        return Vote(
            kind=VoteKind.PRECOMMIT,
            height=self.height,
            round=self.round,
            block_hash=self.block_hash,
            timestamp_ms=signature.timestamp_ms,
            validator=signature.validator,
        )

    def verify(self, chain_id: str, validators: ValidatorSet) -> None:
        """Raise ValidationError/BadSignature unless this is a valid commit by `validators`."""
        seen: set[bytes] = set()
        power = 0
        for index, signature in enumerate(self.signatures):
            path = f"commit.signatures[{index}]"
            if signature.validator in seen:
                raise ValidationError(path, "validator signs twice")
            seen.add(signature.validator)
            validator_power = validators.power_of(signature.validator)
            if validator_power == 0:
                raise ValidationError(path, f"{signature.validator.hex()} is not a validator")
            crypto.verify(
                signature.validator,
                Domain.PRECOMMIT,
                chain_id,
                self.precommit(signature).signed_payload(),
                signature.signature,
            )
            power += validator_power
        if power < validators.quorum_power:
            raise ValidationError(
                "commit.signatures", f"power {power} is below the quorum {validators.quorum_power}"
            )

    def median_time_ms(self, validators: ValidatorSet) -> int:
        """The power-weighted median of the signatures' timestamps (Tendermint's BFT time):
        with more than 2/3 honest power, it lies between two honest validators' clocks."""
        weighted = sorted(
            (s.timestamp_ms, validators.power_of(s.validator)) for s in self.signatures
        )
        total = sum(power for _, power in weighted)
        running = 0
        for timestamp_ms, power in weighted:
            running += power
            if running * 2 >= total:
                return timestamp_ms
        raise AssertionError("commit without signatures")

    def to_value(self) -> dict[str, Value]:
        return {
            "block_hash": self.block_hash,
            "height": self.height,
            "round": self.round,
            "signatures": [s.to_value() for s in self.signatures],
        }

    def hash(self) -> bytes:
        return crypto.sha256(encode(self.to_value()))

    @classmethod
    def from_value(cls, value: Value, path: str = "commit") -> Commit:
        r = Fields(value, path)
        commit = cls(
            block_hash=r.binary("block_hash", size=HASH_SIZE_BYTES),
            height=r.integer("height", minimum=1),
            round=r.integer("round", maximum=1_000_000),
            signatures=r.items(
                "signatures",
                CommitSignature.from_value,
                length_min=1,
                length_max=VALIDATOR_COUNT_MAX,
            ),
        )
        r.finish()
        return commit


@dataclass(frozen=True, slots=True, kw_only=True)
class DuplicateVoteEvidence:
    """Two votes by one validator, same height, round and kind, for different blocks."""

    first: SignedVote
    second: SignedVote

    def validate(self, chain_id: str, validators: ValidatorSet) -> None:
        a, b = self.first.vote, self.second.vote
        if (a.kind, a.height, a.round, a.validator) != (b.kind, b.height, b.round, b.validator):
            raise ValidationError("evidence", "votes are not for the same height, round and kind")
        if a.block_hash == b.block_hash:
            raise ValidationError("evidence", "votes do not conflict")
        if validators.power_of(a.validator) == 0:
            raise ValidationError("evidence", "the offender is not a validator")
        self.first.verify(chain_id)
        self.second.verify(chain_id)

    @property
    def offender(self) -> bytes:
        return self.first.vote.validator

    def to_value(self) -> dict[str, Value]:
        return {"first": self.first.to_value(), "second": self.second.to_value()}

    def hash(self) -> bytes:
        return crypto.tagged_hash(Domain.EVIDENCE, encode(self.to_value()))

    @classmethod
    def from_value(cls, value: Value, path: str) -> DuplicateVoteEvidence:
        r = Fields(value, path)
        evidence = cls(
            first=r.nested("first", SignedVote.from_value),
            second=r.nested("second", SignedVote.from_value),
        )
        r.finish()
        return evidence


# --- headers and blocks ---------------------------------------------------------------------

BLOCK_TRANSACTION_COUNT_MAX = 20_000
BLOCK_EVIDENCE_COUNT_MAX = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """What a commit signs (through its hash) and a light client checks.

    `log_size`/`log_root` are the RFC 6962 log of every transaction ever committed, after
    this block; `state_root` and `results_root` are the state and result codes after
    executing this block; `validators_hash` is the set that signs this block's commit and
    `next_validators_hash` the set for the next block.
    """

    chain_id: str
    height: int
    time_ms: int
    previous_hash: bytes  # the previous header's hash; the genesis hash at height 1
    last_commit_hash: bytes  # hash of the previous block's commit; ZERO_HASH at height 1
    tx_root: bytes  # RFC 6962 root of this block's transactions
    tx_count: int
    log_size: int
    log_root: bytes
    results_root: bytes
    state_root: bytes
    evidence_hash: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    proposer: bytes

    def to_value(self) -> dict[str, Value]:
        return {
            "chain_id": self.chain_id,
            "evidence_hash": self.evidence_hash,
            "height": self.height,
            "last_commit_hash": self.last_commit_hash,
            "log_root": self.log_root,
            "log_size": self.log_size,
            "next_validators_hash": self.next_validators_hash,
            "previous_hash": self.previous_hash,
            "proposer": self.proposer,
            "results_root": self.results_root,
            "state_root": self.state_root,
            "time_ms": self.time_ms,
            "tx_count": self.tx_count,
            "tx_root": self.tx_root,
            "validators_hash": self.validators_hash,
        }

    def hash(self) -> bytes:
        return crypto.tagged_hash(Domain.HEADER, encode(self.to_value()))

    @classmethod
    def from_value(cls, value: Value, path: str = "header") -> Header:
        r = Fields(value, path)

        def digest(name: str) -> bytes:
            return r.binary(name, size=HASH_SIZE_BYTES)

        header = cls(
            chain_id=r.text("chain_id", length_max=crypto.CHAIN_ID_LENGTH_MAX),
            evidence_hash=digest("evidence_hash"),
            height=r.integer("height", minimum=1),
            last_commit_hash=digest("last_commit_hash"),
            log_root=digest("log_root"),
            log_size=r.integer("log_size"),
            next_validators_hash=digest("next_validators_hash"),
            previous_hash=digest("previous_hash"),
            proposer=r.binary("proposer", size=PUBLIC_KEY_SIZE_BYTES),
            results_root=digest("results_root"),
            state_root=digest("state_root"),
            time_ms=r.integer("time_ms"),
            tx_count=r.integer("tx_count", maximum=BLOCK_TRANSACTION_COUNT_MAX),
            tx_root=digest("tx_root"),
            validators_hash=digest("validators_hash"),
        )
        r.finish()
        return header


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """A header, the canonical bytes of its transactions, evidence, and the previous commit."""

    header: Header
    transactions: tuple[bytes, ...]
    evidence: tuple[DuplicateVoteEvidence, ...] = ()
    last_commit: Commit | None = None

    @property
    def height(self) -> int:
        return self.header.height

    def hash(self) -> bytes:
        return self.header.hash()

    def to_value(self) -> dict[str, Value]:
        return {
            "evidence": [e.to_value() for e in self.evidence],
            "header": self.header.to_value(),
            "last_commit": None if self.last_commit is None else self.last_commit.to_value(),
            "transactions": list(self.transactions),
        }

    def encode(self) -> bytes:
        return encode(self.to_value())

    @classmethod
    def from_value(cls, value: Value, path: str = "block") -> Block:
        r = Fields(value, path)
        last_commit_value = r.raw("last_commit")
        block = cls(
            evidence=r.items(
                "evidence", DuplicateVoteEvidence.from_value, length_max=BLOCK_EVIDENCE_COUNT_MAX
            ),
            header=r.nested("header", Header.from_value),
            last_commit=(
                None
                if last_commit_value is None
                else Commit.from_value(last_commit_value, r.path("last_commit"))
            ),
            transactions=r.items(
                "transactions",
                lambda v, p: check_binary(v, p, size_max=TRANSACTION_SIZE_BYTES_MAX),
                length_max=BLOCK_TRANSACTION_COUNT_MAX,
            ),
        )
        r.finish()
        if len(block.transactions) != block.header.tx_count:
            raise ValidationError(f"{path}.header.tx_count", "differs from the transactions")
        return block

    @classmethod
    def decode(cls, data: bytes) -> Block:
        return cls.from_value(decode(data))


def evidence_hash(evidence: tuple[DuplicateVoteEvidence, ...]) -> bytes:
    return crypto.tagged_hash(Domain.EVIDENCE, encode([e.to_value() for e in evidence]))


def results_root(codes: tuple[str, ...] | list[str]) -> bytes:
    """The root of a block's per-transaction result codes ("ok" or an error code): the tagged
    hash (Domain.RESULTS) of the RFC 6962 root whose leaf i is `encode(codes[i])`, in block
    order. One code is proven with `results_proof` and checked with `verify_result`."""
    return crypto.tagged_hash(Domain.RESULTS, merkle.root(_result_leaves(codes)))


def results_proof(codes: tuple[str, ...] | list[str], index: int) -> tuple[bytes, ...]:
    """The RFC 6962 inclusion proof of `codes[index]` under `results_root(codes)`."""
    return tuple(merkle.inclusion_proof(_result_leaves(codes), index))


def verify_result(
    code: str, index: int, count: int, proof: tuple[bytes, ...] | list[bytes], results_root: bytes
) -> None:
    """Check that `code` is the result of transaction `index` of a block of `count`
    transactions whose header has `results_root`. Raises merkle.InvalidArgument for
    malformed input, merkle.InvalidProof otherwise (a `merkle.MerkleError` either way)."""
    mth = merkle.root_from_inclusion_proof(merkle.leaf_hash(encode(code)), index, count, proof)
    computed = crypto.tagged_hash(Domain.RESULTS, mth)
    if computed != results_root:
        raise merkle.InvalidProof(
            f"code {code!r} as result {index} of {count} gives results root {computed.hex()} "
            f"with this proof, expected {results_root.hex()} (the code, index or proof is wrong)"
        )


def _result_leaves(codes: tuple[str, ...] | list[str]) -> list[bytes]:
    return [merkle.leaf_hash(encode(code)) for code in codes]


# --- genesis --------------------------------------------------------------------------------


class Role(enum.Enum):
    """What an organisation may do; the contracts' role policy maps roles to actions."""

    CUSTOMS = "customs"  # a customs authority: verifies documents, records clearance
    BANK = "bank"  # attests and confirms payments
    CARRIER = "carrier"  # issues bills of lading, accepts surrenders
    CHAMBER = "chamber"  # an issuing body of certificates of origin (chamber or authority)
    SELLER = "seller"  # an exporter: ships goods, holds and transfers bills of lading
    BUYER = "buyer"  # an importer: receives and surrenders bills of lading
    GOVERNANCE = "governance"  # its admins vote on membership and validator changes


ORGANISATION_COUNT_MAX = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Organisation:
    id: str  # short stable identifier, e.g. "customs-nl"
    name: str
    country: str  # ISO 3166-1 alpha-2
    roles: frozenset[Role]
    admin_keys: tuple[bytes, ...]

    def to_value(self) -> dict[str, Value]:
        return {
            "admin_keys": list(self.admin_keys),
            "country": self.country,
            "id": self.id,
            "name": self.name,
            "roles": [role for role in sorted(role.value for role in self.roles)],
        }

    @classmethod
    def from_value(cls, value: Value, path: str) -> Organisation:
        r = Fields(value, path)
        org = cls(
            admin_keys=r.items(
                "admin_keys",
                lambda v, p: check_binary(v, p, size=PUBLIC_KEY_SIZE_BYTES),
                length_min=1,
                length_max=16,
            ),
            country=r.text("country", length_min=2, length_max=2),
            id=r.text("id", length_max=64),
            name=r.text("name", length_max=256),
            roles=frozenset(r.items("roles", _role, length_min=1, length_max=len(Role))),
        )
        r.finish()
        if not org.country.isalpha() or not org.country.isupper():
            raise ValidationError(f"{path}.country", "must be an ISO 3166-1 alpha-2 code")
        if not all(c.isalnum() or c in "-_." for c in org.id):
            raise ValidationError(f"{path}.id", "letters, digits, '-', '_' and '.' only")
        return org


def _role(value: Value, path: str) -> Role:
    text = check_text(value, path, length_max=32)
    try:
        return Role(text)
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise ValidationError(path, f"unknown role {text!r} (known: {known})") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """A key that acts for an organisation (a person or a system)."""

    key: bytes
    organisation: str
    name: str

    def to_value(self) -> dict[str, Value]:
        return {"key": self.key, "name": self.name, "organisation": self.organisation}

    @classmethod
    def from_value(cls, value: Value, path: str) -> Member:
        r = Fields(value, path)
        member = cls(
            key=r.binary("key", size=PUBLIC_KEY_SIZE_BYTES),
            name=r.text("name", length_max=256),
            organisation=r.text("organisation", length_max=64),
        )
        r.finish()
        return member


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsensusParams:
    timeout_propose_ms: int = 3000  # > empty_block_interval_ms; room to build and check a block
    timeout_prevote_ms: int = 500
    timeout_precommit_ms: int = 500
    timeout_increase_ms: int = 500  # added per round to each timeout
    block_transaction_count_max: int = 5000
    block_size_bytes_max: int = 4 * 1024 * 1024

    def to_value(self) -> dict[str, Value]:
        return {name: getattr(self, name) for name in sorted(self.__dataclass_fields__)}

    @classmethod
    def from_value(cls, value: Value, path: str) -> ConsensusParams:
        r = Fields(value, path)
        params = cls(
            block_size_bytes_max=r.integer("block_size_bytes_max", minimum=1024, maximum=4 << 20),
            block_transaction_count_max=r.integer(
                "block_transaction_count_max", minimum=1, maximum=BLOCK_TRANSACTION_COUNT_MAX
            ),
            timeout_increase_ms=r.integer("timeout_increase_ms", maximum=60_000),
            timeout_precommit_ms=r.integer("timeout_precommit_ms", minimum=1, maximum=60_000),
            timeout_prevote_ms=r.integer("timeout_prevote_ms", minimum=1, maximum=60_000),
            timeout_propose_ms=r.integer("timeout_propose_ms", minimum=1, maximum=60_000),
        )
        r.finish()
        return params


@dataclass(frozen=True, slots=True, kw_only=True)
class Genesis:
    """The first fact of a network: who takes part, in which roles, with which keys."""

    chain_id: str
    genesis_time_ms: int
    organisations: tuple[Organisation, ...]
    members: tuple[Member, ...]
    validators: ValidatorSet
    consensus: ConsensusParams = field(default_factory=ConsensusParams)
    governance_threshold: int = 1  # distinct governance admins that must sign a change

    FORMAT: ClassVar[str] = "tradeledger-genesis/1"

    def __post_init__(self) -> None:
        crypto.sign_bytes(Domain.GENESIS, self.chain_id, b"")  # validates the chain id
        ids = [org.id for org in self.organisations]
        if len(set(ids)) != len(ids):
            raise ValidationError("organisations", "organisation ids must be unique")
        known = set(ids)
        for index, member in enumerate(self.members):
            if member.organisation not in known:
                raise ValidationError(
                    f"members[{index}].organisation",
                    f"unknown organisation {member.organisation!r}",
                )
        keys = [m.key for m in self.members]
        if len(set(keys)) != len(keys):
            raise ValidationError("members", "a member key is listed twice")
        for index, validator in enumerate(self.validators.validators):
            if validator.organisation not in known:
                raise ValidationError(
                    f"validators[{index}].organisation",
                    f"unknown organisation {validator.organisation!r}",
                )
        governors = sum(
            len(org.admin_keys) for org in self.organisations if Role.GOVERNANCE in org.roles
        )
        if not 1 <= self.governance_threshold <= max(governors, 1):
            raise ValidationError(
                "governance_threshold", f"must be 1..{max(governors, 1)} (the governance admins)"
            )

    def to_value(self) -> dict[str, Value]:
        return {
            "chain_id": self.chain_id,
            "consensus": self.consensus.to_value(),
            "format": self.FORMAT,
            "genesis_time_ms": self.genesis_time_ms,
            "governance_threshold": self.governance_threshold,
            "members": [m.to_value() for m in self.members],
            "organisations": [o.to_value() for o in self.organisations],
            "validators": self.validators.to_value(),
        }

    def hash(self) -> bytes:
        return crypto.tagged_hash(Domain.GENESIS, encode(self.to_value()))

    @classmethod
    def from_value(cls, value: Value, path: str = "genesis") -> Genesis:
        r = Fields(value, path)
        if r.text("format", length_max=64) != cls.FORMAT:
            raise ValidationError(r.path("format"), f"expected {cls.FORMAT!r}")
        genesis = cls(
            chain_id=r.text("chain_id", length_max=crypto.CHAIN_ID_LENGTH_MAX),
            consensus=r.nested("consensus", ConsensusParams.from_value),
            genesis_time_ms=r.integer("genesis_time_ms"),
            governance_threshold=r.integer("governance_threshold", minimum=1, maximum=64),
            members=r.items("members", Member.from_value, length_max=100_000),
            organisations=r.items(
                "organisations",
                Organisation.from_value,
                length_min=1,
                length_max=ORGANISATION_COUNT_MAX,
            ),
            validators=ValidatorSet.of(
                r.items(
                    "validators", Validator.from_value, length_min=1, length_max=VALIDATOR_COUNT_MAX
                )
            ),
        )
        r.finish()
        return genesis

    def to_json(self) -> str:
        """Human-readable JSON: bytes as lowercase hex, keys sorted."""
        return json.dumps(value_to_json(self.to_value()), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Genesis:
        """Parse `to_json` output; byte fields are the hex strings under the known key names."""
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError("genesis", f"not JSON: {exc}") from None
        return cls.from_value(_from_json(loaded, ""))


_HEX_FIELDS = frozenset({"admin_keys", "key", "node_key"})


def _from_json(value: Any, key: str) -> Value:
    if isinstance(value, dict):
        return {k: _from_json(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v, key) for v in value]
    if key in _HEX_FIELDS and isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise ValidationError(key, f"not hex: {value[:20]!r}") from None
    if isinstance(value, float):
        raise ValidationError(key, "floats are not allowed")
    if value is None or isinstance(value, bool | int | str):
        return value
    raise ValidationError(key, f"unexpected JSON value {type(value).__name__}")


def _fields_of(instance: Any) -> dict[str, Any]:
    fields = instance.__dataclass_fields__
    return {name: getattr(instance, name) for name in fields if fields[name].init}


__all__ = [
    "INT_MAX",
    "NIL_ROUND",
    "ZERO_HASH",
    "Block",
    "Commit",
    "CommitSignature",
    "ConsensusParams",
    "DuplicateVoteEvidence",
    "Genesis",
    "Header",
    "Member",
    "Organisation",
    "Role",
    "SignedVote",
    "Transaction",
    "Validator",
    "ValidatorSet",
    "Vote",
    "VoteKind",
]
