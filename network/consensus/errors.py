"""Errors of the consensus core.

    ConsensusError
    ├── InvalidMessage   a peer's message breaks a rule of the protocol (wrong proposer, a
    │                    POL round out of range, a value over its size limit, not a validator):
    │                    the caller may penalise the peer; the core state is unchanged
    └── MisuseError      the caller broke the core's contract (advance without ready, ...)

Messages that are merely stale, duplicated or beyond a buffering limit are not errors: the
core drops them silently, because honest peers send them all the time.
A broken invariant of our own is an `assert`.
"""

from __future__ import annotations


class ConsensusError(Exception):
    """Base of the consensus core's exceptions."""


class InvalidMessage(ConsensusError, ValueError):
    """A message from a peer that no honest validator sends."""


class MisuseError(ConsensusError, RuntimeError):
    """The caller used the core against its documented contract."""
