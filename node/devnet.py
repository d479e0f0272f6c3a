"""A local network: keys, genesis, configs and one process per node, all on loopback.

    tradeledger devnet up --dir DIR [--nodes 4] [--detach]
    tradeledger devnet status --dir DIR [--json]
    tradeledger devnet down --dir DIR

`DIR/devnet.json` lists the chain id, each node's API URL, config and process id, and each
demo organisation's key files. Member keys are encrypted key files; their passphrase is
written in devnet.json because this network is a demonstration, never production.
Running `up` again on an existing DIR resumes the same network from its data.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from client.keystore import MEMLIMIT, OPSLIMIT, create_key_file
from ledger.crypto import SigningKey
from ledger.types import Genesis, Member, Organisation, Role, Validator, ValidatorSet
from node.config import Address, NodeConfig, Peer, write_node_key

DEVNET_FILE = "devnet.json"
DEVNET_PASSPHRASE = "devnet-only-passphrase"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
POLL_INTERVAL_S = 0.2


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganisationSpec:
    id: str
    name: str
    country: str
    roles: tuple[Role, ...]


DEMO_ORGANISATIONS = (
    OrganisationSpec(id="customs-nl", name="Netherlands Customs (demo)", country="NL",
                     roles=(Role.CUSTOMS,)),
    OrganisationSpec(id="bank-nl", name="Harbour Bank N.V. (demo)", country="NL",
                     roles=(Role.BANK,)),
    OrganisationSpec(id="bank-sg", name="Straits Trade Bank (demo)", country="SG",
                     roles=(Role.BANK,)),
    OrganisationSpec(id="carrier", name="Oceanic Container Lines (demo)", country="DK",
                     roles=(Role.CARRIER,)),
    OrganisationSpec(id="chamber-nl", name="Rotterdam Chamber of Commerce (demo)", country="NL",
                     roles=(Role.CHAMBER,)),
    OrganisationSpec(id="seller", name="Delft Ceramics B.V. (demo)", country="NL",
                     roles=(Role.SELLER,)),
    OrganisationSpec(id="buyer", name="Lion City Imports Pte. Ltd. (demo)", country="SG",
                     roles=(Role.BUYER,)),
    OrganisationSpec(id="council", name="Trade Ledger Council (demo)", country="NL",
                     roles=(Role.GOVERNANCE,)),
)  # fmt: skip
DEMO_VALIDATOR_ORGANISATIONS = ("customs-nl", "bank-nl", "carrier", "chamber-nl", "bank-sg")


class DevnetError(Exception):
    """The devnet cannot be created, started, inspected or stopped; the message says why."""


def init_network(
    directory: Path,
    *,
    chain_id: str,
    organisations: Sequence[OrganisationSpec] = DEMO_ORGANISATIONS,
    validator_organisations: Sequence[str],
    passphrase: str = DEVNET_PASSPHRASE,
    genesis_time_ms: int | None = None,
    host: str = "127.0.0.1",
    passphrase_limits: tuple[int, int] | None = None,
) -> dict[str, object]:
    """Create keys, genesis and node configs for a new network in `directory`.

    Returns the manifest (what devnet.json holds, without process ids). `passphrase_limits`
    (Argon2id opslimit, memlimit) lowers the key-derivation cost for tests.
    """
    if (directory / "genesis.json").exists():
        raise DevnetError(f"{directory} already holds a network (genesis.json exists)")
    directory.mkdir(parents=True, exist_ok=True)
    keys_dir = directory / "keys"
    known = {spec.id for spec in organisations}
    for org in validator_organisations:
        if org not in known:
            raise DevnetError(f"validator organisation {org!r} is not among the organisations")
    org_entries: dict[str, dict[str, str]] = {}
    orgs = []
    members = []
    opslimit, memlimit = passphrase_limits or (OPSLIMIT, MEMLIMIT)
    for spec in organisations:
        admin = create_key_file(
            keys_dir, f"{spec.id}-admin", spec.id, passphrase, opslimit=opslimit, memlimit=memlimit
        )
        member = create_key_file(
            keys_dir, f"{spec.id}-clerk", spec.id, passphrase, opslimit=opslimit, memlimit=memlimit
        )
        orgs.append(
            Organisation(
                id=spec.id,
                name=spec.name,
                country=spec.country,
                roles=frozenset(spec.roles),
                admin_keys=(admin.public_key,),
            )
        )
        members.append(Member(key=member.public_key, organisation=spec.id, name="clerk"))
        org_entries[spec.id] = {
            "name": spec.name,
            "roles": ",".join(sorted(role.value for role in spec.roles)),
            "admin_key_file": str(admin.path.relative_to(directory)),
            "admin_public_key": admin.public_key.hex(),
            "member_key_file": str(member.path.relative_to(directory)),
            "member_public_key": member.public_key.hex(),
        }
    node_keys = [SigningKey.generate() for _ in validator_organisations]
    genesis = Genesis(
        chain_id=chain_id,
        genesis_time_ms=genesis_time_ms if genesis_time_ms is not None else time.time_ns() // 10**6,
        organisations=tuple(orgs),
        members=tuple(members),
        validators=ValidatorSet.of(
            [
                Validator(node_key=key.public_key, power=1, organisation=org)
                for key, org in zip(node_keys, validator_organisations, strict=True)
            ]
        ),
    )
    (directory / "genesis.json").write_text(genesis.to_json())
    p2p_ports = free_ports(host, len(node_keys))
    api_ports = free_ports(host, len(node_keys))
    nodes = []
    for index, (key, org) in enumerate(zip(node_keys, validator_organisations, strict=True)):
        node_dir = directory / "nodes" / f"node{index}"
        node_dir.mkdir(parents=True, exist_ok=True)
        write_node_key(node_dir / "node.key", key)
        config = NodeConfig(
            path=node_dir / "node.toml",
            name=f"node{index}-{org}",
            key_file=node_dir / "node.key",
            genesis_file=directory / "genesis.json",
            data_dir=node_dir / "data",
            p2p_listen=Address(host=host, port=p2p_ports[index]),
            peers=tuple(
                Peer(node_key=other.public_key, address=Address(host=host, port=p2p_ports[j]))
                for j, other in enumerate(node_keys)
                if j != index
            ),
            api_listen=Address(host=host, port=api_ports[index]),
        )
        config.path.write_text(config.to_toml())
        nodes.append(
            {
                "name": config.name,
                "organisation": org,
                "config": str(config.path.relative_to(directory)),
                "api_url": f"http://{host}:{api_ports[index]}",
                "p2p": f"{host}:{p2p_ports[index]}",
                "node_key": key.public_key.hex(),
                "log": str((node_dir / "node.log").relative_to(directory)),
                "pid": None,
            }
        )
    manifest: dict[str, object] = {
        "chain_id": chain_id,
        "genesis": "genesis.json",
        "passphrase": passphrase,
        "nodes": nodes,
        "organisations": org_entries,
    }
    write_manifest(directory, manifest)
    return manifest


def free_ports(host: str, count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def read_manifest(directory: Path) -> dict[str, object]:
    path = directory / DEVNET_FILE
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise DevnetError(
            f"{path} not found: run `tradeledger devnet up --dir {directory}`"
        ) from None
    except ValueError as exc:
        raise DevnetError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("nodes"), list):
        raise DevnetError(f"{path}: not a devnet manifest")
    return manifest


def write_manifest(directory: Path, manifest: dict[str, object]) -> None:
    path = directory / DEVNET_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(manifest, indent=2) + "\n")
    temporary.replace(path)


def nodes_of(manifest: dict[str, object]) -> list[dict[str, object]]:
    nodes = manifest["nodes"]
    assert isinstance(nodes, list)
    return nodes


def start_nodes(directory: Path, manifest: dict[str, object]) -> list[subprocess.Popen[bytes]]:
    """Start every node of the manifest that is not running; record the process ids.

    Returns the processes started: the caller may wait on them (they outlive this command
    when the devnet is detached)."""
    started = []
    for node in nodes_of(manifest):
        pid = node.get("pid")
        config = directory / str(node["config"])
        if isinstance(pid, int) and is_our_process(pid, config):
            continue
        log_file = (directory / str(node["log"])).open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "node.main", "--config", str(config)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=directory,
        )
        log_file.close()
        node["pid"] = process.pid
        started.append(process)
    write_manifest(directory, manifest)
    return started


def is_our_process(pid: int, config: Path) -> bool:
    """True if `pid` is alive and is the node started with `config` (never another process)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(config).encode() in cmdline


def wait_ready(
    manifest: dict[str, object],
    timeout_s: float = READY_TIMEOUT_S,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Wait until every node answers /readyz with 200 (bounded by `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    urls = [str(node["api_url"]) for node in nodes_of(manifest)]
    with httpx.Client(timeout=2.0) as client:
        while True:
            ready = 0
            for url in urls:
                with contextlib.suppress(httpx.HTTPError):
                    ready += client.get(f"{url}/readyz").status_code == 200
            if progress is not None:
                progress(ready, len(urls))
            if ready == len(urls):
                return
            if time.monotonic() > deadline:
                raise DevnetError(
                    f"only {ready} of {len(urls)} nodes ready after {timeout_s:.0f} s; "
                    "see the node logs under nodes/*/node.log"
                )
            time.sleep(POLL_INTERVAL_S)


def stop_nodes(
    directory: Path, manifest: dict[str, object], timeout_s: float = STOP_TIMEOUT_S
) -> int:
    """SIGTERM every node process this devnet started; SIGKILL any still alive after
    `timeout_s`. Returns how many were stopped."""
    running = []
    for node in nodes_of(manifest):
        pid = node.get("pid")
        if isinstance(pid, int) and is_our_process(pid, directory / str(node["config"])):
            os.kill(pid, signal.SIGTERM)
            running.append((pid, node))
    deadline = time.monotonic() + timeout_s
    for pid, node in running:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        node["pid"] = None
    write_manifest(directory, manifest)
    return len(running)


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (started by another command): ask /proc
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            return False
        return state != "Z"
    return finished == 0


def node_status(manifest: dict[str, object]) -> list[dict[str, object]]:
    rows = []
    with httpx.Client(timeout=2.0) as client:
        for node in nodes_of(manifest):
            row: dict[str, object] = {"name": node["name"], "api_url": node["api_url"]}
            try:
                answer = client.get(f"{node['api_url']}/v1/status")
                status = answer.json()
                row.update(
                    height=status["height"],
                    head_hash=status["head_hash"],
                    peers=len(status["peers"]),
                    syncing=status["syncing"],
                    mempool=status["mempool"]["transactions"],
                    up=True,
                )
            except (httpx.HTTPError, ValueError, KeyError):
                row.update(up=False)
            rows.append(row)
    return rows


def wait_forever(manifest: dict[str, object], directory: Path) -> None:
    """Block until interrupted, or until every node process has exited."""
    while any(
        isinstance(node.get("pid"), int)
        and is_our_process(int(str(node["pid"])), directory / str(node["config"]))
        for node in nodes_of(manifest)
    ):
        time.sleep(1.0)
    raise DevnetError("every node process exited; see nodes/*/node.log")
