"""Read helpers for the API and the portal: pure functions over a `StateView`.

They return canonical `Value`s (maps as stored) so the API can render them as they are; the
API decides who may see what (the record's ``parties`` name the organisations party to it).
"""

from __future__ import annotations

from contracts.identity import load_validator_set
from contracts.records import (
    FAMILIES,
    ChainEntry,
    Document,
    document_key,
    event_key,
    file_key,
    key_key,
    organisation_key,
    proposal_key,
    reference_key,
    transaction_key,
    uetr_key,
)
from ledger.codec import Value
from ledger.state import StateView

LINEAGE_LENGTH_MAX = 1_000  # amendments or corrections followed back from one record


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
