"""What the portal reads beyond `node.reads`: the records linked to a document, and the
documents in creation order. Who may see each one is still decided by `Reads.may_see`
(`contracts.visibility`); this module only finds candidates.

A document links to others through ``links`` (a certificate's bill of lading, a payment's bill
and certificate, an amendment's predecessor and successor, a correction, a revocation) and,
for a customs decision, the ``documents`` it lists. The state keeps the outgoing links on each
record; `LinkIndex` keeps the incoming ones, built from every block's state changes in
height order (as `contracts.visibility.ReferenceIndex` is), so it equals a scan of the whole
state whenever it was built. Links are only ever added, so the index only grows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from contracts.records import (
    FAMILY_BILL_OF_LADING,
    FAMILY_CUSTOMS,
    FAMILY_PAYMENT,
    BillStatus,
    Document,
    RecordStatus,
    load_document,
)
from contracts.visibility import Reader
from ledger.codec import Value
from ledger.store import LedgerStore
from node.reads import Reads

_DOCUMENT_PREFIX = "doc/"
RELATED_RECORDS_MAX = 500  # linked records shown for one document


def outgoing(record: Document) -> tuple[str, ...]:
    """The documents `record` names (its links and, for a customs decision, its list)."""
    named = set(record.links.values())
    if record.family == FAMILY_CUSTOMS:
        listed = record.data.get("documents")
        if isinstance(listed, list):
            named.update(item for item in listed if isinstance(item, str))
    named.discard(record.id)
    return tuple(sorted(named))


class LinkIndex:
    """Document id -> the records that name it; and every document id in creation order."""

    __slots__ = ("_created", "_known", "_naming", "height")

    def __init__(self) -> None:
        self.height = 0
        self._naming: dict[str, set[str]] = {}
        self._created: list[str] = []
        self._known: set[str] = set()

    def apply(self, height: int, writes: Iterable[tuple[str, Value | None]]) -> None:
        """Take in the state changes of the block at `height` (the next one)."""
        if height != self.height + 1:
            raise ValueError(f"expected the writes of height {self.height + 1}, got {height}")
        for key, value in writes:
            if value is None or not key.startswith(_DOCUMENT_PREFIX) or key.count("/") != 1:
                continue  # not a document record (history events live under doc/<id>/event/)
            record = Document.from_value(value, key)
            if record.id not in self._known:
                self._known.add(record.id)
                self._created.append(record.id)
            for named in outgoing(record):
                self._naming.setdefault(named, set()).add(record.id)
        self.height = height

    def naming(self, document_id: str) -> tuple[str, ...]:
        return tuple(sorted(self._naming.get(document_id, ())))

    def newest_first(self) -> Iterable[str]:
        return reversed(self._created)


@dataclass(frozen=True, slots=True, kw_only=True)
class Related:
    """The records linked to a document that the reader may see, by family."""

    bills: tuple[Document, ...]
    certificates: tuple[Document, ...]
    payments: tuple[Document, ...]
    customs: tuple[Document, ...]

    @property
    def empty(self) -> bool:
        return not (self.bills or self.certificates or self.payments or self.customs)


class PortalReads:
    """The portal's own reads over the node's store, authorised by `Reads.may_see`."""

    def __init__(self, reads: Reads) -> None:
        self.reads = reads
        self.store: LedgerStore = reads.store
        self.index = LinkIndex()

    def catch_up(self) -> None:
        """Feed the index the blocks persisted since it last looked."""
        for height in range(self.index.height + 1, self.store.height + 1):
            writes = self.store.block_writes(height)
            assert writes is not None, f"state changes of block {height} are missing"
            self.index.apply(height, writes)

    def related(self, reader: Reader, document: Document) -> Related:
        """The records `document` names or is named by, one link deep, each one that the
        reader may see; revocation records are left out (the revoked record says so)."""
        self.catch_up()
        candidates = sorted({*outgoing(document), *self.index.naming(document.id)})
        found: dict[str, list[Document]] = {"bl": [], "coo": [], "pay": [], "customs": []}
        for record_id in candidates[:RELATED_RECORDS_MAX]:
            record = load_document(self.store, record_id)
            if record is None or record.record_type == "revocation":
                continue
            if record.family in found and self.reads.may_see(reader, record):
                found[record.family].append(record)
        by_time = {
            family: tuple(sorted(records, key=lambda r: (r.created_height, r.id)))
            for family, records in found.items()
        }
        return Related(
            bills=by_time["bl"],
            certificates=by_time["coo"],
            payments=by_time["pay"],
            customs=by_time["customs"],
        )

    def overview(self, reader: Reader, count_max: int) -> Overview:
        """The newest documents the reader may see (at most `count_max`; revocation records
        left out) and, among all it may see, what awaits its organisation."""
        self.catch_up()
        documents: list[Document] = []
        pending: list[Pending] = []
        more = False
        for document_id in self.index.newest_first():
            record = load_document(self.store, document_id)
            if record is None or record.record_type == "revocation":
                continue
            if not self.reads.may_see(reader, record):
                continue
            action = pending_action(reader.organisation, record)
            if action is not None:
                pending.append(Pending(action=action, document=record))
            if len(documents) < count_max:
                documents.append(record)
            else:
                more = True
        return Overview(documents=tuple(documents), more=more, pending=tuple(pending))


OFFER_TO_ACCEPT = "offer"
SURRENDER_TO_DECIDE = "surrender"
PAYMENT_TO_CONFIRM = "confirm"


def pending_action(organisation: str, record: Document) -> str | None:
    """What `organisation` is asked to do about `record`, if anything: accept (or let lapse)
    a bill offered to it, decide a surrender of a bill it issued, confirm a payment it is the
    beneficiary bank of."""
    if record.family == FAMILY_BILL_OF_LADING and record.title is not None:
        offer = record.title.offer
        if (
            record.status == BillStatus.TRANSFER_PENDING
            and offer is not None
            and offer.recipient == organisation
        ):
            return OFFER_TO_ACCEPT
        if record.status in _PENDING_SURRENDERS and record.issuer == organisation:
            return SURRENDER_TO_DECIDE
    if (
        record.family == FAMILY_PAYMENT
        and record.status == RecordStatus.ATTESTED
        and record.data.get("beneficiary_bank") == organisation
    ):
        return PAYMENT_TO_CONFIRM
    return None


_PENDING_SURRENDERS = (
    BillStatus.PENDING_SURRENDER_FOR_DELIVERY,
    BillStatus.PENDING_SURRENDER_FOR_AMENDMENT,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pending:
    action: str  # OFFER_TO_ACCEPT, SURRENDER_TO_DECIDE, PAYMENT_TO_CONFIRM
    document: Document


@dataclass(frozen=True, slots=True, kw_only=True)
class Overview:
    documents: tuple[Document, ...]
    more: bool
    pending: tuple[Pending, ...]


__all__ = [
    "OFFER_TO_ACCEPT",
    "PAYMENT_TO_CONFIRM",
    "RELATED_RECORDS_MAX",
    "SURRENDER_TO_DECIDE",
    "LinkIndex",
    "Overview",
    "Pending",
    "PortalReads",
    "Related",
    "outgoing",
    "pending_action",
]
