"""Bills of lading: a transferable record (UNCITRAL MLETR) with DCSA eBL 3.0 data.

Control is one organisation at a time (`Title.holder`). Possession passes only by an offer
from the holder that the named recipient accepts before it lapses; a to-order bill's title
moves by endorsement (DCSA PINT action codes ENDORSE, ENDORSE_TO_ORDER, BLANK_ENDORSE) and
possession may only be passed to its endorsee (or to anyone while it is blank endorsed);
a straight bill may only pass to its named consignee. Surrender goes to the issuing carrier,
which accepts (SACC) or rejects (SREJ). An accepted surrender for amendment is followed by
`bl.amend`, which issues a new linked record and makes the old one inactive. The carrier
may void a bill nobody has yet received by transfer. The endorsement chain is append-only.

State machine (status -> kinds that may act on it):

    issued                          bl.transfer, bl.endorse, bl.surrender, bl.void
    transfer_pending                bl.accept, bl.cancel, lapse (at the first block past expiry)
    pending_surrender_for_delivery  bl.surrender_accept, bl.surrender_reject
    pending_surrender_for_amendment bl.surrender_accept, bl.surrender_reject
    surrendered_for_amendment       bl.amend
    surrendered_for_delivery, amended, voided: final, nothing acts on them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from contracts import common
from contracts.common import Call, Kind, rejected
from contracts.context import LIMITS, BlockContext, Event, TxOutcome
from contracts.identity import party_code
from contracts.records import (
    FAMILY_BILL_OF_LADING,
    BillStatus,
    ChainEntry,
    Changes,
    Document,
    HistoryFull,
    Offer,
    Title,
    document_key,
    file_key,
    lapse_key,
    reference_key,
)
from ledger.codec import Value
from ledger.codes import Code
from ledger.errors import ValidationError
from ledger.fields import Fields, check_text
from ledger.state import StateView

DOCUMENT_TYPES = ("BOL", "SWB")  # bill of lading, sea waybill (DCSA transportDocumentTypeCode)
FREIGHT_PAYMENT_TERMS = ("PRE", "COL")  # prepaid, collect
WEIGHT_UNITS = ("KGM", "LBR")
CARRIER_CODE_LIST_PROVIDERS = ("SMDG", "NMFTA")
ENDORSEMENT_ACTIONS = ("ENDORSE", "ENDORSE_TO_ORDER", "BLANK_ENDORSE")
SURRENDER_PURPOSES = ("delivery", "amendment")
AMENDMENT_REASON_CODES = ("SWTP", "COD", "SWI")  # switch to paper, change of destination, switch
VESSEL_VOYAGES_MAX = 16
NOTIFY_PARTIES_MAX = 16
HS_CODES_PER_ITEM_MAX = 16
CARGO_ITEMS_PER_GOODS_ITEM_MAX = 100
EQUIPMENT_MAX = 1_000
SEALS_PER_EQUIPMENT_MAX = 16
DESCRIPTION_LENGTH_MAX = 5_000

# --- bodies ---------------------------------------------------------------------------------


def parse_bill(value: Value, path: str) -> dict[str, Value]:
    """The DCSA-aligned content of a bill (see docs/contracts.md for the field mapping)."""
    r = Fields(value, path)
    bill: dict[str, Value] = {
        "document_type": common.code(r, "document_type", DOCUMENT_TYPES),
        "shipper": common.party(r.raw("shipper"), r.path("shipper")),
        "consignee": common.optional_party(r, "consignee"),
        "notify_parties": list(
            r.items("notify_parties", common.party, length_max=NOTIFY_PARTIES_MAX, optional=True)
        ),
        "issuing_party": common.optional_party(r, "issuing_party"),
        "carrier_code": r.optional_text("carrier_code", length_max=8),
        "carrier_code_list_provider": common.optional_code(
            r, "carrier_code_list_provider", CARRIER_CODE_LIST_PROVIDERS
        ),
        "shipping_instructions_reference": common.optional_reference(
            r, "shipping_instructions_reference"
        ),
        "vessel_voyages": list(
            r.items("vessel_voyages", _vessel_voyage, length_min=1, length_max=VESSEL_VOYAGES_MAX)
        ),
        "port_of_loading": common.un_location(r, "port_of_loading"),
        "port_of_discharge": common.un_location(r, "port_of_discharge"),
        "place_of_receipt": common.optional_un_location(r, "place_of_receipt"),
        "place_of_delivery": common.optional_un_location(r, "place_of_delivery"),
        "goods": list(
            r.items("goods", _goods_item, length_min=1, length_max=LIMITS.goods_items_max)
        ),
        "equipment": list(
            r.items("equipment", _equipment, length_max=EQUIPMENT_MAX, optional=True)
        ),
        "issue_date": common.iso_date(r, "issue_date"),
        "shipped_on_board_date": common.optional_iso_date(r, "shipped_on_board_date"),
        "received_for_shipment_date": common.optional_iso_date(r, "received_for_shipment_date"),
        "is_shipped_on_board": r.boolean("is_shipped_on_board"),
        "freight_payment_term": common.code(r, "freight_payment_term", FREIGHT_PAYMENT_TERMS),
    }
    r.finish()
    return common.without_none(bill)


def _vessel_voyage(value: Value, path: str) -> dict[str, Value]:
    r = Fields(value, path)
    result: dict[str, Value] = {
        "vessel_name": r.text("vessel_name", length_max=50),
        "voyage": r.text("voyage", length_max=50),
    }
    r.finish()
    return result


def _goods_item(value: Value, path: str) -> dict[str, Value]:
    r = Fields(value, path)
    result: dict[str, Value] = {
        "description": r.text("description", length_max=DESCRIPTION_LENGTH_MAX),
        "hs_codes": list(
            r.items("hs_codes", common.hs_code, length_min=1, length_max=HS_CODES_PER_ITEM_MAX)
        ),
        "booking_reference": common.optional_reference(r, "booking_reference"),
        "cargo_items": list(
            r.items(
                "cargo_items",
                _cargo_item,
                length_max=CARGO_ITEMS_PER_GOODS_ITEM_MAX,
                optional=True,
            )
        ),
    }
    r.finish()
    return common.without_none(result)


def _cargo_item(value: Value, path: str) -> dict[str, Value]:
    r = Fields(value, path)
    result: dict[str, Value] = {
        "equipment_reference": r.optional_text("equipment_reference", length_max=11),
        "packages": r.integer("packages", maximum=99_999_999),
        "package_code": r.optional_text("package_code", length_max=3),
        "package_description": r.optional_text("package_description", length_max=100),
        "gross_weight_milli": r.integer("gross_weight_milli", maximum=10**15),
        "weight_unit": common.code(r, "weight_unit", WEIGHT_UNITS),
    }
    r.finish()
    return common.without_none(result)


def _equipment(value: Value, path: str) -> dict[str, Value]:
    r = Fields(value, path)
    result: dict[str, Value] = {
        "reference": r.text("reference", length_max=11),
        "iso_code": r.optional_text("iso_code", length_max=4),
        "seals": list(
            r.items(
                "seals",
                lambda v, p: check_text(v, p, length_max=15),
                length_max=SEALS_PER_EQUIPMENT_MAX,
                optional=True,
            )
        ),
    }
    r.finish()
    return common.without_none(result)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueBill:
    reference: str
    issue_to: str  # the organisation that becomes the first holder (DCSA "issueTo")
    to_order: bool
    endorsee: str | None  # to-order only: None means blank endorsed
    consignee: str | None  # straight only: the consignee's organisation, if it is a member
    document_sha256: bytes
    bill: dict[str, Value]

    @classmethod
    def parse(cls, r: Fields) -> IssueBill:
        body = cls(
            reference=common.reference(r, "reference"),
            issue_to=common.organisation_id(r, "issue_to"),
            to_order=r.boolean("to_order"),
            endorsee=common.optional_organisation_id(r, "endorsee"),
            consignee=common.optional_organisation_id(r, "consignee"),
            document_sha256=common.sha256(r, "document_sha256"),
            bill=parse_bill(r.raw("bill"), r.path("bill")),
        )
        r.finish()
        if body.to_order and body.bill["document_type"] == "SWB":
            raise ValidationError(r.path("to_order"), "a sea waybill cannot be to order")
        if body.to_order and body.consignee is not None:
            raise ValidationError(r.path("consignee"), "a to-order bill names an endorsee")
        if not body.to_order and body.endorsee is not None:
            raise ValidationError(r.path("endorsee"), "a straight bill has no endorsee")
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentOnly:
    document: str

    @classmethod
    def parse(cls, r: Fields) -> DocumentOnly:
        body = cls(document=common.document_id(r, "document"))
        r.finish()
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentReason:
    document: str
    reason: str

    @classmethod
    def parse(cls, r: Fields) -> DocumentReason:
        body = cls(document=common.document_id(r, "document"), reason=common.free_text(r, "reason"))
        r.finish()
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    document: str
    recipient: str
    offer_expiry_height: int

    @classmethod
    def parse(cls, r: Fields) -> Transfer:
        body = cls(
            document=common.document_id(r, "document"),
            recipient=common.organisation_id(r, "recipient"),
            offer_expiry_height=r.integer("offer_expiry_height", minimum=1),
        )
        r.finish()
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class Endorse:
    document: str
    action: str
    endorsee: str | None

    @classmethod
    def parse(cls, r: Fields) -> Endorse:
        body = cls(
            document=common.document_id(r, "document"),
            action=common.code(r, "action", ENDORSEMENT_ACTIONS),
            endorsee=common.optional_organisation_id(r, "endorsee"),
        )
        r.finish()
        if (body.action == "BLANK_ENDORSE") != (body.endorsee is None):
            raise ValidationError(
                r.path("endorsee"), "required for ENDORSE and ENDORSE_TO_ORDER, absent for blank"
            )
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class Surrender:
    document: str
    purpose: str
    reason_code: str | None
    comments: str | None

    @classmethod
    def parse(cls, r: Fields) -> Surrender:
        body = cls(
            document=common.document_id(r, "document"),
            purpose=common.code(r, "purpose", SURRENDER_PURPOSES),
            reason_code=common.optional_code(r, "reason_code", AMENDMENT_REASON_CODES),
            comments=common.optional_free_text(r, "comments"),
        )
        r.finish()
        if body.purpose == "delivery" and body.reason_code is not None:
            raise ValidationError(r.path("reason_code"), "only for a surrender for amendment")
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class Amend:
    document: str
    reference: str
    document_sha256: bytes
    bill: dict[str, Value]

    @classmethod
    def parse(cls, r: Fields) -> Amend:
        body = cls(
            document=common.document_id(r, "document"),
            reference=common.reference(r, "reference"),
            document_sha256=common.sha256(r, "document_sha256"),
            bill=parse_bill(r.raw("bill"), r.path("bill")),
        )
        r.finish()
        return body


# --- rules ------------------------------------------------------------------------------------

_PENDING_SURRENDERS = (
    BillStatus.PENDING_SURRENDER_FOR_DELIVERY,
    BillStatus.PENDING_SURRENDER_FOR_AMENDMENT,
)


def _status_refusal(document: Document, allowed: tuple[str, ...]) -> TxOutcome | None:
    """None if the bill's status is one of `allowed`, else the code saying why not."""
    status = document.status
    if status in allowed:
        return None
    if status in BillStatus.FINAL:
        return rejected(Code.DOCUMENT_INACTIVE, f"the bill is {status}")
    if status == BillStatus.SURRENDERED_FOR_AMENDMENT:
        return rejected(Code.DOCUMENT_INACTIVE, "the bill awaits its amended record")
    if status == BillStatus.TRANSFER_PENDING:
        return rejected(Code.TRANSFER_PENDING)
    if status in _PENDING_SURRENDERS:
        return rejected(Code.SURRENDER_PENDING)
    assert status == BillStatus.ISSUED
    if BillStatus.TRANSFER_PENDING in allowed:
        return rejected(Code.NO_PENDING_TRANSFER)
    if BillStatus.SURRENDERED_FOR_AMENDMENT in allowed:
        return rejected(Code.NOT_SURRENDERED_FOR_AMENDMENT)
    return rejected(Code.NO_PENDING_SURRENDER)


def _load_bill(call: Call, document_id: str) -> Document | TxOutcome:
    loaded = common.load_family(call, document_id, FAMILY_BILL_OF_LADING)
    if isinstance(loaded, TxOutcome):
        return loaded
    lapsed = _lapse_if_expired(call.changes, loaded, call.ctx)
    return loaded if lapsed is None else lapsed


def _title(document: Document) -> Title:
    assert document.title is not None, "a bill of lading has a title"
    return document.title


def _append(title: Title, call: Call, action: str, actor: str, recipient: str | None) -> Title:
    if len(title.chain) >= LIMITS.endorsement_chain_length_max:
        raise HistoryFull(f"the endorsement chain has {len(title.chain)} entries")
    entry = ChainEntry(
        action=action,
        actor=actor,
        recipient=recipient,
        height=call.ctx.height,
        time_ms=call.ctx.time_ms,
        tx=call.tx_id,
        reason_code=title.surrender_reason_code if action.startswith("SURRENDER_") else None,
    )
    return replace(title, chain=(*title.chain, entry))


def _event(call: Call, document: Document) -> Event:
    return Event(kind=call.tx.kind, subject=document.id, parties=tuple(sorted(document.parties)))


def _new_bill(
    call: Call,
    *,
    reference: str,
    document_sha256: bytes,
    bill: dict[str, Value],
    title: Title,
    parties: tuple[str, ...],
    links: dict[str, str],
) -> Document | TxOutcome:
    """Check reference and file hash are free, and build the new bill record."""
    if call.changes.get(file_key(document_sha256)) is not None:
        return rejected(Code.FILE_HASH_TAKEN, f"file {document_sha256.hex()} already recorded")
    document = Document(
        id=call.tx_id,
        family=FAMILY_BILL_OF_LADING,
        record_type="bill",
        issuer=call.sender.org,
        reference=reference,
        status=BillStatus.ISSUED,
        data=bill,
        document_sha256=document_sha256,
        created_height=call.ctx.height,
        created_time_ms=call.ctx.time_ms,
        updated_height=call.ctx.height,
        links=links,
        parties=tuple(sorted({call.sender.org, *parties})),
        title=_append(title, call, "ISSUE", call.sender.org, title.holder),
    )
    call.changes.put(file_key(document_sha256), document.id)
    call.changes.put(reference_key(FAMILY_BILL_OF_LADING, call.sender.org, reference), document.id)
    return document


def issue(call: Call, body: IssueBill) -> TxOutcome:
    for organisation in (body.issue_to, body.endorsee, body.consignee):
        if organisation is not None:
            refusal = party_code(call.changes, organisation)
            if refusal is not None:
                return rejected(refusal, f"organisation {organisation!r}")
    if body.issue_to == call.sender.org:
        return rejected(Code.RECIPIENT_IS_HOLDER, "a carrier issues to the shipper, not itself")
    if call.changes.get(reference_key(FAMILY_BILL_OF_LADING, call.sender.org, body.reference)):
        return rejected(Code.REFERENCE_TAKEN, f"reference {body.reference!r}")
    title = Title(
        holder=body.issue_to,
        to_order=body.to_order,
        endorsee=body.endorsee,
        endorsable=True,
        consignee=body.consignee,
    )
    parties = tuple(p for p in (body.issue_to, body.endorsee, body.consignee) if p is not None)
    document = _new_bill(
        call,
        reference=body.reference,
        document_sha256=body.document_sha256,
        bill=body.bill,
        title=title,
        parties=parties,
        links={},
    )
    if isinstance(document, TxOutcome):
        return document
    stored = call.record(document, {"holder": body.issue_to})
    return call.done(_event(call, stored))


def transfer(call: Call, body: Transfer) -> TxOutcome:
    document = _load_bill(call, body.document)
    if isinstance(document, TxOutcome):
        return document
    refusal = _status_refusal(document, (BillStatus.ISSUED,))
    if refusal is not None:
        return refusal
    title = _title(document)
    if title.holder != call.sender.org:
        return rejected(Code.SENDER_NOT_HOLDER)
    if body.recipient == title.holder:
        return rejected(Code.RECIPIENT_IS_HOLDER)
    party = party_code(call.changes, body.recipient)
    if party is not None:
        return rejected(party, f"organisation {body.recipient!r}")
    if not title.to_order and body.recipient != title.consignee:
        return rejected(Code.RECIPIENT_NOT_ALLOWED, "a straight bill passes only to its consignee")
    if title.to_order and title.endorsee is not None and body.recipient != title.endorsee:
        return rejected(
            Code.RECIPIENT_NOT_ALLOWED, "endorse the bill to the recipient before transferring it"
        )
    height = call.ctx.height
    latest = height + LIMITS.offer_expiry_blocks_max
    if not height < body.offer_expiry_height <= latest:
        return rejected(
            Code.OFFER_EXPIRY_INVALID, f"offer_expiry_height must be in {height + 1}..{latest}"
        )
    if not _schedule_lapse(call.changes, body.offer_expiry_height, document.id, call.tx_id):
        return rejected(
            Code.OFFER_EXPIRY_INVALID,
            f"{LIMITS.offers_lapsing_per_height_max} offers already lapse at height "
            f"{body.offer_expiry_height}; choose another",
        )
    offer = Offer(
        recipient=body.recipient,
        expiry_height=body.offer_expiry_height,
        offered_height=height,
        offer_id=call.tx_id,
    )
    updated = replace(
        document,
        status=BillStatus.TRANSFER_PENDING,
        title=replace(title, offer=offer),
        parties=tuple(sorted({*document.parties, body.recipient})),
    )
    stored = call.record(
        updated, {"recipient": body.recipient, "offer_expiry_height": body.offer_expiry_height}
    )
    return call.done(_event(call, stored))


def accept(call: Call, body: DocumentOnly) -> TxOutcome:
    document = _load_bill(call, body.document)
    if isinstance(document, TxOutcome):
        return document
    refusal = _status_refusal(document, (BillStatus.TRANSFER_PENDING,))
    if refusal is not None:
        return refusal
    title = _title(document)
    assert title.offer is not None
    if title.offer.recipient != call.sender.org:
        return rejected(Code.SENDER_NOT_RECIPIENT)
    if call.ctx.height > title.offer.expiry_height:  # _load_bill lapses it first; kept as a guard
        return rejected(Code.OFFER_EXPIRED)
    previous = title.holder
    moved = replace(
        _append(title, call, "TRANSFER", previous, call.sender.org),
        holder=call.sender.org,
        offer=None,
        transferred=True,
    )
    stored = call.record(
        replace(document, status=BillStatus.ISSUED, title=moved),
        {"from": previous, "to": call.sender.org},
    )
    return call.done(_event(call, stored))


def cancel(call: Call, body: DocumentOnly) -> TxOutcome:
    document = _load_bill(call, body.document)
    if isinstance(document, TxOutcome):
        return document
    refusal = _status_refusal(document, (BillStatus.TRANSFER_PENDING,))
    if refusal is not None:
        return refusal
    title = _title(document)
    if title.holder != call.sender.org:
        return rejected(Code.SENDER_NOT_HOLDER)
    assert title.offer is not None
    stored = call.record(
        replace(document, status=BillStatus.ISSUED, title=replace(title, offer=None)),
        {"recipient": title.offer.recipient},
    )
    return call.done(_event(call, stored))


def endorse(call: Call, body: Endorse) -> TxOutcome:
    document = _load_bill(call, body.document)
    if isinstance(document, TxOutcome):
        return document
    refusal = _status_refusal(document, (BillStatus.ISSUED,))
    if refusal is not None:
        return refusal
    title = _title(document)
    if title.holder != call.sender.org:
        return rejected(Code.SENDER_NOT_HOLDER)
    if not title.to_order:
        return rejected(Code.NOT_TO_ORDER)
    entitled = title.endorsee is None or (title.endorsee == title.holder and title.endorsable)
    if not entitled:
        return rejected(Code.ENDORSEMENT_NOT_ALLOWED)
    if body.action == "BLANK_ENDORSE" and title.endorsee is None:
        return rejected(Code.ENDORSEMENT_NOT_ALLOWED, "the bill is already blank endorsed")
    if body.endorsee is not None:
        party = party_code(call.changes, body.endorsee)
        if party is not None:
            return rejected(party, f"organisation {body.endorsee!r}")
    endorsed = replace(
        _append(title, call, body.action, call.sender.org, body.endorsee),
        endorsee=body.endorsee,
        endorsable=body.action != "ENDORSE",
    )
    parties = {*document.parties, *([body.endorsee] if body.endorsee else [])}
    stored = call.record(
        replace(document, title=endorsed, parties=tuple(sorted(parties))),
        {"action": body.action, "endorsee": body.endorsee},
    )
    return call.done(_event(call, stored))


def surrender(call: Call, body: Surrender) -> TxOutcome:
    document = _load_bill(call, body.document)
    if isinstance(document, TxOutcome):
        return document
    refusal = _status_refusal(document, (BillStatus.ISSUED,))
    if refusal is not None:
        return refusal
    title = _title(document)
    if title.holder != call.sender.org:
        return rejected(Code.SENDER_NOT_HOLDER)
    if title.to_order and title.endorsee not in (None, title.holder):
        return rejected(
            Code.ENDORSEMENT_NOT_ALLOWED, "the holder is not the endorsee of this to-order bill"
        )
    if (
        body.purpose == "delivery"
        and not title.to_order
        and title.consignee is not None
        and title.holder != title.consignee
    ):
        return rejected(Code.RECIPIENT_NOT_ALLOWED, "only the consignee takes delivery")
    if body.purpose == "delivery":
        status, action = BillStatus.PENDING_SURRENDER_FOR_DELIVERY, "SURRENDER_FOR_DELIVERY"
    else:
        status, action = BillStatus.PENDING_SURRENDER_FOR_AMENDMENT, "SURRENDER_FOR_AMENDMENT"
    pending = replace(title, surrendered_by=title.holder, surrender_reason_code=body.reason_code)
    stored = call.record(
        replace(
            document,
            status=status,
            title=_append(pending, call, action, title.holder, document.issuer),
        ),
        common.without_none({"purpose": body.purpose, "comments": body.comments}),
    )
    return call.done(_event(call, stored))


def surrender_accept(call: Call, body: DocumentOnly) -> TxOutcome:
    document = _load_bill(call, body.document)
    if isinstance(document, TxOutcome):
        return document
    if document.issuer != call.sender.org:
        return rejected(Code.SENDER_NOT_ISSUER)
    refusal = _status_refusal(document, _PENDING_SURRENDERS)
    if refusal is not None:
        return refusal
    title = _title(document)
    assert title.surrendered_by is not None
    final = (
        BillStatus.SURRENDERED_FOR_DELIVERY
        if document.status == BillStatus.PENDING_SURRENDER_FOR_DELIVERY
        else BillStatus.SURRENDERED_FOR_AMENDMENT
    )
    accepted = replace(
        _append(title, call, "SACC", call.sender.org, title.surrendered_by),
        holder=call.sender.org,
    )
    stored = call.record(replace(document, status=final, title=accepted))
    return call.done(_event(call, stored))


def surrender_reject(call: Call, body: DocumentReason) -> TxOutcome:
    document = _load_bill(call, body.document)
    if isinstance(document, TxOutcome):
        return document
    if document.issuer != call.sender.org:
        return rejected(Code.SENDER_NOT_ISSUER)
    refusal = _status_refusal(document, _PENDING_SURRENDERS)
    if refusal is not None:
        return refusal
    title = _title(document)
    assert title.surrendered_by is not None
    returned = replace(
        _append(title, call, "SREJ", call.sender.org, title.surrendered_by),
        surrendered_by=None,
        surrender_reason_code=None,
    )
    stored = call.record(
        replace(document, status=BillStatus.ISSUED, title=returned), {"reason": body.reason}
    )
    return call.done(_event(call, stored))


def amend(call: Call, body: Amend) -> TxOutcome:
    old = _load_bill(call, body.document)
    if isinstance(old, TxOutcome):
        return old
    if old.issuer != call.sender.org:
        return rejected(Code.SENDER_NOT_ISSUER)
    refusal = _status_refusal(old, (BillStatus.SURRENDERED_FOR_AMENDMENT,))
    if refusal is not None:
        return refusal
    old_title = _title(old)
    assert old_title.surrendered_by is not None
    holder = old_title.surrendered_by
    if body.reference != old.reference and call.changes.get(
        reference_key(FAMILY_BILL_OF_LADING, call.sender.org, body.reference)
    ):
        return rejected(Code.REFERENCE_TAKEN, f"reference {body.reference!r}")
    title = Title(
        holder=holder,
        to_order=old_title.to_order,
        endorsee=old_title.endorsee,
        endorsable=old_title.endorsable,
        consignee=old_title.consignee,
    )
    new = _new_bill(
        call,
        reference=body.reference,
        document_sha256=body.document_sha256,
        bill=body.bill,
        title=title,
        parties=old.parties,
        links={"amends": old.id},
    )
    if isinstance(new, TxOutcome):
        return new
    call.record(
        replace(old, status=BillStatus.AMENDED, links={**old.links, "amended_by": new.id}),
        {"amended_by": new.id},
    )
    stored = call.record(new, {"amends": old.id, "holder": holder})
    return call.done(_event(call, stored))


def void(call: Call, body: DocumentReason) -> TxOutcome:
    document = _load_bill(call, body.document)
    if isinstance(document, TxOutcome):
        return document
    if document.issuer != call.sender.org:
        return rejected(Code.SENDER_NOT_ISSUER)
    refusal = _status_refusal(document, (BillStatus.ISSUED,))
    if refusal is not None:
        return refusal
    if _title(document).transferred:
        return rejected(Code.ALREADY_TRANSFERRED)
    stored = call.record(replace(document, status=BillStatus.VOIDED), {"reason": body.reason})
    return call.done(_event(call, stored))


# --- lapse of transfer offers -----------------------------------------------------------------


def _schedule_lapse(changes: Changes, expiry_height: int, document_id: str, offer: str) -> bool:
    """Note the offer to lapse after `expiry_height`; False if that height is full."""
    key = lapse_key(expiry_height)
    existing = changes.get(key)
    entries: list[Value] = list(existing) if isinstance(existing, list) else []
    if len(entries) >= LIMITS.offers_lapsing_per_height_max:
        return False
    entries.append([document_id, offer])
    changes.put(key, entries)
    return True


def _lapse_if_expired(changes: Changes, document: Document, ctx: BlockContext) -> Document | None:
    """If the bill's offer expired before `ctx.height`, record the lapse; else None."""
    title = _title(document)
    if (
        document.status != BillStatus.TRANSFER_PENDING
        or title.offer is None
        or title.offer.expiry_height >= ctx.height
    ):
        return None
    lapsed = replace(document, status=BillStatus.ISSUED, title=replace(title, offer=None))
    if document.event_count >= LIMITS.document_events_max:
        # The lapse happens whatever the history holds; only its event is not recorded.
        changes.put_document(lapsed)
        return lapsed
    return changes.record(
        lapsed,
        action="bl.lapse",
        height=ctx.height,
        time_ms=ctx.time_ms,
        tx=None,
        actor=None,
        key=None,
        detail={
            "recipient": title.offer.recipient,
            "offer_expiry_height": title.offer.expiry_height,
        },
    )


def lapse_offers(view: StateView, ctx: BlockContext) -> tuple[dict[str, Value | None], list[Event]]:
    """At the start of block `ctx.height`: lapse every offer whose last valid height was the
    previous block. Returns the writes and events (run before the block's transactions)."""
    changes = Changes(view)
    events: list[Event] = []
    key = lapse_key(ctx.height - 1)
    entries = view.get(key)
    if not isinstance(entries, list):
        return {}, []
    for entry in entries:
        assert isinstance(entry, list)
        assert len(entry) == 2
        document_id, offer_id = entry
        assert isinstance(document_id, str)
        assert isinstance(offer_id, str)
        value = changes.get(document_key(document_id))
        if value is None:
            continue
        document = Document.from_value(value)
        title = _title(document)
        if title.offer is None or title.offer.offer_id != offer_id:
            continue  # accepted or cancelled before it lapsed
        lapsed = _lapse_if_expired(changes, document, ctx)
        if lapsed is not None:
            events.append(
                Event(kind="bl.lapse", subject=document_id, parties=tuple(sorted(lapsed.parties)))
            )
    changes.put(key, None)
    return changes.writes, events


KINDS: dict[str, Kind] = {
    "bl.issue": Kind(IssueBill.parse, issue),
    "bl.transfer": Kind(Transfer.parse, transfer),
    "bl.accept": Kind(DocumentOnly.parse, accept),
    "bl.cancel": Kind(DocumentOnly.parse, cancel),
    "bl.endorse": Kind(Endorse.parse, endorse),
    "bl.surrender": Kind(Surrender.parse, surrender),
    "bl.surrender_accept": Kind(DocumentOnly.parse, surrender_accept),
    "bl.surrender_reject": Kind(DocumentReason.parse, surrender_reject),
    "bl.amend": Kind(Amend.parse, amend),
    "bl.void": Kind(DocumentReason.parse, void),
}
