"""Signed reads: who is asking, checked from three headers (see docs/api.md, "Signed reads").

    X-TL-Key:        <member public key, 64 hex digits>
    X-TL-Timestamp:  <ms since the Unix epoch, decimal>
    X-TL-Signature:  <Ed25519 signature, 128 hex digits>

The signature covers ``sign_bytes(Domain.READ_REQUEST, chain_id, payload)`` with

    payload = encode({"body_sha256": sha256(body), "key": key, "method": method,
                      "path": <request target as sent: path and "?query">, "timestamp_ms": ts})

(`key` and `body_sha256` as bytes). Checked in this order, the first failure answers:

    unauthenticated (401)   a header missing or malformed
    request_expired (401)   timestamp more than CLOCK_SKEW_MS_MAX from the node's clock, or too
                            old to be checked for replay (see `ReplayCache`)
    bad_signature (401)     the signature does not verify for this key, chain and request
    request_replayed (401)  this exact signature was accepted before
    key_unknown, key_revoked, organisation_suspended (403)

The clock is injected (`clock_ms`), so tests move time instead of sleeping.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from contracts.identity import resolve_sender
from contracts.visibility import Reader
from ledger import crypto
from ledger.codes import Code
from ledger.crypto import Domain
from ledger.errors import BadSignature
from ledger.signed_read import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    read_request_payload,
    sign_read_request,
)
from ledger.state import StateView
from node.reads import ApiError

CLOCK_SKEW_MS_MAX = 60_000  # a request's timestamp may differ this much from the node's clock
# Accepted signatures remembered to refuse replays. Each stays until its timestamp leaves the
# window (at most 2 * CLOCK_SKEW_MS_MAX after it was accepted). When more requests than this
# arrive within that time, the oldest is forgotten and every request at least as old is
# refused as `request_expired`: a replay is never accepted, even under a flood.
REPLAY_CACHE_ENTRIES_MAX = 100_000
TIMESTAMP_DIGITS_MAX = 15


def request_target(raw_path: bytes, query_string: bytes) -> str:
    """The request target as the client sent it: percent-encoded path, then ``?query``."""
    target = raw_path.decode("latin-1")
    if query_string:
        target += "?" + query_string.decode("latin-1")
    return target


class ReplayCache:
    """Signatures already accepted, each with its request timestamp, bounded in count.

    `floor_ms` is the newest timestamp ever forgotten: a request at or below it could be a
    replay of something forgotten, so it is refused.
    """

    def __init__(self, entries_max: int = REPLAY_CACHE_ENTRIES_MAX) -> None:
        if entries_max < 1:
            raise ValueError("ReplayCache.entries_max must be >= 1")
        self.entries_max = entries_max
        self.floor_ms = -1
        self._timestamps: dict[bytes, int] = {}
        self._by_age: list[tuple[int, bytes]] = []  # heap: oldest timestamp first

    def __len__(self) -> int:
        return len(self._timestamps)

    def forget_before(self, timestamp_ms: int) -> None:
        """Drop entries older than `timestamp_ms` (they can no longer pass the clock check)."""
        while self._by_age and self._by_age[0][0] < timestamp_ms:
            self._forget_oldest()

    def seen(self, signature: bytes) -> bool:
        return signature in self._timestamps

    def remember(self, signature: bytes, timestamp_ms: int) -> None:
        assert signature not in self._timestamps
        self._timestamps[signature] = timestamp_ms
        heapq.heappush(self._by_age, (timestamp_ms, signature))
        while len(self._timestamps) > self.entries_max:
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        timestamp_ms, signature = heapq.heappop(self._by_age)
        del self._timestamps[signature]
        self.floor_ms = max(self.floor_ms, timestamp_ms)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedHeaders:
    key: bytes
    timestamp_ms: int
    signature: bytes


def parse_headers(headers: Mapping[str, str]) -> SignedHeaders:
    """The three signed-read headers, or ApiError(401, unauthenticated) naming what is wrong."""
    values = {}
    for name in (HEADER_KEY, HEADER_TIMESTAMP, HEADER_SIGNATURE):
        value = headers.get(name)
        if value is None:
            raise _unauthenticated(f"the {name} header is missing (this read must be signed)")
        values[name] = value.strip()
    timestamp = values[HEADER_TIMESTAMP]
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > TIMESTAMP_DIGITS_MAX:
        raise _unauthenticated(f"{HEADER_TIMESTAMP} must be milliseconds since the epoch")
    return SignedHeaders(
        key=_hex(values[HEADER_KEY], HEADER_KEY, crypto.PUBLIC_KEY_SIZE_BYTES),
        timestamp_ms=int(timestamp),
        signature=_hex(values[HEADER_SIGNATURE], HEADER_SIGNATURE, crypto.SIGNATURE_SIZE_BYTES),
    )


class ReadAuthenticator:
    """Checks signed reads against the committed state; keeps the replay cache."""

    def __init__(
        self,
        chain_id: str,
        clock_ms: Callable[[], int],
        *,
        clock_skew_ms_max: int = CLOCK_SKEW_MS_MAX,
        replay_cache: ReplayCache | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.clock_ms = clock_ms
        self.clock_skew_ms_max = clock_skew_ms_max
        self.replay_cache = ReplayCache() if replay_cache is None else replay_cache

    def authenticate(
        self,
        view: StateView,
        *,
        method: str,
        target: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> Reader:
        """The reader this request is signed by, or ApiError (401/403) saying why not."""
        signed = parse_headers(headers)
        now_ms = self.clock_ms()
        skew_ms = signed.timestamp_ms - now_ms
        if abs(skew_ms) > self.clock_skew_ms_max:
            raise ApiError(
                401,
                "request_expired",
                f"timestamp is {skew_ms} ms from the node's clock; "
                f"at most ±{self.clock_skew_ms_max} ms is accepted",
            )
        cache = self.replay_cache
        cache.forget_before(now_ms - self.clock_skew_ms_max)
        payload = read_request_payload(
            key=signed.key,
            method=method,
            target=target,
            body=body,
            timestamp_ms=signed.timestamp_ms,
        )
        try:
            crypto.verify(signed.key, Domain.READ_REQUEST, self.chain_id, payload, signed.signature)
        except BadSignature as exc:
            raise ApiError(
                401,
                "bad_signature",
                f"{exc}: sign method, target {target!r}, body hash, key and timestamp "
                f"for chain {self.chain_id!r}",
            ) from None
        if cache.seen(signed.signature):
            raise ApiError(401, "request_replayed", "this signed request was already answered")
        if signed.timestamp_ms <= cache.floor_ms:
            raise ApiError(
                401,
                "request_expired",
                "the timestamp is too old for the node to rule out a replay; sign again",
            )
        sender = resolve_sender(view, signed.key)
        if isinstance(sender, Code):
            raise ApiError(403, sender.value, sender.description)
        cache.remember(signed.signature, signed.timestamp_ms)
        return Reader(
            organisation=sender.org, roles=frozenset(sender.organisation.roles), key=signed.key
        )


def _hex(text: str, name: str, size: int) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != size:
        raise _unauthenticated(f"{name} must be {size * 2} hex digits")
    return value


def _unauthenticated(detail: str) -> ApiError:
    return ApiError(401, "unauthenticated", detail)


__all__ = [
    "CLOCK_SKEW_MS_MAX",
    "HEADER_KEY",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "REPLAY_CACHE_ENTRIES_MAX",
    "ReadAuthenticator",
    "ReplayCache",
    "SignedHeaders",
    "parse_headers",
    "read_request_payload",
    "request_target",
    "sign_read_request",
]
