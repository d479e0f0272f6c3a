"""The exceptions of the ledger core.

    LedgerError
    ├── EncodeError        a value that has no canonical encoding (float, non-text key, ...)
    ├── DecodeError        bytes that are not the canonical encoding of a value
    │   └── TooLarge       a size, length or depth over its named limit
    ├── BadSignature       a signature or key that does not verify
    ├── ValidationError    a well-formed value that breaks a rule; names the field
    └── StoreError         the data directory cannot be used
        └── StoreCorrupted the data directory is damaged; names what and where

Bad input from a peer or a client raises one of these. A broken invariant of our own is an
`assert`: the node crashes rather than carry on with a state it does not understand.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error the ledger core raises on bad input."""


class EncodeError(LedgerError, TypeError):
    """The value cannot be encoded canonically."""


class DecodeError(LedgerError, ValueError):
    """The bytes are not a canonical encoding."""


class TooLarge(DecodeError):
    """A frame, string, container or nesting depth exceeds its limit."""


class BadSignature(LedgerError, ValueError):
    """A signature, or the key it is checked against, does not verify."""


class ValidationError(LedgerError, ValueError):
    """A decoded value breaks a rule of its type. `field` names the offending field."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


class StoreError(LedgerError):
    """The store cannot be opened or used."""


class StoreCorrupted(StoreError):
    """The store's contents contradict themselves; the node must not start on them."""
