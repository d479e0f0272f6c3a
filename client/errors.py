"""The client's exceptions: one tree, so a caller can catch exactly what it can handle.

    ClientError                  base of everything the SDK raises on purpose
    ├── InvalidArgument          a builder or query argument is malformed (names the field);
    │                            nothing was signed or sent (also a ValueError)
    ├── KeyRequired              the call signs (a transaction or a read) and the Client has no key
    ├── TransportError           the node could not be reached, or did not answer in time
    ├── ProtocolError            the node answered, but not as docs/api.md says it must
    ├── ApiError                 the node refused the request: `status`, `code`, `detail`, `tx`
    │   └── CommitTimeout        408: waiting for commit expired; the transaction is still pending
    ├── TransactionRejected      committed with a result code other than ``ok`` (the ledger
    │                            recorded the refusal; the nonce is used up)
    └── BundleInvalid            an evidence bundle does not prove what it claims; `.report`
                                 names every entry and field that failed

`ApiError.code` is a `ledger.codes.Code` value (a transaction refusal at admission) or one of
the API's own codes (`bad_request`, `not_found`, `unauthenticated`, `forbidden`, ...);
`description` gives the one line a person should read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger.codes import Code

if TYPE_CHECKING:
    from client.verify import BundleReport

API_CODE_DESCRIPTIONS = {
    "bad_request": "the request is malformed",
    "not_found": "nothing has this id on the ledger",
    "body_too_large": "the request body is too large",
    "unsupported_media_type": "the node does not accept this content type",
    "timeout": "not committed in time; the transaction is still pending",
    "unauthenticated": "this read must be signed by a member key",
    "bad_signature": "the request signature does not verify",
    "request_expired": "the request timestamp is too far from the node's clock",
    "request_replayed": "the node has already seen this signed request",
    "key_unknown": "the key is not a registered member or admin key",
    "key_revoked": "the key was revoked",
    "forbidden": "your organisation may not see this",
}


def describe_code(code: str) -> str:
    """The one-line meaning of a result code or API error code ('' if unknown)."""
    try:
        return Code.from_value(code).description
    except ValueError:
        return API_CODE_DESCRIPTIONS.get(code, "")


class ClientError(Exception):
    """Base of every error the client raises on purpose."""


class InvalidArgument(ClientError, ValueError):
    """An argument is malformed; `field` names it. Nothing was signed or sent."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


class KeyRequired(ClientError):
    """The operation needs a signing key and the Client was created without one."""


class TransportError(ClientError):
    """The node could not be reached or did not answer in time."""


class ProtocolError(ClientError):
    """The node's answer does not follow the API contract (docs/api.md)."""


class ApiError(ClientError):
    """The node refused the request with a documented error body."""

    def __init__(self, status: int, code: str, detail: str, tx: str | None = None) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.tx = tx
        super().__init__(self._message())

    @property
    def description(self) -> str:
        return describe_code(self.code)

    def _message(self) -> str:
        meaning = self.description
        text = f"{self.code} ({self.status})"
        if meaning:
            text += f": {meaning}"
        if self.detail and self.detail != meaning:
            text += f" [{self.detail}]"
        if self.tx:
            text += f" tx {self.tx}"
        return text


class CommitTimeout(ApiError):
    """Waiting for commit expired; the transaction is still pending and may yet commit."""


class TransactionRejected(ClientError):
    """The transaction was committed with a refusal code: the ledger recorded it, nothing
    else changed, and its nonce is used up."""

    def __init__(self, tx: str, code: str, height: int | None) -> None:
        self.tx = tx
        self.code = code
        self.height = height
        meaning = describe_code(code)
        where = f" at height {height}" if height is not None else ""
        super().__init__(
            f"transaction {tx} was refused{where}: {code}" + (f" ({meaning})" if meaning else "")
        )


class BundleInvalid(ClientError):
    """An evidence bundle failed offline verification; `report.problems` says where."""

    def __init__(self, report: BundleReport) -> None:
        self.report = report
        problems = report.problems
        first = str(problems[0]) if problems else "no problem recorded"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"the bundle does not verify: {first}{more}")


__all__ = [
    "ApiError",
    "BundleInvalid",
    "ClientError",
    "CommitTimeout",
    "InvalidArgument",
    "KeyRequired",
    "ProtocolError",
    "TransactionRejected",
    "TransportError",
    "describe_code",
]
