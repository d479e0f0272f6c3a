"""A real devnet for multi-process tests: node processes on loopback with LevelDB on disk.

Waits are on conditions with bounded timeouts (`wait_until`), never fixed sleeps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nacl.pwhash

from client.keystore import unlock
from contracts.testing import issue_body
from ledger.crypto import SigningKey
from ledger.types import Transaction
from node import devnet
from node.config import Address, NodeConfig, Peer, write_node_key

POLL_S = 0.05


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(POLL_S)


@dataclass
class Devnet:
    directory: Path
    manifest: dict[str, object]
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30.0))
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    _keys: dict[str, SigningKey] = field(default_factory=dict)
    _nonce: int = 0

    @classmethod
    def create(cls, directory: Path, nodes: int = 4, attempts: int = 3) -> Devnet:
        """A running devnet in `directory`. The devnet picks free ports before its nodes bind
        them; on a busy machine another process can take one in between, so a devnet whose
        nodes do not all come up is stopped and made again (bounded), in a fresh folder."""
        for attempt in range(attempts):
            folder = (
                directory if attempt == 0 else directory.with_name(f"{directory.name}-{attempt}")
            )
            manifest = devnet.init_network(
                folder,
                chain_id="tradeledger-test",
                validator_organisations=devnet.DEMO_VALIDATOR_ORGANISATIONS[:nodes],
                passphrase_limits=(
                    nacl.pwhash.argon2id.OPSLIMIT_MIN,
                    nacl.pwhash.argon2id.MEMLIMIT_MIN,
                ),
            )
            net = cls(directory=folder, manifest=manifest)
            net.restart_stopped()
            try:
                devnet.wait_ready(manifest, timeout_s=60)
            except devnet.DevnetError:
                if attempt == attempts - 1:
                    net.stop()
                    raise
                net.stop()
                continue
            return net
        raise AssertionError("unreachable")

    @property
    def nodes(self) -> list[dict[str, object]]:
        return devnet.nodes_of(self.manifest)

    @property
    def chain_id(self) -> str:
        return str(self.manifest["chain_id"])

    def url(self, index: int) -> str:
        return str(self.nodes[index]["api_url"])

    def data_dir(self, index: int) -> Path:
        return self.directory / str(self.nodes[index]["config"]).replace("node.toml", "data/ledger")

    def member_key(self, organisation: str) -> SigningKey:
        if organisation not in self._keys:
            orgs = self.manifest["organisations"]
            assert isinstance(orgs, dict)
            path = self.directory / orgs[organisation]["member_key_file"]
            self._keys[organisation] = unlock(path, str(self.manifest["passphrase"]))
        return self._keys[organisation]

    def status(self, index: int) -> dict[str, object]:
        answer = self.http.get(f"{self.url(index)}/v1/status", timeout=5.0)
        answer.raise_for_status()
        status: dict[str, object] = answer.json()
        return status

    def height(self, index: int) -> int:
        try:
            return int(str(self.status(index)["height"]))
        except httpx.HTTPError:
            return -1

    def add_node(self, organisation: str) -> int:
        """Configure (not start) one more node for `organisation`, dialling every node."""
        index = len(self.nodes)
        key = SigningKey.generate()
        node_dir = self.directory / "nodes" / f"node{index}"
        p2p_port, api_port = devnet.free_ports("127.0.0.1", 2)
        config = NodeConfig(
            path=node_dir / "node.toml",
            name=f"node{index}-{organisation}",
            key_file=node_dir / "node.key",
            genesis_file=self.directory / "genesis.json",
            data_dir=node_dir / "data",
            p2p_listen=Address(host="127.0.0.1", port=p2p_port),
            peers=tuple(
                Peer(
                    node_key=bytes.fromhex(str(node["node_key"])),
                    address=Address.parse(node["p2p"], "p2p"),
                )
                for node in self.nodes
            ),
            api_listen=Address(host="127.0.0.1", port=api_port),
        )
        write_node_key(config.key_file, key)
        config.path.write_text(config.to_toml())
        self.nodes.append(
            {
                "name": config.name,
                "organisation": organisation,
                "config": str(config.path.relative_to(self.directory)),
                "api_url": f"http://127.0.0.1:{api_port}",
                "p2p": f"127.0.0.1:{p2p_port}",
                "node_key": key.public_key.hex(),
                "log": str((node_dir / "node.log").relative_to(self.directory)),
                "pid": None,
            }
        )
        devnet.write_manifest(self.directory, self.manifest)
        return index

    def admin_key(self, organisation: str) -> SigningKey:
        orgs = self.manifest["organisations"]
        assert isinstance(orgs, dict)
        path = self.directory / orgs[organisation]["admin_key_file"]
        return unlock(path, str(self.manifest["passphrase"]))

    def mempool_size(self, index: int) -> int:
        mempool = self.status(index)["mempool"]
        assert isinstance(mempool, dict)
        return int(mempool["transactions"])

    def bill(self, reference: str, expiry_height: int = 1_000) -> Transaction:
        self._nonce += 1
        return Transaction.create(
            self.member_key("carrier"),
            chain_id=self.chain_id,
            kind="bl.issue",
            nonce=time.time_ns() + self._nonce,
            expiry_height=expiry_height,
            body=issue_body(reference, "seller", to_order=True),
        )

    def submit(self, index: int, tx: Transaction, *, wait: bool = True) -> httpx.Response:
        return self.http.post(
            f"{self.url(index)}/v1/transactions",
            params={"wait": "true" if wait else "false", "timeout_ms": "20000"},
            content=tx.encode(),
            headers={"content-type": "application/msgpack"},
        )

    def kill(self, index: int) -> None:
        pid = self.nodes[index]["pid"]
        assert isinstance(pid, int)
        os.kill(pid, signal.SIGKILL)
        self.processes.pop(pid).wait(timeout=30)
        self.nodes[index]["pid"] = None

    def restart_stopped(self) -> None:
        for process in devnet.start_nodes(self.directory, self.manifest):
            self.processes[process.pid] = process

    def block_hash(self, index: int, height: int) -> str:
        answer = self.http.get(f"{self.url(index)}/v1/blocks/{height}", timeout=5.0)
        answer.raise_for_status()
        return str(answer.json()["hash"])

    def stop(self) -> None:
        devnet.stop_nodes(self.directory, self.manifest)
        for process in self.processes.values():
            process.wait(timeout=30)
        self.http.close()
