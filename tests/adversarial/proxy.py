"""A fault-injecting TCP proxy between nodes, on loopback, in a thread of its own.

Every directed pair of nodes (a, b) gets one listening port: node a's config names that port
as node b's address, and the proxy forwards to b's real peer port. Bytes on a connection
flow both ways, so the fault rules are per *direction of travel*: `rule(a, b)` governs the
bytes that node a sends to node b, whichever side dialled the connection.

Modes of a rule (combinable):
- `blocked`: bytes from a to b are discarded. With both directions blocked (a partition) the
  proxy also cuts the open connections at once and refuses new ones, like a network that
  answers with resets; with one direction blocked (asymmetric) it keeps accepting and
  forwards only the other way, so handshakes stall and connections die by idle timeout.
- `delay_ms` (+ `jitter_ms`): each chunk is held that long; order is kept, as TCP keeps it.
- `duplicate`: the probability that a chunk is written twice. Peer links are TLS 1.3, so a
  repeated record is detected as tampering and the connection is torn down and redialled:
  this exercises the transport's recovery. Message-level duplication (a validly signed
  consensus message delivered again) is the Byzantine replayer's job (byzantine.py).

Bounded: the proxy stops by itself after `lifetime_s`; every queue has a maximum size.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

CHUNK_BYTES = 64 * 1024
QUEUE_CHUNKS_MAX = 256  # per direction of one connection: the reader waits when it is full
CONNECT_TIMEOUT_S = 5.0
START_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    blocked: bool = False
    delay_ms: int = 0
    jitter_ms: int = 0
    duplicate: float = 0.0

    @property
    def clean(self) -> bool:
        return self == CLEAN


CLEAN = Rule()


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    source: int  # the node that dials this port
    target: int  # the node whose peer port it forwards to
    listen_port: int
    target_host: str
    target_port: int


class _Pipe:
    """One accepted connection and its upstream, with one pump per direction."""

    def __init__(self, link: Link, down: asyncio.StreamWriter, up: asyncio.StreamWriter) -> None:
        self.link = link
        self.writers = (down, up)
        self.tasks: list[asyncio.Task[None]] = []

    def close(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class FaultProxy:
    """Start with `start()`; change rules from any thread; `stop()` when done."""

    def __init__(self, links: list[Link], *, seed: int, lifetime_s: float) -> None:
        self.links = links
        self.lifetime_s = lifetime_s
        self._rules: dict[tuple[int, int], Rule] = {}
        self._random = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._pipes: set[_Pipe] = set()
        self.stats: Counter[str] = Counter()

    # --- control (any thread) --------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("the fault proxy did not start")

    def stop(self) -> None:
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopped.set)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def rule(self, source: int, target: int) -> Rule:
        return self._rules.get((source, target), CLEAN)

    def set_rule(self, source: int, target: int, rule: Rule) -> None:
        self._rules[(source, target)] = rule
        if rule.blocked and self.rule(target, source).blocked:
            self._call(self._cut, source, target)

    def partition(self, *groups: list[int]) -> None:
        """Block all traffic between nodes of different groups (both directions)."""
        side = {node: index for index, group in enumerate(groups) for node in group}
        for a in side:
            for b in side:
                if a != b and side[a] != side[b]:
                    self.set_rule(a, b, Rule(blocked=True))
        self.stats["partitions"] += 1

    def heal(self) -> None:
        self._rules.clear()
        self.stats["heals"] += 1

    def set_all(self, nodes: list[int], rule: Rule) -> None:
        for a in nodes:
            for b in nodes:
                if a != b:
                    self.set_rule(a, b, rule)

    # --- the loop --------------------------------------------------------------------------

    def _call(self, function: object, *args: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(function, *args)  # type: ignore[arg-type]

    def _cut(self, a: int, b: int) -> None:
        for pipe in list(self._pipes):
            if {pipe.link.source, pipe.link.target} == {a, b}:
                pipe.close()
                self._pipes.discard(pipe)
                self.stats["connections_cut"] += 1

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        servers = [await self._serve(link) for link in self.links]
        self._ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=self.lifetime_s)
        for server in servers:
            server.close()
        for pipe in list(self._pipes):
            pipe.close()
        for server in servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), timeout=2)

    async def _serve(self, link: Link) -> asyncio.Server:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._accept(link, reader, writer)

        return await asyncio.start_server(
            accept, host="127.0.0.1", port=link.listen_port, reuse_address=True
        )

    async def _accept(
        self, link: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if (
            self.rule(link.source, link.target).blocked
            and self.rule(link.target, link.source).blocked
        ):
            self.stats["connections_refused"] += 1
            writer.transport.abort()
            return
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                up_reader, up_writer = await asyncio.open_connection(
                    link.target_host, link.target_port
                )
        except (OSError, TimeoutError):
            self.stats["upstream_failed"] += 1
            writer.transport.abort()
            return
        self.stats["connections"] += 1
        pipe = _Pipe(link, writer, up_writer)
        self._pipes.add(pipe)
        pipe.tasks = [
            asyncio.create_task(self._pump(reader, up_writer, link.source, link.target, pipe)),
            asyncio.create_task(self._pump(up_reader, writer, link.target, link.source, pipe)),
        ]

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        source: int,
        target: int,
        pipe: _Pipe,
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUE_CHUNKS_MAX)
        sender = asyncio.create_task(self._send(queue, writer, pipe))
        release_at = 0.0
        try:
            while True:
                chunk = await reader.read(CHUNK_BYTES)
                if not chunk:
                    break
                rule = self.rule(source, target)
                if rule.blocked:
                    self.stats["bytes_dropped"] += len(chunk)
                    continue
                now = time.monotonic()
                delay_s = (rule.delay_ms + self._random.uniform(0, rule.jitter_ms)) / 1000
                if delay_s:
                    self.stats["chunks_delayed"] += 1
                release_at = max(release_at, now + delay_s)
                await queue.put((release_at, chunk))
                if rule.duplicate and self._random.random() < rule.duplicate:
                    self.stats["chunks_duplicated"] += 1
                    await queue.put((release_at, chunk))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                queue.put_nowait(None)  # the sender flushes what is queued, then ends
            except asyncio.QueueFull:
                sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await sender
            pipe.close()
            self._pipes.discard(pipe)

    async def _send(
        self,
        queue: asyncio.Queue[tuple[float, bytes] | None],
        writer: asyncio.StreamWriter,
        pipe: _Pipe,
    ) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            release_at, chunk = item
            wait_s = release_at - time.monotonic()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            try:
                writer.write(chunk)
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    await writer.drain()
            except (OSError, TimeoutError):
                pipe.close()
                return
            self.stats["bytes_forwarded"] += len(chunk)
