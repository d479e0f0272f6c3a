"""What goes into a contract and what comes out: block context, outcomes, limits.

A contract never reads a clock: the block carries its height and time (`BlockContext`). A
contract never raises on bad input: it returns a `TxOutcome` with a `Code`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.codec import Value
from ledger.codes import Code
from ledger.types import ValidatorSet


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Named bounds the contracts enforce. All nodes must use the same values (consensus)."""

    # A transaction may name an expiry at most this many blocks ahead: a signed request
    # cannot stay valid for ever, and the replay index only needs to answer for that window.
    transaction_expiry_blocks_max: int = 100_000
    # A bill of lading transfer offer lapses after at most this many blocks (30 days at 1/s).
    offer_expiry_blocks_max: int = 2_592_000
    # A governance proposal stays open at most this many blocks (7 days at 1/s).
    proposal_expiry_blocks_max: int = 604_800
    # The entries of one bill's endorsement chain (issue, endorsements, transfers, surrender).
    endorsement_chain_length_max: int = 1_000
    # History events of one document, verifications of one certificate.
    document_events_max: int = 10_000
    certificate_verifications_max: int = 1_000
    # Goods items of one bill or certificate, documents referenced by one customs decision.
    goods_items_max: int = 1_000
    referenced_documents_max: int = 64
    # Transfer offers that may lapse at one height (bounded by blocks x block size anyway).
    offers_lapsing_per_height_max: int = 100_000


LIMITS = Limits()


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockContext:
    """The block a transaction is executed in. `time_ms` is the block's BFT time."""

    chain_id: str
    height: int
    time_ms: int
    proposer: bytes

    def __post_init__(self) -> None:
        if self.height < 1:
            raise ValueError(f"BlockContext.height must be >= 1, got {self.height}")
        if self.time_ms < 0:
            raise ValueError(f"BlockContext.time_ms must be >= 0, got {self.time_ms}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something a subscriber may want to hear about: a document changed, a member changed.

    `kind` is the transaction kind (or ``"bl.lapse"`` for an offer lapsing at a block start),
    `subject` the document id, organisation id or key (hex) it concerns, `parties` the
    organisations involved (for authorising who may see the event).
    """

    kind: str
    subject: str
    parties: tuple[str, ...] = ()

    def to_value(self) -> dict[str, Value]:
        return {"kind": self.kind, "parties": list(self.parties), "subject": self.subject}


@dataclass(frozen=True, slots=True, kw_only=True)
class TxOutcome:
    """The result of one transaction: a code, and the state writes if it was accepted.

    A rejected outcome carries no writes from the contract (the engine adds the replay
    record); `detail` says in words what was wrong (for the API and CLI, not hashed).
    """

    code: Code
    writes: dict[str, Value | None] = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    detail: str = ""

    @classmethod
    def accepted(cls, writes: dict[str, Value | None], events: tuple[Event, ...] = ()) -> TxOutcome:
        return cls(code=Code.OK, writes=writes, events=events)

    @classmethod
    def rejected(cls, code: Code, detail: str = "") -> TxOutcome:
        assert code is not Code.OK
        return cls(code=code, detail=detail or code.description)

    @property
    def ok(self) -> bool:
        return self.code is Code.OK


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockResult:
    """The effect of a block: one code per transaction in block order, and all writes.

    `writes` maps state keys to their new value (None deletes); feed it to the store and to
    `ledger.state.next_state_root`. `validator_set` is the validator set after this block if
    a governance decision in it changed the set, else None.
    """

    codes: tuple[Code, ...]
    writes: dict[str, Value | None]
    events: tuple[Event, ...] = ()
    details: tuple[str, ...] = ()
    validator_set: ValidatorSet | None = None

    def code_values(self) -> tuple[str, ...]:
        """The codes as plain text, as `ledger.types.results_root` and the codec want them."""
        return tuple(code.value for code in self.codes)
