"""The peer transport: authenticated, framed connections between nodes over asyncio.

The only code that owns sockets. Each node listens on its configured host:port and dials the
peers it is given; a connection is mutual TLS 1.3 where each side is identified by its node
key (`network.tls`), and carries frames (`network.wire`). Received messages go to the
`on_message` callback; `send` and `broadcast` never wait.

Life of a connection

1. TCP, then the TLS 1.3 handshake: each side's certificate must be signed by an allowed key.
2. `network.tls.peer_node_key` on the peer's certificate: Ed25519, signed by its own key, an
   allowed node key, and (when we dialled) the key we meant to reach; never our own key.
3. Each side sends one keepalive (an empty frame) and waits for the other's. With TLS 1.3 a
   client's handshake completes before the server has checked the client's certificate, so
   this first frame is what tells the dialler it was accepted. Steps 1-3 share one deadline,
   `handshake_timeout_seconds`; at most `handshakes_pending_max` inbound connections may be
   in steps 1-3 at once.
4. Registration: one primary connection per peer, the only one we send on. If the peer has
   one already: of two in opposite directions (both sides dialled at once) the one dialled by
   the lower node key wins, and both ends apply the same rule; of two in the same direction
   the newer wins (the older is likely half-open after a restart). The loser is not cut off
   but *drains*: we stop sending on it and keep delivering what arrives until it has been
   quiet for two keepalive intervals, so frames the peer wrote before it switched too are not
   lost. At most one connection per peer drains; a third replaces it.
5. Serving: a receive loop and a send loop. The connection closes, and the dialler retries
   with exponential backoff (`reconnect_delay_seconds_min` doubling up to `..._max`, with
   jitter), when: the peer closes it; nothing (not even a keepalive) arrives for
   `idle_timeout_seconds`; a frame cannot be flushed within `write_timeout_seconds`; a frame
   is malformed or announces more than the frame limit (counted in `stats`, logged); the
   peer's key stops being allowed (checked on every frame, keepalives included).

Send queues. Each peer has one bounded queue of encoded frames (`peer_send_queue_max` frames
and `peer_send_queue_bytes_max` bytes), filled by `send`/`broadcast` even while the peer is
disconnected, and drained by whichever connection is serving that peer. When it is full the
OLDEST frame is dropped (counted in `stats.messages_dropped`): consensus messages are
superseded by later ones (a later round or height), a peer that fell behind catches up by
block sync, and the caller is never blocked by a slow or dead peer. A frame for a connected
peer whose queue is empty and whose socket buffer holds less than `DIRECT_WRITE_BUFFER_MAX`
is written at once instead (same order, no wait for the send loop's turn).

Delivery is at most once, in order per connection. Frames written to a connection that then
fails, or that the other side gave up during its handshake, are lost: consensus tolerates
loss (timeouts, later rounds, block sync), and no acknowledgement scheme is layered on TCP.

`on_message(peer_key, message)` runs in the receive loop; it must be quick and must not raise
(an exception there is a bug: it is logged and closes that connection).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ledger.codec import DEFAULT_LIMITS, CodecLimits, Value
from ledger.crypto import PUBLIC_KEY_SIZE_BYTES, SigningKey
from network.tls import PeerRefused, TlsIdentity, peer_node_key
from network.wire import (
    KEEPALIVE_FRAME,
    FrameDecoder,
    Keepalive,
    MalformedMessage,
    Message,
    MessageTooLarge,
    WireError,
    encode_frame,
)

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 64 * 1024  # one read from a socket; the decoder holds at most one frame more
DIRECT_WRITE_BUFFER_MAX = 1024 * 1024  # write at once while the socket's buffer holds less

AllowedKeys = Callable[[], frozenset[bytes]]
MessageHandler = Callable[[bytes, Value], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerAddress:
    """Where to dial a peer, and the node key it must prove."""

    node_key: bytes
    host: str
    port: int

    def __post_init__(self) -> None:
        if len(self.node_key) != PUBLIC_KEY_SIZE_BYTES:
            raise ValueError(f"PeerAddress.node_key must be {PUBLIC_KEY_SIZE_BYTES} bytes")
        if not self.host:
            raise ValueError("PeerAddress.host must not be empty")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"PeerAddress.port must be 1..65535, got {self.port}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportLimits:
    """Every bound the transport keeps. Times are in seconds."""

    peer_send_queue_max: int = 1024  # frames waiting for one peer
    peer_send_queue_bytes_max: int = 64 * 1024 * 1024  # bytes waiting for one peer
    handshakes_pending_max: int = 64  # inbound connections not yet authenticated
    handshake_timeout_seconds: float = 10.0  # TCP connect + TLS + first keepalive each way
    write_timeout_seconds: float = 10.0  # to flush one frame to the kernel
    keepalive_interval_seconds: float = 2.0  # send a keepalive after this long with nothing sent
    idle_timeout_seconds: float = 10.0  # close after this long with nothing received
    reconnect_delay_seconds_min: float = 0.1
    reconnect_delay_seconds_max: float = 10.0
    close_timeout_seconds: float = 2.0  # for a TLS close to complete, then abort
    codec: CodecLimits = DEFAULT_LIMITS  # frame size and message shape

    def __post_init__(self) -> None:
        for name in ("peer_send_queue_max", "peer_send_queue_bytes_max", "handshakes_pending_max"):
            if getattr(self, name) < 1:
                raise ValueError(f"TransportLimits.{name} must be >= 1")
        for name in (
            "handshake_timeout_seconds",
            "write_timeout_seconds",
            "keepalive_interval_seconds",
            "idle_timeout_seconds",
            "reconnect_delay_seconds_min",
            "reconnect_delay_seconds_max",
            "close_timeout_seconds",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"TransportLimits.{name} must be > 0")
        if self.idle_timeout_seconds <= self.keepalive_interval_seconds:
            raise ValueError(
                "TransportLimits.idle_timeout_seconds must exceed keepalive_interval_seconds"
            )
        if self.reconnect_delay_seconds_max < self.reconnect_delay_seconds_min:
            raise ValueError(
                "TransportLimits.reconnect_delay_seconds_max must be >= reconnect_delay_seconds_min"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportConfig:
    listen_host: str  # an address of this machine; "0.0.0.0" or "::" for all
    listen_port: int  # 0 picks a free port (tests); see Transport.listen_address
    peers: tuple[PeerAddress, ...] = ()
    limits: TransportLimits = field(default_factory=TransportLimits)

    def __post_init__(self) -> None:
        if not self.listen_host:
            raise ValueError("TransportConfig.listen_host must not be empty")
        if not 0 <= self.listen_port <= 65535:
            raise ValueError(
                f"TransportConfig.listen_port must be 0..65535, got {self.listen_port}"
            )
        keys = [peer.node_key for peer in self.peers]
        if len(set(keys)) != len(keys):
            raise ValueError("TransportConfig.peers lists a node key twice")


@dataclass(slots=True)
class TransportStats:
    """Counters for metrics and tests. Only the transport writes them."""

    connections_established: int = 0  # authenticated and registered
    connections_refused: int = 0  # TLS failed, identity refused, or too many pending
    frames_malformed: int = 0  # connection closed: payload not one canonical message
    frames_too_large: int = 0  # connection closed: over the frame or codec limits
    messages_received: int = 0  # delivered to on_message
    messages_dropped: int = 0  # oldest frame dropped from a full send queue


class _Connection:
    __slots__ = (
        "decoder",
        "draining",
        "label",
        "outbound",
        "reader",
        "sender",
        "writer",
    )

    def __init__(
        self,
        *,
        outbound: bool,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        decoder: FrameDecoder,
    ) -> None:
        self.outbound = outbound
        self.reader = reader
        self.writer = writer
        self.decoder = decoder
        self.draining = False  # lost a duplicate race: we only receive on it, until it goes quiet
        self.sender: asyncio.Task[str] | None = None  # the send loop, while this is the primary
        local = _endpoint(writer.get_extra_info("sockname"))
        remote = _endpoint(writer.get_extra_info("peername"))
        self.label = f"{local}->{remote}" if outbound else f"{local}<-{remote}"


class _Peer:
    __slots__ = (
        "address",
        "disconnected",
        "draining",
        "key",
        "primary",
        "queue",
        "queued_bytes",
        "serving",
    )

    def __init__(self, key: bytes, address: PeerAddress | None, limits: TransportLimits) -> None:
        self.key = key
        self.address = address  # None: a peer that dials us, whose address we do not know
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=limits.peer_send_queue_max)
        self.queued_bytes = 0
        self.primary: _Connection | None = None  # the one connection we send on
        self.draining: _Connection | None = None  # at most one more, receive-only
        self.serving: dict[_Connection, asyncio.Task[None]] = {}
        self.disconnected = asyncio.Event()  # set while there is no primary
        self.disconnected.set()


class Transport:
    """Connections to peers, one per peer, each authenticated by the peer's node key."""

    def __init__(
        self,
        *,
        key: SigningKey,
        config: TransportConfig,
        allowed: AllowedKeys | frozenset[bytes],
        on_message: MessageHandler,
    ) -> None:
        """`allowed`: the node keys we accept, or a function returning the current set."""
        self._identity = TlsIdentity(key)
        self._key = key.public_key
        self._config = config
        self._limits = config.limits
        self._allowed: AllowedKeys = allowed if callable(allowed) else lambda: allowed
        self._on_message = on_message
        self._peers: dict[bytes, _Peer] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Every open connection's writer, so close() can abort one whose task never ran.
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._handshakes_pending = 0
        self._closing = False
        self._random = random.Random()  # reconnect jitter only
        self.stats = TransportStats()
        for address in config.peers:
            self.add_peer(address)

    @property
    def node_key(self) -> bytes:
        return self._key

    async def start(self) -> None:
        """Listen, and start dialling the configured peers."""
        assert self._server is None, "start() once"
        assert not self._closing, "start() after close()"
        self._server = await asyncio.start_server(
            self._on_inbound, self._config.listen_host, self._config.listen_port
        )
        log.info("listening node=%s address=%s", self._key.hex()[:16], self.listen_address)
        for peer in self._peers.values():
            if peer.address is not None:
                self._spawn(self._dial_loop(peer))

    @property
    def listen_address(self) -> tuple[str, int]:
        """The bound host and port (the real port when the config asked for port 0)."""
        assert self._server is not None, "not started"
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    def add_peer(self, address: PeerAddress) -> None:
        """Dial `address` from now on (and keep reconnecting to it until close)."""
        if address.node_key == self._key:
            raise ValueError("a node does not dial itself")
        peer = self._peers.get(address.node_key)
        if peer is not None and peer.address is not None:
            raise ValueError(f"peer {address.node_key.hex()[:16]} is already dialled")
        if peer is None:
            peer = self._peers[address.node_key] = _Peer(address.node_key, address, self._limits)
        peer.address = address
        if self._server is not None:
            self._spawn(self._dial_loop(peer))

    def send(self, peer_key: bytes, message: Value) -> bool:
        """Queue `message` for one peer. False if the peer is unknown (not dialled, never seen).

        Raises MessageTooLarge or EncodeError for a message that cannot be framed (a caller bug).
        """
        peer = self._peers.get(peer_key)
        if peer is None:
            return False
        self._enqueue(peer, encode_frame(message, self._limits.codec))
        return True

    def broadcast(self, message: Value) -> int:
        """Queue `message` for every known peer, connected or not. Returns how many."""
        frame = encode_frame(message, self._limits.codec)
        for peer in self._peers.values():
            self._enqueue(peer, frame)
        return len(self._peers)

    def connected_peers(self) -> frozenset[bytes]:
        """The node keys of the peers with an authenticated connection now."""
        return frozenset(key for key, peer in self._peers.items() if peer.primary is not None)

    async def close(self) -> None:
        """Stop listening, close every connection, end every task. Idempotent."""
        if self._closing:
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            # Each task closes its connection on the way out, bounded by close_timeout_seconds.
            _, pending = await asyncio.wait(tasks, timeout=2 * self._limits.close_timeout_seconds)
            assert not pending, f"{len(pending)} transport tasks did not end"
        for writer in self._writers:  # a task cancelled before it started closes nothing
            writer.transport.abort()
        self._writers.clear()
        if self._server is not None:
            async with asyncio.timeout(self._limits.close_timeout_seconds):
                await self._server.wait_closed()
        # Aborted sockets are released by loop callbacks: let them run before the caller
        # closes the loop.
        for _ in range(2):
            await asyncio.sleep(0)
        log.info("closed node=%s", self._key.hex()[:16])

    # --- accepting and dialling ---------------------------------------------------------------

    def _on_inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing or self._handshakes_pending >= self._limits.handshakes_pending_max:
            self.stats.connections_refused += 1
            log.warning(
                "refused inbound connection from %s: %d handshakes pending",
                writer.get_extra_info("peername"),
                self._handshakes_pending,
            )
            writer.transport.abort()
            return
        self._writers.add(writer)
        self._handshakes_pending += 1
        self._spawn(self._accept(reader, writer))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        remote = writer.get_extra_info("peername")
        tls_established = False
        try:
            async with asyncio.timeout(self._limits.handshake_timeout_seconds):
                await writer.start_tls(
                    self._identity.server_context(self._allowed()),
                    ssl_handshake_timeout=self._limits.handshake_timeout_seconds,
                )
                tls_established = True
                authenticated = await self._authenticate(reader, writer, None, remote)
        except OSError as exc:  # ssl.SSLError, a reset, and TimeoutError included
            self.stats.connections_refused += 1
            log.warning("refused inbound connection from %s: %s", remote, _describe(exc))
            if tls_established:
                await self._close_writer(writer)
            else:  # start_tls has closed the TCP connection; there is no TLS to shut down
                writer.transport.abort()
                self._writers.discard(writer)
            return
        finally:
            self._handshakes_pending -= 1
        if authenticated is not None:
            peer_key, decoder = authenticated
            self._register(peer_key, reader, writer, decoder, outbound=False)

    async def _dial_loop(self, peer: _Peer) -> None:
        limits = self._limits
        delay_seconds = limits.reconnect_delay_seconds_min
        while True:
            await peer.disconnected.wait()
            if await self._dial(peer):
                delay_seconds = limits.reconnect_delay_seconds_min
            else:
                delay_seconds = min(2 * delay_seconds, limits.reconnect_delay_seconds_max)
            # After a failure, and after a connection ends (or loses a duplicate race): wait.
            await asyncio.sleep(delay_seconds * self._random.uniform(0.5, 1.0))

    async def _dial(self, peer: _Peer) -> bool:
        address = peer.address
        assert address is not None
        remote = (address.host, address.port)
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self._limits.handshake_timeout_seconds):
                reader, writer = await asyncio.open_connection(
                    address.host,
                    address.port,
                    ssl=self._identity.client_context(self._allowed()),
                    ssl_handshake_timeout=self._limits.handshake_timeout_seconds,
                    ssl_shutdown_timeout=self._limits.close_timeout_seconds,
                )
                self._writers.add(writer)
                authenticated = await self._authenticate(reader, writer, peer.key, remote)
        except OSError as exc:  # refused, unreachable, TLS failed, timed out
            if isinstance(exc, ssl.SSLError):  # e.g. a certificate no allowed key signed
                self.stats.connections_refused += 1
                log.warning(
                    "refused outbound connection peer=%s at %s: %s",
                    peer.key.hex()[:16],
                    remote,
                    _describe(exc),
                )
            else:
                log.info(
                    "dial peer=%s at %s failed: %s", peer.key.hex()[:16], remote, _describe(exc)
                )
            if writer is not None:
                await self._close_writer(writer)
            return False
        if authenticated is None:
            return False
        peer_key, decoder = authenticated
        assert peer_key == peer.key
        self._register(peer_key, reader, writer, decoder, outbound=True)
        await peer.disconnected.wait()
        return True

    async def _authenticate(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        expected: bytes | None,
        remote: object,
    ) -> tuple[bytes, FrameDecoder] | None:
        """Steps 2 and 3 (module docstring), under the caller's deadline. None: refused."""
        direction = "inbound" if expected is None else "outbound"
        ssl_object = writer.get_extra_info("ssl_object")
        assert ssl_object is not None
        decoder = FrameDecoder(self._limits.codec)
        try:
            peer_key = peer_node_key(
                ssl_object.getpeercert(binary_form=True), self._allowed(), expected
            )
            if peer_key == self._key:
                raise PeerRefused("the peer presents our own node key")
            writer.write(KEEPALIVE_FRAME)
            await writer.drain()
            while (event := decoder.next_event()) is None:
                data = await reader.read(READ_CHUNK_BYTES)
                if not data:
                    raise ConnectionError("closed before its first frame")
                decoder.feed(data)
            if not isinstance(event, Keepalive):
                raise MalformedMessage("the first frame must be a keepalive")
        except (PeerRefused, WireError, OSError) as exc:  # OSError: reset, TLS alert
            self.stats.connections_refused += 1
            log.warning("refused %s connection %s: %s", direction, remote, _describe(exc))
            await self._close_writer(writer)
            return None
        return peer_key, decoder

    def _register(
        self,
        peer_key: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        decoder: FrameDecoder,
        *,
        outbound: bool,
    ) -> None:
        """Step 4: make this the peer's primary connection, or let it drain."""
        connection = _Connection(outbound=outbound, reader=reader, writer=writer, decoder=decoder)
        if self._closing:
            writer.transport.abort()
            self._writers.discard(writer)
            return
        peer = self._peers.get(peer_key)
        if peer is None:  # an allowed node that dials us without being in our peer list
            peer = self._peers[peer_key] = _Peer(peer_key, None, self._limits)
        previous = peer.primary
        if previous is None:
            keep_new = True
        elif outbound != previous.outbound:
            # Both sides dialled at once: the lower key's dial wins, on both ends.
            keep_new = outbound == (self._key < peer_key)
        else:
            keep_new = True  # same direction: the older one is likely half-open
        if previous is not None:
            log.info(
                "duplicate connection node=%s peer=%s new=%s existing=%s keeping=%s",
                self._key.hex()[:8],
                peer_key.hex()[:8],
                connection.label,
                previous.label,
                "new" if keep_new else "existing",
            )
        previous_sender = None
        if keep_new:
            if previous is not None:
                previous_sender = previous.sender
                self._demote(peer, previous)
            peer.primary = connection
            peer.disconnected.clear()
            self.stats.connections_established += 1
            log.info(
                "connected node=%s peer=%s connection=%s",
                self._key.hex()[:8],
                peer_key.hex()[:8],
                connection.label,
            )
        else:
            self._demote(peer, connection)
        peer.serving[connection] = self._spawn(self._serve(peer, connection, previous_sender))

    def _demote(self, peer: _Peer, connection: _Connection) -> None:
        """Stop sending on `connection` but keep delivering what arrives on it until it goes
        quiet: what the peer sent before it, too, switched connections is not lost."""
        if peer.draining is not None and peer.draining is not connection:
            peer.serving[peer.draining].cancel()  # at most two connections per peer
        peer.draining = connection
        connection.draining = True
        if connection.sender is not None:
            connection.sender.cancel()  # at an await: a frame is written whole or not at all
        if peer.primary is connection:
            peer.primary = None

    # --- serving a connection -----------------------------------------------------------------

    async def _serve(
        self, peer: _Peer, connection: _Connection, previous_sender: asyncio.Task[str] | None
    ) -> None:
        reason = "closed"
        receiver = asyncio.create_task(self._receive_loop(peer, connection))
        try:
            if previous_sender is not None:  # one send loop at a time drains the peer's queue
                await asyncio.wait({previous_sender}, timeout=self._limits.close_timeout_seconds)
            if not connection.draining:
                connection.sender = asyncio.create_task(self._send_loop(peer, connection))
            while True:
                waiting: set[asyncio.Task[str]] = {receiver}
                if connection.sender is not None and not connection.draining:
                    waiting.add(connection.sender)
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if receiver in done:
                    reason = self._ending(peer, receiver)
                    break
                if not connection.draining:
                    assert connection.sender is not None
                    reason = self._ending(peer, connection.sender)
                    break
        finally:
            children = {receiver} if connection.sender is None else {receiver, connection.sender}
            for child in children:
                child.cancel()
            await asyncio.wait(children)
            del peer.serving[connection]
            if peer.primary is connection:
                peer.primary = None
                peer.disconnected.set()
            if peer.draining is connection:
                peer.draining = None
            await self._close_writer(connection.writer)
            log.info(
                "disconnected node=%s peer=%s connection=%s: %s",
                self._key.hex()[:8],
                peer.key.hex()[:8],
                connection.label,
                reason,
            )

    def _ending(self, peer: _Peer, task: asyncio.Task[str]) -> str:
        """Why a connection ended, from the loop that ended first; counts peer faults."""
        if task.cancelled():
            return "cancelled"
        exc = task.exception()
        if exc is None:
            return task.result()
        if isinstance(exc, MessageTooLarge):
            self.stats.frames_too_large += 1
        elif isinstance(exc, MalformedMessage):
            self.stats.frames_malformed += 1
        elif isinstance(exc, TimeoutError):
            return "timed out (quiet, or a write did not complete)"
        elif not isinstance(exc, OSError):
            raise exc  # a bug (on_message raised): logged by _task_done, connection closed
        if isinstance(exc, WireError):
            log.warning("bad frame from peer=%s: %s", peer.key.hex()[:16], exc)
        return f"{type(exc).__name__}: {exc}"

    async def _receive_loop(self, peer: _Peer, connection: _Connection) -> str:
        decoder = connection.decoder
        while True:
            while (event := decoder.next_event()) is not None:
                if peer.key not in self._allowed():
                    return "no longer an allowed node key"
                if isinstance(event, Message):
                    self.stats.messages_received += 1
                    self._on_message(peer.key, event.value)
            # A draining connection is quiet once the peer has switched too: close it sooner.
            idle_timeout_seconds = (
                min(self._limits.idle_timeout_seconds, 2 * self._limits.keepalive_interval_seconds)
                if connection.draining
                else self._limits.idle_timeout_seconds
            )
            async with asyncio.timeout(idle_timeout_seconds):
                data = await connection.reader.read(READ_CHUNK_BYTES)
            if not data:
                return "closed by the peer"
            decoder.feed(data)

    async def _send_loop(self, peer: _Peer, connection: _Connection) -> str:
        writer = connection.writer
        while True:
            try:
                async with asyncio.timeout(self._limits.keepalive_interval_seconds):
                    frame = await peer.queue.get()
            except TimeoutError:
                frame = KEEPALIVE_FRAME
            else:
                peer.queued_bytes -= len(frame)
            writer.write(frame)
            async with asyncio.timeout(self._limits.write_timeout_seconds):
                await writer.drain()

    def _enqueue(self, peer: _Peer, frame: bytes) -> None:
        limits = self._limits
        connection = peer.primary
        if (
            connection is not None
            and connection.sender is not None
            and peer.queue.empty()
            and not connection.writer.is_closing()
            and connection.writer.transport.get_write_buffer_size() < DIRECT_WRITE_BUFFER_MAX
        ):
            # Nothing queued and the socket keeps up: write now rather than on the send loop's
            # next turn (which comes only after the caller's work, fsyncs included, is done).
            # Order is kept: a frame the send loop has not taken yet is still in the queue.
            connection.writer.write(frame)
            return
        while peer.queue.qsize() > 0 and (
            peer.queue.full() or peer.queued_bytes + len(frame) > limits.peer_send_queue_bytes_max
        ):
            dropped = peer.queue.get_nowait()
            peer.queued_bytes -= len(dropped)
            self.stats.messages_dropped += 1
            log.debug("send queue full peer=%s: dropped the oldest frame", peer.key.hex()[:16])
        peer.queue.put_nowait(frame)
        peer.queued_bytes += len(frame)

    # --- tasks and closing --------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("transport task failed (a bug)", exc_info=exc)

    async def _close_writer(self, writer: asyncio.StreamWriter) -> None:
        """Close with a TLS close_notify if the peer answers in time, else abort."""
        closed = False
        try:
            writer.close()
            async with asyncio.timeout(self._limits.close_timeout_seconds):
                await writer.wait_closed()
            closed = True
        except OSError:  # timed out, reset, or a TLS error on the way out
            pass
        finally:
            if not closed:
                writer.transport.abort()
            self._writers.discard(writer)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


def _endpoint(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
