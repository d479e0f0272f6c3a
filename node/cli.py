"""The `tradeledger` console script: the client's commands plus the node's.

`client.cli.main` holds what every member uses (keys, verification); this module adds what
an operator uses (genesis, node, devnet), and `portal login` (it needs the node's sign-in
payload, `node.portal.sessions`). It lives in `node/` because nothing may import
`node`: the console script is the one place both meet.
"""

from __future__ import annotations

import json
import re
import signal
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from client.cli import EXIT_PROBLEM
from client.cli import main as client_main
from ledger.types import Role
from node import devnet
from node.devnet import DevnetError, OrganisationSpec
from node.portal.cli import portal

main = client_main
main.add_command(portal)  # tradeledger portal login

ORG_PATTERN = re.compile(r"^(?P<id>[A-Za-z0-9._-]+):(?P<country>[A-Z]{2}):(?P<roles>[a-z_,]+)$")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_PROBLEM)


@main.group()
def genesis() -> None:
    """Create the genesis of a new network."""


@genesis.command("init")
@click.option("--dir", "directory", required=True, type=click.Path(path_type=Path))
@click.option("--chain-id", default="tradeledger-1", show_default=True)
@click.option(
    "--org",
    "orgs",
    multiple=True,
    metavar="ID:CC:ROLE[,ROLE]",
    help="An organisation, its ISO country code and roles (repeat). Default: the demo set.",
)
@click.option(
    "--validator",
    "validators",
    multiple=True,
    metavar="ORG",
    help="An organisation that runs a validator node (repeat; one node each).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the nodes listen on.")
@click.password_option("--passphrase", help="Passphrase for the generated admin and member keys.")
def genesis_init(
    directory: Path,
    chain_id: str,
    orgs: tuple[str, ...],
    validators: tuple[str, ...],
    host: str,
    passphrase: str,
) -> None:
    """Create organisations, keys, a genesis and node configs in DIR."""
    specs = [_parse_org(text) for text in orgs] if orgs else list(devnet.DEMO_ORGANISATIONS)
    chosen = list(validators) or list(devnet.DEMO_VALIDATOR_ORGANISATIONS[:4])
    try:
        manifest = devnet.init_network(
            directory,
            chain_id=chain_id,
            organisations=specs,
            validator_organisations=chosen,
            passphrase=passphrase,
            host=host,
        )
    except (DevnetError, ValueError) as exc:
        _fail(str(exc))
    click.echo(f"created {directory / 'genesis.json'} for chain {chain_id}")
    for node in devnet.nodes_of(manifest):
        click.echo(f"  {node['name']}: {directory / str(node['config'])}")
    click.echo("Start a node with: tradeledger node start --config <node.toml>")


def _parse_org(text: str) -> OrganisationSpec:
    match = ORG_PATTERN.match(text)
    if match is None:
        raise click.BadParameter(
            f"{text!r}: expected ID:CC:ROLE[,ROLE], e.g. customs-nl:NL:customs"
        )
    try:
        roles = tuple(Role(role) for role in match["roles"].split(","))
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise click.BadParameter(f"{text!r}: unknown role (known: {known})") from None
    return OrganisationSpec(id=match["id"], name=match["id"], country=match["country"], roles=roles)


@main.group()
def node() -> None:
    """Run a node."""


@node.command("start")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path))
def node_start(config_path: Path) -> None:
    """Run the node configured by CONFIG until SIGTERM or Ctrl-C."""
    from node.main import run

    sys.exit(run(config_path))


@main.group("devnet")
def devnet_group() -> None:
    """A local network of validator processes on loopback, for trying things out."""


@devnet_group.command("up")
@click.option("--dir", "directory", required=True, type=click.Path(path_type=Path))
@click.option("--nodes", "node_count", default=4, show_default=True, type=click.IntRange(1, 5))
@click.option("--chain-id", default="tradeledger-devnet", show_default=True)
@click.option("--detach", is_flag=True, help="Leave the nodes running and return.")
@click.option("--demo", "with_demo", is_flag=True, help="Walk the demo trade through it first.")
def devnet_up(
    directory: Path, node_count: int, chain_id: str, detach: bool, with_demo: bool
) -> None:
    """Create (or resume) the devnet in DIR and start its nodes."""
    console = Console(stderr=True)
    try:
        if (directory / devnet.DEVNET_FILE).exists():
            manifest = devnet.read_manifest(directory)
            console.print(f"resuming the devnet in {directory}")
        else:
            console.print(f"creating a {node_count}-node devnet in {directory}")
            manifest = devnet.init_network(
                directory,
                chain_id=chain_id,
                validator_organisations=devnet.DEMO_VALIDATOR_ORGANISATIONS[:node_count],
            )
        devnet.start_nodes(directory, manifest)
        with console.status("waiting for the nodes to connect…"):
            devnet.wait_ready(manifest)
    except DevnetError as exc:
        _fail(str(exc))
    for entry in devnet.nodes_of(manifest):
        click.echo(f"{entry['name']}: {entry['api_url']}/docs (pid {entry['pid']})")
    click.echo(f"manifest: {directory / devnet.DEVNET_FILE}")
    first = devnet.nodes_of(manifest)[0]
    click.echo(
        f"for the CLI: export TRADELEDGER_NODE={first['api_url']} "
        f"TRADELEDGER_PASSPHRASE={manifest['passphrase']}; "
        f"keys in --keystore {directory / 'keys'}"
    )
    if with_demo and not _run_demo(directory):
        if not detach:
            click.echo(f"stopped {devnet.stop_nodes(directory, manifest)} nodes", err=True)
        sys.exit(EXIT_PROBLEM)
    if detach:
        click.echo(f"stop with: tradeledger devnet down --dir {directory}")
        return
    click.echo("running; press Ctrl-C to stop")
    _interrupt_on(signal.SIGINT, signal.SIGTERM)
    try:
        devnet.wait_forever(manifest, directory)
    except KeyboardInterrupt:
        pass
    finally:
        stopped = devnet.stop_nodes(directory, manifest)
        click.echo(f"stopped {stopped} nodes")


def _interrupt_on(*signals: signal.Signals) -> None:
    """Turn these signals into KeyboardInterrupt (SIGINT may be ignored when started in the
    background, and SIGTERM must stop the nodes too)."""
    for signum in signals:
        signal.signal(signum, signal.default_int_handler)


@main.command("demo")
@click.option("--dir", "directory", required=True, type=click.Path(path_type=Path))
def demo_command(directory: Path) -> None:
    """Walk the demo trade through the running devnet in DIR (every organisation on its own
    key and node); exits 0 when every step succeeded."""
    if not _run_demo(directory):
        sys.exit(EXIT_PROBLEM)


def _run_demo(directory: Path) -> bool:
    """Walk the demo trade, printing each step; False (and one line saying why) if it failed."""
    from client.errors import ClientError
    from node.demo import DemoFailed, Step, run_demo

    def say(step: Step) -> None:
        click.echo(f"{step.number:>3}. {step.who:<11} {step.what}  [{step.detail}]")

    click.echo("demo trade: ceramics from Delft to Singapore")
    try:
        steps = run_demo(directory, say)
    except (DemoFailed, ClientError, DevnetError) as exc:
        click.echo(f"error: the demo trade failed: {exc}", err=True)
        return False
    click.echo(f"demo trade complete: {len(steps)} steps, every one committed and verified")
    return True


@devnet_group.command("down")
@click.option("--dir", "directory", required=True, type=click.Path(path_type=Path))
def devnet_down(directory: Path) -> None:
    """Stop the devnet's node processes (its data stays; `up` resumes it)."""
    try:
        manifest = devnet.read_manifest(directory)
    except DevnetError as exc:
        _fail(str(exc))
    click.echo(f"stopped {devnet.stop_nodes(directory, manifest)} nodes")


@devnet_group.command("status")
@click.option("--dir", "directory", required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def devnet_status(directory: Path, as_json: bool) -> None:
    """Each node's height, head, peers and mempool."""
    try:
        rows = devnet.node_status(devnet.read_manifest(directory))
    except DevnetError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("node", "up", "height", "head", "peers", "mempool", "api")
    for row in rows:
        table.add_row(
            str(row["name"]),
            "yes" if row["up"] else "NO",
            str(row.get("height", "-")),
            str(row.get("head_hash", "-"))[:16],
            str(row.get("peers", "-")),
            str(row.get("mempool", "-")),
            str(row["api_url"]),
        )
    Console().print(table)
    if not all(row["up"] for row in rows):
        sys.exit(EXIT_PROBLEM)
