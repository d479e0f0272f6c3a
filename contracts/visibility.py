"""Who may read what: the API's read rules as pure functions over records (no I/O, no clock).

An organisation (a `Reader`: its id and roles) sees a document when

1. it is one of the document's ``parties`` (the contracts keep them: issuer, holder,
   endorsees and consignee of a bill, the exporter and importer organisations of a
   certificate, the attesting and beneficiary banks of a payment, and every customs authority
   that recorded a decision or verification on it), or
2. its **role** grants it through a record that references the document:

   - a **bank** sees the bills and certificates linked (``links.bill_of_lading``,
     ``links.certificate_of_origin``) by a payment attestation the bank is party to;
   - a **customs** authority sees the documents listed by a customs decision it recorded
     (the contract also makes it a party of them; the rule holds without that).

What belongs to a document (its history, evidence bundle, the inclusion proofs of its
transactions, its events) is visible exactly when the document is. An organisation's
member list is visible to that organisation and to governance organisations.

Finding the records that reference a document needs a reverse index the state does not
keep; `ReferenceIndex` is that index, built from the state changes of each block in height
order (so it equals a scan of the whole state, on every node, whenever it was built).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from contracts.records import FAMILY_CUSTOMS, FAMILY_PAYMENT, Document
from ledger.codec import Value
from ledger.types import Role

GRANTING_PAYMENT_LINKS = ("bill_of_lading", "certificate_of_origin")
_DOCUMENT_PREFIX = "doc/"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reader:
    """An authenticated caller: the organisation its key belongs to, and that one's roles."""

    organisation: str
    roles: frozenset[Role]
    key: bytes = b""


def referenced_documents(record: Document) -> tuple[str, ...]:
    """The documents whose sight `record` may grant by role (sorted, without repeats)."""
    if record.family == FAMILY_PAYMENT:
        return tuple(
            sorted({record.links[name] for name in GRANTING_PAYMENT_LINKS if name in record.links})
        )
    if record.family == FAMILY_CUSTOMS:
        listed = record.data.get("documents")
        if not isinstance(listed, list):
            return ()
        return tuple(sorted({item for item in listed if isinstance(item, str)}))
    return ()


def grants(reader: Reader, record: Document, document_id: str) -> bool:
    """True if `record` lets `reader` see the document `document_id` by the reader's role."""
    if document_id not in referenced_documents(record):
        return False
    if record.family == FAMILY_PAYMENT:
        return Role.BANK in reader.roles and reader.organisation in record.parties
    if record.family == FAMILY_CUSTOMS:
        return Role.CUSTOMS in reader.roles and reader.organisation == record.issuer
    return False


def may_see_document(reader: Reader, document: Document, referencing: Iterable[Document]) -> bool:
    """May `reader` see `document`, given the records that reference it (`ReferenceIndex`)?"""
    if reader.organisation in document.parties:
        return True
    return any(grants(reader, record, document.id) for record in referencing)


def may_see_event(
    reader: Reader,
    parties: Iterable[str],
    document: Document | None,
    referencing: Iterable[Document],
) -> bool:
    """May `reader` hear of a committed event with these `parties` about `document` (None
    when the event's subject is not a document: a key, an organisation, a proposal)?"""
    if reader.organisation in parties:
        return True
    return document is not None and may_see_document(reader, document, referencing)


def may_see_members(reader: Reader, organisation_id: str) -> bool:
    """An organisation's member keys: its own, or any organisation's for governance."""
    return reader.organisation == organisation_id or Role.GOVERNANCE in reader.roles


class ReferenceIndex:
    """Document id -> the ids of the records that reference it (`referenced_documents`).

    Feed it every block's state changes in height order with `apply`. Records are never
    deleted and their references never change after they are written, so the index only
    grows, and what it holds after height h depends only on the chain up to h.
    """

    __slots__ = ("_referencing", "height")

    def __init__(self) -> None:
        self.height = 0
        self._referencing: dict[str, set[str]] = {}

    def apply(self, height: int, writes: Iterable[tuple[str, Value | None]]) -> None:
        """Take in the state changes of the block at `height` (the next one)."""
        if height != self.height + 1:
            raise ValueError(f"expected the writes of height {self.height + 1}, got {height}")
        for key, value in writes:
            if value is None or not key.startswith(_DOCUMENT_PREFIX) or key.count("/") != 1:
                continue  # not a document record (history events live under doc/<id>/event/)
            record = Document.from_value(value, key)
            for document_id in referenced_documents(record):
                self._referencing.setdefault(document_id, set()).add(record.id)
        self.height = height

    def referencing(self, document_id: str) -> tuple[str, ...]:
        """The ids of the records referencing `document_id`, sorted."""
        return tuple(sorted(self._referencing.get(document_id, ())))


__all__ = [
    "GRANTING_PAYMENT_LINKS",
    "Reader",
    "ReferenceIndex",
    "grants",
    "may_see_document",
    "may_see_event",
    "may_see_members",
    "referenced_documents",
]
