"""Peer transport over real TCP on 127.0.0.1 (ephemeral ports), and its TLS identities.

Every test runs under one asyncio deadline and waits on conditions with deadlines, never on
sleeps; every transport and socket is closed (pytest turns ResourceWarnings into errors).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from functools import partial
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from ledger.codec import Value
from ledger.crypto import SigningKey
from network.tls import PeerRefused, TlsIdentity, make_node_certificate, peer_node_key
from network.transport import (
    MessageHandler,
    PeerAddress,
    Transport,
    TransportConfig,
    TransportLimits,
)
from network.wire import KEEPALIVE_FRAME, FrameDecoder, Keepalive, encode_frame

HOST = "127.0.0.1"
TEST_SECONDS_MAX = 15.0  # one test, start to finish
CONDITION_SECONDS_MAX = 8.0  # one awaited condition
LIMITS = TransportLimits(
    handshake_timeout_seconds=5.0,  # generous: a handshake abandoned by one side loses messages
    keepalive_interval_seconds=0.5,
    idle_timeout_seconds=5.0,
    reconnect_delay_seconds_min=0.02,
    reconnect_delay_seconds_max=0.2,
    close_timeout_seconds=0.5,
)

KEYS = [SigningKey(bytes([index + 1]) * 32) for index in range(4)]
OUTSIDER = SigningKey(b"\xee" * 32)  # never in anyone's allowed set
ALLOWED = frozenset(key.public_key for key in KEYS)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(TEST_SECONDS_MAX):
            await test()

    asyncio.run(bounded())


async def eventually(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONDITION_SECONDS_MAX
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


class Node:
    """A transport plus everything it received."""

    def __init__(
        self,
        key: SigningKey,
        *,
        allowed: frozenset[bytes] = ALLOWED,
        limits: TransportLimits = LIMITS,
        port: int = 0,
        on_message: MessageHandler | None = None,
    ) -> None:
        self.key = key
        self.inbox: list[tuple[bytes, Value]] = []
        self.transport = Transport(
            key=key,
            config=TransportConfig(listen_host=HOST, listen_port=port, limits=limits),
            allowed=allowed,
            on_message=on_message or (lambda peer, message: self.inbox.append((peer, message))),
        )

    @property
    def address(self) -> PeerAddress:
        host, port = self.transport.listen_address
        return PeerAddress(node_key=self.key.public_key, host=host, port=port)

    def received_from(self, peer: Node) -> list[Value]:
        return [message for sender, message in self.inbox if sender == peer.key.public_key]

    def connected_to(self, *peers: Node) -> bool:
        return self.transport.connected_peers() == {peer.key.public_key for peer in peers}


@contextlib.asynccontextmanager
async def started(*nodes: Node) -> AsyncIterator[None]:
    try:
        for node in nodes:
            await node.transport.start()
        yield
    finally:
        for node in nodes:
            await node.transport.close()


async def mesh(nodes: list[Node]) -> None:
    """Every node dials every other (so every pair races two dials), then waits for the mesh."""
    for node in nodes:
        for other in nodes:
            if other is not node:
                node.transport.add_peer(other.address)
    for node in nodes:
        others = [other for other in nodes if other is not node]
        await eventually(partial(node.connected_to, *others), "mesh")


@contextlib.asynccontextmanager
async def raw_tls(
    key: SigningKey, node: Node, *, allowed: frozenset[bytes] = ALLOWED
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A hand-driven TLS connection with `key`'s certificate to `node`, its keepalive exchanged."""
    host, port = node.transport.listen_address
    reader, writer = await asyncio.open_connection(
        host, port, ssl=TlsIdentity(key).client_context(allowed)
    )
    try:
        assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
        writer.write(KEEPALIVE_FRAME)
        await writer.drain()
        decoder = FrameDecoder()
        decoder.feed(await reader.readexactly(len(KEEPALIVE_FRAME)))
        assert decoder.next_event() == Keepalive()
        yield reader, writer
    finally:
        await close_quietly(writer)


@contextlib.asynccontextmanager
async def raw_tcp(node: Node) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    host, port = node.transport.listen_address
    reader, writer = await asyncio.open_connection(host, port)
    try:
        yield reader, writer
    finally:
        await close_quietly(writer)


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        async with asyncio.timeout(1.0):
            await writer.wait_closed()
    except OSError:  # reset by the node, or timed out: abort
        writer.transport.abort()


async def closed_by_node(reader: asyncio.StreamReader) -> None:
    """Read until the node closes the connection (EOF or reset), within the deadline."""
    async with asyncio.timeout(CONDITION_SECONDS_MAX):
        try:
            while await reader.read(65536):
                pass
        except OSError:
            pass


def has_inbox_size(node: Node, size: int) -> bool:
    return len(node.inbox) == size


def has_received(node: Node, sender: Node, message: Value) -> bool:
    return message in node.received_from(sender)


async def exchange(first: Node, second: Node, tag: str) -> None:
    """A message each way, waited for."""
    assert first.transport.send(second.key.public_key, f"{tag} from first")
    assert second.transport.send(first.key.public_key, f"{tag} from second")
    await eventually(lambda: f"{tag} from first" in second.received_from(first), tag)
    await eventually(lambda: f"{tag} from second" in first.received_from(second), tag)


# --- TLS identities -------------------------------------------------------------------------


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def test_the_certificate_key_is_the_node_key_and_signs_the_certificate() -> None:
    certificate = make_node_certificate(KEYS[0])
    assert peer_node_key(_der(certificate), ALLOWED) == KEYS[0].public_key
    assert peer_node_key(_der(certificate), ALLOWED, expected=KEYS[0].public_key)
    assert _der(make_node_certificate(KEYS[0])) == _der(certificate)  # no clock, no randomness


def test_certificates_that_prove_no_allowed_key_are_refused() -> None:
    certificate = _der(make_node_certificate(KEYS[0]))
    with pytest.raises(PeerRefused, match="not an allowed node key"):
        peer_node_key(_der(make_node_certificate(OUTSIDER)), ALLOWED)
    with pytest.raises(PeerRefused, match="expected node key"):
        peer_node_key(certificate, ALLOWED, expected=KEYS[1].public_key)
    with pytest.raises(PeerRefused, match="no certificate"):
        peer_node_key(None, ALLOWED)
    with pytest.raises(PeerRefused, match="does not parse"):
        peer_node_key(b"\x30\x03\x02\x01\x00", ALLOWED)

    # The node key's certificate, signed by another key.
    node_key = Ed25519PrivateKey.from_private_bytes(KEYS[0].seed)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "impostor")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(node_key.public_key())
        .serial_number(1)
        .not_valid_before(make_node_certificate(KEYS[0]).not_valid_before_utc)
        .not_valid_after(make_node_certificate(KEYS[0]).not_valid_after_utc)
    )
    forged = builder.sign(Ed25519PrivateKey.from_private_bytes(OUTSIDER.seed), None)
    with pytest.raises(PeerRefused, match="not signed by its own key"):
        peer_node_key(_der(forged), ALLOWED)

    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec_key.public_key())
        .serial_number(1)
        .not_valid_before(forged.not_valid_before_utc)
        .not_valid_after(forged.not_valid_after_utc)
        .sign(ec_key, hashes.SHA256())
    )
    with pytest.raises(PeerRefused, match="not Ed25519"):
        peer_node_key(_der(ec_certificate), ALLOWED)


# --- connecting and exchanging --------------------------------------------------------------


def test_two_transports_connect_and_exchange_messages_both_ways() -> None:
    async def scenario() -> None:
        first, second = Node(KEYS[0]), Node(KEYS[1])
        async with started(first, second):
            first.transport.add_peer(second.address)  # only one side dials
            await eventually(lambda: first.connected_to(second), "first connected")
            await eventually(lambda: second.connected_to(first), "second connected")
            messages: list[Value] = [
                {"kind": "vote", "height": n, "digest": bytes(32)} for n in range(50)
            ]
            for message in messages:
                assert first.transport.send(second.key.public_key, message)
            second.transport.broadcast(b"back")
            await eventually(lambda: len(second.inbox) == len(messages), "50 messages")
            await eventually(lambda: first.received_from(second) == [b"back"], "the reply")
            assert second.received_from(first) == messages  # in order, exactly once
            assert not first.transport.send(OUTSIDER.public_key, "to nobody")

    run(scenario)


def test_four_transports_dialling_each_other_keep_one_connection_per_pair() -> None:
    async def scenario() -> None:
        nodes = [Node(key) for key in KEYS]
        async with started(*nodes):
            await mesh(nodes)
            for round_ in range(3):
                for node in nodes:
                    assert node.transport.broadcast([round_, node.key.public_key]) == 3
            for node in nodes:
                await eventually(partial(has_inbox_size, node, 9), "3 rounds from 3 peers")
            for node in nodes:
                for other in nodes:
                    if other is not node:
                        # Exactly once; the order may differ only while a duplicate connection
                        # is being replaced.
                        assert sorted(node.received_from(other)) == [  # type: ignore[type-var]
                            [round_, other.key.public_key] for round_ in range(3)
                        ]
                assert node.transport.connected_peers() == ALLOWED - {node.key.public_key}
                assert node.transport.stats.frames_malformed == 0

    run(scenario)


def test_reconnects_after_a_peer_restarts_and_delivers_what_was_queued() -> None:
    async def scenario() -> None:
        first, second = Node(KEYS[0]), Node(KEYS[1])
        async with started(first):
            async with started(second):
                await mesh([first, second])
                await exchange(first, second, "before")
                port = second.address.port
            await eventually(lambda: first.connected_to(), "the restart noticed")
            assert first.transport.send(second.key.public_key, "while down")
            restarted = Node(KEYS[1], port=port)  # same key and address, no peers of its own
            async with started(restarted):
                await eventually(lambda: first.connected_to(restarted), "reconnected")
                await eventually(lambda: restarted.received_from(first) == ["while down"], "queued")
                await exchange(first, restarted, "after")

    run(scenario)


# --- refusing peers -------------------------------------------------------------------------


def test_an_unlisted_key_that_dials_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        node, peer = Node(KEYS[0]), Node(KEYS[1])
        outsider = Node(OUTSIDER, allowed=ALLOWED | {OUTSIDER.public_key})
        async with started(node, peer, outsider):
            outsider.transport.add_peer(node.address)
            await eventually(lambda: node.transport.stats.connections_refused >= 2, "refusals")
            await mesh([node, peer])
            await exchange(node, peer, "still serving")
            assert node.connected_to(peer)
            assert outsider.connected_to()  # it never saw a keepalive from the node

    caplog.set_level(logging.WARNING, logger="network.transport")
    run(scenario)
    assert any("refused inbound connection" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("impostor_key", [OUTSIDER, KEYS[2]], ids=["unlisted", "listed-other"])
def test_a_dialled_address_that_answers_with_the_wrong_key_is_refused(
    impostor_key: SigningKey,
) -> None:
    async def scenario() -> None:
        node = Node(KEYS[0])
        impostor = Node(impostor_key, allowed=ALLOWED | {impostor_key.public_key})
        async with started(node, impostor):
            # The node believes KEYS[1] listens where the impostor does.
            host, port = impostor.transport.listen_address
            node.transport.add_peer(PeerAddress(node_key=KEYS[1].public_key, host=host, port=port))
            await eventually(lambda: node.transport.stats.connections_refused >= 2, "refusals")
            assert node.connected_to()
            assert impostor.connected_to()

    run(scenario)


def test_plain_tcp_garbage_and_silence_are_dropped_while_peers_are_served() -> None:
    async def scenario() -> None:
        node = Node(KEYS[0], limits=dataclasses.replace(LIMITS, handshake_timeout_seconds=0.5))
        peer = Node(KEYS[1])
        async with started(node, peer):
            await mesh([node, peer])
            probes = [
                b"\x00garbage\xff" * 100,
                b"\xff\xff\xff\xff" + b"x" * 64,  # an oversized length prefix, no TLS
                b"GET / HTTP/1.1\r\nHost: node\r\n\r\n",  # not TLS
                encode_frame({"kind": "vote"}),  # a valid frame, without TLS
            ]
            for probe in probes:
                async with raw_tcp(node) as (reader, writer):
                    writer.write(probe)
                    await writer.drain()
                    await closed_by_node(reader)
            async with raw_tcp(node) as (reader, _):  # says nothing: the handshake times out
                await closed_by_node(reader)
            assert node.transport.stats.connections_refused == len(probes) + 1
            await exchange(node, peer, "still serving")
            assert node.connected_to(peer)

    run(scenario)


def test_an_authenticated_peer_sending_bad_frames_is_disconnected_and_counted() -> None:
    async def scenario() -> None:
        node, peer = Node(KEYS[0]), Node(KEYS[1])
        async with started(node, peer):
            await mesh([node, peer])
            async with raw_tls(KEYS[2], node) as (reader, writer):
                await eventually(lambda: KEYS[2].public_key in node.transport.connected_peers(), "")
                writer.write(encode_frame("hello") + b"\xff\xff\xff\xff")
                await writer.drain()
                await closed_by_node(reader)
            async with raw_tls(KEYS[2], node) as (reader, writer):
                writer.write(len(b"\xcc\x01").to_bytes(4, "big") + b"\xcc\x01")  # non-canonical
                await writer.drain()
                await closed_by_node(reader)
            stats = node.transport.stats
            assert (stats.frames_too_large, stats.frames_malformed) == (1, 1)
            assert node.inbox == [(KEYS[2].public_key, "hello")]
            await eventually(lambda: node.connected_to(peer), "only the good peer left")
            await exchange(node, peer, "still serving")

    run(scenario)


def test_a_slow_peer_with_a_full_queue_does_not_hold_up_the_others() -> None:
    async def scenario() -> None:
        limits = TransportLimits(
            peer_send_queue_max=8,
            keepalive_interval_seconds=0.5,
            idle_timeout_seconds=60.0,  # the slow peer sends nothing, yet stays
            write_timeout_seconds=60.0,
            close_timeout_seconds=0.5,
        )
        node, peer = Node(KEYS[0], limits=limits), Node(KEYS[1])
        big = b"x" * 256 * 1024
        async with started(node, peer):
            await mesh([node, peer])
            async with raw_tls(KEYS[2], node):  # authenticates, then never reads
                slow = KEYS[2].public_key
                await eventually(lambda: slow in node.transport.connected_peers(), "slow peer")
                for round_ in range(16):  # 32 MiB for the slow peer: more than socket buffers
                    for _ in range(8):
                        assert node.transport.send(slow, big)
                    assert node.transport.send(peer.key.public_key, round_)
                    await eventually(partial(has_received, peer, node, round_), "round")
                assert node.transport.stats.messages_dropped > 0
                assert slow in node.transport.connected_peers()
            assert peer.received_from(node) == list(range(16))

    run(scenario)


def test_a_bug_in_on_message_closes_only_that_connection(caplog: pytest.LogCaptureFixture) -> None:
    def bug_logged() -> bool:
        return any("transport task failed" in record.getMessage() for record in caplog.records)

    async def scenario() -> None:
        def on_message(peer_key: bytes, message: Value) -> None:
            if message == "boom":
                raise RuntimeError("a bug in the consumer")
            node.inbox.append((peer_key, message))

        node = Node(KEYS[0], on_message=on_message)
        peer = Node(KEYS[1])
        async with started(node, peer):
            await mesh([node, peer])
            assert peer.transport.send(node.key.public_key, "boom")
            await eventually(bug_logged, "the bug logged")
            await eventually(lambda: node.connected_to(peer), "connected (again)")
            await exchange(node, peer, "after")

    caplog.set_level(logging.ERROR, logger="network.transport")
    run(scenario)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="idle_timeout_seconds"):
        TransportLimits(keepalive_interval_seconds=5.0, idle_timeout_seconds=5.0)
    with pytest.raises(ValueError, match="peer_send_queue_max"):
        TransportLimits(peer_send_queue_max=0)
    with pytest.raises(ValueError, match="port"):
        PeerAddress(node_key=KEYS[0].public_key, host=HOST, port=0)
