"""Certificates of origin: issued by an issuing body (role chamber), revocable by it with a
reason; customs record their verification outcome (accepted / rejected / query) against it.

Statuses: ``issued`` -> ``revoked`` (final). Verifications are notes on the certificate and
events in its history; they never change its status. A verification ``accepted`` is refused
for a revoked or expired certificate (``rejected`` and ``query`` may always be recorded).

A certificate naming a bill of lading (``links.bill_of_lading``) appends to the bill's
history an event pointing to it (``detail.certificate``), as a payment or a customs decision
does for the documents it names; the bill's parties do not change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from contracts import common
from contracts.common import Call, Kind, rejected
from contracts.context import LIMITS, Event, TxOutcome
from contracts.identity import party_code
from contracts.records import (
    FAMILY_BILL_OF_LADING,
    FAMILY_CERTIFICATE_OF_ORIGIN,
    Document,
    RecordStatus,
    file_key,
    reference_key,
)
from ledger.codec import Value
from ledger.codes import Code
from ledger.errors import ValidationError
from ledger.fields import Fields

VERIFICATION_OUTCOMES = ("accepted", "rejected", "query")
QUANTITY_UNIT_LENGTH_MAX = 8  # UN/ECE Recommendation 20 unit codes (KGM, NAR, LTR, ...)


def _goods_item(value: Value, path: str) -> dict[str, Value]:
    r = Fields(value, path)
    item: dict[str, Value] = {
        "description": r.text("description", length_max=2_000),
        "hs_code": common.hs_code(r.raw("hs_code"), r.path("hs_code")),
        "quantity": r.integer("quantity", minimum=1, maximum=10**15),
        "unit": r.text("unit", length_max=QUANTITY_UNIT_LENGTH_MAX),
        "origin_country": common.country(r, "origin_country"),
        # e.g. WO (wholly obtained), PE (produced from originating materials), PSR, CTC, RVC
        "origin_criterion": common.short_code(r, "origin_criterion"),
    }
    r.finish()
    return item


def _transport(value: Value, path: str) -> dict[str, Value]:
    r = Fields(value, path)
    transport: dict[str, Value] = {
        "mode": r.optional_text("mode", length_max=16),
        "vessel_name": r.optional_text("vessel_name", length_max=50),
        "voyage": r.optional_text("voyage", length_max=50),
        "port_of_loading": common.optional_un_location(r, "port_of_loading"),
        "port_of_discharge": common.optional_un_location(r, "port_of_discharge"),
        "departure_date": common.optional_iso_date(r, "departure_date"),
    }
    r.finish()
    return common.without_none(transport)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueCertificate:
    reference: str
    document_sha256: bytes
    bill_of_lading: str | None
    exporter_organisation: str | None
    importer_organisation: str | None
    certificate: dict[str, Value]

    @classmethod
    def parse(cls, r: Fields) -> IssueCertificate:
        certificate: dict[str, Value] = {
            "exporter": common.party(r.raw("exporter"), r.path("exporter")),
            "importer": common.party(r.raw("importer"), r.path("importer")),
            "producer": common.optional_party(r, "producer"),
            "country_of_export": common.country(r, "country_of_export"),
            "country_of_import": common.country(r, "country_of_import"),
            "goods": list(
                r.items("goods", _goods_item, length_min=1, length_max=LIMITS.goods_items_max)
            ),
            "transport": None,
            "invoice_reference": common.optional_reference(r, "invoice_reference"),
            "issue_date": common.iso_date(r, "issue_date"),
            "expiry_date": common.optional_iso_date(r, "expiry_date"),
        }
        transport = r.raw("transport", optional=True)
        if transport is not None:
            certificate["transport"] = _transport(transport, r.path("transport"))
        body = cls(
            reference=common.reference(r, "reference"),
            document_sha256=common.sha256(r, "document_sha256"),
            bill_of_lading=common.optional_document_id(r, "bill_of_lading"),
            exporter_organisation=common.optional_organisation_id(r, "exporter_organisation"),
            importer_organisation=common.optional_organisation_id(r, "importer_organisation"),
            certificate=common.without_none(certificate),
        )
        r.finish()
        expiry = certificate["expiry_date"]
        issued = certificate["issue_date"]
        assert isinstance(issued, str)
        if isinstance(expiry, str) and expiry < issued:
            raise ValidationError(r.path("expiry_date"), "is before the issue date")
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Verify:
    document: str
    outcome: str
    reason: str | None
    declaration_reference: str | None

    @classmethod
    def parse(cls, r: Fields) -> Verify:
        body = cls(
            document=common.document_id(r, "document"),
            outcome=common.code(r, "outcome", VERIFICATION_OUTCOMES),
            reason=common.optional_free_text(r, "reason"),
            declaration_reference=common.optional_reference(r, "declaration_reference"),
        )
        r.finish()
        if body.outcome != "accepted" and body.reason is None:
            raise ValidationError(r.path("reason"), f"is required for outcome {body.outcome}")
        return body


def issue(call: Call, body: IssueCertificate) -> TxOutcome:
    issuer = call.sender.org
    if call.changes.get(reference_key(FAMILY_CERTIFICATE_OF_ORIGIN, issuer, body.reference)):
        return rejected(Code.REFERENCE_TAKEN, f"reference {body.reference!r}")
    if call.changes.get(file_key(body.document_sha256)) is not None:
        return rejected(Code.FILE_HASH_TAKEN)
    links: dict[str, str] = {}
    bill = None
    if body.bill_of_lading is not None:
        bill = call.changes.document(body.bill_of_lading)
        if bill is None or bill.family != FAMILY_BILL_OF_LADING:
            return rejected(Code.LINKED_DOCUMENT_UNKNOWN, f"bill {body.bill_of_lading}")
        links["bill_of_lading"] = bill.id
    parties = {issuer}
    for organisation in (body.exporter_organisation, body.importer_organisation):
        if organisation is not None:
            refusal = party_code(call.changes, organisation)
            if refusal is not None:
                return rejected(refusal, f"organisation {organisation!r}")
            parties.add(organisation)
    data = dict(body.certificate)
    for name in ("exporter_organisation", "importer_organisation"):
        if getattr(body, name) is not None:
            data[name] = getattr(body, name)
    document = Document(
        id=call.tx_id,
        family=FAMILY_CERTIFICATE_OF_ORIGIN,
        record_type="certificate",
        issuer=issuer,
        reference=body.reference,
        status=RecordStatus.ISSUED,
        data=data,
        document_sha256=body.document_sha256,
        created_height=call.ctx.height,
        created_time_ms=call.ctx.time_ms,
        updated_height=call.ctx.height,
        links=links,
        parties=tuple(sorted(parties)),
    )
    call.changes.put(file_key(body.document_sha256), document.id)
    call.changes.put(
        reference_key(FAMILY_CERTIFICATE_OF_ORIGIN, issuer, body.reference), document.id
    )
    stored = call.record(document)
    if bill is not None:  # the bill's history names the certificate (refused if it is full)
        call.record(bill, {"certificate": stored.id})
    return call.done(_event(call, stored))


def revoke(call: Call, body: Revoke) -> TxOutcome:
    document = common.load_family(call, body.document, FAMILY_CERTIFICATE_OF_ORIGIN)
    if isinstance(document, TxOutcome):
        return document
    if document.issuer != call.sender.org:
        return rejected(Code.SENDER_NOT_ISSUER)
    if document.status != RecordStatus.ISSUED:
        return rejected(Code.DOCUMENT_INACTIVE, f"the certificate is {document.status}")
    stored = call.record(replace(document, status=RecordStatus.REVOKED), {"reason": body.reason})
    return call.done(_event(call, stored))


def verify(call: Call, body: Verify) -> TxOutcome:
    document = common.load_family(call, body.document, FAMILY_CERTIFICATE_OF_ORIGIN)
    if isinstance(document, TxOutcome):
        return document
    if body.outcome == "accepted":
        if document.status != RecordStatus.ISSUED:
            return rejected(Code.DOCUMENT_INACTIVE, f"the certificate is {document.status}")
        expiry = document.data.get("expiry_date")
        if isinstance(expiry, str) and expiry < common.block_date(call.ctx):
            return rejected(Code.DOCUMENT_EXPIRED, f"expired on {expiry}")
    if len(document.notes) >= LIMITS.certificate_verifications_max:
        return rejected(Code.DOCUMENT_INACTIVE, "the certificate has too many verifications")
    note: dict[str, Value] = common.without_none(
        {
            "customs": call.sender.org,
            "outcome": body.outcome,
            "reason": body.reason,
            "declaration_reference": body.declaration_reference,
            "height": call.ctx.height,
            "time_ms": call.ctx.time_ms,
            "tx": call.tx_id,
        }
    )
    updated = replace(
        document,
        notes=(*document.notes, note),
        parties=tuple(sorted({*document.parties, call.sender.org})),
    )
    stored = call.record(updated, {"outcome": body.outcome})
    return call.done(_event(call, stored))


def _event(call: Call, document: Document) -> Event:
    return Event(kind=call.tx.kind, subject=document.id, parties=document.parties)


KINDS: dict[str, Kind] = {
    "coo.issue": Kind(IssueCertificate.parse, issue),
    "coo.revoke": Kind(Revoke.parse, revoke),
    "coo.verify": Kind(Verify.parse, verify),
}
