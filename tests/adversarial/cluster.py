"""A 4-validator devnet of real node processes whose peer links run through the FaultProxy.

Built on `node.devnet` (keys, genesis, configs) and `tests.devnet_harness.Devnet` (HTTP
helpers). Every node's config is rewritten so that each peer address is the proxy's port
for that directed pair. Processes are started here and ended here, by pid only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nacl.pwhash

from ledger.crypto import SigningKey
from node import devnet
from node.config import Address, NodeConfig, Peer
from tests.adversarial.proxy import FaultProxy, Link
from tests.devnet_harness import Devnet, wait_until

NODE_COUNT = 4
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
EXIT_TIMEOUT_S = 10.0


@dataclass
class Cluster:
    """The devnet, the proxy, and which node processes this cluster started."""

    net: Devnet
    proxy: FaultProxy
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)  # node -> proc
    paused: set[int] = field(default_factory=set)
    faults: dict[str, int] = field(default_factory=dict)  # fault kind -> times injected

    @classmethod
    def create(cls, directory: Path, *, seed: int, lifetime_s: float) -> Cluster:
        manifest = devnet.init_network(
            directory,
            chain_id="tradeledger-adversarial",
            validator_organisations=devnet.DEMO_VALIDATOR_ORGANISATIONS[:NODE_COUNT],
            passphrase_limits=(
                nacl.pwhash.argon2id.OPSLIMIT_MIN,
                nacl.pwhash.argon2id.MEMLIMIT_MIN,
            ),
        )
        net = Devnet(directory=directory, manifest=manifest)
        links = _route_through_proxy(net)
        proxy = FaultProxy(links, seed=seed, lifetime_s=lifetime_s)
        proxy.start()
        cluster = cls(net=net, proxy=proxy)
        for index in range(NODE_COUNT):
            cluster.start(index)
        cluster.wait_ready(range(NODE_COUNT))
        return cluster

    # --- processes ---------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return NODE_COUNT

    def config_path(self, index: int) -> Path:
        return self.net.directory / str(self.net.nodes[index]["config"])

    def node_dir(self, index: int) -> Path:
        return self.config_path(index).parent

    def data_dir(self, index: int) -> Path:
        return self.node_dir(index) / "data" / "ledger"

    def running(self, index: int) -> bool:
        process = self.processes.get(index)
        return process is not None and process.poll() is None

    def start(self, index: int, clock_offset_ms: int = 0) -> subprocess.Popen[bytes]:
        """Start node `index` (as node.devnet does: same command, its own session), its
        clock shifted by `clock_offset_ms` (node/main.py's TRADELEDGER_CLOCK_OFFSET_MS)."""
        assert not self.running(index), f"node {index} is already running"
        log_path = self.net.directory / str(self.net.nodes[index]["log"])
        env = {**os.environ, "TRADELEDGER_CLOCK_OFFSET_MS": str(clock_offset_ms)}
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "node.main", "--config", str(self.config_path(index))],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.net.directory,
                env=env,
            )
        self.processes[index] = process
        self.net.nodes[index]["pid"] = process.pid
        self.paused.discard(index)
        return process

    def kill(self, index: int) -> None:
        """SIGKILL node `index` (resumed first if paused, so it dies at once)."""
        process = self.processes.pop(index)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=EXIT_TIMEOUT_S)
        self.paused.discard(index)
        self.net.nodes[index]["pid"] = None
        self.count("sigkill")

    def pause(self, index: int) -> None:
        os.kill(self.processes[index].pid, signal.SIGSTOP)
        self.paused.add(index)
        self.count("sigstop")

    def resume(self, index: int) -> None:
        os.kill(self.processes[index].pid, signal.SIGCONT)
        self.paused.discard(index)

    def stop(self, index: int) -> int | None:
        """SIGTERM node `index` and wait (SIGKILL after STOP_TIMEOUT_S); its exit status."""
        process = self.processes.pop(index, None)
        if process is None:
            return None
        if index in self.paused:
            os.kill(process.pid, signal.SIGCONT)
            self.paused.discard(index)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=EXIT_TIMEOUT_S)
        self.net.nodes[index]["pid"] = None
        return process.returncode

    def stop_all(self) -> None:
        for index in sorted(self.processes):
            self.stop(index)

    def start_stopped(self) -> None:
        for index in range(NODE_COUNT):
            if not self.running(index):
                self.processes.pop(index, None)
                self.start(index)

    def close(self) -> None:
        self.stop_all()
        self.proxy.stop()
        self.net.http.close()

    def count(self, fault: str, times: int = 1) -> None:
        self.faults[fault] = self.faults.get(fault, 0) + times

    # --- observing ---------------------------------------------------------------------------

    def height(self, index: int) -> int:
        if not self.running(index) or index in self.paused:
            return -1
        return self.net.height(index)

    def heights(self) -> dict[int, int]:
        return {index: self.height(index) for index in range(NODE_COUNT)}

    def ready(self, index: int) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return self.net.http.get(f"{self.net.url(index)}/healthz", timeout=2.0).is_success
        return False

    def wait_ready(self, nodes: range | list[int], timeout_s: float = READY_TIMEOUT_S) -> None:
        wait_until(lambda: all(self.ready(i) for i in nodes), timeout_s, f"nodes {list(nodes)} up")

    def wait_progress(self, nodes: list[int], blocks: int, timeout_s: float) -> None:
        """Wait until every node of `nodes` is `blocks` past the highest height seen now."""
        start = max(self.height(i) for i in nodes)
        wait_until(
            lambda: min(self.height(i) for i in nodes) >= start + blocks,
            timeout_s,
            f"nodes {nodes} to pass height {start + blocks} (heights {self.heights()})",
        )

    def wait_converged(self, timeout_s: float) -> int:
        """Wait until all running nodes are at one height or more, past the highest seen now;
        the height they all reached."""
        nodes = [i for i in range(NODE_COUNT) if self.running(i) and i not in self.paused]
        target = max(self.height(i) for i in nodes) + 1
        wait_until(
            lambda: min(self.height(i) for i in nodes) >= target,
            timeout_s,
            f"nodes {nodes} to converge past height {target} (heights {self.heights()})",
        )
        return target

    def member_key(self, organisation: str) -> SigningKey:
        return self.net.member_key(organisation)

    def admin_key(self, organisation: str) -> SigningKey:
        return self.net.admin_key(organisation)

    def rss_kib(self, index: int) -> int:
        """Resident memory of node `index` (KiB), from /proc."""
        status = Path(f"/proc/{self.processes[index].pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def _route_through_proxy(net: Devnet) -> list[Link]:
    """Rewrite every node's peers to proxy ports; the proxy's links."""
    nodes = net.nodes
    real = [Address.parse(node["p2p"], "p2p") for node in nodes]
    ports = devnet.free_ports("127.0.0.1", len(nodes) * (len(nodes) - 1))
    links = []
    for source, node in enumerate(nodes):
        path = net.directory / str(node["config"])
        config = NodeConfig.load(path)
        peers = []
        for peer in config.peers:
            target = next(
                i
                for i, other in enumerate(nodes)
                if bytes.fromhex(str(other["node_key"])) == peer.node_key
            )
            port = ports.pop()
            links.append(
                Link(
                    source=source,
                    target=target,
                    listen_port=port,
                    target_host=real[target].host,
                    target_port=real[target].port,
                )
            )
            peers.append(Peer(node_key=peer.node_key, address=Address(host="127.0.0.1", port=port)))
        rewritten = NodeConfig(
            path=config.path,
            name=config.name,
            key_file=config.key_file,
            genesis_file=config.genesis_file,
            data_dir=config.data_dir,
            p2p_listen=config.p2p_listen,
            peers=tuple(peers),
            api_listen=config.api_listen,
            empty_block_interval_ms=config.empty_block_interval_ms,
            block_interval_ms_min=config.block_interval_ms_min,
        )
        path.write_text(rewritten.to_toml())
    return links


def monotonic_deadline(seconds: float) -> float:
    return time.monotonic() + seconds
