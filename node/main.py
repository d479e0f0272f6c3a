"""Running one node process: `tradeledger node start --config FILE`.

The only module that configures logging, installs signal handlers or reads the environment.
SIGTERM and SIGINT stop the node cleanly: the API stops accepting, the transport closes, the
store and write-ahead log are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from ledger.errors import LedgerError
from ledger.types import Genesis
from network.wal import WalError
from node.api import create_app
from node.config import ConfigError, NodeConfig, load_node_key
from node.runtime import Node, wall_clock_ms

log = logging.getLogger("node")
GC_YOUNG_THRESHOLD = 50_000  # allocations between young-generation collections (default 700)
GC_MIDDLE_THRESHOLD = 20  # young collections per middle-generation collection (default 10)
GC_OLD_THRESHOLD = 1_000_000  # middle collections per automatic full one: in effect never...
GC_FULL_INTERVAL_S = 60.0  # ...a full collection runs on this timer instead


def configure_logging(level: str | None = None) -> None:
    logging.basicConfig(
        level=level or os.environ.get("TRADELEDGER_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def load_genesis(path: Path) -> Genesis:
    try:
        return Genesis.from_json(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the genesis: {exc}") from None
    except LedgerError as exc:
        raise ConfigError(f"{path}: invalid genesis: {exc}") from None


class NodeFailed(Exception):
    """The node stopped because consensus or its store failed."""


class _ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: the node owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def clock_offset_ms() -> int:
    """`TRADELEDGER_CLOCK_OFFSET_MS`: shift this node's clock, to test clock skew and backward
    jumps (the adversarial suite). Never set in production."""
    text = os.environ.get("TRADELEDGER_CLOCK_OFFSET_MS", "0")
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"TRADELEDGER_CLOCK_OFFSET_MS: not an integer: {text!r}") from None


async def serve(config: NodeConfig) -> None:
    genesis = load_genesis(config.genesis_file)
    key = load_node_key(config.key_file)
    offset_ms = clock_offset_ms()
    if offset_ms:
        log.warning(
            "this node's clock is shifted by %d ms (TRADELEDGER_CLOCK_OFFSET_MS)", offset_ms
        )
    node = Node(config, key.seed, genesis, clock_ms=lambda: wall_clock_ms() + offset_ms)
    await node.start()
    # What is alive now (modules, genesis, caches) lives as long as the process: keep it out
    # of the collector's scans. A block makes and drops hundreds of thousands of small
    # containers, few of them in cycles: collect the young generations less often, and the
    # whole heap (a pause proportional to it: the mempool, the caches) only on a timer.
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, GC_MIDDLE_THRESHOLD, GC_OLD_THRESHOLD)
    full_collections = asyncio.create_task(_collect_periodically())
    server = _ApiServer(
        uvicorn.Config(
            create_app(node),
            host=config.api_listen.host,
            port=config.api_listen.port,
            log_level="warning",
            timeout_keep_alive=5,
            limit_concurrency=1000,
            lifespan="off",
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    api = asyncio.create_task(server.serve())
    log.info("api listening on http://%s (docs at /docs)", config.api_listen)
    stopped = asyncio.create_task(stop.wait())
    failed = asyncio.create_task(node.failed.wait())
    await asyncio.wait({api, stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await api
    stopped.cancel()
    failed.cancel()
    full_collections.cancel()
    await node.stop()
    if node.failure is not None:
        raise NodeFailed(f"{type(node.failure).__name__}: {node.failure}")


async def _collect_periodically() -> None:
    while True:
        await asyncio.sleep(GC_FULL_INTERVAL_S)
        gc.collect()


def run(config_path: Path) -> int:
    """Run the node until SIGTERM/SIGINT. Returns the process exit status."""
    configure_logging()
    try:
        config = NodeConfig.load(config_path)
        asyncio.run(serve(config))
    except ConfigError as exc:
        log.error("configuration: %s", exc)
        return 2
    except (LedgerError, WalError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    except NodeFailed as exc:
        log.error(
            "stopped after a failure: %s (see the log above; the data directory is at "
            "its last complete block)",
            exc,
        )
        return 1
    return 0


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] != "--config":
        sys.stderr.write("usage: python -m node.main --config FILE\n")
        sys.exit(2)
    sys.exit(run(Path(sys.argv[2])))


if __name__ == "__main__":
    main()
