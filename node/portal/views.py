"""How the portal puts the ledger's answers into words: verdicts, status labels, timelines,
document content. Presentation only: every fact comes from `node.reads` (or the portal's
own `links` read) and nothing here decides who may see what.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.records import (
    FAMILY_BILL_OF_LADING,
    FAMILY_CERTIFICATE_OF_ORIGIN,
    FAMILY_CUSTOMS,
    FAMILY_PAYMENT,
    BillStatus,
    RecordStatus,
)

GENUINE = "genuine"
REVOKED = "revoked"
SURRENDERED = "surrendered"
SUPERSEDED = "superseded"
NOT_FOUND = "not-found"
ALTERED = "altered"


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The answer in plain words. `kind` picks the colour; `icon` and `title` say the same
    without colour."""

    kind: str
    icon: str
    title: str
    summary: str
    advice: str


FAMILY_LABELS = {
    FAMILY_BILL_OF_LADING: "bill of lading",
    FAMILY_CERTIFICATE_OF_ORIGIN: "certificate of origin",
    FAMILY_PAYMENT: "payment attestation",
    FAMILY_CUSTOMS: "customs decision",
}

ROLE_LABELS = {
    "customs": "customs authority",
    "bank": "bank",
    "carrier": "carrier",
    "chamber": "issuing body (chamber of commerce)",
    "seller": "seller (exporter)",
    "buyer": "buyer (importer)",
    "governance": "governance council",
}

_STATUS_LABELS: dict[tuple[str, str], tuple[str, str]] = {
    # (family, status) -> (label, verdict kind)
    (FAMILY_BILL_OF_LADING, BillStatus.ISSUED): ("Current", GENUINE),
    (FAMILY_BILL_OF_LADING, BillStatus.TRANSFER_PENDING): ("Current, transfer pending", GENUINE),
    (FAMILY_BILL_OF_LADING, BillStatus.PENDING_SURRENDER_FOR_DELIVERY): (
        "Current, surrender for delivery pending",
        GENUINE,
    ),
    (FAMILY_BILL_OF_LADING, BillStatus.PENDING_SURRENDER_FOR_AMENDMENT): (
        "Current, surrender for amendment pending",
        GENUINE,
    ),
    (FAMILY_BILL_OF_LADING, BillStatus.SURRENDERED_FOR_DELIVERY): (
        "Surrendered for delivery",
        SURRENDERED,
    ),
    (FAMILY_BILL_OF_LADING, BillStatus.SURRENDERED_FOR_AMENDMENT): (
        "Surrendered for amendment",
        SURRENDERED,
    ),
    (FAMILY_BILL_OF_LADING, BillStatus.AMENDED): ("Superseded by an amendment", SUPERSEDED),
    (FAMILY_BILL_OF_LADING, BillStatus.VOIDED): ("Voided by the carrier", REVOKED),
    (FAMILY_CERTIFICATE_OF_ORIGIN, RecordStatus.ISSUED): ("Valid", GENUINE),
    (FAMILY_CERTIFICATE_OF_ORIGIN, RecordStatus.REVOKED): ("Revoked", REVOKED),
    (FAMILY_PAYMENT, RecordStatus.ATTESTED): ("Attested, awaiting the beneficiary bank", GENUINE),
    (FAMILY_PAYMENT, RecordStatus.CONFIRMED): ("Confirmed by the beneficiary bank", GENUINE),
    (FAMILY_PAYMENT, RecordStatus.CORRECTED): ("Superseded by a correction", SUPERSEDED),
    (FAMILY_PAYMENT, RecordStatus.REVOKED): ("Revoked", REVOKED),
    (FAMILY_PAYMENT, RecordStatus.RECORDED): ("Recorded", GENUINE),
    (FAMILY_CUSTOMS, RecordStatus.RECORDED): ("Recorded", GENUINE),
}


def family_label(family: str, record_type: str = "") -> str:
    label = FAMILY_LABELS.get(family, family)
    if family == FAMILY_PAYMENT and record_type == "correction":
        return "payment attestation (correction)"
    return label


def status_label(family: str, status: str) -> str:
    return _STATUS_LABELS.get((family, status), (status.replace("_", " ").capitalize(), ""))[0]


def status_kind(family: str, status: str) -> str:
    """The verdict kind a record's status falls under (for its colour and icon)."""
    return _STATUS_LABELS.get((family, status), ("", GENUINE))[1]


ICONS = {
    GENUINE: "✓",
    REVOKED: "✕",
    SURRENDERED: "■",
    SUPERSEDED: "↻",
    NOT_FOUND: "?",
    ALTERED: "⚠",
}


def record_verdict(*, family: str, record_type: str, status: str, issuer: str) -> Verdict:
    """The verdict on a registered document, from its family and status."""
    kind = status_kind(family, status)
    label = family_label(family, record_type)
    if kind == GENUINE:
        summary = f"This {label} is registered on the ledger by {issuer} and is in force."
        if status == BillStatus.TRANSFER_PENDING:
            summary += " Its holder has offered it to a new holder, who has not accepted yet."
        elif status in (
            BillStatus.PENDING_SURRENDER_FOR_DELIVERY,
            BillStatus.PENDING_SURRENDER_FOR_AMENDMENT,
        ):
            summary += " Its holder has surrendered it to the carrier, who has not decided yet."
        elif status == RecordStatus.ATTESTED:
            summary += " The beneficiary bank has not yet confirmed receipt."
        elif status == RecordStatus.CONFIRMED and family == FAMILY_PAYMENT:
            summary += " The beneficiary bank confirmed receipt."
        return Verdict(
            kind=GENUINE,
            icon=ICONS[GENUINE],
            title="Genuine and current",
            summary=summary,
            advice="You may rely on it. Print the verification sheet to keep a record.",
        )
    if kind == REVOKED:
        if status == BillStatus.VOIDED:
            summary = (
                f"{issuer} voided this bill of lading before it was ever transferred. "
                "It gives no title to the goods."
            )
        else:
            summary = f"{issuer} revoked this {label}. It is no longer valid."
        return Verdict(
            kind=REVOKED,
            icon=ICONS[REVOKED],
            title="Revoked",
            summary=summary,
            advice=f"Do not accept it. Ask {issuer} why it was revoked and for a valid document.",
        )
    if kind == SURRENDERED:
        if status == BillStatus.SURRENDERED_FOR_DELIVERY:
            summary = (
                "This bill of lading was surrendered to the carrier for delivery, and the "
                "carrier accepted: the goods have been released and the bill no longer gives "
                "title to them."
            )
        else:
            summary = (
                "This bill of lading was surrendered to the carrier for amendment; the carrier "
                "will issue an amended bill that replaces it."
            )
        return Verdict(
            kind=SURRENDERED,
            icon=ICONS[SURRENDERED],
            title="Surrendered",
            summary=summary,
            advice="It can no longer be transferred or used to claim the goods.",
        )
    if kind == SUPERSEDED:
        how = "a correction" if family == FAMILY_PAYMENT else "an amendment"
        return Verdict(
            kind=SUPERSEDED,
            icon=ICONS[SUPERSEDED],
            title=f"Superseded by {how}",
            summary=(
                f"{issuer} replaced this {label} with {how}. This version is no longer valid."
            ),
            advice="Ask for the current version and verify that one instead.",
        )
    return Verdict(
        kind=GENUINE,
        icon=ICONS[GENUINE],
        title="On the ledger",
        summary=f"This {label} is registered on the ledger by {issuer} (status {status}).",
        advice="",
    )


def not_found_verdict() -> Verdict:
    return Verdict(
        kind=NOT_FOUND,
        icon=ICONS[NOT_FOUND],
        title="Not on the ledger",
        summary="No document with exactly this file is registered on the ledger.",
        advice=(
            "Do not rely on it yet. Check that you chose the original file: any change, even "
            "saving a PDF again, changes its fingerprint. If it should be registered, open the "
            "verification link (the QR code on its verification sheet) and compare the file "
            "there, or ask its issuer."
        ),
    )


def altered_verdict(*, family: str, record_type: str, issuer: str) -> Verdict:
    label = family_label(family, record_type)
    return Verdict(
        kind=ALTERED,
        icon=ICONS[ALTERED],
        title="Altered",
        summary=(
            f"The file you checked is not the one registered: it differs from the {label} "
            f"that {issuer} registered on the ledger."
        ),
        advice=(
            f"Do not rely on this file. Ask {issuer} or the sender for the original, and check "
            "that one."
        ),
    )


# --- times, money, names ---------------------------------------------------------------------


def when(time_ms: object) -> str:
    """A ledger time in words, in UTC (the ledger's times are UTC)."""
    if not isinstance(time_ms, int):
        return "unknown time"
    moment = datetime.datetime.fromtimestamp(time_ms / 1000, tz=datetime.UTC)
    return moment.strftime("%d %b %Y, %H:%M:%S UTC")


def iso(time_ms: object) -> str:
    if not isinstance(time_ms, int):
        return ""
    moment = datetime.datetime.fromtimestamp(time_ms / 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


_MINOR_DIGITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3,
                 "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3}  # fmt: skip


def money(amount_minor: object, currency: object) -> str:
    if not isinstance(amount_minor, int) or not isinstance(currency, str):
        return "unknown amount"
    digits = _MINOR_DIGITS.get(currency, 2)
    if digits == 0:
        return f"{currency} {amount_minor:,}"
    whole, fraction = divmod(abs(amount_minor), 10**digits)
    sign = "-" if amount_minor < 0 else ""
    return f"{currency} {sign}{whole:,}.{fraction:0{digits}d}"


def short(value: object, length: int = 12) -> str:
    text = str(value)
    return text if len(text) <= length else text[:length] + "…"


# --- the holder chain ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineStep:
    sentence: str
    holder: str | None  # who holds the bill after this step
    height: int
    time_ms: int
    document: str  # the bill version the step belongs to


def timeline(chain: Sequence[Mapping[str, Any]], name: Any) -> list[TimelineStep]:
    """A bill's endorsement chain as sentences, oldest first. `name(org_id)` gives a name."""
    steps = []
    for entry in chain:
        action = str(entry.get("action"))
        actor = name(entry.get("actor"))
        recipient = name(entry.get("recipient")) if entry.get("recipient") else None
        holder: str | None = None
        if action == "ISSUE":
            sentence, holder = f"Issued by {actor} to {recipient}", recipient
        elif action == "TRANSFER":
            sentence, holder = f"Transferred from {actor} to {recipient}", recipient
        elif action == "ENDORSE":
            sentence = f"Endorsed by {actor} to {recipient}"
        elif action == "ENDORSE_TO_ORDER":
            sentence = f"Endorsed by {actor} to the order of {recipient}"
        elif action == "BLANK_ENDORSE":
            sentence = f"Endorsed in blank by {actor}"
        elif action == "SURRENDER_FOR_DELIVERY":
            sentence = f"Surrendered by {actor} to {recipient} for delivery"
        elif action == "SURRENDER_FOR_AMENDMENT":
            sentence = f"Surrendered by {actor} to {recipient} for amendment"
        elif action == "SACC":
            sentence, holder = f"Surrender accepted by {actor}", actor
        elif action == "SREJ":
            sentence, holder = f"Surrender rejected by {actor}; back with {recipient}", recipient
        else:
            sentence = f"{action} by {actor}" + (f" to {recipient}" if recipient else "")
        height = entry.get("height")
        time_ms = entry.get("time_ms")
        steps.append(
            TimelineStep(
                sentence=sentence,
                holder=holder,
                height=height if isinstance(height, int) else 0,
                time_ms=time_ms if isinstance(time_ms, int) else 0,
                document=str(entry.get("document", "")),
            )
        )
    return steps


# --- document content ------------------------------------------------------------------------


def content_rows(family: str, data: Mapping[str, Any], name: Any) -> list[tuple[str, str]]:
    """The main fields of a document's content as (label, text) rows."""
    rows: list[tuple[str, str]] = []

    def add(label: str, value: object) -> None:
        if value not in (None, "", [], {}):
            rows.append((label, str(value)))

    def party(value: object) -> str | None:
        if isinstance(value, Mapping):
            parts = [str(value.get("name", "")), str(value.get("country", ""))]
            return ", ".join(part for part in parts if part)
        return None

    if family == FAMILY_BILL_OF_LADING:
        kinds = {"BOL": "Bill of lading", "SWB": "Sea waybill"}
        add("Document type", kinds.get(str(data.get("document_type")), data.get("document_type")))
        add("Shipper", party(data.get("shipper")))
        add("Consignee", party(data.get("consignee")))
        add("Port of loading", data.get("port_of_loading"))
        add("Port of discharge", data.get("port_of_discharge"))
        voyages = data.get("vessel_voyages")
        if isinstance(voyages, list):
            add(
                "Vessel / voyage",
                "; ".join(
                    f"{v.get('vessel_name', '')} {v.get('voyage', '')}".strip()
                    for v in voyages
                    if isinstance(v, Mapping)
                ),
            )
        goods = data.get("goods")
        if isinstance(goods, list):
            add(
                "Goods",
                "; ".join(
                    f"{g.get('description', '')} (HS {', '.join(map(str, g.get('hs_codes', [])))})"
                    for g in goods
                    if isinstance(g, Mapping)
                ),
            )
        add("Issue date", data.get("issue_date"))
        on_board = data.get("is_shipped_on_board")
        if isinstance(on_board, bool):
            add("Shipped on board", "yes" if on_board else "no")
    elif family == FAMILY_CERTIFICATE_OF_ORIGIN:
        add("Exporter", party(data.get("exporter")))
        add("Importer", party(data.get("importer")))
        add("Country of export", data.get("country_of_export"))
        add("Country of import", data.get("country_of_import"))
        goods = data.get("goods")
        if isinstance(goods, list):
            add(
                "Goods",
                "; ".join(
                    f"{g.get('description', '')} (HS {g.get('hs_code', '')}, origin "
                    f"{g.get('origin_country', '')}, criterion {g.get('origin_criterion', '')})"
                    for g in goods
                    if isinstance(g, Mapping)
                ),
            )
        add("Issue date", data.get("issue_date"))
        add("Expiry date", data.get("expiry_date"))
        add("Invoice", data.get("invoice_reference"))
    elif family == FAMILY_PAYMENT:
        add("Amount", money(data.get("amount_minor"), data.get("currency")))
        add("Payer", party(data.get("payer")))
        add("Payee", party(data.get("payee")))
        add("Value date", data.get("value_date"))
        add("Beneficiary bank", name(data.get("beneficiary_bank")))
        add("SWIFT UETR", data.get("uetr"))
        add("Direction", data.get("direction"))
    elif family == FAMILY_CUSTOMS:
        add("Decision", data.get("decision"))
        add("Outcome", data.get("outcome"))
        add("Declaration", data.get("declaration_reference"))
        add("Reason", data.get("reason"))
    return rows


__all__ = [
    "ALTERED",
    "FAMILY_LABELS",
    "GENUINE",
    "NOT_FOUND",
    "REVOKED",
    "ROLE_LABELS",
    "SUPERSEDED",
    "SURRENDERED",
    "TimelineStep",
    "Verdict",
    "altered_verdict",
    "content_rows",
    "family_label",
    "iso",
    "money",
    "not_found_verdict",
    "record_verdict",
    "short",
    "status_kind",
    "status_label",
    "timeline",
    "when",
]
