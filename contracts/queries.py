"""Read helpers for the API and the portal: pure functions over a `StateView`.

They return canonical `Value`s (maps as stored) so the API can render them as they are; the
API decides who may see what (the record's ``parties`` name the organisations party to it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from contracts.identity import load_validator_set
from contracts.records import (
    FAMILIES,
    FAMILY_CUSTOMS,
    ChainEntry,
    Document,
    document_key,
    event_key,
    file_key,
    key_key,
    organisation_key,
    party_count_key,
    party_key,
    proposal_key,
    reference_key,
    transaction_key,
    uetr_key,
)
from ledger.codec import Value
from ledger.state import StateView

LINEAGE_LENGTH_MAX = 1_000  # amendments or corrections followed back from one record
# The history event details whose value is the id of another record: the record that named
# this document (a certificate, attestation or correction, customs decision) or that it
# replaced or was replaced by (amendments, corrections, revocations).
NAMING_DETAILS = (
    "amended_by",
    "amends",
    "attestation",
    "certificate",
    "corrected_by",
    "corrects",
    "decision",
    "revoked_by",
    "revokes",
)


def document(view: StateView, document_id: str) -> dict[str, Value] | None:
    """A document's current record (status, holder, links, notes, content), or None."""
    value = view.get(document_key(document_id))
    return value if isinstance(value, dict) else None


def document_history(view: StateView, document_id: str) -> list[dict[str, Value]]:
    """Every change of the document, oldest first (each with height, time, tx and actor)."""
    value = view.get(document_key(document_id))
    if value is None:
        return []
    record = Document.from_value(value)
    events: list[dict[str, Value]] = []
    for index in range(record.event_count):
        event = view.get(event_key(document_id, index))
        assert isinstance(event, dict), f"history event {index} of {document_id} is missing"
        events.append(event)
    return events


def lineage(view: StateView, document_id: str) -> list[str]:
    """The ids of the records this one replaced (amended bill, corrected attestation),
    newest first, starting with `document_id` itself."""
    ids: list[str] = []
    current: str | None = document_id
    while current is not None and len(ids) < LINEAGE_LENGTH_MAX:
        value = view.get(document_key(current))
        if value is None:
            break
        ids.append(current)
        record = Document.from_value(value)
        current = record.links.get("amends") or record.links.get("corrects")
    return ids


def endorsement_chain(
    view: StateView, document_id: str, include_amended: bool = True
) -> list[dict[str, Value]]:
    """A bill's endorsement chain, oldest first; with `include_amended`, the chains of the
    bills it amended come first (as DCSA lists one chain per transport document version).
    Each entry: action (DCSA action code), actor, recipient, height, time_ms, tx, and
    ``document`` (the record the entry belongs to)."""
    ids = lineage(view, document_id) if include_amended else [document_id]
    chain: list[dict[str, Value]] = []
    for current in reversed(ids):
        value = view.get(document_key(current))
        if value is None:
            continue
        record = Document.from_value(value)
        if record.title is None:
            continue
        chain.extend(_entry(entry, current) for entry in record.title.chain)
    return chain


def _entry(entry: ChainEntry, document_id: str) -> dict[str, Value]:
    return {**entry.to_value(), "document": document_id}


def named_documents(record: Document) -> tuple[str, ...]:
    """The documents `record` names: its ``links`` and, for a customs decision, the
    documents it lists. Sorted, without repeats."""
    named = set(record.links.values())
    if record.family == FAMILY_CUSTOMS:
        listed = record.data.get("documents")
        if isinstance(listed, list):
            named.update(item for item in listed if isinstance(item, str))
    named.discard(record.id)
    return tuple(sorted(named))


def linked_ids(record: Document, history: Iterable[Mapping[str, object]]) -> tuple[str, ...]:
    """The records linked to `record` one step away: those it names, and those its history
    events name (every record that names a document appends such an event to it). `history`
    is the record's history as `document_history` gives it (or as JSON). Sorted, no repeats."""
    linked = set(named_documents(record))
    for event in history:
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            continue
        for name in NAMING_DETAILS:
            value = detail.get(name)
            if isinstance(value, str):
                linked.add(value)
    linked.discard(record.id)
    return tuple(sorted(linked))


def linked_documents(view: StateView, document_id: str) -> tuple[str, ...]:
    """`linked_ids` of a stored document (no document: empty). Reads its record and its
    history: at most `Limits.document_events_max` + 1 keys."""
    value = view.get(document_key(document_id))
    if value is None:
        return ()
    return linked_ids(Document.from_value(value), document_history(view, document_id))


@dataclass(frozen=True, slots=True, kw_only=True)
class PartyDocuments:
    """The documents an organisation is a party of: `ids` newest first (in the order it
    became a party), at most the count asked for, of `total`."""

    ids: tuple[str, ...]
    total: int

    @property
    def older(self) -> int:
        """How many more there are, older than the last of `ids`."""
        return self.total - len(self.ids)


def party_documents(view: StateView, organisation_id: str, count_max: int) -> PartyDocuments:
    """The `count_max` documents `organisation_id` most recently became a party of (the
    ``party/`` index): `count_max` + 1 key reads, whatever the length of the chain."""
    assert count_max >= 0
    total = view.get(party_count_key(organisation_id))
    count = total if isinstance(total, int) else 0
    ids: list[str] = []
    for index in range(count - 1, max(count - count_max, 0) - 1, -1):
        document_id = view.get(party_key(organisation_id, index))
        assert isinstance(document_id, str), f"party index {organisation_id}/{index} is missing"
        ids.append(document_id)
    return PartyDocuments(ids=tuple(ids), total=count)


def by_reference(view: StateView, family: str, issuer: str, reference: str) -> str | None:
    """The id of the current document that `issuer` issued with `reference`, or None."""
    if family not in FAMILIES:
        return None
    value = view.get(reference_key(family, issuer, reference))
    return value if isinstance(value, str) else None


def by_file_hash(view: StateView, sha256: bytes) -> str | None:
    """The id of the document whose file has this SHA-256, or None."""
    value = view.get(file_key(sha256))
    return value if isinstance(value, str) else None


def by_uetr(view: StateView, uetr: str) -> str | None:
    """The id of the current payment attestation with this UETR, or None."""
    value = view.get(uetr_key(uetr))
    return value if isinstance(value, str) else None


def transaction_result(view: StateView, tx_id: bytes) -> dict[str, Value] | None:
    """The committed result of a transaction: code, height, kind, sender, nonce; or None."""
    value = view.get(transaction_key(tx_id))
    return value if isinstance(value, dict) else None


def organisation(view: StateView, organisation_id: str) -> dict[str, Value] | None:
    value = view.get(organisation_key(organisation_id))
    return value if isinstance(value, dict) else None


def member_key(view: StateView, public_key: bytes) -> dict[str, Value] | None:
    """A key's record: organisation, admin or member, registered and revoked heights."""
    value = view.get(key_key(public_key))
    return value if isinstance(value, dict) else None


def proposal(view: StateView, proposal_id: str) -> dict[str, Value] | None:
    value = view.get(proposal_key(proposal_id))
    return value if isinstance(value, dict) else None


def validators(view: StateView) -> list[Value]:
    """The current validator set as stored (canonical order)."""
    return load_validator_set(view).to_value()
