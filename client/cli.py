"""The `tradeledger` command: one CLI for every role.

Each command prints one clear line on failure saying what went wrong and what to do, exits
non-zero, and accepts `--json` where a script may read its output.

    keys                          create and inspect member keys (encrypted at rest)
    bl, coo, pay, customs         sign and submit document transactions, by role
    member, gov                   organisation admins and governance
    status, tx, block, validators, orgs, members, doc
                                  read the ledger (documents through signed reads)
    verify                        offline verification of an evidence bundle or a file
    ledger verify                 check a node's data directory end to end

Commands that talk to a node take --node URL (env TRADELEDGER_NODE), --key NAME and
--keystore DIR (the key's passphrase from --passphrase-file, env TRADELEDGER_PASSPHRASE, or
asked), and --json. The operator commands (genesis, node, devnet) are added by node/cli.py.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from client.cli_documents import GROUPS
from client.cli_reads import COMMANDS
from client.cli_support import (
    DEFAULT_KEYSTORE,
    EXIT_PROBLEM,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CliContext,
    OneLineGroup,
    keystore_option,
)
from client.keystore import (
    KEY_FILE_SUFFIX,
    KeyInfo,
    KeystoreError,
    create_key_file,
    list_keys,
    read_key_info,
)
from ledger.verify import Report, verify_directory

T = TypeVar("T")


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tradeledger")
def main() -> None:
    """tradeledger: a shared, verifiable ledger of trade documents."""


for _command in (*GROUPS, *COMMANDS):
    main.add_command(_command)


@main.group()
def ledger() -> None:
    """Inspect and check a node's data directory."""


@ledger.command("verify")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def ledger_verify(directory: Path, as_json: bool) -> None:
    """Check DIRECTORY end to end: hash chain, signatures, log roots, commits, state.

    Stop the node first: the store is opened exclusively.
    """
    console = Console(stderr=True)
    if as_json or not console.is_terminal:
        report = verify_directory(directory)
    else:
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} blocks"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("verify", total=None)

            def advance(height: int, head: int) -> None:
                progress.update(task, completed=height, total=head)

            report = verify_directory(directory, advance)
    if as_json:
        click.echo(json.dumps(_report_json(report), indent=2))
    else:
        _print_report(report)
    sys.exit(0 if report.ok else EXIT_PROBLEM)


def _report_json(report: Report) -> dict[str, object]:
    problem = report.problem
    return {
        "ok": report.ok,
        "chain_id": report.chain_id,
        "verified_height": report.height,
        "transactions": report.transaction_count,
        "head_hash": report.head_hash.hex(),
        "log_root": report.log_root.hex(),
        "elapsed_s": round(report.elapsed_s, 3),
        "problem": None
        if problem is None
        else {
            "height": problem.height,
            "what": problem.what,
            "expected": problem.expected,
            "found": problem.found,
        },
    }


def _print_report(report: Report) -> None:
    rate = report.transaction_count / report.elapsed_s if report.elapsed_s > 0 else 0.0
    summary = (
        f"chain {report.chain_id}: {report.height} blocks, {report.transaction_count} "
        f"transactions verified in {report.elapsed_s:.2f} s ({rate:,.0f} tx/s); "
        f"head {report.head_hash.hex()[:16]}, log root {report.log_root.hex()[:16]}"
    )
    if report.problem is None:
        click.echo(f"OK {summary}")
    else:
        click.echo(f"CORRUPT {report.problem}", err=True)
        click.echo(f"  verified before it: {summary}", err=True)
        click.echo(
            "  Do not serve from this directory; restore it from a backup or resync from peers.",
            err=True,
        )


# --- keys -----------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Create and inspect member keys (encrypted at rest with a passphrase)."""


@keys.command("new")
@click.argument("name")
@click.option("--organisation", required=True, help="The organisation the key acts for.")
@keystore_option
@click.password_option("--passphrase", help="Passphrase that encrypts the key (prompted).")
def keys_new(name: str, organisation: str, keystore: Path, passphrase: str) -> None:
    """Create a new Ed25519 member key called NAME."""
    info = _keystore_call(lambda: create_key_file(keystore, name, organisation, passphrase))
    click.echo(f"created {info.path}")
    click.echo(f"public key {info.public_key.hex()}")
    click.echo("Ask your organisation's admin to register this public key on the ledger.")


@keys.command("list")
@keystore_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_list(keystore: Path, as_json: bool) -> None:
    """List the keys in the keystore."""
    infos = _keystore_call(lambda: list_keys(keystore))
    if as_json:
        click.echo(json.dumps([_key_json(info) for info in infos], indent=2))
        return
    if not infos:
        click.echo(f"no keys in {keystore}; create one with `tradeledger keys new`")
        return
    table = Table("name", "organisation", "public key")
    for info in infos:
        table.add_row(info.name, info.organisation, info.public_key.hex())
    Console().print(table)


@keys.command("show")
@click.argument("name")
@keystore_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_show(name: str, keystore: Path, as_json: bool) -> None:
    """Show the key called NAME (never its secret)."""
    info = _keystore_call(lambda: read_key_info(keystore / f"{name}{KEY_FILE_SUFFIX}"))
    if as_json:
        click.echo(json.dumps(_key_json(info), indent=2))
    else:
        click.echo(f"{info.name} ({info.organisation})\npublic key {info.public_key.hex()}")


def _key_json(info: KeyInfo) -> dict[str, str]:
    return {
        "name": info.name,
        "organisation": info.organisation,
        "public_key": info.public_key.hex(),
        "path": str(info.path),
    }


def _keystore_call(call: Callable[[], T]) -> T:
    try:
        return call()
    except KeystoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_PROBLEM)


__all__ = [
    "DEFAULT_KEYSTORE",
    "EXIT_PROBLEM",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "CliContext",
    "main",
]
