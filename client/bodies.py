"""Transaction bodies for every kind in docs/contracts.md, as plain canonical values.

The client never imports `contracts` (dependencies point one way: client -> ledger), so the
body shapes are written here a second time; tests/test_client_bodies.py executes every
builder's output through the real contracts to keep the two in step.

Builders check what a client can check without the ledger (id and code formats, choices,
sizes, integer money) and raise `InvalidArgument` naming the field before anything is
signed; the contracts remain the authority (a body they refuse is committed as
``malformed_body``). Optional arguments left as None are omitted from the body.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Required, TypedDict

from client.errors import InvalidArgument
from ledger.codec import Value
from ledger.crypto import PUBLIC_KEY_SIZE_BYTES

# --- content types ------------------------------------------------------------------------------


class PartyCode(TypedDict, total=False):
    provider: Required[str]  # e.g. "GLEIF"
    code: Required[str]
    list: str  # e.g. "LEI"


class Party(TypedDict, total=False):
    """A party as printed on a document (not a ledger organisation)."""

    name: Required[str]
    address: list[str]
    country: str  # ISO 3166-1 alpha-2
    codes: list[PartyCode]


class VesselVoyage(TypedDict):
    vessel_name: str
    voyage: str


class CargoItem(TypedDict, total=False):
    packages: Required[int]
    gross_weight_milli: Required[int]  # thousandths of weight_unit
    weight_unit: Required[str]  # KGM or LBR
    equipment_reference: str
    package_code: str
    package_description: str


class GoodsItem(TypedDict, total=False):
    description: Required[str]
    hs_codes: Required[list[str]]
    booking_reference: str
    cargo_items: list[CargoItem]


class Equipment(TypedDict, total=False):
    reference: Required[str]
    iso_code: str
    seals: list[str]


class Bill(TypedDict, total=False):
    """The DCSA-aligned content of a bill of lading (`client.dcsa` maps DCSA JSON into it)."""

    document_type: Required[str]  # BOL or SWB
    shipper: Required[Party]
    consignee: Party
    notify_parties: list[Party]
    issuing_party: Party
    carrier_code: str
    carrier_code_list_provider: str  # SMDG or NMFTA
    shipping_instructions_reference: str
    vessel_voyages: Required[list[VesselVoyage]]
    port_of_loading: Required[str]  # UN/LOCODE
    port_of_discharge: Required[str]
    place_of_receipt: str
    place_of_delivery: str
    goods: Required[list[GoodsItem]]
    equipment: list[Equipment]
    issue_date: Required[str]  # YYYY-MM-DD
    shipped_on_board_date: str
    received_for_shipment_date: str
    is_shipped_on_board: Required[bool]
    freight_payment_term: Required[str]  # PRE or COL


class CertificateGoodsItem(TypedDict):
    description: str
    hs_code: str
    quantity: int
    unit: str  # UN/ECE Recommendation 20 code: KGM, NAR, LTR, ...
    origin_country: str
    origin_criterion: str  # WO, PE, PSR, CTC, RVC, ...


class CertificateTransport(TypedDict, total=False):
    mode: str
    vessel_name: str
    voyage: str
    port_of_loading: str
    port_of_discharge: str
    departure_date: str


class PaymentReferences(TypedDict, total=False):
    invoice: str
    letter_of_credit: str
    bill_of_lading: str  # a document id on the ledger
    certificate_of_origin: str  # a document id on the ledger


# --- choices (docs/contracts.md) ----------------------------------------------------------------

DOCUMENT_TYPES = ("BOL", "SWB")
ENDORSEMENT_ACTIONS = ("ENDORSE", "ENDORSE_TO_ORDER", "BLANK_ENDORSE")
SURRENDER_PURPOSES = ("delivery", "amendment")
AMENDMENT_REASON_CODES = ("SWTP", "COD", "SWI")
VERIFICATION_OUTCOMES = ("accepted", "rejected", "query")
CUSTOMS_OUTCOMES = {
    "verification": ("accepted", "rejected", "query"),
    "clearance": ("released", "held", "refused"),
}
NO_REASON_NEEDED = ("accepted", "released")
PAYMENT_DIRECTIONS = ("sent", "received")
PROPOSAL_ACTIONS = ("org.add", "org.suspend", "org.reinstate", "validator.set")
ROLES = ("customs", "bank", "carrier", "chamber", "seller", "buyer", "governance")

_DOCUMENT_ID = re.compile(r"[0-9a-f]{64}")
_ORG_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_BIC = re.compile(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")
_UETR = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
REFERENCE_LENGTH_MAX = 100
FREE_TEXT_LENGTH_MAX = 2_000
SHA256_SIZE_BYTES = 32
AMOUNT_MINOR_MAX = 10**18

# --- field checks -------------------------------------------------------------------------------


def check_document_id(value: str, field: str = "document") -> str:
    if not isinstance(value, str) or _DOCUMENT_ID.fullmatch(value) is None:
        raise InvalidArgument(field, "a document id is 64 lowercase hex digits")
    return value


def check_organisation(value: str, field: str) -> str:
    if not isinstance(value, str) or _ORG_ID.fullmatch(value) is None:
        raise InvalidArgument(field, "an organisation id is 1-64 letters, digits, '.', '_', '-'")
    return value


def check_reference(value: str, field: str = "reference") -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= REFERENCE_LENGTH_MAX:
        raise InvalidArgument(field, f"a reference is 1-{REFERENCE_LENGTH_MAX} characters")
    if value != value.strip() or not value.isprintable():
        raise InvalidArgument(field, "no leading or trailing spaces or control characters")
    return value


def check_free_text(value: str, field: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= FREE_TEXT_LENGTH_MAX:
        raise InvalidArgument(field, f"1-{FREE_TEXT_LENGTH_MAX} characters")
    return value


def check_date(value: str, field: str) -> str:
    if not isinstance(value, str) or _DATE.fullmatch(value) is None:
        raise InvalidArgument(field, "a date is YYYY-MM-DD")
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(field, f"{value!r} is not a calendar date") from None
    return value


def check_sha256(value: bytes, field: str = "document_sha256") -> bytes:
    if not isinstance(value, bytes) or len(value) != SHA256_SIZE_BYTES:
        raise InvalidArgument(field, "a SHA-256 digest is 32 bytes")
    return value


def check_public_key(value: bytes, field: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != PUBLIC_KEY_SIZE_BYTES:
        raise InvalidArgument(field, f"a public key is {PUBLIC_KEY_SIZE_BYTES} bytes")
    return value


def check_choice(value: str, field: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InvalidArgument(field, f"must be one of {', '.join(choices)}")
    return value


def check_pattern(value: str, field: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise InvalidArgument(field, f"must be {what}")
    return value


def check_country(value: str, field: str) -> str:
    return check_pattern(value, field, _COUNTRY, "an ISO 3166-1 alpha-2 country code (e.g. NL)")


def plain(value: object, field: str) -> Value:
    """A canonical value from mappings, sequences and scalars: None members of maps are
    dropped, floats are refused (money is integer minor units, weights thousandths)."""
    if value is None or isinstance(value, bool | int | bytes | str):
        return value
    if isinstance(value, float):
        raise InvalidArgument(field, "no floats: use integers (minor units, thousandths)")
    if isinstance(value, Mapping):
        result: dict[str, Value] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidArgument(field, f"map key {key!r} is not text")
            if item is not None:
                result[key] = plain(item, f"{field}.{key}")
        return result
    if isinstance(value, Sequence):
        return [plain(item, f"{field}[{index}]") for index, item in enumerate(value)]
    raise InvalidArgument(field, f"{type(value).__name__} cannot be recorded")


def _optional(check: Callable[[str, str], str], value: str | None, field: str) -> str | None:
    return None if value is None else check(value, field)


def _map(value: object, field: str) -> dict[str, Value]:
    converted = plain(value, field)
    if not isinstance(converted, dict):
        raise InvalidArgument(field, "expected a map")
    return converted


def _body(**fields: object) -> dict[str, Value]:
    return _map(fields, "body")


# --- bills of lading ----------------------------------------------------------------------------


def check_bill(bill: Bill, field: str = "bill") -> dict[str, Value]:
    converted = _map(bill, field)
    check_choice(str(converted.get("document_type")), f"{field}.document_type", DOCUMENT_TYPES)
    check_date(str(converted.get("issue_date")), f"{field}.issue_date")
    for required in ("shipper", "vessel_voyages", "port_of_loading", "port_of_discharge", "goods"):
        if required not in converted:
            raise InvalidArgument(f"{field}.{required}", "is required")
    return converted


def bl_issue(
    *,
    reference: str,
    issue_to: str,
    to_order: bool,
    document_sha256: bytes,
    bill: Bill,
    endorsee: str | None = None,
    consignee: str | None = None,
) -> dict[str, Value]:
    checked = check_bill(bill)
    if to_order and checked["document_type"] == "SWB":
        raise InvalidArgument("to_order", "a sea waybill cannot be to order")
    if to_order and consignee is not None:
        raise InvalidArgument("consignee", "a to-order bill names an endorsee, not a consignee")
    if not to_order and endorsee is not None:
        raise InvalidArgument("endorsee", "a straight bill has no endorsee")
    return _body(
        reference=check_reference(reference),
        issue_to=check_organisation(issue_to, "issue_to"),
        to_order=bool(to_order),
        endorsee=_optional(check_organisation, endorsee, "endorsee"),
        consignee=_optional(check_organisation, consignee, "consignee"),
        document_sha256=check_sha256(document_sha256),
        bill=checked,
    )


def bl_transfer(document: str, recipient: str, offer_expiry_height: int) -> dict[str, Value]:
    if not isinstance(offer_expiry_height, int) or offer_expiry_height < 1:
        raise InvalidArgument("offer_expiry_height", "a height >= 1")
    return _body(
        document=check_document_id(document),
        recipient=check_organisation(recipient, "recipient"),
        offer_expiry_height=offer_expiry_height,
    )


def document_only(document: str) -> dict[str, Value]:
    """The body of bl.accept, bl.cancel, bl.surrender_accept and pay.confirm."""
    return _body(document=check_document_id(document))


def document_reason(document: str, reason: str) -> dict[str, Value]:
    """The body of bl.surrender_reject, bl.void, coo.revoke and pay.revoke."""
    return _body(document=check_document_id(document), reason=check_free_text(reason, "reason"))


def bl_endorse(document: str, action: str, endorsee: str | None = None) -> dict[str, Value]:
    check_choice(action, "action", ENDORSEMENT_ACTIONS)
    if (action == "BLANK_ENDORSE") != (endorsee is None):
        raise InvalidArgument("endorsee", "required for ENDORSE and ENDORSE_TO_ORDER, not blank")
    return _body(
        document=check_document_id(document),
        action=action,
        endorsee=_optional(check_organisation, endorsee, "endorsee"),
    )


def bl_surrender(
    document: str, purpose: str, reason_code: str | None = None, comments: str | None = None
) -> dict[str, Value]:
    check_choice(purpose, "purpose", SURRENDER_PURPOSES)
    if reason_code is not None:
        if purpose != "amendment":
            raise InvalidArgument("reason_code", "only for a surrender for amendment")
        check_choice(reason_code, "reason_code", AMENDMENT_REASON_CODES)
    return _body(
        document=check_document_id(document),
        purpose=purpose,
        reason_code=reason_code,
        comments=_optional(check_free_text, comments, "comments"),
    )


def bl_amend(document: str, reference: str, document_sha256: bytes, bill: Bill) -> dict[str, Value]:
    return _body(
        document=check_document_id(document),
        reference=check_reference(reference),
        document_sha256=check_sha256(document_sha256),
        bill=check_bill(bill),
    )


# --- certificates of origin ---------------------------------------------------------------------


def coo_issue(
    *,
    reference: str,
    document_sha256: bytes,
    exporter: Party,
    importer: Party,
    country_of_export: str,
    country_of_import: str,
    goods: Sequence[CertificateGoodsItem],
    issue_date: str,
    producer: Party | None = None,
    transport: CertificateTransport | None = None,
    invoice_reference: str | None = None,
    expiry_date: str | None = None,
    bill_of_lading: str | None = None,
    exporter_organisation: str | None = None,
    importer_organisation: str | None = None,
) -> dict[str, Value]:
    if not goods:
        raise InvalidArgument("goods", "at least one goods item")
    if expiry_date is not None and check_date(expiry_date, "expiry_date") < issue_date:
        raise InvalidArgument("expiry_date", "is before the issue date")
    return _body(
        reference=check_reference(reference),
        document_sha256=check_sha256(document_sha256),
        exporter=_map(exporter, "exporter"),
        importer=_map(importer, "importer"),
        producer=None if producer is None else _map(producer, "producer"),
        country_of_export=check_country(country_of_export, "country_of_export"),
        country_of_import=check_country(country_of_import, "country_of_import"),
        goods=plain(list(goods), "goods"),
        transport=None if transport is None else _map(transport, "transport"),
        invoice_reference=_optional(check_reference, invoice_reference, "invoice_reference"),
        issue_date=check_date(issue_date, "issue_date"),
        expiry_date=expiry_date,
        bill_of_lading=None
        if bill_of_lading is None
        else check_document_id(bill_of_lading, "bill_of_lading"),
        exporter_organisation=_optional(
            check_organisation, exporter_organisation, "exporter_organisation"
        ),
        importer_organisation=_optional(
            check_organisation, importer_organisation, "importer_organisation"
        ),
    )


def coo_verify(
    document: str,
    outcome: str,
    reason: str | None = None,
    declaration_reference: str | None = None,
) -> dict[str, Value]:
    check_choice(outcome, "outcome", VERIFICATION_OUTCOMES)
    if outcome != "accepted" and reason is None:
        raise InvalidArgument("reason", f"is required for outcome {outcome}")
    return _body(
        document=check_document_id(document),
        outcome=outcome,
        reason=_optional(check_free_text, reason, "reason"),
        declaration_reference=_optional(
            check_reference, declaration_reference, "declaration_reference"
        ),
    )


# --- payment attestations -----------------------------------------------------------------------


def pay_attest(
    *,
    reference: str,
    uetr: str,
    beneficiary_bank: str,
    direction: str,
    payer: Party,
    payee: Party,
    payer_bank_bic: str,
    payee_bank_bic: str,
    amount_minor: int,
    currency: str,
    value_date: str,
    end_to_end_id: str | None = None,
    references: PaymentReferences | None = None,
    document_sha256: bytes | None = None,
) -> dict[str, Value]:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise InvalidArgument("amount_minor", "an integer number of minor units (cents)")
    if not 1 <= amount_minor <= AMOUNT_MINOR_MAX:
        raise InvalidArgument("amount_minor", f"must be 1..{AMOUNT_MINOR_MAX}")
    if references is not None:
        for name in ("bill_of_lading", "certificate_of_origin"):
            linked = references.get(name)
            if isinstance(linked, str):
                check_document_id(linked, f"references.{name}")
    return _body(
        reference=check_reference(reference),
        uetr=check_pattern(uetr, "uetr", _UETR, "a UETR (lowercase UUID version 4)"),
        beneficiary_bank=check_organisation(beneficiary_bank, "beneficiary_bank"),
        direction=check_choice(direction, "direction", PAYMENT_DIRECTIONS),
        payer=_map(payer, "payer"),
        payee=_map(payee, "payee"),
        payer_bank_bic=check_pattern(payer_bank_bic, "payer_bank_bic", _BIC, "a BIC (ISO 9362)"),
        payee_bank_bic=check_pattern(payee_bank_bic, "payee_bank_bic", _BIC, "a BIC (ISO 9362)"),
        amount_minor=amount_minor,
        currency=check_pattern(currency, "currency", _CURRENCY, "an ISO 4217 code (e.g. EUR)"),
        value_date=check_date(value_date, "value_date"),
        end_to_end_id=end_to_end_id,
        references=None if references is None else _map(references, "references"),
        document_sha256=None if document_sha256 is None else check_sha256(document_sha256),
    )


def pay_correct(document: str, attestation: dict[str, Value]) -> dict[str, Value]:
    """`attestation` is a `pay_attest(...)` body: the corrected payment in full."""
    return {"document": check_document_id(document), **attestation}


# --- customs ------------------------------------------------------------------------------------


def customs_record(
    *,
    reference: str,
    decision: str,
    outcome: str,
    documents: Sequence[str],
    reason: str | None = None,
    declaration_reference: str | None = None,
) -> dict[str, Value]:
    check_choice(decision, "decision", tuple(CUSTOMS_OUTCOMES))
    check_choice(outcome, "outcome", CUSTOMS_OUTCOMES[decision])
    if outcome not in NO_REASON_NEEDED and reason is None:
        raise InvalidArgument("reason", f"is required for outcome {outcome}")
    if not documents:
        raise InvalidArgument("documents", "name at least one document")
    if len(set(documents)) != len(documents):
        raise InvalidArgument("documents", "lists a document twice")
    return _body(
        reference=check_reference(reference),
        decision=decision,
        outcome=outcome,
        documents=[check_document_id(d, f"documents[{i}]") for i, d in enumerate(documents)],
        reason=_optional(check_free_text, reason, "reason"),
        declaration_reference=_optional(
            check_reference, declaration_reference, "declaration_reference"
        ),
    )


# --- membership and governance ------------------------------------------------------------------


def member_register(key: bytes, name: str) -> dict[str, Value]:
    if not 1 <= len(name) <= 256:
        raise InvalidArgument("name", "1-256 characters")
    return _body(key=check_public_key(key, "key"), name=name)


def member_rotate(old_key: bytes, new_key: bytes, name: str | None = None) -> dict[str, Value]:
    return _body(
        old_key=check_public_key(old_key, "old_key"),
        new_key=check_public_key(new_key, "new_key"),
        name=name,
    )


def member_revoke(key: bytes) -> dict[str, Value]:
    return _body(key=check_public_key(key, "key"))


def org_add_params(
    *,
    organisation_id: str,
    name: str,
    country: str,
    roles: Sequence[str],
    admin_keys: Sequence[bytes],
) -> dict[str, Value]:
    """`params` of a ``gov.propose`` of action ``org.add``."""
    if not roles:
        raise InvalidArgument("roles", "at least one role")
    if not admin_keys:
        raise InvalidArgument("admin_keys", "at least one admin key")
    return _body(
        id=check_organisation(organisation_id, "id"),
        name=name,
        country=check_country(country, "country"),
        roles=sorted(check_choice(role, "roles", ROLES) for role in set(roles)),
        admin_keys=[check_public_key(k, f"admin_keys[{i}]") for i, k in enumerate(admin_keys)],
    )


def org_change_params(organisation: str, reason: str | None = None) -> dict[str, Value]:
    """`params` of ``org.suspend`` and ``org.reinstate``."""
    return _body(
        organisation=check_organisation(organisation, "organisation"),
        reason=_optional(check_free_text, reason, "reason"),
    )


def validator_set_params(node_key: bytes, organisation: str, power: int) -> dict[str, Value]:
    """`params` of ``validator.set`` (power 0 removes the validator)."""
    if isinstance(power, bool) or not isinstance(power, int) or not 0 <= power <= 1_000_000:
        raise InvalidArgument("power", "an integer 0..1000000 (0 removes the validator)")
    return _body(
        node_key=check_public_key(node_key, "node_key"),
        organisation=check_organisation(organisation, "organisation"),
        power=power,
    )


def gov_propose(action: str, params: Mapping[str, object], expiry_height: int) -> dict[str, Value]:
    check_choice(action, "action", PROPOSAL_ACTIONS)
    if not isinstance(expiry_height, int) or expiry_height < 1:
        raise InvalidArgument("expiry_height", "a height >= 1")
    return _body(action=action, params=_map(params, "params"), expiry_height=expiry_height)


def gov_approve(proposal: str) -> dict[str, Value]:
    return _body(proposal=check_document_id(proposal, "proposal"))
