"""The boundary between consensus and the application (the node plugs contracts and the
store in; the simulator plugs `network.sim.app.SimApplication`).

Determinism rules for `validate` (spec §0 and pitfall 22): the answer depends only on
`height`, `value` and the decided prefix (heights < `height`) — never on a clock, the
mempool, the round or the replica. Every honest replica must give the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ledger.crypto import HASH_SIZE_BYTES


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckedValue:
    """What the application says about a valid value: its id (the hash votes carry) and its
    time (block time, derived from the previous commit: BFT time)."""

    value_hash: bytes
    time_ms: int

    def __post_init__(self) -> None:
        assert len(self.value_hash) == HASH_SIZE_BYTES


class Application(Protocol):
    def validate(self, height: int, value: bytes) -> CheckedValue | None:
        """valid(v) and id(v) of Algorithm 1: None when `value` is not a valid value for
        `height` on top of the decided prefix. Called only after height-1 was executed."""
        ...
