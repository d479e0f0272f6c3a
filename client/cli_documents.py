"""`tradeledger` commands that sign and submit transactions, one group per document family:

    bl        carrier: issue (from DCSA JSON or options), surrender-accept/-reject, amend, void;
              holder (seller, buyer, bank): transfer, accept, cancel, endorse, surrender
    coo       chamber: issue, revoke; customs: verify
    pay       bank: attest, confirm (beneficiary bank), correct, revoke
    customs   customs: record a verification or clearance decision
    member    organisation admin: register, rotate, revoke member keys
    gov       governance admin: propose, approve

Each waits for commit by default (`--no-wait` to return at once) and prints the result code;
a refusal by the ledger exits 1 with the code and its meaning.
"""

from __future__ import annotations

import datetime
import inspect
import json
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

import click

from client import bodies, dcsa
from client.bodies import Bill, CertificateGoodsItem, Party
from client.cli_support import (
    EXIT_USAGE,
    Session,
    fail,
    read_json_file,
    session_options,
    stderr_console,
    wait_option,
)
from client.errors import InvalidArgument
from client.keystore import KEY_FILE_SUFFIX, read_key_info
from client.sdk import Client, Receipt
from ledger import crypto
from ledger.errors import LedgerError

# ISO 4217 minor-unit exponents that are not 2 (the rest use cents).
CURRENCY_EXPONENTS = {
    "BHD": 3,
    "BIF": 0,
    "CLP": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "TND": 3,
    "UGX": 0,
    "VND": 0,
    "XAF": 0,
    "XOF": 0,
}
OFFER_BLOCKS_DEFAULT = 100_000


class DocumentIdType(click.ParamType[str]):
    name = "DOCUMENT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        try:
            return bodies.check_document_id(text, "document")
        except InvalidArgument:
            self.fail(f"{text!r} is not a document id (64 lowercase hex digits)", param, ctx)


DOCUMENT = DocumentIdType()


def today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


def file_sha256(path: Path) -> bytes:
    return crypto.sha256(path.read_bytes())


def submit(
    session: Session,
    action: Callable[[Client], Receipt],
    *,
    what: str,
    creates: str | None = None,
) -> None:
    """Run `action` with a signing client (a spinner on a terminal) and report its receipt."""
    client = session.client()
    console = stderr_console()
    if console.is_terminal and not session.as_json:
        with console.status(f"{what}: signing, submitting, waiting for commit…"):
            receipt = action(client)
    else:
        receipt = action(client)
    session.receipt(receipt, creates=creates)


def parse_amount(text: str, currency: str) -> int:
    """A decimal amount in `currency` as integer minor units ("1250.50" EUR -> 125050)."""
    exponent = CURRENCY_EXPONENTS.get(currency.upper(), 2)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidArgument("--amount", f"{text!r} is not a number") from None
    minor = amount.scaleb(exponent)
    if not amount.is_finite() or minor != minor.to_integral_value():
        raise InvalidArgument("--amount", f"{currency} has {exponent} decimals; got {text}")
    return int(minor)


def parse_milli(text: str, field: str) -> int:
    """A decimal quantity as integer thousandths ("12000.5" -> 12000500)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidArgument(field, f"{text!r} is not a number") from None
    milli = value.scaleb(3)
    if not value.is_finite() or value < 0 or milli != milli.to_integral_value():
        raise InvalidArgument(field, f"{text} must be >= 0 with at most 3 decimals")
    return int(milli)


def public_key_or_name(value: str, keystore: Path, field: str) -> bytes:
    """A public key given as 64 hex digits, or as the name of a key in the keystore."""
    if len(value) == 64:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    path = keystore / f"{value}{KEY_FILE_SUFFIX}"
    if path.exists():
        return read_key_info(path).public_key
    raise InvalidArgument(field, f"{value!r} is neither 64 hex digits nor a key in {keystore}")


def merged(data: Path | None, options: Mapping[str, Any]) -> dict[str, Any]:
    """Fields from a --data JSON file, overridden by the options given."""
    fields: dict[str, Any] = {}
    if data is not None:
        loaded = read_json_file(data, "--data")
        if not isinstance(loaded, dict):
            raise InvalidArgument("--data", "expected a JSON object of fields")
        fields.update(loaded)
        digest = fields.get("document_sha256")
        if isinstance(digest, str):
            fields["document_sha256"] = _hex(digest, "document_sha256")
    fields.update({name: value for name, value in options.items() if value is not None})
    return fields


def _hex(text: str, field: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InvalidArgument(field, "expected hex") from None


def call_builder(builder: Callable[..., Any], fields: dict[str, Any]) -> Any:
    """`builder(**fields)`, refusing unknown or missing fields (from --data) by name."""
    try:
        inspect.signature(builder).bind(**fields)
    except TypeError as exc:
        raise InvalidArgument("--data", f"unexpected or missing field ({exc})") from None
    return builder(**fields)


def party(name: str | None, country: str | None) -> Party | None:
    if name is None:
        return None
    result: Party = {"name": name}
    if country is not None:
        result["country"] = country
    return result


# --- bills of lading ----------------------------------------------------------------------------


@click.group("bl")
def bl() -> None:
    """Bills of lading. Carrier: issue, surrender-accept/-reject, amend, void.
    Holder (seller, buyer, bank): transfer, accept, cancel, endorse, surrender."""


def bill_content_options(function: Callable[..., None]) -> Callable[..., None]:
    """Where the bill's content comes from: --dcsa, --bill, or the options."""
    options = [
        click.option(
            "--dcsa",
            "dcsa_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="A DCSA eBL 3.0 transport document (or issuance request, PINT envelope).",
        ),
        click.option(
            "--bill",
            "bill_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="The bill's content as JSON in the ledger's shape (docs/contracts.md).",
        ),
        click.option("--document-type", type=click.Choice(bodies.DOCUMENT_TYPES), default="BOL"),
        click.option("--shipper", help="Shipper's name as printed."),
        click.option("--shipper-country", metavar="CC"),
        click.option("--consignee-name", help="Consignee's name as printed."),
        click.option("--vessel", help="Vessel name."),
        click.option("--voyage", help="Carrier's export voyage number."),
        click.option("--from", "port_of_loading", metavar="UNLOCODE", help="Port of loading."),
        click.option("--to", "port_of_discharge", metavar="UNLOCODE", help="Port of discharge."),
        click.option("--goods", "goods_description", help="Description of the goods."),
        click.option("--hs-code", "hs_codes", multiple=True, help="HS code (repeat)."),
        click.option("--packages", type=click.IntRange(0), help="Number of packages."),
        click.option("--weight-kg", help="Gross weight in kilograms (up to 3 decimals)."),
        click.option("--issue-date", help="YYYY-MM-DD (default: today, UTC)."),
        click.option(
            "--shipped-on-board/--received-for-shipment", "shipped_on_board", default=True
        ),
        click.option("--freight", type=click.Choice(("PRE", "COL")), default="PRE"),
    ]
    decorated = function
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def bill_from_options(options: dict[str, Any]) -> Bill:
    required = {
        "shipper": "--shipper",
        "vessel": "--vessel",
        "voyage": "--voyage",
        "port_of_loading": "--from",
        "port_of_discharge": "--to",
        "goods_description": "--goods",
    }
    for name, flag in required.items():
        if options.get(name) is None:
            raise InvalidArgument(flag, "is required (or give the content with --dcsa or --bill)")
    if not options["hs_codes"]:
        raise InvalidArgument("--hs-code", "give at least one (or use --dcsa or --bill)")
    goods: dict[str, Any] = {
        "description": options["goods_description"],
        "hs_codes": list(options["hs_codes"]),
    }
    if options.get("packages") is not None or options.get("weight_kg") is not None:
        goods["cargo_items"] = [
            {
                "packages": options.get("packages") or 0,
                "gross_weight_milli": parse_milli(options.get("weight_kg") or "0", "--weight-kg"),
                "weight_unit": "KGM",
            }
        ]
    bill: dict[str, Any] = {
        "document_type": options["document_type"],
        "shipper": party(options["shipper"], options.get("shipper_country")),
        "consignee": party(options.get("consignee_name"), None),
        "vessel_voyages": [{"vessel_name": options["vessel"], "voyage": options["voyage"]}],
        "port_of_loading": options["port_of_loading"],
        "port_of_discharge": options["port_of_discharge"],
        "goods": [goods],
        "issue_date": options.get("issue_date") or today(),
        "is_shipped_on_board": options["shipped_on_board"],
        "freight_payment_term": options["freight"],
    }
    return cast(Bill, {k: v for k, v in bill.items() if v is not None})


def carrier_transports(document: Mapping[str, Any], options: dict[str, Any]) -> Any:
    """The DCSA `transports` the carrier adds to shipping instructions, from the options
    (None when the document has its own)."""
    if isinstance(document.get("transports"), Mapping):
        return None
    needed = {
        "--vessel": options.get("vessel"),
        "--voyage": options.get("voyage"),
        "--from": options.get("port_of_loading"),
        "--to": options.get("port_of_discharge"),
    }
    missing = [flag for flag, value in needed.items() if value is None]
    if missing:
        raise InvalidArgument(
            "--dcsa",
            f"the document has no transports (shipping instructions?): give {', '.join(missing)}",
        )
    return {
        "vesselVoyages": [
            {"vesselName": options["vessel"], "carrierExportVoyageNumber": options["voyage"]}
        ],
        "portOfLoading": {"UNLocationCode": options["port_of_loading"]},
        "portOfDischarge": {"UNLocationCode": options["port_of_discharge"]},
    }


def load_dcsa(path: Path) -> tuple[Any, bytes]:
    raw = path.read_bytes()
    try:
        document = dcsa.find_transport_document(dcsa.load_json(raw.decode("utf-8")))
    except (ValueError, LedgerError) as exc:
        raise InvalidArgument("--dcsa", f"{path}: {exc}") from None
    return document, raw


@bl.command("issue")
@click.option("--issue-to", required=True, metavar="ORG", help="First holder (organisation).")
@click.option("--reference", help="Transport document reference (default: from --dcsa).")
@click.option("--to-order/--straight", "to_order", default=None, help="Default: from --dcsa.")
@click.option("--endorsee", metavar="ORG", help="To-order: the organisation it is made out to.")
@click.option("--consignee", metavar="ORG", help="Straight: the consignee organisation.")
@click.option(
    "--file",
    "document_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signed document file its SHA-256 binds (default: the --dcsa file).",
)
@bill_content_options
@wait_option
@session_options
def bl_issue(
    session: Session,
    issue_to: str,
    reference: str | None,
    to_order: bool | None,
    endorsee: str | None,
    consignee: str | None,
    document_file: Path | None,
    dcsa_file: Path | None,
    bill_file: Path | None,
    wait: bool,
    **content: Any,
) -> None:
    """Carrier: issue a bill of lading to ISSUE-TO, from a DCSA file or options."""
    if dcsa_file is not None and bill_file is not None:
        fail("give --dcsa or --bill, not both", exit_code=EXIT_USAGE, as_json=session.as_json)
    if dcsa_file is not None:
        document, raw = load_dcsa(dcsa_file)
        order = document.get("isToOrder")
        if to_order is not None and to_order is not order:
            raise InvalidArgument(
                "--to-order/--straight", f"the DCSA document says isToOrder={order}"
            )
        if order and consignee is not None:
            raise InvalidArgument("--consignee", "a to-order bill names an --endorsee")
        if not order and endorsee is not None:
            raise InvalidArgument("--endorsee", "a straight bill names a --consignee")
        digest = crypto.sha256(raw) if document_file is None else file_sha256(document_file)
        details = dcsa.IssueDetails(
            issue_to=issue_to,
            document_sha256=digest,
            endorsee=endorsee,
            consignee=consignee,
            reference=reference,
            issue_date=content.get("issue_date") or today(),
            transports=carrier_transports(document, content),
        )
        submit(
            session,
            lambda client: client.bl_issue_dcsa(document, details, wait=wait),
            what="bl.issue",
            creates="bill",
        )
        return
    if reference is None:
        raise InvalidArgument("--reference", "is required without --dcsa")
    if to_order is None:
        raise InvalidArgument("--to-order/--straight", "say which (or use --dcsa)")
    if document_file is None:
        raise InvalidArgument("--file", "the document file is required without --dcsa")
    bill = (
        cast(Bill, read_json_file(bill_file, "--bill"))
        if bill_file is not None
        else bill_from_options(content)
    )
    digest = file_sha256(document_file)
    submit(
        session,
        lambda client: client.bl_issue(
            reference=reference,
            issue_to=issue_to,
            to_order=to_order,
            endorsee=endorsee,
            consignee=consignee,
            document_sha256=digest,
            bill=bill,
            wait=wait,
        ),
        what="bl.issue",
        creates="bill",
    )


@bl.command("transfer")
@click.argument("document", type=DOCUMENT)
@click.option("--to", "recipient", required=True, metavar="ORG", help="The new holder.")
@click.option(
    "--offer-blocks",
    type=click.IntRange(1, 2_592_000),
    default=OFFER_BLOCKS_DEFAULT,
    show_default=True,
    help="The offer lapses this many blocks from now unless accepted.",
)
@wait_option
@session_options
def bl_transfer(
    session: Session, document: str, recipient: str, offer_blocks: int, wait: bool
) -> None:
    """Holder: offer DOCUMENT to another organisation (it must accept)."""

    def action(client: Client) -> Receipt:
        expiry = client.height() + offer_blocks
        return client.bl_transfer(document, recipient, offer_expiry_height=expiry, wait=wait)

    submit(session, action, what="bl.transfer")


@bl.command("accept")
@click.argument("document", type=DOCUMENT)
@wait_option
@session_options
def bl_accept(session: Session, document: str, wait: bool) -> None:
    """Recipient of an offer: accept DOCUMENT and become its holder."""
    submit(session, lambda client: client.bl_accept(document, wait=wait), what="bl.accept")


@bl.command("cancel")
@click.argument("document", type=DOCUMENT)
@wait_option
@session_options
def bl_cancel(session: Session, document: str, wait: bool) -> None:
    """Holder: withdraw the pending transfer offer of DOCUMENT."""
    submit(session, lambda client: client.bl_cancel(document, wait=wait), what="bl.cancel")


ENDORSE_ACTIONS = {
    "endorse": "ENDORSE",
    "endorse-to-order": "ENDORSE_TO_ORDER",
    "blank": "BLANK_ENDORSE",
}


@bl.command("endorse")
@click.argument("document", type=DOCUMENT)
@click.option("--action", type=click.Choice(tuple(ENDORSE_ACTIONS)), default="endorse-to-order")
@click.option("--endorsee", metavar="ORG", help="Required unless --action blank.")
@wait_option
@session_options
def bl_endorse(
    session: Session, document: str, action: str, endorsee: str | None, wait: bool
) -> None:
    """Holder of a to-order bill: endorse DOCUMENT to ENDORSEE (or in blank)."""
    code = ENDORSE_ACTIONS[action]
    submit(
        session,
        lambda client: client.bl_endorse(document, code, endorsee, wait=wait),
        what="bl.endorse",
    )


@bl.command("surrender")
@click.argument("document", type=DOCUMENT)
@click.option("--for", "purpose", type=click.Choice(bodies.SURRENDER_PURPOSES), default="delivery")
@click.option("--reason-code", type=click.Choice(bodies.AMENDMENT_REASON_CODES))
@click.option("--comments")
@wait_option
@session_options
def bl_surrender(
    session: Session,
    document: str,
    purpose: str,
    reason_code: str | None,
    comments: str | None,
    wait: bool,
) -> None:
    """Holder: surrender DOCUMENT to its carrier for delivery (or amendment)."""
    submit(
        session,
        lambda client: client.bl_surrender(
            document, purpose, reason_code=reason_code, comments=comments, wait=wait
        ),
        what="bl.surrender",
    )


@bl.command("surrender-accept")
@click.argument("document", type=DOCUMENT)
@wait_option
@session_options
def bl_surrender_accept(session: Session, document: str, wait: bool) -> None:
    """Carrier: accept the pending surrender of DOCUMENT."""
    submit(
        session,
        lambda client: client.bl_surrender_accept(document, wait=wait),
        what="bl.surrender_accept",
    )


@bl.command("surrender-reject")
@click.argument("document", type=DOCUMENT)
@click.option("--reason", required=True)
@wait_option
@session_options
def bl_surrender_reject(session: Session, document: str, reason: str, wait: bool) -> None:
    """Carrier: reject the pending surrender of DOCUMENT."""
    submit(
        session,
        lambda client: client.bl_surrender_reject(document, reason, wait=wait),
        what="bl.surrender_reject",
    )


@bl.command("amend")
@click.argument("document", type=DOCUMENT)
@click.option("--reference", help="Reference of the amended bill (default: from --dcsa).")
@click.option(
    "--file",
    "document_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The amended document file (default: the --dcsa file).",
)
@bill_content_options
@wait_option
@session_options
def bl_amend(
    session: Session,
    document: str,
    reference: str | None,
    document_file: Path | None,
    dcsa_file: Path | None,
    bill_file: Path | None,
    wait: bool,
    **content: Any,
) -> None:
    """Carrier, after an accepted surrender for amendment: issue the amended DOCUMENT."""
    if dcsa_file is not None:
        transport_document, raw = load_dcsa(dcsa_file)
        details = dcsa.IssueDetails(
            issue_to="unused",
            document_sha256=crypto.sha256(raw),
            reference=reference,
            issue_date=content.get("issue_date") or today(),
            transports=carrier_transports(transport_document, content),
        )
        try:
            issue = dcsa.issue_body(transport_document, details)
        except LedgerError as exc:
            raise InvalidArgument("--dcsa", str(exc)) from None
        bill = cast(Bill, issue["bill"])
        reference = str(issue["reference"])
        digest = crypto.sha256(raw) if document_file is None else file_sha256(document_file)
    else:
        if reference is None:
            raise InvalidArgument("--reference", "is required without --dcsa")
        if document_file is None:
            raise InvalidArgument("--file", "the document file is required without --dcsa")
        bill = (
            cast(Bill, read_json_file(bill_file, "--bill"))
            if bill_file is not None
            else bill_from_options(content)
        )
        digest = file_sha256(document_file)
    amended_reference = reference
    submit(
        session,
        lambda client: client.bl_amend(
            document, reference=amended_reference, document_sha256=digest, bill=bill, wait=wait
        ),
        what="bl.amend",
        creates="bill",
    )


@bl.command("void")
@click.argument("document", type=DOCUMENT)
@click.option("--reason", required=True)
@wait_option
@session_options
def bl_void(session: Session, document: str, reason: str, wait: bool) -> None:
    """Carrier: void DOCUMENT (issued, never transferred)."""
    submit(session, lambda client: client.bl_void(document, reason, wait=wait), what="bl.void")


# --- certificates of origin ---------------------------------------------------------------------


@click.group("coo")
def coo() -> None:
    """Certificates of origin. Chamber: issue, revoke. Customs: verify."""


def parse_goods(spec: str) -> CertificateGoodsItem:
    parts = spec.split("|")
    if len(parts) != 6:
        raise InvalidArgument(
            "--goods", "expected DESCRIPTION|HS_CODE|QUANTITY|UNIT|ORIGIN|CRITERION"
        )
    description, hs_code, quantity, unit, origin, criterion = (p.strip() for p in parts)
    if not quantity.isdigit():
        raise InvalidArgument("--goods", f"quantity {quantity!r} is not a whole number")
    return {
        "description": description,
        "hs_code": hs_code,
        "quantity": int(quantity),
        "unit": unit,
        "origin_country": origin,
        "origin_criterion": criterion,
    }


@coo.command("issue")
@click.option("--reference", help="The certificate number.")
@click.option(
    "--file",
    "document_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signed certificate file its SHA-256 binds.",
)
@click.option("--exporter", help="Exporter's name as printed.")
@click.option("--exporter-country", metavar="CC")
@click.option("--importer", help="Importer's name as printed.")
@click.option("--importer-country", metavar="CC")
@click.option("--export-country", metavar="CC", help="Default: --exporter-country.")
@click.option("--import-country", metavar="CC", help="Default: --importer-country.")
@click.option(
    "--goods",
    "goods_specs",
    multiple=True,
    metavar="DESC|HS|QTY|UNIT|ORIGIN|CRITERION",
    help="A goods item (repeat), e.g. 'Cheese|040690|100|KGM|NL|WO'.",
)
@click.option("--issue-date", help="YYYY-MM-DD (default: today, UTC).")
@click.option("--expiry-date", help="YYYY-MM-DD.")
@click.option("--bill-of-lading", type=DOCUMENT, help="The bill of lading it covers.")
@click.option("--exporter-org", metavar="ORG", help="The exporter's ledger organisation.")
@click.option("--importer-org", metavar="ORG", help="The importer's ledger organisation.")
@click.option("--invoice-reference")
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON object of certificate fields (docs/contracts.md); options override it.",
)
@wait_option
@session_options
def coo_issue(
    session: Session,
    reference: str | None,
    document_file: Path | None,
    exporter: str | None,
    exporter_country: str | None,
    importer: str | None,
    importer_country: str | None,
    export_country: str | None,
    import_country: str | None,
    goods_specs: tuple[str, ...],
    issue_date: str | None,
    expiry_date: str | None,
    bill_of_lading: str | None,
    exporter_org: str | None,
    importer_org: str | None,
    invoice_reference: str | None,
    data: Path | None,
    wait: bool,
) -> None:
    """Chamber: issue a certificate of origin."""
    fields = merged(
        data,
        {
            "reference": reference,
            "document_sha256": None if document_file is None else file_sha256(document_file),
            "exporter": party(exporter, exporter_country),
            "importer": party(importer, importer_country),
            "country_of_export": export_country or exporter_country,
            "country_of_import": import_country or importer_country,
            "goods": [parse_goods(spec) for spec in goods_specs] or None,
            "expiry_date": expiry_date,
            "bill_of_lading": bill_of_lading,
            "exporter_organisation": exporter_org,
            "importer_organisation": importer_org,
            "invoice_reference": invoice_reference,
        },
    )
    fields.setdefault("issue_date", issue_date or today())
    for name, flag in (
        ("reference", "--reference"),
        ("document_sha256", "--file"),
        ("exporter", "--exporter"),
        ("importer", "--importer"),
        ("country_of_export", "--export-country"),
        ("country_of_import", "--import-country"),
        ("goods", "--goods"),
    ):
        if name not in fields:
            raise InvalidArgument(flag, "is required (or give it in --data)")
    submit(
        session,
        lambda client: call_builder(client.coo_issue, {**fields, "wait": wait}),
        what="coo.issue",
        creates="certificate",
    )


@coo.command("revoke")
@click.argument("document", type=DOCUMENT)
@click.option("--reason", required=True)
@wait_option
@session_options
def coo_revoke(session: Session, document: str, reason: str, wait: bool) -> None:
    """Issuing chamber: revoke the certificate DOCUMENT (final)."""
    submit(
        session, lambda client: client.coo_revoke(document, reason, wait=wait), what="coo.revoke"
    )


@coo.command("verify")
@click.argument("document", type=DOCUMENT)
@click.option("--outcome", type=click.Choice(bodies.VERIFICATION_OUTCOMES), required=True)
@click.option("--reason", help="Required unless the outcome is accepted.")
@click.option("--declaration", "declaration_reference", help="The customs declaration.")
@wait_option
@session_options
def coo_verify(
    session: Session,
    document: str,
    outcome: str,
    reason: str | None,
    declaration_reference: str | None,
    wait: bool,
) -> None:
    """Customs: record the verification outcome of the certificate DOCUMENT."""
    submit(
        session,
        lambda client: client.coo_verify(
            document,
            outcome,
            reason=reason,
            declaration_reference=declaration_reference,
            wait=wait,
        ),
        what="coo.verify",
    )


# --- payment attestations -----------------------------------------------------------------------


@click.group("pay")
def pay() -> None:
    """Payment attestations. Bank: attest, correct, revoke; beneficiary bank: confirm."""


def payment_options(function: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option("--reference", help="The bank's reference for the payment."),
        click.option("--uetr", help="The SWIFT gpi UETR (lowercase UUID v4)."),
        click.option("--beneficiary-bank", metavar="ORG", help="The bank that must confirm."),
        click.option("--direction", type=click.Choice(bodies.PAYMENT_DIRECTIONS)),
        click.option("--payer", help="Payer's name."),
        click.option("--payee", help="Payee's name."),
        click.option("--payer-bic"),
        click.option("--payee-bic"),
        click.option("--amount", help="Decimal amount, e.g. 12500.00."),
        click.option("--currency", metavar="ISO4217"),
        click.option("--value-date", help="YYYY-MM-DD (default: today, UTC)."),
        click.option("--end-to-end-id"),
        click.option("--invoice", help="Invoice reference."),
        click.option("--letter-of-credit", help="Letter of credit reference."),
        click.option("--bill-of-lading", type=DOCUMENT, help="The bill of lading it pays for."),
        click.option("--certificate", type=DOCUMENT, help="The certificate of origin."),
        click.option(
            "--file",
            "document_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="The payment message file (e.g. an MT103 or pacs.008) its SHA-256 binds.",
        ),
        click.option(
            "--data",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="JSON object of attestation fields; options override it.",
        ),
    ]
    decorated = function
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def attestation_fields(options: dict[str, Any]) -> dict[str, Any]:
    references = {
        "invoice": options["invoice"],
        "letter_of_credit": options["letter_of_credit"],
        "bill_of_lading": options["bill_of_lading"],
        "certificate_of_origin": options["certificate"],
    }
    currency = options["currency"]
    amount = options["amount"]
    document_file = options["document_file"]
    fields = merged(
        options["data"],
        {
            "reference": options["reference"],
            "uetr": options["uetr"],
            "beneficiary_bank": options["beneficiary_bank"],
            "direction": options["direction"],
            "payer": party(options["payer"], None),
            "payee": party(options["payee"], None),
            "payer_bank_bic": options["payer_bic"],
            "payee_bank_bic": options["payee_bic"],
            "currency": currency,
            "value_date": options["value_date"],
            "end_to_end_id": options["end_to_end_id"],
            "references": {k: v for k, v in references.items() if v is not None} or None,
            "document_sha256": None if document_file is None else file_sha256(document_file),
        },
    )
    if amount is not None:
        if "currency" not in fields:
            raise InvalidArgument("--currency", "is required with --amount")
        fields["amount_minor"] = parse_amount(amount, str(fields["currency"]))
    fields.setdefault("direction", "sent")
    fields.setdefault("value_date", today())
    for name, flag in (
        ("reference", "--reference"),
        ("uetr", "--uetr"),
        ("beneficiary_bank", "--beneficiary-bank"),
        ("payer", "--payer"),
        ("payee", "--payee"),
        ("payer_bank_bic", "--payer-bic"),
        ("payee_bank_bic", "--payee-bic"),
        ("amount_minor", "--amount"),
        ("currency", "--currency"),
    ):
        if name not in fields:
            raise InvalidArgument(flag, "is required (or give it in --data)")
    return fields


@pay.command("attest")
@payment_options
@wait_option
@session_options
def pay_attest(session: Session, wait: bool, **options: Any) -> None:
    """Bank: attest a payment it sent or received."""
    fields = attestation_fields(options)
    submit(
        session,
        lambda client: call_builder(client.pay_attest, {**fields, "wait": wait}),
        what="pay.attest",
        creates="attestation",
    )


@pay.command("confirm")
@click.argument("document", type=DOCUMENT)
@wait_option
@session_options
def pay_confirm(session: Session, document: str, wait: bool) -> None:
    """Beneficiary bank: confirm receipt of the attested payment DOCUMENT."""
    submit(session, lambda client: client.pay_confirm(document, wait=wait), what="pay.confirm")


@pay.command("correct")
@click.argument("document", type=DOCUMENT)
@payment_options
@wait_option
@session_options
def pay_correct(session: Session, document: str, wait: bool, **options: Any) -> None:
    """Attesting bank: correct DOCUMENT with the full corrected payment (a new record)."""
    attestation = call_builder(bodies.pay_attest, attestation_fields(options))
    submit(
        session,
        lambda client: client.pay_correct(document, attestation, wait=wait),
        what="pay.correct",
        creates="attestation",
    )


@pay.command("revoke")
@click.argument("document", type=DOCUMENT)
@click.option("--reason", required=True)
@wait_option
@session_options
def pay_revoke(session: Session, document: str, reason: str, wait: bool) -> None:
    """Attesting bank: revoke the attestation DOCUMENT (a new revocation record)."""
    submit(
        session,
        lambda client: client.pay_revoke(document, reason, wait=wait),
        what="pay.revoke",
        creates="revocation",
    )


# --- customs ------------------------------------------------------------------------------------


@click.group("customs")
def customs() -> None:
    """Customs decisions (look documents up with `doc`, check files with `verify`)."""


@customs.command("record")
@click.option("--reference", required=True, help="Your reference for the decision.")
@click.option("--decision", type=click.Choice(tuple(bodies.CUSTOMS_OUTCOMES)), required=True)
@click.option(
    "--outcome",
    required=True,
    type=click.Choice(sorted({o for os in bodies.CUSTOMS_OUTCOMES.values() for o in os})),
    help="verification: accepted, rejected, query; clearance: released, held, refused.",
)
@click.option("--document", "documents", type=DOCUMENT, multiple=True, required=True)
@click.option("--reason", help="Required unless accepted or released.")
@click.option("--declaration", "declaration_reference", help="The customs declaration.")
@wait_option
@session_options
def customs_record(
    session: Session,
    reference: str,
    decision: str,
    outcome: str,
    documents: tuple[str, ...],
    reason: str | None,
    declaration_reference: str | None,
    wait: bool,
) -> None:
    """Customs: record a verification or clearance decision about documents."""
    submit(
        session,
        lambda client: client.customs_record(
            reference=reference,
            decision=decision,
            outcome=outcome,
            documents=documents,
            reason=reason,
            declaration_reference=declaration_reference,
            wait=wait,
        ),
        what="customs.record",
        creates="decision",
    )


# --- membership and governance ------------------------------------------------------------------


@click.group("member")
def member() -> None:
    """Organisation admin: register, rotate and revoke member keys (sign with an admin key).
    A KEY is 64 hex digits or the name of a key in the keystore."""


@member.command("register")
@click.argument("key")
@click.option("--name", "member_name", required=True, help="Who or what the key is.")
@wait_option
@session_options
def member_register(session: Session, key: str, member_name: str, wait: bool) -> None:
    """Register KEY as a member of your organisation."""
    public_key = public_key_or_name(key, session.keystore, "KEY")
    submit(
        session,
        lambda client: client.member_register(public_key, member_name, wait=wait),
        what="member.register",
    )


@member.command("rotate")
@click.argument("old_key")
@click.argument("new_key")
@click.option("--name", "member_name")
@wait_option
@session_options
def member_rotate(
    session: Session, old_key: str, new_key: str, member_name: str | None, wait: bool
) -> None:
    """Replace member key OLD_KEY by NEW_KEY (the old one is revoked)."""
    old = public_key_or_name(old_key, session.keystore, "OLD_KEY")
    new = public_key_or_name(new_key, session.keystore, "NEW_KEY")
    submit(
        session,
        lambda client: client.member_rotate(old, new, member_name, wait=wait),
        what="member.rotate",
    )


@member.command("revoke")
@click.argument("key")
@wait_option
@session_options
def member_revoke(session: Session, key: str, wait: bool) -> None:
    """Revoke member key KEY of your organisation."""
    public_key = public_key_or_name(key, session.keystore, "KEY")
    submit(
        session, lambda client: client.member_revoke(public_key, wait=wait), what="member.revoke"
    )


@click.group("gov")
def gov() -> None:
    """Governance admin: propose and approve membership and validator changes."""


GOVERNANCE_BINARY_FIELDS = ("admin_keys", "node_key")


def governance_params(text: str) -> dict[str, Any]:
    """PARAMS as JSON text or @FILE; keys given as hex in admin_keys / node_key."""
    if text.startswith("@"):
        loaded = read_json_file(Path(text[1:]), "--params")
    else:
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise InvalidArgument("--params", f"not JSON ({exc})") from None
    if not isinstance(loaded, dict):
        raise InvalidArgument("--params", "expected a JSON object")
    params: dict[str, Any] = dict(loaded)
    if isinstance(params.get("node_key"), str):
        params["node_key"] = _hex(params["node_key"], "params.node_key")
    if isinstance(params.get("admin_keys"), list):
        params["admin_keys"] = [
            _hex(str(k), f"params.admin_keys[{i}]") for i, k in enumerate(params["admin_keys"])
        ]
    return params


@gov.command("propose")
@click.argument("action", type=click.Choice(bodies.PROPOSAL_ACTIONS))
@click.option(
    "--params",
    "params_text",
    required=True,
    metavar="JSON|@FILE",
    help='e.g. \'{"organisation": "bank3", "reason": "licence withdrawn"}\'.',
)
@click.option("--expiry-blocks", type=click.IntRange(1, 604_800), default=100_000)
@wait_option
@session_options
def gov_propose(
    session: Session, action: str, params_text: str, expiry_blocks: int, wait: bool
) -> None:
    """Propose ACTION (org.add, org.suspend, org.reinstate, validator.set)."""
    params = governance_params(params_text)

    def propose(client: Client) -> Receipt:
        expiry = client.height() + expiry_blocks
        return client.gov_propose(action, params, expiry_height=expiry, wait=wait)

    submit(session, propose, what="gov.propose", creates="proposal")


@gov.command("approve")
@click.argument("proposal", type=DOCUMENT)
@wait_option
@session_options
def gov_approve(session: Session, proposal: str, wait: bool) -> None:
    """Approve the open PROPOSAL."""
    submit(session, lambda client: client.gov_approve(proposal, wait=wait), what="gov.approve")


GROUPS = (bl, coo, pay, customs, member, gov)
