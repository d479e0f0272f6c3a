"""Canonical msgpack: the only bytes we hash, sign, store or send.

A value is one of: ``None``, ``bool``, ``int`` (-2**63 .. 2**64-1), ``bytes``, ``str``,
``list`` (tuples encode as lists), or ``dict`` with ``str`` keys. No floats: money is integer
minor units. The encoding is unique: maps in sorted key order (by code point, which is
UTF-8 byte order), the shortest form of every integer and length, no extension types.

`decode` is strict: it accepts only bytes that `encode` would produce for the value they
decode to, so two nodes that accept the same bytes agree on the value and vice versa.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import msgpack
import ormsgpack

from ledger.errors import DecodeError, EncodeError, TooLarge

Value: TypeAlias = (
    bool | int | bytes | str | list["Value"] | tuple["Value", ...] | dict[str, "Value"] | None
)

INT_MIN = -(2**63)
INT_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class CodecLimits:
    """Bounds on what `decode` accepts. Every field is a hard limit, not a hint."""

    frame_size_bytes_max: int = 4 * 1024 * 1024  # one block of transactions fits
    string_length_bytes_max: int = 1024 * 1024  # text or bytes: an attached file hash, not a file
    container_length_max: int = 100_000  # entries in one list or map
    depth_max: int = 32  # nesting of lists and maps; documents are shallow

    def __post_init__(self) -> None:
        for name in (
            "frame_size_bytes_max",
            "string_length_bytes_max",
            "container_length_max",
            "depth_max",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"CodecLimits.{name} must be >= 1")


DEFAULT_LIMITS = CodecLimits()


def encode(value: Value) -> bytes:
    """The canonical encoding of `value`. Raises EncodeError for anything outside the model."""
    try:
        packed: bytes = _PACKER.pack(_canonical(value, depth=0))
    except EncodeError:
        raise
    except TypeError as exc:  # sorting a map whose keys are not all text
        raise EncodeError(f"map keys must all be text: {exc}") from None
    return packed


def encode_float_free(value: Value) -> bytes:
    """`encode(value)` for a value that cannot hold a float by construction: the contracts'
    state writes, built only from strictly decoded values and integer arithmetic (enforced by
    tests/test_architecture.py). Encoded in C by ormsgpack with sorted keys, the same bytes
    as `encode` (property-tested) and about six times faster. Non-text keys, integers out of
    range and unknown types still raise EncodeError; nesting is bounded by the decoded
    inputs (ormsgpack's own limit is 255 levels, `encode`'s 64)."""
    try:
        packed: bytes = ormsgpack.packb(value, option=ormsgpack.OPT_SORT_KEYS)
    except (TypeError, ormsgpack.MsgpackEncodeError):
        return encode(value)  # raises EncodeError naming what is wrong
    return packed


def decode(data: bytes, limits: CodecLimits = DEFAULT_LIMITS) -> Value:
    """The value whose canonical encoding is exactly `data`, or DecodeError saying why not."""
    if len(data) > limits.frame_size_bytes_max:
        raise TooLarge(f"frame of {len(data)} bytes exceeds {limits.frame_size_bytes_max}")
    # Fast path: msgpack builds the maps in C; one walk checks what packing cannot show (map
    # keys text and in order, no floats, depth), and packing the value again must give back
    # exactly `data` (shortest forms; a duplicate key collapses the map and shows here).
    value = _unpack(data, limits, strict_maps=False)
    _check_shape(value, depth=0, limits=limits)
    if _PACKER.pack(value) != data:
        # Decode again with every map checked as it is read, to name a duplicate key.
        _unpack(data, limits, strict_maps=True)
        raise DecodeError("non-canonical encoding (an integer or length not in its shortest form)")
    return value


def _unpack(data: bytes, limits: CodecLimits, *, strict_maps: bool) -> Value:
    try:
        value: Value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            object_pairs_hook=_strict_map if strict_maps else None,
            ext_hook=_refuse_ext,
            timestamp=0,
            max_str_len=limits.string_length_bytes_max,
            max_bin_len=limits.string_length_bytes_max,
            max_array_len=limits.container_length_max,
            max_map_len=limits.container_length_max,
            max_ext_len=64,  # any ext is refused by _refuse_ext; this only bounds the read
        )
    except msgpack.ExtraData as exc:
        raise DecodeError(f"trailing bytes after the value ({len(exc.extra)} bytes)") from None
    except DecodeError:
        raise
    except UnicodeDecodeError as exc:
        raise DecodeError(f"text is not valid UTF-8: {exc.reason}") from None
    except ValueError as exc:  # msgpack reports limits and truncation as ValueError
        message = str(exc)
        if "exceeds max" in message:
            raise TooLarge(f"length limit exceeded: {message}") from None
        raise DecodeError(f"malformed msgpack: {message or type(exc).__name__}") from None
    except (msgpack.UnpackException, TypeError) as exc:
        raise DecodeError(f"malformed msgpack: {exc or type(exc).__name__}") from None
    return value


def decode_trusted(data: bytes) -> Value:
    """Decode bytes this node encoded itself and kept under checksums (its own store's state
    values): no canonical-form checks, about ten times faster than `decode`. Never for bytes
    from a peer, a client or a file another program may have written; `ledger verify` reads
    the same records with `decode`."""
    try:
        value: Value = msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_refuse_ext)
    except (ValueError, msgpack.UnpackException, TypeError, DecodeError) as exc:
        raise DecodeError(f"malformed msgpack: {exc or type(exc).__name__}") from None
    return value


def value_to_json(value: Value) -> Any:
    """A value as JSON: bytes as lowercase hex, tuples as lists (for people and web APIs;
    what is hashed or signed is always the canonical encoding, never this)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [value_to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: value_to_json(item) for key, item in value.items()}
    return value


# --- internals -----------------------------------------------------------------------------

_PACKER = msgpack.Packer(use_bin_type=True, strict_types=True, autoreset=True)
_DEPTH_ENCODE_MAX = 64


def _canonical(value: Value, depth: int) -> Value:
    """A copy of `value` in which every map is in sorted key order and tuples are lists.

    Scalars inside a container are handled inline (most of a document is scalars), so the
    recursion happens once per container, not once per leaf."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is int:
        return _checked_int(value)
    if depth > _DEPTH_ENCODE_MAX:
        raise EncodeError(f"value nested deeper than {_DEPTH_ENCODE_MAX}")
    if kind is dict:
        assert isinstance(value, dict)
        result: dict[str, Value] = {}
        for key in sorted(value):  # TypeError for mixed key types: EncodeError in `encode`
            if type(key) is not str:
                raise EncodeError(f"map key {key!r} is not text")
            item = value[key]
            item_kind = type(item)
            if item_kind in _SCALARS:
                result[key] = item
            elif item_kind is int:
                result[key] = _checked_int(item)
            else:
                result[key] = _canonical(item, depth + 1)
        return result
    if kind is list or kind is tuple:
        assert isinstance(value, list | tuple)
        items: list[Value] = []
        for item in value:
            item_kind = type(item)
            if item_kind in _SCALARS:
                items.append(item)
            elif item_kind is int:
                items.append(_checked_int(item))
            else:
                items.append(_canonical(item, depth + 1))
        return items
    raise EncodeError(f"{kind.__name__} has no canonical encoding (no floats, no objects)")


_SCALARS = frozenset({str, bytes, bool, type(None)})


def _checked_int(value: Value) -> int:
    assert isinstance(value, int)
    if not INT_MIN <= value <= INT_MAX:
        raise EncodeError(f"integer {value} outside [-2**63, 2**64-1]")
    return value


def encode_text(text: str) -> bytes:
    """`encode(text)` for a str, without the generic walk."""
    assert type(text) is str
    packed: bytes = _PACKER.pack(text)
    return packed


def array_header(length: int) -> bytes:
    """The msgpack header of a list of `length` items: encodings concatenate, so
    ``array_header(n) + b"".join(encode(v) for v in items) == encode(items)``."""
    if length < 16:
        return bytes([0x90 | length])
    if length < 1 << 16:
        return b"\xdc" + length.to_bytes(2, "big")
    return b"\xdd" + length.to_bytes(4, "big")


def _strict_map(pairs: list[tuple[object, object]]) -> dict[object, object]:
    result: dict[object, object] = {}
    previous: str | None = None
    for key, item in pairs:
        if type(key) is not str:
            raise DecodeError(f"map key {key!r} is not text")
        if previous is not None:
            if key == previous:
                raise DecodeError(f"duplicate map key {key!r}")
            if key < previous:
                raise DecodeError(f"map keys out of order: {key!r} after {previous!r}")
        result[key] = item
        previous = key
    return result


def _refuse_ext(code: int, data: bytes) -> object:
    raise DecodeError(f"extension type {code} is not allowed")


def _check_shape(value: object, depth: int, limits: CodecLimits) -> None:
    # Depth counts every value, leaves too: the items of a container at `depth` are at
    # `depth + 1`, which must not exceed the limit if there are any.
    if depth > limits.depth_max:
        raise TooLarge(f"nesting deeper than {limits.depth_max}")
    kind = type(value)
    if (kind is list or kind is dict) and value and depth + 1 > limits.depth_max:
        raise TooLarge(f"nesting deeper than {limits.depth_max}")
    if kind is list:
        assert isinstance(value, list)
        for item in value:
            if type(item) not in _DECODED_LEAVES:
                _check_shape(item, depth + 1, limits)
    elif kind is dict:
        assert isinstance(value, dict)
        _check_keys(list(value))
        for item in value.values():
            if type(item) not in _DECODED_LEAVES:
                _check_shape(item, depth + 1, limits)
    elif kind is float:
        raise DecodeError("floats are not allowed (use integer minor units)")
    elif kind not in _DECODED_LEAVES:
        raise DecodeError(f"{kind.__name__} is not allowed")


_DECODED_LEAVES = frozenset({str, bytes, bool, int, type(None)})


def _check_keys(keys: list[object]) -> None:
    """A decoded map's keys (unique: a dict) are text in increasing order."""
    try:
        in_order = keys == sorted(keys)  # type: ignore[type-var]
    except TypeError:  # text and bytes keys mixed
        in_order = False
    if keys and type(keys[0]) is not str:
        raise DecodeError(f"map key {keys[0]!r} is not text")
    if not in_order:
        _strict_map([(key, None) for key in keys])  # names the first key out of order
        raise DecodeError("map keys are not text in increasing order")
