from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.codec import (
    INT_MAX,
    INT_MIN,
    CodecLimits,
    Value,
    decode,
    decode_trusted,
    encode,
    encode_float_free,
)
from ledger.errors import DecodeError, EncodeError, TooLarge

values: st.SearchStrategy[Value] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=INT_MIN, max_value=INT_MAX)
    | st.binary(max_size=64)
    | st.text(max_size=32),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)


@given(values)
def test_decode_inverts_encode(value: Value) -> None:
    assert decode(encode(value)) == value


@given(values)
def test_the_float_free_encoder_gives_the_canonical_bytes(value: Value) -> None:
    assert encode_float_free(value) == encode(value)


def test_the_float_free_encoder_refuses_what_encode_refuses() -> None:
    for bad in ({1: "x"}, 2**64, -(2**63) - 1, object()):
        with pytest.raises(EncodeError):
            encode_float_free(bad)  # type: ignore[arg-type]


@given(st.binary(max_size=64))
def test_every_accepted_byte_string_reencodes_identically(data: bytes) -> None:
    try:
        value = decode(data)
    except DecodeError:
        return
    assert encode(value) == data


@given(values)
def test_mutated_encodings_are_refused_or_canonical(value: Value) -> None:
    data = encode(value)
    for index in range(len(data)):
        mutated = data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]
        try:
            decoded = decode(mutated)
        except DecodeError:
            continue
        assert encode(decoded) == mutated


def test_map_keys_are_sorted_whatever_the_insertion_order() -> None:
    assert encode({"b": 1, "a": 2}) == encode({"a": 2, "b": 1})
    assert encode({"b": 1, "a": 2})[1:3] == b"\xa1a"


def test_tuples_encode_as_lists() -> None:
    assert encode((1, 2)) == encode([1, 2])


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (1.5, "no canonical encoding"),
        ({1: "x"}, "not text"),
        (2**64, "outside"),
        (INT_MIN - 1, "outside"),
        ({"a": {1, 2}}, "no canonical encoding"),
    ],
)
def test_encode_refuses_values_outside_the_model(value: object, reason: str) -> None:
    with pytest.raises(EncodeError, match=reason):
        encode(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xcb" + bytes(8), "floats are not allowed"),
        (b"\xca" + bytes(4), "floats are not allowed"),
        (b"\x82\xa1b\x01\xa1a\x02", "out of order"),
        (b"\x82\xa1a\x01\xa1a\x02", "duplicate map key"),
        (b"\xcc\x01", "non-canonical"),  # 1 as uint8
        (b"\xd0\x01", "non-canonical"),  # 1 as int8
        (b"\xd9\x01a", "non-canonical"),  # "a" as str8
        (b"\xdc\x00\x01\x01", "non-canonical"),  # [1] as array16
        (b"\x01\x02", "trailing bytes"),
        (b"\xd4\x01\x00", "extension type"),
        (b"\xd6\xff\x00\x00\x00\x00", "not allowed"),  # msgpack timestamp
        (b"\x81\x01\x02", "map key"),
        (b"\xa2\xff\xfe", "UTF-8"),
        (b"\x92\x01", "malformed"),  # truncated list
        (b"", "malformed"),
        (b"\xc1", "malformed"),  # never-used byte
    ],
)
def test_decode_refuses_with_a_precise_reason(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(data)


def test_limits_are_enforced() -> None:
    limits = CodecLimits(
        frame_size_bytes_max=64, string_length_bytes_max=8, container_length_max=4, depth_max=3
    )
    with pytest.raises(TooLarge, match="frame"):
        decode(encode("x" * 100), limits)
    with pytest.raises(TooLarge):
        decode(encode("x" * 9), limits)
    with pytest.raises(TooLarge):
        decode(encode(b"x" * 9), limits)
    with pytest.raises(TooLarge):
        decode(encode([1, 2, 3, 4, 5]), limits)
    with pytest.raises(TooLarge):
        decode(encode({str(i): i for i in range(5)}), limits)
    with pytest.raises(TooLarge, match="nesting"):
        decode(encode([[[[1]]]]), limits)
    assert decode(encode([[[1]]]), limits) == [[[1]]]


def test_deeply_nested_input_is_refused_without_crashing() -> None:
    data = b"\x91" * 100_000 + b"\x01"
    with pytest.raises(DecodeError):
        decode(data)


def test_agrees_with_plain_msgpack_on_canonical_values() -> None:
    value: dict[str, Value] = {
        "amount": 125_000,
        "currency": "EUR",
        "parties": ["a", "b"],
        "hash": b"\x00" * 32,
    }
    assert encode(value) == msgpack.packb(dict(sorted(value.items())), use_bin_type=True)


def test_decode_trusted_reads_what_encode_wrote_and_refuses_extensions() -> None:
    value: Value = {"a": [1, b"x", None, True], "b": {"c": "text"}}
    assert decode_trusted(encode(value)) == value
    with pytest.raises(DecodeError):
        decode_trusted(b"\xd4\x01\x00")  # fixext 1
    with pytest.raises(DecodeError):
        decode_trusted(b"\x92\x01")  # truncated
