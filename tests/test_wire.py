from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.codec import CodecLimits, Value, encode
from ledger.errors import EncodeError
from network.wire import (
    FRAME_HEADER_SIZE_BYTES,
    FRAME_LENGTH_MAX,
    KEEPALIVE_FRAME,
    Event,
    FrameDecoder,
    Keepalive,
    MalformedMessage,
    Message,
    MessageTooLarge,
    WireError,
    decode_frame_length,
    decode_frame_payload,
    encode_frame,
    frame_size_bytes_max,
)

SMALL = CodecLimits(frame_size_bytes_max=256, string_length_bytes_max=128, container_length_max=16)

values: st.SearchStrategy[Value] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.binary(max_size=32)
    | st.text(max_size=16),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[start:end] for start, end in itertools.pairwise(points)]


def _decode_all(decoder: FrameDecoder, chunks: list[bytes]) -> list[Event]:
    events: list[Event] = []
    for chunk in chunks:
        decoder.feed(chunk)
        while (event := decoder.next_event()) is not None:
            events.append(event)
    return events


@given(
    st.lists(st.one_of(st.none().map(lambda _: Keepalive()), values.map(Message)), max_size=6),
    st.lists(st.integers(min_value=0), max_size=8),
)
def test_frames_round_trip_in_chunks_of_any_size(events: list[Event], cuts: list[int]) -> None:
    stream = b"".join(
        KEEPALIVE_FRAME if isinstance(event, Keepalive) else encode_frame(event.value)
        for event in events
    )
    decoder = FrameDecoder()
    assert _decode_all(decoder, _chunks(stream, cuts)) == events
    assert decoder.buffered_bytes == 0


@given(st.binary(max_size=512), st.lists(st.integers(min_value=0), max_size=6))
def test_arbitrary_bytes_give_events_or_a_wire_error(data: bytes, cuts: list[int]) -> None:
    decoder = FrameDecoder(SMALL)
    try:
        events = _decode_all(decoder, _chunks(data, cuts))
    except WireError:
        return
    for event in events:
        if isinstance(event, Message):
            assert len(encode(event.value)) <= SMALL.frame_size_bytes_max
    assert decoder.buffered_bytes < FRAME_HEADER_SIZE_BYTES + SMALL.frame_size_bytes_max


def test_frame_layout_is_a_big_endian_length_then_canonical_msgpack() -> None:
    assert encode_frame({"b": 1, "a": [True, None]}) == (
        len(encode({"a": [True, None], "b": 1})).to_bytes(4, "big")
        + encode({"a": [True, None], "b": 1})
    )
    assert KEEPALIVE_FRAME == b"\x00\x00\x00\x00"


def test_an_oversized_length_prefix_is_refused_before_its_payload_arrives() -> None:
    decoder = FrameDecoder(SMALL)
    decoder.feed((SMALL.frame_size_bytes_max + 1).to_bytes(4, "big"))
    with pytest.raises(MessageTooLarge, match="257 bytes announced"):
        decoder.next_event()
    assert decoder.buffered_bytes == 0
    decoder = FrameDecoder()
    decoder.feed(b"\xff\xff\xff\xff")
    with pytest.raises(MessageTooLarge):
        decoder.next_event()


def test_a_frame_at_the_limit_is_accepted() -> None:
    payload_max = frame_size_bytes_max(SMALL)
    # bin 8 header is 2 bytes; the string limit is lifted so only the frame limit binds.
    limits = CodecLimits(frame_size_bytes_max=payload_max, string_length_bytes_max=payload_max)
    value = b"x" * (payload_max - 2)
    frame = encode_frame(value, limits)
    assert len(frame) == FRAME_HEADER_SIZE_BYTES + payload_max
    decoder = FrameDecoder(limits)
    decoder.feed(frame)
    assert decoder.next_event() == Message(value)


def test_encoding_an_oversized_message_is_refused() -> None:
    with pytest.raises(MessageTooLarge):
        encode_frame(b"x" * 300, SMALL)
    with pytest.raises(EncodeError):
        encode_frame(1.5)  # type: ignore[arg-type]


def test_the_prefix_caps_the_frame_size() -> None:
    assert frame_size_bytes_max(CodecLimits(frame_size_bytes_max=2**40)) == FRAME_LENGTH_MAX


@pytest.mark.parametrize(
    ("payload", "error", "reason"),
    [
        (b"\xc1", MalformedMessage, "malformed"),  # a reserved msgpack byte
        (b"\xcc\x01", MalformedMessage, "non-canonical"),  # 1 as uint8: not the shortest form
        (b"\x82\xa1b\x01\xa1a\x02", MalformedMessage, "out of order"),
        (b"\xcb" + bytes(8), MalformedMessage, "float"),
        (encode(1) + encode(2), MalformedMessage, "trailing"),
        (b"\xd9", MalformedMessage, "malformed"),  # truncated string header
        (encode("x" * 200), MessageTooLarge, "exceeds"),
        (encode(list(range(17))), MessageTooLarge, "exceeds"),
        (b"", MalformedMessage, "keepalive"),
    ],
)
def test_malformed_payloads_raise_precise_errors(
    payload: bytes, error: type[WireError], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        decode_frame_payload(payload, SMALL)
    if payload:
        decoder = FrameDecoder(SMALL)
        decoder.feed(len(payload).to_bytes(4, "big") + payload)
        with pytest.raises(error):
            decoder.next_event()


def test_events_before_a_bad_frame_are_delivered_and_the_stream_then_stays_broken() -> None:
    decoder = FrameDecoder(SMALL)
    decoder.feed(encode_frame("ok") + KEEPALIVE_FRAME + b"\x00\x00\x00\x01\xc1" + encode_frame(1))
    assert decoder.next_event() == Message("ok")
    assert decoder.next_event() == Keepalive()
    with pytest.raises(MalformedMessage):
        decoder.next_event()
    with pytest.raises(AssertionError):
        decoder.feed(b"more")


def test_a_header_must_be_four_bytes() -> None:
    with pytest.raises(MalformedMessage):
        decode_frame_length(b"\x00\x00\x01")
    assert decode_frame_length(b"\x00\x00\x01\x00") == 256
