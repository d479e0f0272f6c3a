"""Who may read what: the API's read rules as pure functions over records (no I/O, no clock).

An organisation (a `Reader`: its id and roles) sees a document when it is one of the
document's ``parties``. The contracts keep them, and only ever add to them:

- a bill of lading: its issuing carrier, first holder, named endorsee and consignee, every
  organisation it was offered or endorsed to (an amended bill keeps the old one's parties);
- a certificate of origin: its issuing body and its exporter and importer organisations;
- a payment attestation (and its correction or revocation): the attesting bank and the
  beneficiary bank;
- any document: the attesting and beneficiary banks of every payment attestation or
  correction that references it (``references.bill_of_lading``,
  ``references.certificate_of_origin``; `contracts.payment`), and every customs authority
  that recorded a customs decision listing it or a verification of it (`contracts.customs`,
  ``coo.verify``);
- a customs decision: its customs authority and the parties of the documents it lists, as
  they were when it was recorded.

Roles grant nothing by themselves: what a bank or a customs authority sees through the
records it makes is already in ``parties``, so deciding needs the document record alone.

What belongs to a document (its history, evidence bundle, events, and the inclusion proofs
of its transactions) is visible exactly when the document is. An event is also visible to
the organisations it names. An organisation's member list is visible to that organisation
and to governance organisations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from contracts.records import Document
from ledger.types import Role


@dataclass(frozen=True, slots=True, kw_only=True)
class Reader:
    """An authenticated caller: the organisation its key belongs to, and that one's roles."""

    organisation: str
    roles: frozenset[Role]
    key: bytes = b""


def may_see_document(reader: Reader, document: Document) -> bool:
    """May `reader` see `document` (and its history, bundle, events and proofs)?"""
    return reader.organisation in document.parties


def may_see_event(reader: Reader, parties: Iterable[str], document: Document | None) -> bool:
    """May `reader` hear of a committed event with these `parties` about `document` (None
    when the event's subject is not a document: a key, an organisation, a proposal)?"""
    if reader.organisation in parties:
        return True
    return document is not None and may_see_document(reader, document)


def may_see_members(reader: Reader, organisation_id: str) -> bool:
    """An organisation's member keys: its own, or any organisation's for governance."""
    return reader.organisation == organisation_id or Role.GOVERNANCE in reader.roles


__all__ = ["Reader", "may_see_document", "may_see_event", "may_see_members"]
