"""The state the contracts keep: key layout and the records stored under each key.

State keys (text; ``<hex>`` is lowercase hex, ``<doc>`` a document id):

    org/<organisation id>             Organisation record (roles, admin keys, suspended)
    key/<public key hex>              Key record: which organisation, admin or member, revoked
    validators                        the current validator set (list, canonical order)
    governance                        the governance policy {"threshold": n}
    proposal/<tx id hex>              a governance proposal and its approvals
    tx/<tx id hex>                    replay record of every committed transaction (and its code)
    nonce/<sender hex>/<nonce>        the transaction id that used this nonce
    doc/<doc>                         a document's current record
    doc/<doc>/event/<n, 8 digits>     the document's history, one event per change, n = 0, 1, ...
    ref/<family>/<issuer>/<reference> the current document with this issuer's reference
    file/<sha-256 hex>                the document whose file has this SHA-256
    uetr/<uetr>                       the current payment attestation for this SWIFT UETR
    lapse/<height, 12 digits>         transfer offers whose last valid height is this height
    party/<organisation id>           how many documents the organisation is a party of (n)
    party/<organisation id>/<i, 12 digits>
                                      the i-th document it became a party of, i = 0 .. n-1
    pending/<organisation id>/<doc>   what the document waits for from the organisation:
                                      "offer", "surrender" or "confirm" (`PendingAction`)

A document id is the hex id of the transaction that created the record: unique, stable and
known to the sender before it is committed.

Every document record is stored through `Changes.put_document` (`Changes.record` adds the
history event), which keeps the ``party/`` and ``pending/`` indexes: so an organisation's
documents and what waits for it are a bounded number of key reads, never a scan of the chain.
A record that names another document (a certificate its bill, a payment its bill and
certificate, a customs decision its documents, an amendment or correction its predecessor)
also appends a history event to that document whose ``detail`` holds the naming record's id,
so a document's history lists every record that names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from contracts.context import LIMITS
from ledger.codec import Value
from ledger.fields import Fields, check_text
from ledger.state import Overlay, StateView

# --- keys -------------------------------------------------------------------------------------

VALIDATORS_KEY = "validators"
GOVERNANCE_KEY = "governance"


def organisation_key(organisation_id: str) -> str:
    return f"org/{organisation_id}"


def key_key(public_key: bytes) -> str:
    return f"key/{public_key.hex()}"


def proposal_key(proposal_id: str) -> str:
    return f"proposal/{proposal_id}"


def transaction_key(tx_id: bytes) -> str:
    return f"tx/{tx_id.hex()}"


NONCE_PREFIX = "nonce/"


def nonce_key(sender: bytes, nonce: int) -> str:
    return f"{NONCE_PREFIX}{sender.hex()}/{nonce}"


def document_key(document_id: str) -> str:
    return f"doc/{document_id}"


def event_key(document_id: str, index: int) -> str:
    return f"doc/{document_id}/event/{index:08d}"


def reference_key(family: str, issuer: str, reference: str) -> str:
    return f"ref/{family}/{issuer}/{reference}"


def file_key(sha256: bytes) -> str:
    return f"file/{sha256.hex()}"


def uetr_key(uetr: str) -> str:
    return f"uetr/{uetr}"


def lapse_key(height: int) -> str:
    return f"lapse/{height:012d}"


def party_count_key(organisation_id: str) -> str:
    return f"party/{organisation_id}"


def party_key(organisation_id: str, index: int) -> str:
    return f"party/{organisation_id}/{index:012d}"


def pending_prefix(organisation_id: str) -> str:
    return f"pending/{organisation_id}/"


def pending_key(organisation_id: str, document_id: str) -> str:
    return f"{pending_prefix(organisation_id)}{document_id}"


# --- families and statuses ----------------------------------------------------------------------

FAMILY_BILL_OF_LADING = "bl"
FAMILY_CERTIFICATE_OF_ORIGIN = "coo"
FAMILY_PAYMENT = "pay"
FAMILY_CUSTOMS = "customs"
FAMILIES = (
    FAMILY_BILL_OF_LADING,
    FAMILY_CERTIFICATE_OF_ORIGIN,
    FAMILY_PAYMENT,
    FAMILY_CUSTOMS,
)


class BillStatus:
    """A bill of lading's status (names follow DCSA's transportDocumentStatus, lower case)."""

    ISSUED = "issued"  # active, no pending offer or surrender
    TRANSFER_PENDING = "transfer_pending"  # the holder offered it; the recipient may accept
    PENDING_SURRENDER_FOR_DELIVERY = "pending_surrender_for_delivery"
    PENDING_SURRENDER_FOR_AMENDMENT = "pending_surrender_for_amendment"
    SURRENDERED_FOR_DELIVERY = "surrendered_for_delivery"  # final: the goods are released
    SURRENDERED_FOR_AMENDMENT = "surrendered_for_amendment"  # the carrier will reissue it
    AMENDED = "amended"  # final: replaced by the amended record (links.amended_by)
    VOIDED = "voided"  # final: voided by the carrier before any transfer

    ALL = (
        ISSUED,
        TRANSFER_PENDING,
        PENDING_SURRENDER_FOR_DELIVERY,
        PENDING_SURRENDER_FOR_AMENDMENT,
        SURRENDERED_FOR_DELIVERY,
        SURRENDERED_FOR_AMENDMENT,
        AMENDED,
        VOIDED,
    )
    FINAL = (SURRENDERED_FOR_DELIVERY, AMENDED, VOIDED)
    PENDING_SURRENDERS = (PENDING_SURRENDER_FOR_DELIVERY, PENDING_SURRENDER_FOR_AMENDMENT)


class RecordStatus:
    """Statuses of certificates, payment attestations and customs decisions."""

    ISSUED = "issued"  # a certificate in force
    REVOKED = "revoked"  # a certificate revoked by its issuer; an attestation revoked
    ATTESTED = "attested"  # a payment attestation awaiting the beneficiary bank
    CONFIRMED = "confirmed"  # the beneficiary bank confirmed receipt
    CORRECTED = "corrected"  # replaced by a correction (links.corrected_by)
    RECORDED = "recorded"  # a customs decision, or a revocation record (final as written)


class PendingAction:
    """What a document waits for from one organisation (the values under ``pending/``)."""

    OFFER_TO_ACCEPT = "offer"  # a bill offered to it: accept it (or let the offer lapse)
    SURRENDER_TO_DECIDE = "surrender"  # a surrender of a bill it issued: accept or reject it
    PAYMENT_TO_CONFIRM = "confirm"  # an attestation naming it the beneficiary bank: confirm


def pending_actions(record: Value) -> dict[str, str]:
    """Organisation -> what the stored document `record` (as `Document.to_value` gives it;
    None: no record) waits for from it. A pure function of the record, so the index under
    ``pending/`` follows every change of status, holder, offer or confirmation."""
    if not isinstance(record, dict):
        return {}
    family, status, issuer = record.get("family"), record.get("status"), record.get("issuer")
    if family == FAMILY_BILL_OF_LADING and status == BillStatus.TRANSFER_PENDING:
        title = record.get("title")
        offer = title.get("offer") if isinstance(title, dict) else None
        assert isinstance(offer, dict), (
            f"bill {record.get('id')!r} is transfer_pending with no offer"
        )
        recipient = offer.get("recipient")
        assert isinstance(recipient, str)
        return {recipient: PendingAction.OFFER_TO_ACCEPT}
    if family == FAMILY_BILL_OF_LADING and status in BillStatus.PENDING_SURRENDERS:
        assert isinstance(issuer, str)
        return {issuer: PendingAction.SURRENDER_TO_DECIDE}
    if family == FAMILY_PAYMENT and status == RecordStatus.ATTESTED:
        data = record.get("data")
        bank = data.get("beneficiary_bank") if isinstance(data, dict) else None
        assert isinstance(bank, str), f"attestation {record.get('id')!r} has no beneficiary bank"
        return {bank: PendingAction.PAYMENT_TO_CONFIRM}
    return {}


# --- bill of lading title ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """A pending transfer of possession, valid up to and including `expiry_height`."""

    recipient: str
    expiry_height: int
    offered_height: int
    offer_id: str  # the id of the offering transaction (matches the lapse index entry)

    def to_value(self) -> dict[str, Value]:
        return {
            "expiry_height": self.expiry_height,
            "offer_id": self.offer_id,
            "offered_height": self.offered_height,
            "recipient": self.recipient,
        }

    @classmethod
    def from_value(cls, value: Value, path: str) -> Offer:
        r = Fields(value, path)
        offer = cls(
            expiry_height=r.integer("expiry_height"),
            offer_id=r.text("offer_id", length_max=64),
            offered_height=r.integer("offered_height"),
            recipient=r.text("recipient", length_max=64),
        )
        r.finish()
        return offer


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainEntry:
    """One entry of the endorsement chain; `action` is a DCSA PINT action code."""

    action: str  # ISSUE, TRANSFER, ENDORSE, ENDORSE_TO_ORDER, BLANK_ENDORSE, SURRENDER_FOR_*, ...
    actor: str
    recipient: str | None
    height: int
    time_ms: int
    tx: str
    reason_code: str | None = None

    def to_value(self) -> dict[str, Value]:
        return {
            "action": self.action,
            "actor": self.actor,
            "height": self.height,
            "reason_code": self.reason_code,
            "recipient": self.recipient,
            "time_ms": self.time_ms,
            "tx": self.tx,
        }

    @classmethod
    def from_value(cls, value: Value, path: str) -> ChainEntry:
        r = Fields(value, path)
        entry = cls(
            action=r.text("action", length_max=32),
            actor=r.text("actor", length_max=64),
            height=r.integer("height"),
            reason_code=r.optional_text("reason_code", length_max=8),
            recipient=r.optional_text("recipient", length_max=64),
            time_ms=r.integer("time_ms"),
            tx=r.text("tx", length_max=64),
        )
        r.finish()
        return entry


@dataclass(frozen=True, slots=True, kw_only=True)
class Title:
    """Who controls a bill of lading (MLETR "control"): exactly one holder at any time.

    `endorsee` is the party to whose order a to-order bill stands (None: blank endorsed,
    i.e. the holder is the bearer); `endorsable` is False after a plain ENDORSE, whose
    endorsee may not endorse further. `consignee` is the ledger organisation named as
    consignee of a straight bill: the only party it may be transferred to.
    """

    holder: str
    to_order: bool
    endorsee: str | None
    endorsable: bool
    consignee: str | None
    offer: Offer | None = None
    surrendered_by: str | None = None  # who requested the pending or accepted surrender
    surrender_reason_code: str | None = None
    transferred: bool = False  # a transfer of possession was ever accepted
    chain: tuple[ChainEntry, ...] = ()

    def to_value(self) -> dict[str, Value]:
        return {
            "chain": [entry.to_value() for entry in self.chain],
            "consignee": self.consignee,
            "endorsable": self.endorsable,
            "endorsee": self.endorsee,
            "holder": self.holder,
            "offer": None if self.offer is None else self.offer.to_value(),
            "surrender_reason_code": self.surrender_reason_code,
            "surrendered_by": self.surrendered_by,
            "to_order": self.to_order,
            "transferred": self.transferred,
        }

    @classmethod
    def from_value(cls, value: Value, path: str) -> Title:
        r = Fields(value, path)
        offer_value = r.raw("offer")
        title = cls(
            chain=r.items("chain", ChainEntry.from_value, length_max=1_000_000),
            consignee=r.optional_text("consignee", length_max=64),
            endorsable=r.boolean("endorsable"),
            endorsee=r.optional_text("endorsee", length_max=64),
            holder=r.text("holder", length_max=64),
            offer=None if offer_value is None else Offer.from_value(offer_value, r.path("offer")),
            surrender_reason_code=r.optional_text("surrender_reason_code", length_max=8),
            surrendered_by=r.optional_text("surrendered_by", length_max=64),
            to_order=r.boolean("to_order"),
            transferred=r.boolean("transferred"),
        )
        r.finish()
        return title


# --- documents ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """The current record of a document of any family.

    `data` is the content as issued (validated, never changed after issue); `status`,
    `links`, `title` and `notes` change as the document's life goes on, and every change is
    also written as a history event. `parties` are the organisations party to it (they may
    read it; used by the API's read authorisation).
    """

    id: str
    family: str
    record_type: str  # bill, certificate, attestation, correction, revocation, decision
    issuer: str
    reference: str
    status: str
    data: dict[str, Value]
    document_sha256: bytes | None
    created_height: int
    created_time_ms: int
    updated_height: int
    event_count: int = 0
    links: dict[str, str] = field(default_factory=dict)
    parties: tuple[str, ...] = ()
    title: Title | None = None
    notes: tuple[dict[str, Value], ...] = ()

    def to_value(self) -> dict[str, Value]:
        return {
            "created_height": self.created_height,
            "created_time_ms": self.created_time_ms,
            "data": self.data,
            "document_sha256": self.document_sha256,
            "event_count": self.event_count,
            "family": self.family,
            "id": self.id,
            "issuer": self.issuer,
            "links": dict(self.links),
            "notes": list(self.notes),
            "parties": list(sorted(set(self.parties))),
            "record_type": self.record_type,
            "reference": self.reference,
            "status": self.status,
            "title": None if self.title is None else self.title.to_value(),
            "updated_height": self.updated_height,
        }

    @classmethod
    def from_value(cls, value: Value, path: str = "document") -> Document:
        r = Fields(value, path)
        data = r.raw("data")
        links = r.raw("links")
        notes = r.raw("notes")
        title_value = r.raw("title")
        assert isinstance(data, dict)
        assert isinstance(links, dict)
        assert isinstance(notes, list)
        document = cls(
            created_height=r.integer("created_height"),
            created_time_ms=r.integer("created_time_ms"),
            data=data,
            document_sha256=r.optional_binary("document_sha256", size=32),
            event_count=r.integer("event_count"),
            family=r.text("family", length_max=16),
            id=r.text("id", length_max=64),
            issuer=r.text("issuer", length_max=64),
            links={k: check_text(v, f"{path}.links.{k}", length_max=64) for k, v in links.items()},
            notes=tuple(_as_map(note) for note in notes),
            parties=r.items("parties", _text64, length_max=1_000),
            record_type=r.text("record_type", length_max=32),
            reference=r.text("reference", length_max=256),
            status=r.text("status", length_max=64),
            title=None if title_value is None else Title.from_value(title_value, r.path("title")),
            updated_height=r.integer("updated_height"),
        )
        r.finish()
        return document


def _text64(value: Value, path: str) -> str:
    return check_text(value, path, length_max=64)


def _as_map(value: Value) -> dict[str, Value]:
    assert isinstance(value, dict)
    return value


def load_document(view: StateView, document_id: str) -> Document | None:
    value = view.get(document_key(document_id))
    return None if value is None else Document.from_value(value)


# --- a transaction's pending changes ------------------------------------------------------------


class Changes(Overlay):
    """The writes and history events one transaction produces (a local builder, never shared):
    an `Overlay` of the block so far, so a handler reads its own earlier writes."""

    def put(self, key: str, value: Value | None) -> None:
        self.writes[key] = value

    def document(self, document_id: str) -> Document | None:
        value = self.get(document_key(document_id))
        return None if value is None else Document.from_value(value)

    def put_document(self, document: Document) -> None:
        """Store `document`'s record without a history event (`record` adds one; only an
        offer lapsing on a full history is stored without). Keeps the indexes: each new
        party gains ``party/<org>/<n>``, and ``pending/<org>/<doc>`` follows what the record
        waits for."""
        key = document_key(document.id)
        previous = self.get(key)
        value = document.to_value()
        self._index_parties(document.id, previous, value)
        self._index_pending(document.id, previous, value)
        self.put(key, value)

    def _index_parties(self, document_id: str, previous: Value | None, value: Value) -> None:
        before = previous.get("parties") if isinstance(previous, dict) else None
        after = value.get("parties") if isinstance(value, dict) else None
        known = set(before) if isinstance(before, list) else set()
        assert isinstance(after, list)
        assert known <= set(after), f"document {document_id} would lose parties"
        for organisation in after:  # sorted by Document.to_value: the same order on every node
            if organisation in known:
                continue
            assert isinstance(organisation, str)
            count = self.get(party_count_key(organisation))
            index = count if isinstance(count, int) else 0
            self.put(party_key(organisation, index), document_id)
            self.put(party_count_key(organisation), index + 1)

    def _index_pending(self, document_id: str, previous: Value | None, value: Value) -> None:
        before, after = pending_actions(previous), pending_actions(value)
        for organisation in sorted(before):
            if organisation not in after:
                self.put(pending_key(organisation, document_id), None)
        for organisation, action in sorted(after.items()):
            if before.get(organisation) != action:
                self.put(pending_key(organisation, document_id), action)

    def record(
        self,
        document: Document,
        *,
        action: str,
        height: int,
        time_ms: int,
        tx: str | None,
        actor: str | None,
        key: bytes | None,
        detail: dict[str, Value] | None = None,
    ) -> Document:
        """Store `document` with one more history event; returns the stored record.

        Raises HistoryFull at `Limits.document_events_max` events (the engine turns it into
        the transaction's `document_history_full` code)."""
        if document.event_count >= LIMITS.document_events_max:
            raise HistoryFull(f"document {document.id} has {document.event_count} events")
        event: dict[str, Value] = {
            "action": action,
            "actor": actor,
            "detail": detail or {},
            "height": height,
            "index": document.event_count,
            "key": key,
            "status": document.status,
            "time_ms": time_ms,
            "tx": tx,
        }
        self.put(event_key(document.id, document.event_count), event)
        stored = _replace_counts(document, document.event_count + 1, height)
        self.put_document(stored)
        return stored


class HistoryFull(Exception):
    """A document's history or endorsement chain is at its limit: the transaction that would
    extend it is refused (`Code.DOCUMENT_HISTORY_FULL`), so that no member can grow one
    document's records without bound."""


def _replace_counts(document: Document, event_count: int, height: int) -> Document:
    return replace(document, event_count=event_count, updated_height=height)
