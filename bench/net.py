"""A devnet for benchmarks: real node processes on loopback (`node.devnet`), LevelDB on disk,
synced block writes; plus the few status reads the harness needs (httpx: a handful of
requests per second at most, never the load itself)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nacl.pwhash

from client.keystore import unlock
from node import devnet

CHAIN_ID = "tradeledger-bench"
STATUS_TIMEOUT_S = 5.0
READY_TIMEOUT_S = 60.0
CREATE_ATTEMPTS = 3


@dataclass
class BenchNet:
    directory: Path
    manifest: dict[str, object]
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=STATUS_TIMEOUT_S))
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def create(cls, directory: Path, nodes: int = 4, attempts: int = CREATE_ATTEMPTS) -> BenchNet:
        """A new devnet in `directory`, all nodes ready. The ports are chosen free but bound
        only when the nodes start, so on a shared machine another process may take one in
        between: then the nodes are stopped and a fresh network (new ports) is tried."""
        for attempt in range(1, attempts + 1):
            where = (
                directory if attempt == 1 else directory.with_name(f"{directory.name}-{attempt}")
            )
            net = cls._create(where, nodes)
            try:
                devnet.wait_ready(net.manifest, timeout_s=READY_TIMEOUT_S)
            except devnet.DevnetError as exc:
                net.stop()
                if attempt == attempts:
                    raise
                print(f"devnet: {exc}; trying again with other ports", flush=True)
                continue
            return net
        raise AssertionError("unreachable")

    @classmethod
    def _create(cls, directory: Path, nodes: int) -> BenchNet:
        manifest = devnet.init_network(
            directory,
            chain_id=CHAIN_ID,
            validator_organisations=devnet.DEMO_VALIDATOR_ORGANISATIONS[:nodes],
            # the key files only guard demo keys here: cheap key derivation
            passphrase_limits=(
                nacl.pwhash.argon2id.OPSLIMIT_MIN,
                nacl.pwhash.argon2id.MEMLIMIT_MIN,
            ),
        )
        net = cls(directory=directory, manifest=manifest)
        net.start_stopped()
        return net

    @property
    def nodes(self) -> list[dict[str, object]]:
        return devnet.nodes_of(self.manifest)

    @property
    def chain_id(self) -> str:
        return str(self.manifest["chain_id"])

    def url(self, index: int) -> str:
        return str(self.nodes[index]["api_url"])

    def pid(self, index: int) -> int | None:
        pid = self.nodes[index]["pid"]
        return pid if isinstance(pid, int) else None

    def data_dir(self, index: int) -> Path:
        return (self.directory / str(self.nodes[index]["config"])).parent / "data"

    def member_seeds(self, organisations: list[str]) -> dict[str, bytes]:
        orgs = self.manifest["organisations"]
        assert isinstance(orgs, dict)
        passphrase = str(self.manifest["passphrase"])
        return {
            org: unlock(self.directory / orgs[org]["member_key_file"], passphrase).seed
            for org in organisations
        }

    def status(self, index: int) -> dict[str, Any] | None:
        try:
            answer = self.http.get(f"{self.url(index)}/v1/status")
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            return None
        document: dict[str, Any] = answer.json()
        return document

    def wait_settled(self, indexes: list[int], timeout_s: float) -> bool:
        """Wait until the nodes' mempools are empty and they agree on the height."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            statuses = [self.status(i) for i in indexes]
            if all(s is not None for s in statuses):
                heights = {s["height"] for s in statuses if s is not None}
                pending = sum(s["mempool"]["transactions"] for s in statuses if s is not None)
                if pending == 0 and len(heights) == 1:
                    return True
            time.sleep(0.2)
        return False

    def start_stopped(self) -> None:
        for process in devnet.start_nodes(self.directory, self.manifest):
            self.processes[process.pid] = process

    def kill(self, index: int) -> None:
        pid = self.pid(index)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        self.processes.pop(pid).wait(timeout=30)
        self.nodes[index]["pid"] = None
        devnet.write_manifest(self.directory, self.manifest)

    def stop(self) -> None:
        devnet.stop_nodes(self.directory, self.manifest)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.processes.clear()
        self.http.close()
