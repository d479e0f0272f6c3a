"""Payment attestations: a bank attests a payment it made or received; the beneficiary's
bank confirms receipt. Nothing is overwritten: a correction is a new attestation record
that links to the one it corrects (``links.corrects``), a revocation a new record of type
``revocation`` (``links.revokes``); the old record only gains the back link and a status.

Statuses: ``attested`` -> ``confirmed``; either -> ``corrected`` or ``revoked`` (final).
Amounts are integer minor units of an ISO 4217 currency; the payment reference is the SWIFT
gpi UETR (one current attestation per UETR).

An attestation or correction that references a bill of lading or a certificate of origin
(``references.bill_of_lading``, ``references.certificate_of_origin``) makes its attesting
and beneficiary banks parties of that document, and appends to the document's history an
event pointing to it (``detail.attestation``), as a customs decision does for the documents
it lists. Parties are never removed: a later correction or revocation leaves them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from contracts import common
from contracts.common import Call, Kind, rejected
from contracts.context import Event, TxOutcome
from contracts.identity import load_organisation, party_code
from contracts.records import (
    FAMILY_BILL_OF_LADING,
    FAMILY_CERTIFICATE_OF_ORIGIN,
    FAMILY_PAYMENT,
    Document,
    RecordStatus,
    file_key,
    reference_key,
    uetr_key,
)
from ledger.codec import Value
from ledger.codes import Code
from ledger.fields import Fields
from ledger.types import Role

DIRECTIONS = ("sent", "received")  # the attesting bank made (debtor agent) or received it
AMOUNT_MINOR_MAX = 10**18
# The ledger documents an attestation may reference (name under `references` and `links`),
# each of which gains the attestation's banks as parties.
LINKED_FAMILIES = {
    "bill_of_lading": FAMILY_BILL_OF_LADING,
    "certificate_of_origin": FAMILY_CERTIFICATE_OF_ORIGIN,
}
_ACTIVE = (RecordStatus.ATTESTED, RecordStatus.CONFIRMED)


def _references(value: Value, path: str) -> dict[str, Value]:
    r = Fields(value, path)
    references: dict[str, Value] = {
        "invoice": common.optional_reference(r, "invoice"),
        "letter_of_credit": common.optional_reference(r, "letter_of_credit"),
        "bill_of_lading": common.optional_document_id(r, "bill_of_lading"),
        "certificate_of_origin": common.optional_document_id(r, "certificate_of_origin"),
    }
    r.finish()
    return common.without_none(references)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attest:
    reference: str
    uetr: str
    beneficiary_bank: str  # the ledger organisation that must confirm receipt
    document_sha256: bytes | None
    payment: dict[str, Value]

    @classmethod
    def parse(cls, r: Fields) -> Attest:
        references = r.raw("references", optional=True)
        payment: dict[str, Value] = {
            "direction": common.code(r, "direction", DIRECTIONS),
            "payer": common.party(r.raw("payer"), r.path("payer")),
            "payee": common.party(r.raw("payee"), r.path("payee")),
            "payer_bank_bic": common.bic(r, "payer_bank_bic"),
            "payee_bank_bic": common.bic(r, "payee_bank_bic"),
            "amount_minor": r.integer("amount_minor", minimum=1, maximum=AMOUNT_MINOR_MAX),
            "currency": common.currency(r, "currency"),
            "value_date": common.iso_date(r, "value_date"),
            "end_to_end_id": r.optional_text("end_to_end_id", length_max=35),
            "references": {}
            if references is None
            else _references(references, r.path("references")),
        }
        body = cls(
            reference=common.reference(r, "reference"),
            uetr=common.uetr(r, "uetr"),
            beneficiary_bank=common.organisation_id(r, "beneficiary_bank"),
            document_sha256=common.optional_sha256(r, "document_sha256"),
            payment=common.without_none(payment),
        )
        r.finish()
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class Correct:
    document: str
    attestation: Attest

    @classmethod
    def parse(cls, r: Fields) -> Correct:
        document = common.document_id(r, "document")
        return cls(document=document, attestation=Attest.parse(r))


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentOnly:
    document: str

    @classmethod
    def parse(cls, r: Fields) -> DocumentOnly:
        body = cls(document=common.document_id(r, "document"))
        r.finish()
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class Revoke:
    document: str
    reason: str

    @classmethod
    def parse(cls, r: Fields) -> Revoke:
        body = cls(document=common.document_id(r, "document"), reason=common.free_text(r, "reason"))
        r.finish()
        return body


def _new_attestation(
    call: Call, body: Attest, *, record_type: str, previous: Document | None
) -> Document | TxOutcome:
    issuer = call.sender.org
    reference_taken = call.changes.get(reference_key(FAMILY_PAYMENT, issuer, body.reference))
    if reference_taken is not None and (previous is None or body.reference != previous.reference):
        return rejected(Code.REFERENCE_TAKEN, f"reference {body.reference!r}")
    current = call.changes.get(uetr_key(body.uetr))
    if isinstance(current, str) and (previous is None or current != previous.id):
        holder = call.changes.document(current)
        if holder is not None and holder.status in _ACTIVE:
            return rejected(Code.REFERENCE_TAKEN, f"UETR {body.uetr} is already attested")
    if body.document_sha256 is not None and call.changes.get(file_key(body.document_sha256)):
        return rejected(Code.FILE_HASH_TAKEN)
    references = body.payment.get("references")
    assert isinstance(references, dict)
    links: dict[str, str] = {}
    for name, family in LINKED_FAMILIES.items():
        linked = references.get(name)
        if isinstance(linked, str):
            document = call.changes.document(linked)
            if document is None or document.family != family:
                return rejected(Code.LINKED_DOCUMENT_UNKNOWN, f"{name} {linked}")
            links[name] = linked
    refusal = party_code(call.changes, body.beneficiary_bank)
    if refusal is not None:
        return rejected(refusal, f"organisation {body.beneficiary_bank!r}")
    bank = load_organisation(call.changes, body.beneficiary_bank)
    assert bank is not None
    if Role.BANK not in bank.roles:
        return rejected(Code.RECIPIENT_NOT_ALLOWED, "the beneficiary bank must have the bank role")
    confirmed_at_once = body.beneficiary_bank == issuer
    document = Document(
        id=call.tx_id,
        family=FAMILY_PAYMENT,
        record_type=record_type,
        issuer=issuer,
        reference=body.reference,
        status=RecordStatus.CONFIRMED if confirmed_at_once else RecordStatus.ATTESTED,
        data={**body.payment, "uetr": body.uetr, "beneficiary_bank": body.beneficiary_bank},
        document_sha256=body.document_sha256,
        created_height=call.ctx.height,
        created_time_ms=call.ctx.time_ms,
        updated_height=call.ctx.height,
        links=links,
        parties=tuple(sorted({issuer, body.beneficiary_bank})),
    )
    if body.document_sha256 is not None:
        call.changes.put(file_key(body.document_sha256), document.id)
    call.changes.put(reference_key(FAMILY_PAYMENT, issuer, body.reference), document.id)
    call.changes.put(uetr_key(body.uetr), document.id)
    return document


def _join_linked_documents(call: Call, attestation: Document) -> None:
    """Make the attestation's banks parties of the documents it references; each gains a
    history event pointing to the attestation."""
    for name in sorted(LINKED_FAMILIES):
        linked = attestation.links.get(name)
        if linked is None:
            continue
        document = call.changes.document(linked)
        assert document is not None, f"linked {name} {linked} vanished after it was checked"
        parties = tuple(sorted({*document.parties, *attestation.parties}))
        call.record(replace(document, parties=parties), {"attestation": attestation.id})


def attest(call: Call, body: Attest) -> TxOutcome:
    document = _new_attestation(call, body, record_type="attestation", previous=None)
    if isinstance(document, TxOutcome):
        return document
    stored = call.record(document)
    _join_linked_documents(call, stored)
    return call.done(_event(call, stored))


def confirm(call: Call, body: DocumentOnly) -> TxOutcome:
    document = common.load_family(call, body.document, FAMILY_PAYMENT)
    if isinstance(document, TxOutcome):
        return document
    if document.status == RecordStatus.CONFIRMED:
        return rejected(Code.ALREADY_CONFIRMED)
    if document.status != RecordStatus.ATTESTED:
        return rejected(Code.DOCUMENT_INACTIVE, f"the attestation is {document.status}")
    if document.data.get("beneficiary_bank") != call.sender.org:
        return rejected(Code.SENDER_NOT_BENEFICIARY_BANK)
    note: dict[str, Value] = {
        "confirmed_by": call.sender.org,
        "height": call.ctx.height,
        "time_ms": call.ctx.time_ms,
        "tx": call.tx_id,
    }
    stored = call.record(
        replace(document, status=RecordStatus.CONFIRMED, notes=(*document.notes, note))
    )
    return call.done(_event(call, stored))


def _load_active_own(call: Call, document_id: str) -> Document | TxOutcome:
    document = common.load_family(call, document_id, FAMILY_PAYMENT)
    if isinstance(document, TxOutcome):
        return document
    if document.issuer != call.sender.org:
        return rejected(Code.SENDER_NOT_ISSUER)
    if document.status not in _ACTIVE:
        return rejected(Code.DOCUMENT_INACTIVE, f"the attestation is {document.status}")
    return document


def correct(call: Call, body: Correct) -> TxOutcome:
    old = _load_active_own(call, body.document)
    if isinstance(old, TxOutcome):
        return old
    new = _new_attestation(call, body.attestation, record_type="correction", previous=old)
    if isinstance(new, TxOutcome):
        return new
    new = replace(new, links={**new.links, "corrects": old.id})
    call.record(
        replace(old, status=RecordStatus.CORRECTED, links={**old.links, "corrected_by": new.id}),
        {"corrected_by": new.id},
    )
    stored = call.record(new, {"corrects": old.id})
    _join_linked_documents(call, stored)
    return call.done(_event(call, stored))


def revoke(call: Call, body: Revoke) -> TxOutcome:
    old = _load_active_own(call, body.document)
    if isinstance(old, TxOutcome):
        return old
    revocation = Document(
        id=call.tx_id,
        family=FAMILY_PAYMENT,
        record_type="revocation",
        issuer=call.sender.org,
        reference=old.reference,
        status=RecordStatus.RECORDED,
        data={"reason": body.reason},
        document_sha256=None,
        created_height=call.ctx.height,
        created_time_ms=call.ctx.time_ms,
        updated_height=call.ctx.height,
        links={"revokes": old.id},
        parties=old.parties,
    )
    call.record(
        replace(old, status=RecordStatus.REVOKED, links={**old.links, "revoked_by": revocation.id}),
        {"revoked_by": revocation.id, "reason": body.reason},
    )
    stored = call.record(revocation, {"revokes": old.id})
    return call.done(_event(call, stored))


def _event(call: Call, document: Document) -> Event:
    return Event(kind=call.tx.kind, subject=document.id, parties=document.parties)


KINDS: dict[str, Kind] = {
    "pay.attest": Kind(Attest.parse, attest),
    "pay.confirm": Kind(DocumentOnly.parse, confirm),
    "pay.correct": Kind(Correct.parse, correct),
    "pay.revoke": Kind(Revoke.parse, revoke),
}
