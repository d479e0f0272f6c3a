"""`tradeledger` commands that read: node status, transactions, blocks, validators,
organisations, documents (customs look-ups), evidence bundles, and offline verification.

    tradeledger verify BUNDLE --genesis GENESIS [--file DOC]   offline: trusts only GENESIS
    tradeledger verify DOC --node URL [--key K --genesis G]     is this exact file on the
                                                                ledger? (and prove it)
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Column, Table

from client.cli_documents import DOCUMENT
from client.cli_support import (
    EXIT_PROBLEM,
    EXIT_USAGE,
    Session,
    fail,
    session_options,
)
from client.errors import InvalidArgument
from client.verify import BundleReport, check_bundle
from ledger import crypto
from ledger.bundle import BUNDLE_FORMAT, BUNDLE_FORMAT_PREFIX
from ledger.errors import LedgerError
from ledger.types import Genesis

GENESIS_ENV = "TRADELEDGER_GENESIS"
FAMILIES = ("bl", "coo", "pay", "customs")


def when(time_ms: object) -> str:
    if not isinstance(time_ms, int):
        return "-"
    moment = datetime.datetime.fromtimestamp(time_ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def short(value: object, length: int = 16) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= length + 1 else text[:length] + "…"


def print_fields(title: str, rows: list[tuple[str, object]]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, "-" if value is None else str(value))
    Console().print(table)


# --- node, transactions, blocks -----------------------------------------------------------------


@click.command("status")
@session_options
def status(session: Session) -> None:
    """The node's chain, height, head, peers and mempool."""
    answer = session.client(sign=False).status()

    def human() -> None:
        print_fields(
            f"node {answer.get('node', '')}",
            [
                ("chain", answer.get("chain_id")),
                ("height", answer.get("height")),
                ("head", answer.get("head_hash")),
                ("log size", answer.get("log_size")),
                ("peers", len(answer.get("peers") or [])),
                ("syncing", answer.get("syncing")),
                ("mempool", _mempool(answer.get("mempool"))),
            ],
        )

    session.emit(answer, human)


def _mempool(value: object) -> str:
    if isinstance(value, dict):
        return f"{value.get('transactions')} transactions, {value.get('bytes')} bytes"
    return str(value)


@click.group("tx")
def tx() -> None:
    """Transactions."""


@tx.command("status")
@click.argument("tx_id", metavar="TX", type=DOCUMENT)
@session_options
def tx_status(session: Session, tx_id: str) -> None:
    """Whether transaction TX is committed (height, result code) or pending."""
    receipt = session.client(sign=False).transaction_status(tx_id)
    session.receipt(receipt)


@click.command("block")
@click.argument("height", required=False, type=click.IntRange(1))
@session_options
def block(session: Session, height: int | None) -> None:
    """A block's header and commit (default: the latest)."""
    info = session.client(sign=False).block(height)
    header = info.header
    value = {
        "height": info.height,
        "hash": info.hash,
        "time_ms": header.time_ms,
        "transactions": info.transaction_count,
        "log_size": header.log_size,
        "log_root": header.log_root.hex(),
        "state_root": header.state_root.hex(),
        "proposer": header.proposer.hex(),
        "commit_signatures": len(info.commit.signatures),
    }

    def human() -> None:
        print_fields(
            f"block {info.height}",
            [
                ("hash", info.hash),
                ("time", when(header.time_ms)),
                ("transactions", info.transaction_count),
                ("log size / root", f"{header.log_size} / {header.log_root.hex()}"),
                ("state root", header.state_root.hex()),
                ("proposer", header.proposer.hex()),
                ("commit", f"{len(info.commit.signatures)} precommit signatures"),
            ],
        )

    session.emit(value, human)


@click.command("validators")
@session_options
def validators(session: Session) -> None:
    """The validator set."""
    answer = session.client(sign=False).validators()

    def human() -> None:
        table = Table("node key", "organisation", "power", "connected")
        for entry in answer.get("validators") or []:
            table.add_row(
                short(entry.get("node_key")),
                str(entry.get("organisation")),
                str(entry.get("power")),
                "yes" if entry.get("connected") else "no",
            )
        Console().print(table)

    session.emit(answer, human)


@click.command("orgs")
@session_options
def organisations(session: Session) -> None:
    """Organisations and their roles (signed read)."""
    answer = session.client().organisations()
    rows = answer.get("organisations") if isinstance(answer, dict) else answer

    def human() -> None:
        table = Table("id", "name", "country", "roles", "suspended")
        for entry in rows or []:
            table.add_row(
                str(entry.get("id")),
                str(entry.get("name")),
                str(entry.get("country")),
                ", ".join(entry.get("roles") or []),
                "SUSPENDED" if entry.get("suspended") else "",
            )
        Console().print(table)

    session.emit(answer, human)


@click.command("members")
@click.argument("organisation")
@session_options
def members(session: Session, organisation: str) -> None:
    """Member keys of ORGANISATION (your own; signed read)."""
    answer = session.client().members(organisation)
    rows = answer.get("members") if isinstance(answer, dict) else answer

    def human() -> None:
        table = Table(
            "kind",
            "name",
            "registered",
            "revoked",
            Column("key", overflow="fold"),
            title=organisation,
        )
        for entry in rows or []:
            table.add_row(
                str(entry.get("kind")),
                str(entry.get("name")),
                str(entry.get("registered_height")),
                str(entry.get("revoked_height") or ""),
                str(entry.get("key")),
            )
        Console().print(table)

    session.emit(answer, human)


# --- documents ----------------------------------------------------------------------------------


@click.group("doc")
def doc() -> None:
    """Look documents up (signed reads: you see what your organisation may see)."""


def print_document(record: dict[str, Any]) -> None:
    title = record.get("title") or {}
    rows: list[tuple[str, object]] = [
        ("id", record.get("id")),
        ("family / type", f"{record.get('family')} / {record.get('record_type')}"),
        ("issuer", record.get("issuer")),
        ("reference", record.get("reference")),
        ("status", record.get("status")),
    ]
    if isinstance(title, dict) and title:
        rows.append(("holder", title.get("holder")))
        rows.append(("to order", title.get("to_order")))
        if title.get("offer"):
            rows.append(("pending offer to", (title.get("offer") or {}).get("recipient")))
    rows += [
        ("parties", ", ".join(record.get("parties") or [])),
        ("links", ", ".join(f"{k}={v}" for k, v in (record.get("links") or {}).items()) or "-"),
        ("file SHA-256", record.get("document_sha256")),
        (
            "created",
            f"height {record.get('created_height')}, {when(record.get('created_time_ms'))}",
        ),
        ("updated at height", record.get("updated_height")),
    ]
    print_fields("document", rows)


@doc.command("show")
@click.argument("document", type=DOCUMENT)
@session_options
def doc_show(session: Session, document: str) -> None:
    """The current record of DOCUMENT."""
    record = session.client().document(document)
    session.emit(record, lambda: print_document(record))


@doc.command("history")
@click.argument("document", type=DOCUMENT)
@session_options
def doc_history(session: Session, document: str) -> None:
    """Every change of DOCUMENT (and a bill's endorsement chain)."""
    answer = session.client().history(document)

    def human() -> None:
        table = Table("#", "height", "time", "action", "by", "status", title="history")
        for event in answer.get("events") or []:
            table.add_row(
                str(event.get("index")),
                str(event.get("height")),
                when(event.get("time_ms")),
                str(event.get("action")),
                str(event.get("actor")),
                str(event.get("status")),
            )
        Console().print(table)
        chain = answer.get("endorsement_chain")
        if chain:
            table = Table("height", "action", "from", "to", title="endorsement chain")
            for entry in chain:
                table.add_row(
                    str(entry.get("height")),
                    str(entry.get("action")),
                    str(entry.get("actor")),
                    str(entry.get("recipient") or "-"),
                )
            Console().print(table)

    session.emit(answer, human)


@doc.command("lookup")
@click.option("--family", type=click.Choice(FAMILIES), required=True)
@click.option("--issuer", required=True, metavar="ORG")
@click.option("--reference", required=True)
@session_options
def doc_lookup(session: Session, family: str, issuer: str, reference: str) -> None:
    """Find the current document of ISSUER with REFERENCE."""
    found = session.client().lookup(family, issuer, reference)
    if found is None:
        fail(
            f"no {family} document of {issuer!r} with reference {reference!r} that you may see",
            code="not_found",
            as_json=session.as_json,
        )
    session.emit({"ok": True, "id": found}, lambda: click.echo(found))


@doc.command("bundle")
@click.argument("document", type=DOCUMENT)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the bundle here (for `tradeledger verify` later, anywhere).",
)
@click.option(
    "--genesis",
    envvar=GENESIS_ENV,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"Verify it at once against this genesis [env {GENESIS_ENV}].",
)
@session_options
def doc_bundle(session: Session, document: str, output: Path | None, genesis: Path | None) -> None:
    """Fetch the evidence bundle of DOCUMENT (and verify it with --genesis)."""
    bundle = session.client().bundle(document)
    if output is not None:
        output.write_text(json.dumps(bundle, indent=2) + "\n", encoding="utf-8")
    if genesis is not None:
        report_and_exit(session, check_bundle(bundle, load_genesis(genesis)))
    if output is None:
        click.echo(json.dumps(bundle, indent=2))
    elif session.as_json:
        click.echo(json.dumps({"ok": True, "output": str(output)}))
    else:
        click.echo(f"wrote {output} ({len(bundle.get('entries') or [])} entries)")


# --- verify -------------------------------------------------------------------------------------


def load_genesis(path: Path) -> Genesis:
    try:
        return Genesis.from_json(path.read_text(encoding="utf-8"))
    except LedgerError as exc:
        raise InvalidArgument("--genesis", f"{path} is not a genesis file: {exc}") from None


def load_bundle(path: Path) -> dict[str, Any] | None:
    """The bundle in `path`, or None if the file is not one (a document file, then). A bundle
    of another format version is one: verifying it names the version it should have."""
    try:
        value = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(value, dict) and str(value.get("format")).startswith(BUNDLE_FORMAT_PREFIX):
        return value
    return None


def print_report(report: BundleReport) -> None:
    table = Table("#", "height", "time", "transaction", "signed by", "code", "proof")
    for entry in report.entries:
        table.add_row(
            str(entry.index),
            str(entry.height),
            when(entry.time_ms),
            entry.kind or "?",
            entry.sender_organisation or short(entry.sender),
            entry.code or "-",
            "verified" if entry.verified else "FAILED",
        )
    Console().print(table)
    if report.file_sha256 is not None:
        state = "matches" if report.file_matches else "DOES NOT MATCH"
        click.echo(f"file SHA-256 {report.file_sha256} {state} the registered document")
    if report.ok:
        click.echo(
            f"VERIFIED document {report.document_id} on chain {report.chain_id}: "
            f"{len(report.entries)} transactions committed by the genesis validators"
        )
        click.echo(
            "  (a bundle proves what it contains; it cannot prove that nothing later was left out)"
        )
    else:
        for problem in report.problems:
            click.echo(f"NOT VERIFIED {problem}", err=True)


def report_and_exit(session: Session, report: BundleReport) -> None:
    session.emit(report.to_json(), lambda: print_report(report))
    if not report.ok:
        raise SystemExit(EXIT_PROBLEM)


@click.command("verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--genesis",
    envvar=GENESIS_ENV,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"The genesis you trust (obtained out of band) [env {GENESIS_ENV}].",
)
@click.option(
    "--file",
    "document_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With a bundle: check that this document file is the one registered.",
)
@session_options
def verify(session: Session, path: Path, genesis: Path | None, document_file: Path | None) -> None:
    """Verify PATH: an evidence bundle, offline against --genesis (with --file, also
    the document file); or a document file, looked up on --node by its SHA-256 (with --key
    and --genesis, its bundle is fetched and verified offline too)."""
    bundle = load_bundle(path)
    if bundle is not None:
        if genesis is None:
            fail(
                f"verifying a bundle needs the genesis you trust: pass --genesis FILE "
                f"(or set {GENESIS_ENV})",
                code="usage",
                exit_code=EXIT_USAGE,
                as_json=session.as_json,
            )
        file_bytes = None if document_file is None else document_file.read_bytes()
        report_and_exit(session, check_bundle(bundle, load_genesis(genesis), file_bytes))
        return
    if document_file is not None:
        fail(
            f"{path} is not an evidence bundle ({BUNDLE_FORMAT}); --file goes with a bundle",
            code="usage",
            exit_code=EXIT_USAGE,
            as_json=session.as_json,
        )
    if session.node_url is None:
        fail(
            f"{path} is not an evidence bundle; to check a document file, pass --node URL "
            "(its SHA-256 is looked up), or verify its bundle with --file",
            code="usage",
            exit_code=EXIT_USAGE,
            as_json=session.as_json,
        )
    data = path.read_bytes()
    digest = crypto.sha256(data).hex()
    prove = genesis is not None and session.key_name is not None
    client = session.client(sign=prove)
    found = client.verify_file(data)
    if not found.get("registered"):
        fail(
            f"NOT REGISTERED: no document on the ledger has this file's SHA-256 {digest}",
            code="not_registered",
            as_json=session.as_json,
        )
    if prove:
        assert genesis is not None
        document_id = found.get("document")
        if not isinstance(document_id, str):
            raise InvalidArgument("document", "the node named no document for this file")
        report_and_exit(
            session, check_bundle(client.bundle(document_id), load_genesis(genesis), data)
        )
        return

    def human() -> None:
        print_fields(
            "registered (the node's answer; add --key and --genesis for a proof)",
            [
                ("file SHA-256", digest),
                ("document", found.get("document")),
                ("family / type", f"{found.get('family')} / {found.get('record_type')}"),
                ("issuer", found.get("issuer")),
                ("status", found.get("status")),
                ("superseded by", found.get("superseded_by")),
                (
                    "registered",
                    f"height {found.get('registered_height')}, "
                    f"{when(found.get('registered_time_ms'))}",
                ),
            ],
        )

    session.emit({"ok": True, "sha256": digest, **found}, human)


COMMANDS = (status, tx, block, validators, organisations, members, doc, verify)
