"""The application state as the contracts see it: a read-only key-value view.

Keys are text (the contracts own their layout, e.g. ``"bl/<carrier>/<reference>"``); values
are canonical `Value`s. A block's effect is a `Writes` map from key to new value, or `None`
to delete. Nothing here touches the disk: the store implements `StateView` over LevelDB,
`MemoryState` over a dict, and `Overlay` layers a block's pending writes over either.

The state root in each header chains the writes of every block:

    state_root(h) = H_state(state_root(h-1) | encode(sorted writes of block h))

so two nodes that executed the same blocks the same way hold the same root, and a node whose
execution differed by one byte is caught at the first differing block.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from ledger import crypto
from ledger.codec import Value, encode
from ledger.crypto import Domain
from ledger.types import ZERO_HASH

Writes = Mapping[str, Value | None]

STATE_KEY_LENGTH_MAX = 512


class StateView(Protocol):
    def get(self, key: str) -> Value | None:
        """The value at `key`, or None if there is none."""
        ...


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

    def apply(self, writes: Writes) -> None:
        self.writes.update(writes)


def next_state_root(previous_root: bytes, writes: Writes) -> bytes:
    assert len(previous_root) == crypto.HASH_SIZE_BYTES
    ordered: list[Value] = [[key, writes[key]] for key in sorted(writes)]
    return crypto.tagged_hash(Domain.STATE, previous_root + encode(ordered))


GENESIS_STATE_ROOT = ZERO_HASH
