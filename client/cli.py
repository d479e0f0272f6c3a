"""The `tradeledger` command: one CLI for every role.

Each command prints one clear line on failure saying what went wrong and what to do, exits
non-zero, and accepts `--json` where a script may read its output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ledger.verify import Report, verify_directory

EXIT_PROBLEM = 1  # the thing checked is wrong (corrupt data, invalid proof)
EXIT_USAGE = 2  # the command was used wrongly (click's own code for usage errors)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tradeledger")
def main() -> None:
    """tradeledger: a shared, verifiable ledger of trade documents."""


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
