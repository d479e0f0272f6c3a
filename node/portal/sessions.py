"""Portal sign-in: a member proves its key by signing a challenge the node issued; the node
then keeps a server-side session for the browser.

    1. `tradeledger portal login` asks the node for a challenge (32 random bytes, single use,
       valid `challenge_ttl_ms`).
    2. It signs ``sign_bytes(Domain.SESSION, chain_id, session_payload(challenge, key,
       node_key))`` with the member key (unlocked on the member's own machine) and sends key,
       challenge and signature back. The node checks the signature and that the key is a
       registered, unrevoked key of an organisation that is not suspended, and answers a
       one-time sign-in link (a ticket, valid `ticket_ttl_ms`).
    3. The browser opens the link; the member confirms with a button (a POST, so a link
       previewer that fetches the URL does not use it up), and the node exchanges the ticket
       for a session cookie (HttpOnly, SameSite=Strict, Path=/portal).

The private key never reaches a browser or the node. The payload binds the node's key, so a
signature made for one node's challenge opens no session on another (sessions live in one
node's memory). Every store here is bounded (`PortalLimits`): when full, the oldest entry is
forgotten (a member whose challenge or ticket was forgotten runs the command again). A
session ends at the first of: its idle time, its lifetime, sign-out, the key's revocation or
the organisation's suspension (checked on every request), or the node's restart.

Only hashes of tickets and session tokens are kept, so a memory dump shows no usable cookie.
The clock and the source of random bytes are injected; tests move time instead of sleeping.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from contracts.identity import resolve_sender
from contracts.visibility import Reader
from ledger import crypto
from ledger.codec import encode
from ledger.codes import Code
from ledger.crypto import Domain
from ledger.errors import BadSignature
from ledger.state import StateView

CHALLENGE_SIZE_BYTES = 32
TOKEN_SIZE_BYTES = 32  # tickets and session tokens: 256 bits from `secrets`


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalLimits:
    challenges_max: int = 1_000  # outstanding sign-in challenges
    challenge_ttl_ms: int = 60_000
    tickets_max: int = 1_000  # sign-in links not yet opened
    ticket_ttl_ms: int = 120_000
    sessions_max: int = 1_000  # signed-in browsers
    session_idle_ms: int = 30 * 60_000  # a session unused this long ends
    session_lifetime_ms: int = 8 * 60 * 60_000  # and every session ends after this long
    streams_max: int = 16  # live ledger views open at once (the API keeps the rest of the hub)
    stream_duration_s: float = 3_600.0  # a live view's stream is closed (and reconnects) after
    keepalive_s: float = 15.0  # a comment on an idle stream
    recent_blocks: int = 10  # blocks listed on the ledger view
    documents_listed_max: int = 200  # documents listed on a member's overview (newest first)
    pending_listed_max: int = 200  # documents waiting for the member listed on its overview
    request_body_bytes_max: int = 4 * 1024  # a sign-in request or form
    request_body_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) <= 0:
                raise ValueError(f"PortalLimits.{name} must be > 0")


class SignInRefused(Exception):
    """A sign-in step was refused: `code` (an API error code), `detail` in words."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def session_payload(*, challenge: bytes, key: bytes, node_key: bytes) -> bytes:
    """The canonical payload a sign-in signature covers (before `sign_bytes`)."""
    return encode({"challenge": challenge, "key": key, "node_key": node_key})


def sign_session_challenge(
    signing_key: crypto.SigningKey, chain_id: str, *, challenge: bytes, node_key: bytes
) -> bytes:
    """What `tradeledger portal login` sends: the member's signature over the challenge."""
    payload = session_payload(challenge=challenge, key=signing_key.public_key, node_key=node_key)
    return signing_key.sign(Domain.SESSION, chain_id, payload)


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """A signed-in browser: who it is, and until when."""

    reader: Reader
    key_name: str
    created_ms: int
    last_seen_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticket:
    """A one-time sign-in link, before the browser exchanged it for a session."""

    reader: Reader
    key_name: str
    expires_ms: int


T = TypeVar("T")


class _Bounded(Generic[T]):
    """A dict of at most `entries_max` items; adding past that forgets the oldest."""

    def __init__(self, entries_max: int) -> None:
        self.entries_max = entries_max
        self._items: OrderedDict[bytes, T] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: bytes, value: T) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.entries_max:
            self._items.popitem(last=False)

    def get(self, key: bytes) -> T | None:
        return self._items.get(key)

    def pop(self, key: bytes) -> T | None:
        return self._items.pop(key, None)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


class SessionStore:
    """Challenges, sign-in tickets and sessions of one node, all in memory and bounded."""

    def __init__(
        self,
        *,
        chain_id: str,
        node_key: bytes,
        clock_ms: Callable[[], int],
        limits: PortalLimits,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self.chain_id = chain_id
        self.node_key = node_key
        self.clock_ms = clock_ms
        self.limits = limits
        self._random_bytes = random_bytes
        self._challenges: _Bounded[int] = _Bounded(limits.challenges_max)  # -> expires_ms
        self._tickets: _Bounded[Ticket] = _Bounded(limits.tickets_max)
        self._sessions: _Bounded[Session] = _Bounded(limits.sessions_max)

    def __len__(self) -> int:
        return len(self._sessions)

    def issue_challenge(self) -> tuple[bytes, int]:
        """A fresh challenge and the time (ms) it expires."""
        challenge = self._random_bytes(CHALLENGE_SIZE_BYTES)
        expires_ms = self.clock_ms() + self.limits.challenge_ttl_ms
        self._challenges.put(challenge, expires_ms)
        return challenge, expires_ms

    def redeem_challenge(
        self, view: StateView, *, key: bytes, challenge: bytes, signature: bytes
    ) -> tuple[str, Ticket]:
        """Check a signed challenge; the one-time sign-in token and its ticket. The
        challenge is used up whatever the outcome (no second try with one challenge)."""
        expires_ms = self._challenges.pop(challenge)
        if expires_ms is None or expires_ms < self.clock_ms():
            raise SignInRefused(
                401,
                "request_expired",
                "this challenge is unknown, used or expired; run `tradeledger portal login` again",
            )
        payload = session_payload(challenge=challenge, key=key, node_key=self.node_key)
        try:
            crypto.verify(key, Domain.SESSION, self.chain_id, payload, signature)
        except BadSignature:
            raise SignInRefused(
                401,
                "bad_signature",
                f"the signature does not verify for this key, challenge and node on chain "
                f"{self.chain_id!r}",
            ) from None
        sender = resolve_sender(view, key)
        if isinstance(sender, Code):
            raise SignInRefused(403, sender.value, sender.description)
        reader = Reader(
            organisation=sender.org, roles=frozenset(sender.organisation.roles), key=key
        )
        token = self._random_bytes(TOKEN_SIZE_BYTES).hex()
        ticket = Ticket(
            reader=reader,
            key_name=sender.key.name,
            expires_ms=self.clock_ms() + self.limits.ticket_ttl_ms,
        )
        self._tickets.put(_digest(token), ticket)
        return token, ticket

    def ticket(self, token: str) -> Ticket | None:
        """The unexpired ticket of a sign-in link, without using it up."""
        ticket = self._tickets.get(_digest(token))
        if ticket is None or ticket.expires_ms < self.clock_ms():
            return None
        return ticket

    def open_session(self, view: StateView, token: str) -> tuple[str, Session] | None:
        """Use up a sign-in link: a new session token and its session, or None if the link
        is unknown, used or expired, or its key may no longer sign."""
        ticket = self._tickets.pop(_digest(token))
        if ticket is None or ticket.expires_ms < self.clock_ms():
            return None
        if isinstance(resolve_sender(view, ticket.reader.key), Code):
            return None
        now_ms = self.clock_ms()
        session_token = self._random_bytes(TOKEN_SIZE_BYTES).hex()
        session = Session(
            reader=ticket.reader, key_name=ticket.key_name, created_ms=now_ms, last_seen_ms=now_ms
        )
        self._sessions.put(_digest(session_token), session)
        return session_token, session

    def session(self, view: StateView, token: str) -> Session | None:
        """The live session of a cookie (and mark it used), or None: unknown, idle too long,
        past its lifetime, or its key revoked or organisation suspended since."""
        digest = _digest(token)
        session = self._sessions.get(digest)
        if session is None:
            return None
        now_ms = self.clock_ms()
        if (
            now_ms - session.last_seen_ms > self.limits.session_idle_ms
            or now_ms - session.created_ms > self.limits.session_lifetime_ms
            or isinstance(resolve_sender(view, session.reader.key), Code)
        ):
            self._sessions.pop(digest)
            return None
        touched = replace(session, last_seen_ms=now_ms)
        self._sessions.put(digest, touched)
        return touched

    def close(self, token: str) -> None:
        self._sessions.pop(_digest(token))


__all__ = [
    "CHALLENGE_SIZE_BYTES",
    "PortalLimits",
    "Session",
    "SessionStore",
    "SignInRefused",
    "Ticket",
    "session_payload",
    "sign_session_challenge",
]
