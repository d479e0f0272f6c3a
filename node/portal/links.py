"""What the portal reads beyond `node.reads`: the records linked to a document, and an
organisation's documents and what waits for it. Who may see each one is still decided by
`Reads.may_see` (`contracts.visibility`); this module only finds candidates.

Each read is a bounded number of key reads or a bounded prefix scan over state the contracts
keep (docs/contracts.md, "State keys"), so it costs the same on the first page after a start
as later, whatever the length of the chain:

- the records linked to a document: those it names (``links``, a customs decision's list) and
  those its history names (every record that names a document appends an event to it whose
  ``detail`` holds the naming record's id; `contracts.queries.linked_ids`);
- an organisation's documents: ``party/<org>/<n>``, newest first (`queries.party_documents`);
- what waits for it: ``pending/<org>/<doc>`` (an offer to accept, a surrender to decide, a
  payment to confirm).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice

from contracts import queries
from contracts.records import Document, PendingAction, load_document, pending_prefix
from contracts.visibility import Reader
from ledger.store import LedgerStore
from node.reads import Reads

RELATED_RECORDS_MAX = 500  # linked records shown for one document

OFFER_TO_ACCEPT = PendingAction.OFFER_TO_ACCEPT
SURRENDER_TO_DECIDE = PendingAction.SURRENDER_TO_DECIDE
PAYMENT_TO_CONFIRM = PendingAction.PAYMENT_TO_CONFIRM


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Pending:
    action: str  # a `PendingAction`: OFFER_TO_ACCEPT, SURRENDER_TO_DECIDE, PAYMENT_TO_CONFIRM
    document: Document


@dataclass(frozen=True, slots=True, kw_only=True)
class Overview:
    """A member's view: its newest documents, and what waits for it."""

    documents: tuple[Document, ...]  # newest first (in the order it became a party)
    total: int  # documents (and revocation records) the organisation is a party of
    older: int  # of `total`, how many are older than the ones read for `documents`
    pending: tuple[Pending, ...]  # newest first
    pending_more: bool  # more wait than `pending` lists


class PortalReads:
    """The portal's own reads over the node's store, authorised by `Reads.may_see`."""

    def __init__(self, reads: Reads) -> None:
        self.reads = reads
        self.store: LedgerStore = reads.store

    def related(
        self, reader: Reader, document: Document, history: Iterable[Mapping[str, object]]
    ) -> Related:
        """The records `document` names or is named by, one link deep, each one that the
        reader may see; revocation records are left out (the revoked record says so).
        `history` is the document's history (the page shows it anyway), whose events name
        the records that named it."""
        candidates = queries.linked_ids(document, history)
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

    def overview(self, reader: Reader, *, documents_max: int, pending_max: int) -> Overview:
        """The `documents_max` documents the reader's organisation most recently became a
        party of (revocation records read but not listed), and at most `pending_max` of the
        documents waiting for it."""
        organisation = reader.organisation
        party = queries.party_documents(self.store, organisation, documents_max)
        documents: list[Document] = []
        for document_id in party.ids:
            record = load_document(self.store, document_id)
            assert record is not None, f"the party index names a missing document {document_id}"
            if record.record_type != "revocation" and self.reads.may_see(reader, record):
                documents.append(record)
        waiting = list(
            islice(self.store.state_items(pending_prefix(organisation)), pending_max + 1)
        )
        pending: list[Pending] = []
        for key, action in waiting[:pending_max]:
            record = load_document(self.store, key.removeprefix(pending_prefix(organisation)))
            assert record is not None, f"{key} names a missing document"
            if isinstance(action, str) and self.reads.may_see(reader, record):
                pending.append(Pending(action=action, document=record))
        pending.sort(key=lambda item: (item.document.created_height, item.document.id))
        return Overview(
            documents=tuple(documents),
            total=party.total,
            older=party.older,
            pending=tuple(reversed(pending)),
            pending_more=len(waiting) > pending_max,
        )


__all__ = [
    "OFFER_TO_ACCEPT",
    "PAYMENT_TO_CONFIRM",
    "RELATED_RECORDS_MAX",
    "SURRENDER_TO_DECIDE",
    "Overview",
    "Pending",
    "PortalReads",
    "Related",
]
