"""Signed reads: what a member signs to read from a node, shared by the node and the client.

A read request carries three headers; the signature covers
``sign_bytes(Domain.READ_REQUEST, chain_id, read_request_payload(...))``, where the payload
binds the key, the method, the request target exactly as sent (path and query), the SHA-256
of the body and a timestamp (docs/api.md, "Signed reads").
"""

from __future__ import annotations

from ledger import crypto
from ledger.codec import encode
from ledger.crypto import Domain, SigningKey

HEADER_KEY = "X-TL-Key"
HEADER_TIMESTAMP = "X-TL-Timestamp"
HEADER_SIGNATURE = "X-TL-Signature"


def read_request_payload(
    *, key: bytes, method: str, target: str, body: bytes, timestamp_ms: int
) -> bytes:
    """The canonical payload a read request's signature covers (before `sign_bytes`)."""
    return encode(
        {
            "body_sha256": crypto.sha256(body),
            "key": key,
            "method": method,
            "path": target,
            "timestamp_ms": timestamp_ms,
        }
    )


def sign_read_request(
    signing_key: SigningKey,
    chain_id: str,
    *,
    method: str,
    target: str,
    timestamp_ms: int,
    body: bytes = b"",
) -> dict[str, str]:
    """The three headers of a signed read."""
    payload = read_request_payload(
        key=signing_key.public_key,
        method=method,
        target=target,
        body=body,
        timestamp_ms=timestamp_ms,
    )
    signature = signing_key.sign(Domain.READ_REQUEST, chain_id, payload)
    return {
        HEADER_KEY: signing_key.public_key.hex(),
        HEADER_TIMESTAMP: str(timestamp_ms),
        HEADER_SIGNATURE: signature.hex(),
    }
