"""Frames between nodes: length-prefixed canonical msgpack, with no I/O (bytes in, events out).

    frame = length (4 bytes, big-endian, unsigned) | payload (length bytes)

A payload is the canonical msgpack encoding (`ledger.codec`) of exactly one message. A frame
of length 0 carries no message: it is a keepalive, which the transport sends when it has had
nothing else to send for a while, and once right after the TLS handshake to say "I accept
you" (see `network.transport`).

Limits. A payload longer than `CodecLimits.frame_size_bytes_max` is refused as soon as its
length prefix is read, before any of it is buffered, so a peer cannot make us hold more than
one maximal frame per connection. Strings, containers and nesting inside the payload are
bounded by the same `CodecLimits`.

Errors (bad bytes from a peer; the transport closes that connection):

    WireError
    ├── MessageTooLarge    a length prefix, string, container or depth over its limit
    └── MalformedMessage   a payload that is not the canonical encoding of one value

`encode_frame` raises the same `MessageTooLarge` for an oversized message of our own, and
`ledger.errors.EncodeError` for a value that has no canonical encoding (a bug of the caller).
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.codec import DEFAULT_LIMITS, CodecLimits, Value, decode, encode
from ledger.errors import DecodeError, TooLarge

FRAME_HEADER_SIZE_BYTES = 4
FRAME_LENGTH_MAX = (1 << (8 * FRAME_HEADER_SIZE_BYTES)) - 1  # what the prefix can express
KEEPALIVE_FRAME = bytes(FRAME_HEADER_SIZE_BYTES)


class WireError(Exception):
    """Bytes received from a peer are not a valid frame."""


class MessageTooLarge(WireError):
    """A frame, or a string, container or nesting depth inside it, exceeds its limit."""


class MalformedMessage(WireError):
    """A frame's payload is not the canonical msgpack encoding of one value."""


@dataclass(frozen=True, slots=True)
class Message:
    """A frame that carried one message."""

    value: Value


@dataclass(frozen=True, slots=True)
class Keepalive:
    """An empty frame: the peer is alive and has nothing to say."""


Event = Message | Keepalive


def frame_size_bytes_max(limits: CodecLimits = DEFAULT_LIMITS) -> int:
    """The largest payload a frame may carry: the codec's limit, capped by the prefix."""
    return min(limits.frame_size_bytes_max, FRAME_LENGTH_MAX)


def encode_frame(message: Value, limits: CodecLimits = DEFAULT_LIMITS) -> bytes:
    """The frame that carries `message`."""
    payload = encode(message)
    if len(payload) > frame_size_bytes_max(limits):
        raise MessageTooLarge(
            f"message of {len(payload)} bytes exceeds the frame limit of "
            f"{frame_size_bytes_max(limits)} bytes"
        )
    return len(payload).to_bytes(FRAME_HEADER_SIZE_BYTES, "big") + payload


def decode_frame_length(header: bytes, limits: CodecLimits = DEFAULT_LIMITS) -> int:
    """The payload length announced by a frame header (0 for a keepalive)."""
    if len(header) != FRAME_HEADER_SIZE_BYTES:
        raise MalformedMessage(
            f"frame header is {FRAME_HEADER_SIZE_BYTES} bytes, got {len(header)}"
        )
    length = int.from_bytes(header, "big")
    if length > frame_size_bytes_max(limits):
        raise MessageTooLarge(
            f"frame of {length} bytes announced, the limit is {frame_size_bytes_max(limits)} bytes"
        )
    return length


def decode_frame_payload(payload: bytes, limits: CodecLimits = DEFAULT_LIMITS) -> Value:
    """The message a non-empty payload carries."""
    if not payload:
        raise MalformedMessage("an empty payload carries no message (it is a keepalive)")
    try:
        return decode(payload, limits)
    except TooLarge as exc:
        raise MessageTooLarge(str(exc)) from None
    except DecodeError as exc:
        raise MalformedMessage(str(exc)) from None


class FrameDecoder:
    """Turns a byte stream, in chunks of any size, into events.

    Feed what was received, then call `next_event` until it returns None; only then feed more.
    Kept that way, the buffer never holds more than one unfinished frame plus one chunk. After
    a WireError the stream cannot be resynchronised: the connection must be closed.
    """

    __slots__ = ("_buffer", "_failed", "_limits", "_payload_length")

    def __init__(self, limits: CodecLimits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buffer = bytearray()
        self._payload_length: int | None = None  # known once the header is read
        self._failed = False

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        assert not self._failed, "the stream is broken: close the connection"
        self._buffer += data

    def next_event(self) -> Event | None:
        """The next complete frame's event, None if more bytes are needed, or a WireError."""
        assert not self._failed, "the stream is broken: close the connection"
        try:
            return self._next_event()
        except WireError:
            self._failed = True
            self._buffer.clear()
            raise

    def _next_event(self) -> Event | None:
        if self._payload_length is None:
            if len(self._buffer) < FRAME_HEADER_SIZE_BYTES:
                return None
            self._payload_length = decode_frame_length(
                bytes(self._buffer[:FRAME_HEADER_SIZE_BYTES]), self._limits
            )
            del self._buffer[:FRAME_HEADER_SIZE_BYTES]
        length = self._payload_length
        if len(self._buffer) < length:
            return None
        payload = bytes(self._buffer[:length])
        del self._buffer[:length]
        self._payload_length = None
        if length == 0:
            return Keepalive()
        return Message(decode_frame_payload(payload, self._limits))
