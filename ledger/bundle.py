"""The evidence bundle (`tradeledger-bundle/2`, docs/api.md): assembly from a store, and the
JSON form both ways.

A bundle is a self-contained proof about one document: for each transaction that concerns
it, the transaction's canonical bytes, where it sits (height, index in its block, index in
the log), its result code with the RFC 6962 inclusion proof of that code among the block's
`header.tx_count` codes (under `header.results_root`, see `ledger.types.results_root`), its
block's header and commit, and an RFC 6962 inclusion proof of the transaction in the log of
`header.log_size` transactions under `header.log_root`. So an entry grows with the log of the
block's size, not with the block. `client.verify.verify_bundle` checks one offline, trusting
only the genesis.

`tradeledger-bundle/1` entries carried every result code of their block (`codes`) instead,
for a `results_root` that hashed them all at once; such a bundle is refused, naming `format`.

This module depends on `ledger` only, so the node serves exactly what the client parses:
the node builds entries with `bundle_entry(store, tx_id)` and the document with
`bundle_to_json(...)`; the client reads it with `bundle_from_json(...)`.

JSON: bytes are lowercase hex, integers are JSON integers, and every map is read strictly:
a missing, unknown or mistyped field raises `ledger.errors.ValidationError` naming its path
(``entries[2].header.log_root``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from ledger import merkle
from ledger.codec import Value, value_to_json
from ledger.crypto import HASH_SIZE_BYTES
from ledger.errors import ValidationError
from ledger.store import TransactionLocation
from ledger.types import (
    BLOCK_TRANSACTION_COUNT_MAX,
    TRANSACTION_SIZE_BYTES_MAX,
    Block,
    Commit,
    Genesis,
    Header,
    results_proof,
)

BUNDLE_FORMAT = "tradeledger-bundle/2"
BUNDLE_FORMAT_PREFIX = "tradeledger-bundle/"  # every version, to refuse an old one by name
BUNDLE_FORMATS_RETIRED: Mapping[str, str] = MappingProxyType(
    {"tradeledger-bundle/1": "its entries carry all of their block's result codes"}
)
BUNDLE_ENTRIES_MAX = 10_000  # transactions about one document; a long-lived bill has dozens
CODE_LENGTH_MAX = 64
# The longest inclusion proof of one code among a block's codes: the height of the results
# tree of the largest block.
CODE_PROOF_HASHES_MAX = (BLOCK_TRANSACTION_COUNT_MAX - 1).bit_length()
DOCUMENT_ID_PATTERN = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"(?:[0-9a-f]{2})*")

# Header fields that are bytes (everything else in a header is text or an integer).
HEADER_BINARY_FIELDS = frozenset(
    {
        "evidence_hash",
        "last_commit_hash",
        "log_root",
        "next_validators_hash",
        "previous_hash",
        "proposer",
        "results_root",
        "state_root",
        "tx_root",
        "validators_hash",
    }
)
_ENTRY_FIELDS = (
    "code",
    "code_proof",
    "commit",
    "header",
    "height",
    "inclusion_proof",
    "index_in_block",
    "log_index",
    "transaction",
)
_BUNDLE_FIELDS = ("chain_id", "document", "document_id", "entries", "format", "genesis_hash")


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleEntry:
    """One committed transaction with everything needed to check it offline."""

    transaction: bytes  # canonical bytes of the signed transaction
    height: int
    index_in_block: int
    log_index: int
    code: str  # the transaction's result code ("ok" or why it was refused)
    code_proof: tuple[bytes, ...]  # code index_in_block of header.tx_count: header.results_root
    header: Header
    commit: Commit
    inclusion_proof: tuple[bytes, ...]  # leaf log_index in the log of size header.log_size


@dataclass(frozen=True, slots=True, kw_only=True)
class Bundle:
    chain_id: str
    genesis_hash: bytes
    document_id: str
    document: Any  # the node's current record, as JSON: informational, proves nothing
    entries: tuple[BundleEntry, ...]


class BundleSource(Protocol):
    """What assembling an entry reads: `ledger.store.LedgerStore` is one."""

    def transaction_location(self, tx_id: bytes) -> TransactionLocation | None: ...
    def block(self, height: int) -> Block | None: ...
    def commit(self, height: int) -> Commit | None: ...
    def result_codes(self, height: int) -> tuple[str, ...] | None: ...

    @property
    def log(self) -> merkle.MerkleLog: ...


# --- assembly ---------------------------------------------------------------------------------


def bundle_entry(source: BundleSource, tx_id: bytes) -> BundleEntry | None:
    """The entry for committed transaction `tx_id`, or None if it is not committed.

    The proof is against the header of the transaction's own block, so an entry never
    changes once the block is persisted (a node may cache it).
    """
    location = source.transaction_location(tx_id)
    if location is None:
        return None
    block = source.block(location.height)
    commit = source.commit(location.height)
    codes = source.result_codes(location.height)
    assert block is not None, location
    assert commit is not None, location
    assert codes is not None, location
    header = block.header
    assert len(codes) == header.tx_count, location
    proof = source.log.inclusion_proof(location.log_index, header.log_size)
    return BundleEntry(
        transaction=block.transactions[location.index],
        height=location.height,
        index_in_block=location.index,
        log_index=location.log_index,
        code=codes[location.index],
        code_proof=results_proof(codes, location.index),
        header=header,
        commit=commit,
        inclusion_proof=tuple(proof),
    )


# --- to JSON ----------------------------------------------------------------------------------


def header_to_json(header: Header) -> dict[str, Any]:
    result: dict[str, Any] = value_to_json(header.to_value())
    return result


def commit_to_json(commit: Commit) -> dict[str, Any]:
    result: dict[str, Any] = value_to_json(commit.to_value())
    return result


def bundle_entry_to_json(entry: BundleEntry) -> dict[str, Any]:
    return {
        "transaction": entry.transaction.hex(),
        "height": entry.height,
        "index_in_block": entry.index_in_block,
        "log_index": entry.log_index,
        "code": entry.code,
        "code_proof": [digest.hex() for digest in entry.code_proof],
        "header": header_to_json(entry.header),
        "commit": commit_to_json(entry.commit),
        "inclusion_proof": [digest.hex() for digest in entry.inclusion_proof],
    }


def bundle_to_json(
    *, genesis: Genesis, document_id: str, document: Any, entries: Sequence[BundleEntry]
) -> dict[str, Any]:
    """The bundle document the API serves. Entries go in ledger order (by log index)."""
    ordered = sorted(entries, key=lambda entry: entry.log_index)
    return {
        "format": BUNDLE_FORMAT,
        "chain_id": genesis.chain_id,
        "genesis_hash": genesis.hash().hex(),
        "document_id": document_id,
        "document": document,
        "entries": [bundle_entry_to_json(entry) for entry in ordered],
    }


# --- from JSON --------------------------------------------------------------------------------


def hex_bytes(value: object, path: str, *, size: int | None = None, size_max: int = 1024) -> bytes:
    """Lowercase, even-length hex text as bytes (ValidationError naming `path` otherwise)."""
    if not isinstance(value, str):
        raise ValidationError(path, f"expected hex text, got {_kind(value)}")
    if len(value) > 2 * size_max:
        raise ValidationError(path, f"at most {size_max} bytes")
    if _HEX.fullmatch(value) is None:
        raise ValidationError(path, "expected lowercase hex with an even number of digits")
    data = bytes.fromhex(value)
    if size is not None and len(data) != size:
        raise ValidationError(path, f"must be {size} bytes, got {len(data)}")
    return data


def header_from_json(value: object, path: str = "header") -> Header:
    fields = _map(value, path)
    converted: dict[str, Value] = {}
    for name, item in fields.items():
        if name in HEADER_BINARY_FIELDS:
            converted[name] = hex_bytes(item, f"{path}.{name}", size_max=HASH_SIZE_BYTES)
        else:
            converted[name] = _plain(item, f"{path}.{name}")
    return Header.from_value(converted, path)


def commit_from_json(value: object, path: str = "commit") -> Commit:
    fields = _map(value, path)
    converted: dict[str, Value] = {}
    for name, item in fields.items():
        if name == "block_hash":
            converted[name] = hex_bytes(item, f"{path}.{name}", size_max=HASH_SIZE_BYTES)
        elif name == "signatures":
            converted[name] = [
                _signature_from_json(signature, f"{path}.signatures[{index}]")
                for index, signature in enumerate(_list(item, f"{path}.signatures", 128))
            ]
        else:
            converted[name] = _plain(item, f"{path}.{name}")
    return Commit.from_value(converted, path)


def _signature_from_json(value: object, path: str) -> Value:
    fields = _map(value, path)
    converted: dict[str, Value] = {}
    for name, item in fields.items():
        if name in ("signature", "validator"):
            converted[name] = hex_bytes(item, f"{path}.{name}", size_max=64)
        else:
            converted[name] = _plain(item, f"{path}.{name}")
    return converted


def bundle_entry_from_json(value: object, path: str) -> BundleEntry:
    fields = _map(value, path)
    _exact_fields(fields, _ENTRY_FIELDS, path)
    code_proof = _list(fields["code_proof"], f"{path}.code_proof", CODE_PROOF_HASHES_MAX)
    proof = _list(fields["inclusion_proof"], f"{path}.inclusion_proof", merkle.PROOF_HASHES_MAX)
    return BundleEntry(
        transaction=hex_bytes(
            fields["transaction"], f"{path}.transaction", size_max=TRANSACTION_SIZE_BYTES_MAX
        ),
        height=_integer(fields["height"], f"{path}.height", minimum=1),
        index_in_block=_integer(fields["index_in_block"], f"{path}.index_in_block"),
        log_index=_integer(fields["log_index"], f"{path}.log_index"),
        code=_text(fields["code"], f"{path}.code"),
        code_proof=tuple(
            hex_bytes(digest, f"{path}.code_proof[{i}]", size=HASH_SIZE_BYTES)
            for i, digest in enumerate(code_proof)
        ),
        header=header_from_json(fields["header"], f"{path}.header"),
        commit=commit_from_json(fields["commit"], f"{path}.commit"),
        inclusion_proof=tuple(
            hex_bytes(digest, f"{path}.inclusion_proof[{i}]", size=HASH_SIZE_BYTES)
            for i, digest in enumerate(proof)
        ),
    )


def bundle_from_json(value: object) -> Bundle:
    """Parse a bundle document; ValidationError names the first field that is wrong
    (top-level fields by name, ``format``; entry fields as ``entries[2].header.log_root``)."""
    fields = _map(value, "bundle")
    _exact_fields(fields, _BUNDLE_FIELDS, "")
    format_ = fields["format"]
    if isinstance(format_, str) and format_ in BUNDLE_FORMATS_RETIRED:
        raise ValidationError(
            "format",
            f"{format_!r} is no longer accepted ({BUNDLE_FORMATS_RETIRED[format_]}); expected "
            f"{BUNDLE_FORMAT!r}: download the bundle again from a current node",
        )
    if format_ != BUNDLE_FORMAT:
        raise ValidationError("format", f"expected {BUNDLE_FORMAT!r}")
    document_id = _text(fields["document_id"], "document_id")
    if DOCUMENT_ID_PATTERN.fullmatch(document_id) is None:
        raise ValidationError("document_id", "expected 64 lowercase hex digits")
    entries = _list(fields["entries"], "entries", BUNDLE_ENTRIES_MAX)
    return Bundle(
        chain_id=_text(fields["chain_id"], "chain_id"),
        genesis_hash=hex_bytes(fields["genesis_hash"], "genesis_hash", size=32),
        document_id=document_id,
        document=fields["document"],
        entries=tuple(
            bundle_entry_from_json(entry, f"entries[{index}]")
            for index, entry in enumerate(entries)
        ),
    )


def _map(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise ValidationError(path, f"expected an object, got {_kind(value)}")
    return value


def _exact_fields(fields: Mapping[str, object], names: tuple[str, ...], path: str) -> None:
    prefix = f"{path}." if path else ""
    for name in names:
        if name not in fields:
            raise ValidationError(f"{prefix}{name}", "is required")
    for name in sorted(fields):
        if name not in names:
            raise ValidationError(f"{prefix}{name}", "unknown field")


def _list(value: object, path: str, length_max: int) -> list[object]:
    if not isinstance(value, list):
        raise ValidationError(path, f"expected a list, got {_kind(value)}")
    if len(value) > length_max:
        raise ValidationError(path, f"at most {length_max} items, got {len(value)}")
    return value


def _integer(value: object, path: str, minimum: int = 0) -> int:
    if type(value) is not int:
        raise ValidationError(path, f"expected an integer, got {_kind(value)}")
    if value < minimum:
        raise ValidationError(path, f"must be >= {minimum}, got {value}")
    return value


def _text(value: object, path: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= CODE_LENGTH_MAX:
        raise ValidationError(path, f"expected text of 1..{CODE_LENGTH_MAX} characters")
    return value


def _plain(value: object, path: str) -> Value:
    """A JSON scalar kept as is (the typed reader then checks it); no floats, no containers."""
    if value is None or isinstance(value, bool | int | str):
        return value
    raise ValidationError(path, f"unexpected {_kind(value)}")


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


__all__ = [
    "BUNDLE_ENTRIES_MAX",
    "BUNDLE_FORMAT",
    "BUNDLE_FORMATS_RETIRED",
    "BUNDLE_FORMAT_PREFIX",
    "CODE_PROOF_HASHES_MAX",
    "HEADER_BINARY_FIELDS",
    "Bundle",
    "BundleEntry",
    "BundleSource",
    "bundle_entry",
    "bundle_entry_from_json",
    "bundle_entry_to_json",
    "bundle_from_json",
    "bundle_to_json",
    "commit_from_json",
    "commit_to_json",
    "header_from_json",
    "header_to_json",
    "hex_bytes",
    "value_to_json",
]
