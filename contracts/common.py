"""Shared pieces of the contracts: the per-transaction call, body field readers.

Body readers raise `ledger.errors.ValidationError` naming the field; the engine turns that
into ``malformed_body``. Everything else a contract decides is returned as a `TxOutcome`.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contracts.context import BlockContext, Event, TxOutcome
from contracts.identity import Sender
from contracts.records import Changes, Document
from ledger.codec import Value
from ledger.codes import Code
from ledger.errors import ValidationError
from ledger.fields import Fields, check_text
from ledger.types import Transaction

DOCUMENT_ID_LENGTH = 64
REFERENCE_LENGTH_MAX = 100
NAME_LENGTH_MAX = 256
FREE_TEXT_LENGTH_MAX = 2_000
PARTY_ADDRESS_LINES_MAX = 8
PARTY_CODES_MAX = 8
SHA256_SIZE_BYTES = 32

_ORG_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DOCUMENT_ID = re.compile(r"[0-9a-f]{64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_BIC = re.compile(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")
_UETR = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_HS_CODE = re.compile(r"\d{6,10}")
_UN_LOCATION = re.compile(r"[A-Z]{2}[A-Z2-9]{3}")
_CODE = re.compile(r"[A-Z0-9]{1,16}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One transaction being executed: its state changes, envelope, block and sender."""

    changes: Changes
    tx: Transaction
    ctx: BlockContext
    sender: Sender

    @property
    def tx_id(self) -> str:
        return self.tx.id.hex()

    def record(
        self, document: Document, detail: dict[str, Value] | None = None, action: str = ""
    ) -> Document:
        """Store `document` with a history event for this transaction."""
        return self.changes.record(
            document,
            action=action or self.tx.kind,
            height=self.ctx.height,
            time_ms=self.ctx.time_ms,
            tx=self.tx_id,
            actor=self.sender.org,
            key=self.sender.key.key,
            detail=detail,
        )

    def done(self, *events: Event) -> TxOutcome:
        return TxOutcome.accepted(dict(self.changes.writes), tuple(events))


@dataclass(frozen=True, slots=True)
class Kind:
    """A transaction kind: how to read its body, and what it does."""

    parse: Callable[[Fields], Any]
    apply: Callable[[Call, Any], TxOutcome]


def block_date(ctx: BlockContext) -> str:
    """The block's UTC date as ISO 8601 text (pure arithmetic on the block time)."""
    epoch = datetime.date(1970, 1, 1)
    return (epoch + datetime.timedelta(days=ctx.time_ms // 86_400_000)).isoformat()


# --- field readers ------------------------------------------------------------------------------


def matching(r: Fields, name: str, pattern: re.Pattern[str], what: str, length_max: int) -> str:
    text = r.text(name, length_max=length_max)
    if pattern.fullmatch(text) is None:
        raise ValidationError(r.path(name), f"must be {what}")
    return text


def optional_matching(
    r: Fields, name: str, pattern: re.Pattern[str], what: str, length_max: int
) -> str | None:
    text = r.optional_text(name, length_max=length_max)
    if text is not None and pattern.fullmatch(text) is None:
        raise ValidationError(r.path(name), f"must be {what}")
    return text


def organisation_id(r: Fields, name: str) -> str:
    return matching(r, name, _ORG_ID, "an organisation id", 64)


def optional_organisation_id(r: Fields, name: str) -> str | None:
    return optional_matching(r, name, _ORG_ID, "an organisation id", 64)


def document_id(r: Fields, name: str) -> str:
    return matching(r, name, _DOCUMENT_ID, "a document id (64 lowercase hex digits)", 64)


def check_document_id(value: Value, path: str) -> str:
    text = check_text(value, path, length_max=DOCUMENT_ID_LENGTH)
    if _DOCUMENT_ID.fullmatch(text) is None:
        raise ValidationError(path, "must be a document id (64 lowercase hex digits)")
    return text


def optional_document_id(r: Fields, name: str) -> str | None:
    return optional_matching(r, name, _DOCUMENT_ID, "a document id (64 lowercase hex)", 64)


def reference(r: Fields, name: str) -> str:
    text = r.text(name, length_max=REFERENCE_LENGTH_MAX)
    _check_printable(text, r.path(name))
    return text


def optional_reference(r: Fields, name: str) -> str | None:
    text = r.optional_text(name, length_max=REFERENCE_LENGTH_MAX)
    if text is not None:
        _check_printable(text, r.path(name))
    return text


def _check_printable(text: str, path: str) -> None:
    if text != text.strip() or not text.isprintable():
        raise ValidationError(path, "no leading or trailing spaces or control characters")


def iso_date(r: Fields, name: str) -> str:
    return _check_date(r.text(name, length_max=10), r.path(name))


def optional_iso_date(r: Fields, name: str) -> str | None:
    text = r.optional_text(name, length_max=10)
    return None if text is None else _check_date(text, r.path(name))


def _check_date(text: str, path: str) -> str:
    if _DATE.fullmatch(text) is None:
        raise ValidationError(path, "must be a date YYYY-MM-DD")
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(path, f"{text!r} is not a calendar date") from None
    return text


def country(r: Fields, name: str) -> str:
    return matching(r, name, _COUNTRY, "an ISO 3166-1 alpha-2 country code", 2)


def optional_country(r: Fields, name: str) -> str | None:
    return optional_matching(r, name, _COUNTRY, "an ISO 3166-1 alpha-2 country code", 2)


def currency(r: Fields, name: str) -> str:
    return matching(r, name, _CURRENCY, "an ISO 4217 currency code", 3)


def bic(r: Fields, name: str) -> str:
    return matching(r, name, _BIC, "a BIC (ISO 9362, 8 or 11 characters)", 11)


def uetr(r: Fields, name: str) -> str:
    return matching(r, name, _UETR, "a UETR (lowercase UUID version 4)", 36)


def hs_code(value: Value, path: str) -> str:
    text = check_text(value, path, length_max=10)
    if _HS_CODE.fullmatch(text) is None:
        raise ValidationError(path, "must be an HS code of 6 to 10 digits")
    return text


def un_location(r: Fields, name: str) -> str:
    return matching(r, name, _UN_LOCATION, "a UN/LOCODE (5 characters)", 5)


def optional_un_location(r: Fields, name: str) -> str | None:
    return optional_matching(r, name, _UN_LOCATION, "a UN/LOCODE (5 characters)", 5)


def code(r: Fields, name: str, choices: tuple[str, ...]) -> str:
    text = r.text(name, length_max=32)
    if text not in choices:
        raise ValidationError(r.path(name), f"must be one of {', '.join(choices)}")
    return text


def optional_code(r: Fields, name: str, choices: tuple[str, ...]) -> str | None:
    text = r.optional_text(name, length_max=32)
    if text is not None and text not in choices:
        raise ValidationError(r.path(name), f"must be one of {', '.join(choices)}")
    return text


def short_code(r: Fields, name: str) -> str:
    return matching(r, name, _CODE, "a code of 1..16 capitals or digits", 16)


def optional_short_code(r: Fields, name: str) -> str | None:
    return optional_matching(r, name, _CODE, "a code of 1..16 capitals or digits", 16)


def sha256(r: Fields, name: str) -> bytes:
    return r.binary(name, size=SHA256_SIZE_BYTES)


def optional_sha256(r: Fields, name: str) -> bytes | None:
    return r.optional_binary(name, size=SHA256_SIZE_BYTES)


def free_text(r: Fields, name: str) -> str:
    return r.text(name, length_max=FREE_TEXT_LENGTH_MAX)


def optional_free_text(r: Fields, name: str) -> str | None:
    return r.optional_text(name, length_max=FREE_TEXT_LENGTH_MAX)


def party(value: Value, path: str) -> dict[str, Value]:
    """A party as printed on a document: name, optional address lines, country and codes
    (e.g. ``{"provider": "GLEIF", "code": "5299...", "list": "LEI"}``)."""
    r = Fields(value, path)
    result: dict[str, Value] = {"name": r.text("name", length_max=NAME_LENGTH_MAX)}
    lines = r.items(
        "address",
        lambda v, p: check_text(v, p, length_max=NAME_LENGTH_MAX),
        length_max=PARTY_ADDRESS_LINES_MAX,
        optional=True,
    )
    if lines:
        result["address"] = list(lines)
    country_code = optional_country(r, "country")
    if country_code is not None:
        result["country"] = country_code
    codes = r.items("codes", _party_code, length_max=PARTY_CODES_MAX, optional=True)
    if codes:
        result["codes"] = list(codes)
    r.finish()
    return result


def _party_code(value: Value, path: str) -> dict[str, Value]:
    r = Fields(value, path)
    result: dict[str, Value] = {
        "code": r.text("code", length_max=150),
        "provider": r.text("provider", length_max=100),
    }
    list_name = r.optional_text("list", length_max=100)
    if list_name is not None:
        result["list"] = list_name
    r.finish()
    return result


def optional_party(r: Fields, name: str) -> dict[str, Value] | None:
    value = r.raw(name, optional=True)
    return None if value is None else party(value, r.path(name))


def rejected(code_: Code, detail: str = "") -> TxOutcome:
    return TxOutcome.rejected(code_, detail)


def load_family(call: Call, document_id_: str, family: str) -> Document | TxOutcome:
    """The document, or the rejection for an unknown id or a document of another family."""
    document = call.changes.document(document_id_)
    if document is None:
        return rejected(Code.DOCUMENT_UNKNOWN, f"no document {document_id_}")
    if document.family != family:
        return rejected(
            Code.WRONG_DOCUMENT_FAMILY, f"document {document_id_} is a {document.family} record"
        )
    return document


def without_none(value: dict[str, Value]) -> dict[str, Value]:
    """`value` without its None entries (optional fields absent rather than nil)."""
    return {key: item for key, item in value.items() if item is not None}
