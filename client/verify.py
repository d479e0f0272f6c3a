"""Offline verification of an evidence bundle (`tradeledger-bundle/2`), trusting only the genesis.

Pure: no network, no clock, no disk. `verify_bundle(bundle, genesis, file_bytes)` checks what
docs/api.md specifies and returns a `BundleReport`, or raises `BundleInvalid` whose `report`
names every entry and field that failed. Each entry is checked on its own, in this order (the
first failure of an entry stops that entry; the other entries are still checked):

1. ``header.chain_id`` is the genesis chain id and ``height`` is the header's height;
2. the commit is for this header (``commit.height``, ``commit.block_hash = header.hash()``)
   and carries valid precommit signatures of distinct genesis validators holding more than
   2/3 of the genesis validators' power (an unknown signer or a bad signature is named);
3. ``transaction`` decodes as one canonical transaction of this chain and its signature
   verifies for its sender;
4. its position is consistent: ``index_in_block < header.tx_count`` and ``log_index`` is
   the log position of that index (``header.log_size - header.tx_count + index_in_block``);
5. the RFC 6962 inclusion proof puts the transaction's leaf at ``log_index`` in the log of
   ``header.log_size`` transactions under ``header.log_root``;
6. ``code_proof`` is the RFC 6962 inclusion proof of ``code`` as result ``index_in_block``
   of the block's ``header.tx_count`` under ``header.results_root``
   (`ledger.types.verify_result`), so the code is the transaction's own. A failure names
   ``code_proof``: an altered code and an altered proof look the same.

Across entries: the bundle's chain id and genesis hash are the trusted genesis'; entries are
in ledger order without repeats; every transaction creates the document or names its id in
its body (so no unrelated transaction passes as part of its history); one entry is the
transaction that created the document (its id is the document id) and it was accepted
(``ok``); and, given a file, the file's SHA-256 is that creating transaction's
``document_sha256``.

What a bundle cannot prove: that no later transaction about the document was left out. The
`document` member is the serving node's current record, shown for information only. Commits
are checked against the genesis validator set: a block signed after a governance change of
the validator set does not verify here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from client.errors import BundleInvalid
from ledger import crypto, merkle
from ledger.bundle import Bundle, BundleEntry, bundle_from_json
from ledger.codec import Value
from ledger.crypto import Domain
from ledger.errors import BadSignature, LedgerError, ValidationError
from ledger.types import Commit, Genesis, Transaction, verify_result

OK = "ok"


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One check that failed. `field` is the path inside the bundle (``entries[1].code_proof``),
    ``file`` for the document file, or a top-level member name."""

    entry: int | None
    field: str
    detail: str

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        return {"entry": self.entry, "field": self.field, "detail": self.detail}


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryReport:
    """What one entry proves once `verified` is True (fields are None if it did not decode)."""

    index: int
    verified: bool
    tx_id: str | None
    kind: str | None
    sender: str | None  # the signing member key, hex
    sender_organisation: str | None  # from the genesis; None for a key registered later
    height: int
    time_ms: int
    log_index: int
    code: str | None
    mentions_document: bool  # the transaction creates or names the document

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "verified": self.verified,
            "tx": self.tx_id,
            "kind": self.kind,
            "sender": self.sender,
            "sender_organisation": self.sender_organisation,
            "height": self.height,
            "time_ms": self.time_ms,
            "log_index": self.log_index,
            "code": self.code,
            "mentions_document": self.mentions_document,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleReport:
    chain_id: str
    genesis_hash: str
    document_id: str
    entries: tuple[EntryReport, ...]
    problems: tuple[Problem, ...]
    document_sha256: str | None  # from the creating transaction, when it has one
    file_sha256: str | None  # the SHA-256 of the file checked, if one was given
    document: Any  # the node's record: informational, not proven

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def file_matches(self) -> bool | None:
        if self.file_sha256 is None:
            return None
        return self.file_sha256 == self.document_sha256

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash,
            "document_id": self.document_id,
            "document_sha256": self.document_sha256,
            "file_sha256": self.file_sha256,
            "file_matches": self.file_matches,
            "entries": [entry.to_json() for entry in self.entries],
            "problems": [problem.to_json() for problem in self.problems],
        }


class _EntryFailed(Exception):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


def verify_bundle(
    bundle: dict[str, Any], genesis: Genesis, file_bytes: bytes | None = None
) -> BundleReport:
    """Check `bundle` (parsed JSON) against `genesis` and optionally a document file.

    Returns the report when every check passes; raises `BundleInvalid` (its `.report`
    lists each problem) otherwise. Never touches the network.
    """
    report = check_bundle(bundle, genesis, file_bytes)
    if not report.ok:
        raise BundleInvalid(report)
    return report


def check_bundle(
    bundle: dict[str, Any], genesis: Genesis, file_bytes: bytes | None = None
) -> BundleReport:
    """Like `verify_bundle`, but return the report whatever it says (check `report.ok`)."""
    file_sha256 = None if file_bytes is None else crypto.sha256(file_bytes).hex()
    try:
        parsed = bundle_from_json(bundle)
    except ValidationError as exc:
        return BundleReport(
            chain_id=_text_member(bundle, "chain_id"),
            genesis_hash=_text_member(bundle, "genesis_hash"),
            document_id=_text_member(bundle, "document_id"),
            entries=(),
            problems=(Problem(entry=_entry_of(exc.field), field=exc.field, detail=exc.detail),),
            document_sha256=None,
            file_sha256=file_sha256,
            document=bundle.get("document") if isinstance(bundle, dict) else None,
        )
    return _Checker(parsed, genesis).run(file_sha256)


class _Checker:
    def __init__(self, bundle: Bundle, genesis: Genesis) -> None:
        self.bundle = bundle
        self.genesis = genesis
        self.problems: list[Problem] = []
        self.organisations: dict[bytes, str] = {m.key: m.organisation for m in genesis.members}
        for organisation in genesis.organisations:
            for admin_key in organisation.admin_keys:
                self.organisations[admin_key] = organisation.id

    def problem(self, entry: int | None, field: str, detail: str) -> None:
        self.problems.append(Problem(entry=entry, field=field, detail=detail))

    def run(self, file_sha256: str | None) -> BundleReport:
        bundle, genesis = self.bundle, self.genesis
        if bundle.chain_id != genesis.chain_id:
            self.problem(
                None,
                "chain_id",
                f"the bundle is for chain {bundle.chain_id!r}, the genesis is for "
                f"{genesis.chain_id!r}",
            )
        if bundle.genesis_hash != genesis.hash():
            self.problem(
                None,
                "genesis_hash",
                f"the bundle names genesis {bundle.genesis_hash.hex()}, the trusted genesis "
                f"hashes to {genesis.hash().hex()}",
            )
        if not bundle.entries:
            self.problem(None, "entries", "no entries: the bundle proves nothing")
        reports = tuple(
            self.check_entry(index, entry) for index, entry in enumerate(bundle.entries)
        )
        self.check_order(reports)
        creating = self.check_creation(reports)
        document_sha256 = self.check_file(creating, file_sha256)
        return BundleReport(
            chain_id=bundle.chain_id,
            genesis_hash=bundle.genesis_hash.hex(),
            document_id=bundle.document_id,
            entries=reports,
            problems=tuple(self.problems),
            document_sha256=document_sha256,
            file_sha256=file_sha256,
            document=bundle.document,
        )

    # --- one entry ------------------------------------------------------------------------

    def check_entry(self, index: int, entry: BundleEntry) -> EntryReport:
        path = f"entries[{index}]"
        tx: Transaction | None = None
        verified = False
        try:
            self.check_header_and_commit(entry)
            tx = self.check_transaction(entry)
            self.check_position(entry)
            verified = True
        except _EntryFailed as failed:
            self.problem(index, f"{path}.{failed.field}", failed.detail)
        code = entry.code if verified else None
        mentions = tx is not None and self.mentions_document(tx)
        if verified and not mentions:
            self.problem(
                index,
                f"{path}.transaction",
                f"neither creates nor names document {self.bundle.document_id}: it is not part "
                "of this document's history",
            )
        return EntryReport(
            index=index,
            verified=verified,
            tx_id=None if tx is None else tx.id.hex(),
            kind=None if tx is None else tx.kind,
            sender=None if tx is None else tx.sender.hex(),
            sender_organisation=None if tx is None else self.organisations.get(tx.sender),
            height=entry.height,
            time_ms=entry.header.time_ms,
            log_index=entry.log_index,
            code=code,
            mentions_document=mentions,
        )

    def check_header_and_commit(self, entry: BundleEntry) -> None:
        header, commit = entry.header, entry.commit
        if header.chain_id != self.genesis.chain_id:
            raise _EntryFailed(
                "header.chain_id",
                f"block of chain {header.chain_id!r}, expected {self.genesis.chain_id!r}",
            )
        if entry.height != header.height:
            raise _EntryFailed("height", f"{entry.height} differs from header.height")
        if commit.height != header.height:
            raise _EntryFailed(
                "commit.height", f"commit for height {commit.height}, header {header.height}"
            )
        if commit.block_hash != header.hash():
            raise _EntryFailed(
                "commit.block_hash",
                f"commit for block {commit.block_hash.hex()}, the header hashes to "
                f"{header.hash().hex()} (the header or the commit was altered)",
            )
        self.check_commit_signatures(commit)

    def check_commit_signatures(self, commit: Commit) -> None:
        validators = self.genesis.validators
        seen: set[bytes] = set()
        power = 0
        for index, signature in enumerate(commit.signatures):
            field = f"commit.signatures[{index}]"
            if signature.validator in seen:
                raise _EntryFailed(field, "this validator signs twice")
            seen.add(signature.validator)
            validator_power = validators.power_of(signature.validator)
            if validator_power == 0:
                raise _EntryFailed(
                    f"{field}.validator",
                    f"{signature.validator.hex()} is not a validator of the genesis",
                )
            try:
                crypto.verify(
                    signature.validator,
                    Domain.PRECOMMIT,
                    self.genesis.chain_id,
                    commit.precommit(signature).signed_payload(),
                    signature.signature,
                )
            except BadSignature as exc:
                raise _EntryFailed(f"{field}.signature", f"precommit {exc}") from None
            power += validator_power
        if power < validators.quorum_power:
            raise _EntryFailed(
                "commit.signatures",
                f"signatures of power {power} of {validators.total_power}; more than 2/3 "
                f"({validators.quorum_power}) is required",
            )

    def check_transaction(self, entry: BundleEntry) -> Transaction:
        try:
            tx = Transaction.decode(entry.transaction)
        except LedgerError as exc:
            raise _EntryFailed("transaction", f"not a canonical transaction: {exc}") from None
        if tx.chain_id != self.genesis.chain_id:
            raise _EntryFailed(
                "transaction.chain_id",
                f"signed for chain {tx.chain_id!r}, expected {self.genesis.chain_id!r}",
            )
        try:
            tx.verify_signature()
        except BadSignature as exc:
            raise _EntryFailed("transaction.signature", str(exc)) from None
        return tx

    def check_position(self, entry: BundleEntry) -> None:
        header = entry.header
        if entry.index_in_block >= header.tx_count:
            raise _EntryFailed(
                "index_in_block",
                f"{entry.index_in_block} is outside a block of {header.tx_count} transactions",
            )
        expected_log_index = header.log_size - header.tx_count + entry.index_in_block
        if entry.log_index != expected_log_index:
            raise _EntryFailed(
                "log_index",
                f"{entry.log_index}, but transaction {entry.index_in_block} of this block is at "
                f"log index {expected_log_index}",
            )
        try:
            merkle.verify_inclusion(
                merkle.leaf_hash(entry.transaction),
                entry.log_index,
                header.log_size,
                entry.inclusion_proof,
                header.log_root,
            )
        except merkle.MerkleError as exc:
            raise _EntryFailed("inclusion_proof", str(exc)) from None
        try:
            verify_result(
                entry.code,
                entry.index_in_block,
                header.tx_count,
                entry.code_proof,
                header.results_root,
            )
        except merkle.MerkleError as exc:
            raise _EntryFailed("code_proof", str(exc)) from None

    def mentions_document(self, tx: Transaction) -> bool:
        document_id = self.bundle.document_id
        return tx.id.hex() == document_id or any(
            value == document_id for value in _strings(tx.body)
        )

    # --- across entries -------------------------------------------------------------------

    def check_order(self, reports: tuple[EntryReport, ...]) -> None:
        for previous, current in itertools.pairwise(reports):
            if current.log_index <= previous.log_index:
                self.problem(
                    current.index,
                    f"entries[{current.index}].log_index",
                    f"{current.log_index} after {previous.log_index}: entries must be in ledger "
                    "order without repeats",
                )

    def check_creation(self, reports: tuple[EntryReport, ...]) -> BundleEntry | None:
        document_id = self.bundle.document_id
        for report in reports:
            if report.verified and report.tx_id == document_id:
                if report.code != OK:
                    self.problem(
                        report.index,
                        f"entries[{report.index}].code",
                        f"the transaction that would create the document was refused "
                        f"({report.code}): the document does not exist",
                    )
                return self.bundle.entries[report.index]
        if any(report.tx_id == document_id for report in reports):
            return None  # the creating entry is there but failed; already reported
        self.problem(None, "document_id", "no entry is the transaction that created this document")
        return None

    def check_file(self, creating: BundleEntry | None, file_sha256: str | None) -> str | None:
        document_sha256 = None
        if creating is not None:
            body = Transaction.decode(creating.transaction).body
            digest = body.get("document_sha256")
            if isinstance(digest, bytes):
                document_sha256 = digest.hex()
        if file_sha256 is None:
            return document_sha256
        if creating is None:
            self.problem(None, "file", "cannot check the file: the creating entry is not proven")
        elif document_sha256 is None:
            self.problem(None, "file", "the document was recorded without a file hash")
        elif file_sha256 != document_sha256:
            self.problem(
                None,
                "file",
                f"the file's SHA-256 is {file_sha256}, the document records {document_sha256}: "
                "this is not the file that was registered",
            )
        return document_sha256


def _strings(value: Value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _text_member(value: object, name: str) -> str:
    if isinstance(value, dict):
        member = value.get(name)
        if isinstance(member, str):
            return member
    return ""


def _entry_of(field: str) -> int | None:
    if field.startswith("entries["):
        number = field[len("entries[") : field.find("]")]
        if number.isdigit():
            return int(number)
    return None


__all__ = [
    "BundleInvalid",
    "BundleReport",
    "EntryReport",
    "Problem",
    "check_bundle",
    "verify_bundle",
]
