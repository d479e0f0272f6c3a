"""The application state as the contracts see it: a read-only key-value view.

Keys are text (the contracts own their layout, e.g. ``"bl/<carrier>/<reference>"``); values
are canonical `Value`s. A block's effect is a `Writes` map from key to new value, or `None`
to delete. Nothing here touches the disk: the store implements `StateView` over LevelDB,
`MemoryState` over a dict, and `Overlay` layers a block's pending writes over either.

The state root in each header chains the writes of every block:

    state_root(h) = H_state(state_root(h-1) | encode([[key, sha256(encode(value)) or nil], ...]))

over the block's writes in key order, so two nodes that executed the same blocks the same way
hold the same root, and a node whose execution differed by one byte is caught at the first
differing block. The list (the block's *change record*) names each value by its digest, so
the store keeps it beside the state without keeping every value twice; `ledger verify`
replays the records and checks each stored value against the digest its last write recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol, TypeVar

from ledger import crypto
from ledger.codec import Value, array_header, decode, encode_float_free, encode_text
from ledger.crypto import Domain
from ledger.errors import ValidationError
from ledger.types import ZERO_HASH

Writes = Mapping[str, Value | None]

STATE_KEY_LENGTH_MAX = 512


class StateView(Protocol):
    def get(self, key: str) -> Value | None:
        """The value at `key`, or None if there is none."""
        ...


R = TypeVar("R")


def get_parsed(view: StateView, key: str, parse: Callable[[Value], R]) -> R | None:
    """`parse(view.get(key))`, or None if there is no value. A view with a `get_parsed` method
    of its own (the store) may answer from a cache of parsed records; `parse` must be a pure
    function returning an immutable record, so a cached answer is the same answer."""
    method = getattr(view, "get_parsed", None)
    if method is not None:
        parsed: R | None = method(key, parse)
        return parsed
    value = view.get(key)
    return None if value is None else parse(value)


class MemoryState:
    """A dict-backed `StateView` for tests and offline replay."""

    def __init__(self, items: Mapping[str, Value] | None = None) -> None:
        self._items: dict[str, Value] = dict(items or {})

    def get(self, key: str) -> Value | None:
        return self._items.get(key)

    def apply(self, writes: Writes) -> None:
        for key, value in writes.items():
            if value is None:
                self._items.pop(key, None)
            else:
                self._items[key] = value

    def items(self) -> Iterator[tuple[str, Value]]:
        return iter(sorted(self._items.items()))


class Overlay:
    """`base` with pending writes on top: what a transaction sees of the ones before it."""

    def __init__(self, base: StateView) -> None:
        self._base = base
        self.writes: dict[str, Value | None] = {}

    def get(self, key: str) -> Value | None:
        if key in self.writes:
            return self.writes[key]
        return self._base.get(key)

    def get_parsed(self, key: str, parse: Callable[[Value], R]) -> R | None:
        if key in self.writes:
            value = self.writes[key]
            return None if value is None else parse(value)
        return get_parsed(self._base, key, parse)

    def apply(self, writes: Writes) -> None:
        self.writes.update(writes)


EncodedWrites = list[tuple[str, bytes | None]]
"""A block's writes in key order, each value already canonically encoded (None: delete)."""


def encode_writes(writes: Writes) -> EncodedWrites:
    """Encode each written value once; the state root, the store's state values and its
    audit record of the block's changes are all built from these bytes."""
    return [
        (key, None if (value := writes[key]) is None else encode_float_free(value))
        for key in sorted(writes)
    ]


def writes_record(encoded: EncodedWrites) -> bytes:
    """The change record ``encode([[key, sha256(value bytes) or None], ...])``, assembled from
    the encoded values (msgpack concatenates)."""
    parts = [array_header(len(encoded))]
    for key, value in encoded:
        parts.append(b"\x92")
        parts.append(encode_text(key))
        parts.append(b"\xc0" if value is None else _BIN32 + crypto.sha256(value))
    return b"".join(parts)


_BIN32 = b"\xc4\x20"  # msgpack bin8 header of a 32-byte string


ChangeList = list[tuple[str, bytes | None]]
"""A change record read back: (key, SHA-256 of the new value's bytes, or None: deleted)."""


def parse_change_record(record: bytes) -> ChangeList:
    """The (key, digest) pairs of a `writes_record`; DecodeError or ValidationError if `record`
    is not one (keys must be text, unique and in order, digests 32 bytes or nil)."""
    pairs = decode(record)
    if not isinstance(pairs, list):
        raise ValidationError("change record", "expected a list of [key, digest]")
    changes: ChangeList = []
    for index, pair in enumerate(pairs):
        path = f"change record[{index}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValidationError(path, "expected [key, digest]")
        key, digest = pair
        if not isinstance(key, str):
            raise ValidationError(path, "the key must be text")
        if digest is not None and not (
            isinstance(digest, bytes) and len(digest) == crypto.HASH_SIZE_BYTES
        ):
            raise ValidationError(path, f"the digest of {key!r} must be 32 bytes or nil")
        if changes and key <= changes[-1][0]:
            raise ValidationError(path, f"key {key!r} is not after {changes[-1][0]!r}")
        changes.append((key, digest))
    return changes


def state_root_after(previous_root: bytes, record: bytes) -> bytes:
    """The state root after a block whose `writes_record` is `record`."""
    assert len(previous_root) == crypto.HASH_SIZE_BYTES
    return crypto.tagged_hash(Domain.STATE, previous_root + record)


def next_state_root(previous_root: bytes, writes: Writes) -> bytes:
    return state_root_after(previous_root, writes_record(encode_writes(writes)))


GENESIS_STATE_ROOT = ZERO_HASH
