"""The portal over HTTP, in-process (`tests.api_harness`: one real node, no sockets): sign-in
by a signed challenge, sessions and their limits, error pages, and the pages' authorisation.
The browser tests (tests/test_portal_browser.py) drive the same pages in Chromium.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from contracts.engine import genesis_writes
from contracts.testing import Network, issue_body, sha
from contracts.visibility import Reader
from ledger.crypto import Domain, SigningKey
from ledger.state import MemoryState
from ledger.store import LedgerStore
from node.portal import PortalLimits
from node.portal import router as portal_router
from node.portal.routes import COOKIE
from node.portal.sessions import SessionStore, SignInRefused, session_payload
from node.portal.views import (
    GENUINE,
    REVOKED,
    SUPERSEDED,
    SURRENDERED,
    money,
    record_verdict,
    status_kind,
)
from node.reads import Reads
from node.runtime import Node
from tests.api_harness import BASE_URL, Api, run, running_api, trade
from tests.test_api_events import Stream

ORIGIN = "http://node.test"


async def challenge(api: Api) -> dict[str, str]:
    answer = await api.client.post("/portal/session/challenge")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body: dict[str, str] = answer.json()
    return body


def signed(api: Api, key: SigningKey, issued: dict[str, str], node_key: str = "") -> dict[str, str]:
    payload = session_payload(
        challenge=bytes.fromhex(issued["challenge"]),
        key=key.public_key,
        node_key=bytes.fromhex(node_key or issued["node_key"]),
    )
    return {
        "key": key.public_key.hex(),
        "challenge": issued["challenge"],
        "signature": key.sign(Domain.SESSION, api.net.chain_id, payload).hex(),
    }


async def login_path(api: Api, organisation: str) -> str:
    issued = await challenge(api)
    answer = await api.client.post(
        "/portal/session", json=signed(api, api.net.key(organisation), issued)
    )
    assert answer.status_code == 200, answer.text
    path: str = answer.json()["login_path"]
    return path


async def sign_in(api: Api, organisation: str) -> httpx.Response:
    """The whole sign-in; the answer to the confirming POST (its cookie is kept)."""
    path = await login_path(api, organisation)
    page = await api.client.get(path)
    assert page.status_code == 200
    token = path.rsplit("/", 1)[1]
    assert f'value="{token}"' in page.text
    return await api.client.post("/portal/login", data={"token": token}, headers={"origin": ORIGIN})


def test_a_member_signs_in_with_a_signed_challenge_and_gets_a_strict_cookie(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            answer = await sign_in(api, "customs")
            assert answer.status_code == 303
            assert answer.headers["location"] == "/portal/me"
            cookie = answer.headers["set-cookie"]
            for flag in ("HttpOnly", "SameSite=strict", "Path=/portal", "Max-Age=28800"):
                assert flag in cookie, cookie
            assert "Secure" not in cookie  # plain http here; set when served over https
            me = await api.client.get("/portal/me")
            assert me.status_code == 200
            assert "Signed in with key" in me.text
            assert me.headers["cache-control"] == "no-store"
            out = await api.client.post("/portal/logout", headers={"origin": ORIGIN})
            assert out.status_code == 303
            assert (await api.client.get("/portal/me")).headers["location"] == "/portal/sign-in"

    run(body())


def test_challenges_and_sign_in_links_work_once(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            issued = await challenge(api)
            request = signed(api, api.net.key("bank"), issued)
            first = await api.client.post("/portal/session", json=request)
            assert first.status_code == 200
            again = await api.client.post("/portal/session", json=request)
            assert (again.status_code, again.json()["error"]) == (401, "request_expired")

            token = first.json()["login_path"].rsplit("/", 1)[1]
            used = await api.client.post(
                "/portal/login", data={"token": token}, headers={"origin": ORIGIN}
            )
            assert used.status_code == 303
            reused = await api.client.post(
                "/portal/login", data={"token": token}, headers={"origin": ORIGIN}
            )
            assert reused.status_code == 410
            assert "tradeledger portal login" in reused.text
            assert (await api.client.get(first.json()["login_path"])).status_code == 410

    run(body())


def test_sign_in_is_refused_for_bad_signatures_unknown_keys_and_other_nodes(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            stranger = SigningKey(sha("a key nobody registered"))
            answer = await api.client.post(
                "/portal/session", json=signed(api, stranger, await challenge(api))
            )
            assert (answer.status_code, answer.json()["error"]) == (403, "key_unknown")

            issued = await challenge(api)
            forged = signed(api, api.net.key("customs"), issued)
            forged["key"] = api.net.key("bank").public_key.hex()  # signed by someone else
            answer = await api.client.post("/portal/session", json=forged)
            assert (answer.status_code, answer.json()["error"]) == (401, "bad_signature")

            issued = await challenge(api)  # signed for another node: no session here
            other = signed(api, api.net.key("customs"), issued, node_key="ab" * 32)
            answer = await api.client.post("/portal/session", json=other)
            assert (answer.status_code, answer.json()["error"]) == (401, "bad_signature")

            answer = await api.client.post("/portal/session", json={"key": "zz"})
            assert (answer.status_code, answer.json()["error"]) == (400, "bad_request")
            answer = await api.client.post("/portal/session", content=b"x" * 5000)
            assert (answer.status_code, answer.json()["error"]) == (413, "body_too_large")

    run(body())


def test_a_form_from_another_site_is_refused(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            token = (await login_path(api, "customs")).rsplit("/", 1)[1]
            answer = await api.client.post(
                "/portal/login", data={"token": token}, headers={"origin": "https://evil.test"}
            )
            assert answer.status_code == 403
            assert "What to do" in answer.text
            assert COOKIE not in answer.headers.get("set-cookie", "")

    run(body())


def test_sessions_end_when_idle_too_long_and_when_the_key_is_revoked(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            await sign_in(api, "customs")
            assert (await api.client.get("/portal/me")).status_code == 200
            api.clock.now_ms += PortalLimits().session_idle_ms + 1
            assert (await api.client.get("/portal/me")).status_code == 303

            await sign_in(api, "buyer")
            assert (await api.client.get("/portal/me")).status_code == 200
            await api.commit(
                "buyer", "member.revoke", {"key": api.net.key("buyer").public_key}, admin=True
            )
            assert (await api.client.get("/portal/me")).status_code == 303

    run(body())


def test_pages_show_each_organisation_what_it_may_see(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            await trade(api)
            documents = api.documents
            await sign_in(api, "customs")
            me = await api.client.get("/portal/me")
            listed = set(re.findall(r'data-document="([0-9a-f]{64})"', me.text))
            assert listed == {documents["certificate"], documents["decision"]}
            for name, document_id in documents.items():
                api_answer = await api.read("customs", f"/v1/documents/{document_id}")
                page = await api.client.get(f"/portal/documents/{document_id}")
                assert page.status_code == api_answer.status_code, name  # the API's rule
            bundle = await api.client.get(f"/portal/documents/{documents['certificate']}/bundle")
            assert bundle.status_code == 200
            assert bundle.json()["document_id"] == documents["certificate"]
            assert "attachment" in bundle.headers["content-disposition"]

            await sign_in(api, "bank")
            page = await api.client.get(f"/portal/documents/{documents['bill']}")
            assert page.status_code == 200  # its payment links the bill
            assert "data-linked-payments" in page.text
            certificate = await api.read("bank", f"/v1/documents/{documents['certificate']}")
            assert ("data-linked-certificates" in page.text) == (certificate.status_code == 200)

    run(body())


class CountingStore:
    """The node's store, counting each method the portal calls on it (a fake over the real
    store: every read is passed through)."""

    def __init__(self, store: LedgerStore) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


class CountingReads(Reads):
    def __init__(self, node: Node, store: CountingStore) -> None:
        super().__init__(node)
        self.store = cast(LedgerStore, store)


@dataclass(frozen=True)
class View:
    """What a member's pages show: the overview and the linked records of some documents."""

    listed: tuple[str, ...]
    older: tuple[str, ...]
    pending: tuple[tuple[str, str], ...]
    linked: tuple[tuple[str, str, tuple[str, ...]], ...]  # (document, family, linked ids)


async def portal_view(api: Api, store: CountingStore, documents: tuple[str, ...]) -> View:
    """The signed-in member's overview and document pages (the store's counts are of these
    requests alone)."""
    store.calls.clear()
    me = await api.client.get("/portal/me")
    assert me.status_code == 200
    linked: list[tuple[str, str, tuple[str, ...]]] = []
    for document_id in documents:
        page = await api.client.get(f"/portal/documents/{document_id}")
        assert page.status_code == 200
        for family, items in re.findall(r"data-linked-(\w+)>(.*?)</ul>", page.text, re.S):
            ids = tuple(re.findall(r'href="/portal/documents/([0-9a-f]{64})"', items))
            linked.append((document_id, family, ids))
    return View(
        listed=tuple(re.findall(r'data-document="([0-9a-f]{64})"', me.text)),
        older=tuple(re.findall(r'data-older="(\d+)"', me.text)),
        pending=tuple(
            re.findall(
                r'data-pending-(\w+)>\s*<strong>[^<]*</strong> <a href="/portal/documents/'
                r'([0-9a-f]{64})"',
                me.text,
            )
        ),
        linked=tuple(linked),
    )


def counting_portal(api: Api, limits: PortalLimits) -> tuple[Callable[[], Any], CountingStore]:
    """A portal over `api`'s node whose reads go through a `CountingStore`; a client of it."""
    store = CountingStore(api.node.store)
    app = FastAPI()
    app.include_router(
        portal_router(CountingReads(api.node, store), clock_ms=api.clock, limits=limits)
    )

    def client() -> Any:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)

    return client, store


def test_member_pages_read_bounded_state_and_are_the_same_after_a_restart(
    tmp_path: Path,
) -> None:
    """The overview and the linked records come from state the contracts keep (the party
    and pending indexes, each document's history): the pages read no block, read as much
    after more unrelated blocks as before, and show the same after the node restarts."""
    limits = PortalLimits(documents_listed_max=2)
    views: dict[str, list[tuple[View, Counter[str]]]] = {"seller": [], "buyer": []}
    ids: dict[str, str] = {}
    heights: list[int] = []

    async def look(api: Api) -> None:
        client, store = counting_portal(api, limits)
        pages = {
            "seller": (ids["bill"], ids["certificate"]),
            "buyer": (ids["bill"],),
        }
        async with client() as http:
            member_api = replace(api, client=http)
            for organisation, documents in pages.items():
                await sign_in(member_api, organisation)
                view = await portal_view(member_api, store, documents)
                views[organisation].append((view, Counter(store.calls)))

    async def first_run() -> None:
        async with running_api(tmp_path) as api:
            await trade(api)
            ids.update(api.documents)
            offer = {"document": ids["bill"], "recipient": "buyer", "offer_expiry_height": 10_000}
            await api.commit("seller", "bl.transfer", offer)
            await look(api)
            for number in range(12):  # documents that neither seller nor buyer is party of
                body = issue_body(f"BL-OTHER-{number}", "seller2", to_order=True)
                await api.commit("carrier", "bl.issue", body)
            await look(api)
            heights.append(api.node.store.height)

    async def after_restart() -> None:
        async with running_api(tmp_path) as api:
            assert api.node.store.height == heights[0]  # the same chain, reopened
            await look(api)

    run(first_run())
    run(after_restart())
    seller, buyer = views["seller"], views["buyer"]
    first = seller[0][0]
    assert first.listed == (ids["decision"], ids["certificate"])  # the newest two
    assert first.older == ("1",)  # the bill
    assert (ids["bill"], "certificates", (ids["certificate"],)) in first.linked
    assert (ids["certificate"], "bills", (ids["bill"],)) in first.linked
    assert (ids["certificate"], "customs", (ids["decision"],)) in first.linked
    assert buyer[0][0].pending == (("offer", ids["bill"]),)
    for looks in (seller, buyer):
        assert len(looks) == 3
        assert looks[0] == looks[1] == looks[2]  # same pages, same reads, before and after
        calls = looks[0][1]
        assert not {"block", "block_bytes", "block_writes", "commit"} & set(calls), calls


def test_error_pages_say_what_to_do(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            for target, status in (
                ("/portal/verify/file/not-a-hash", 400),
                ("/portal/nothing-here", 404),
                ("/portal/documents/" + "ab" * 32, 401),
                ("/portal/verify/reference?family=bl&issuer=carrier&reference=BL-1", 401),
                ("/portal/verify/link?link=https://example.test/", 400),
                ("/portal/login/" + "cd" * 32, 410),
                ("/portal/sheet/" + "ef" * 32, 404),
            ):
                answer = await api.client.get(target)
                assert answer.status_code == status, target
                assert answer.headers["content-type"].startswith("text/html"), target
                assert "What to do:" in answer.text, target
            await sign_in(api, "customs")
            answer = await api.client.get("/portal/documents/" + "ab" * 32)
            assert answer.status_code == 404
            answer = await api.client.get(
                "/portal/verify/reference?family=bl&issuer=carrier&reference=NONE"
            )
            assert answer.status_code == 404
            assert "What to do:" in answer.text

    run(body())


def test_public_pages_redirects_and_headers(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            assert (await api.client.get("/")).headers["location"] == "/portal"
            home = await api.client.get("/portal")
            assert home.status_code == 200
            assert "script-src 'self'" in home.headers["content-security-policy"]
            assert home.headers["x-frame-options"] == "DENY"
            unknown = hashlib.sha256(b"nothing").hexdigest()
            verdict = await api.client.get(f"/portal/verify/file/{unknown}")
            assert verdict.status_code == 200
            assert 'data-verdict="not-found"' in verdict.text
            typed = await api.client.get(f"/portal/verify/file?sha256={unknown.upper()}")
            assert typed.headers["location"] == f"/portal/verify/file/{unknown}"
            link = await api.client.get(
                f"/portal/verify/link?link=http://other.node:8080/portal/verify/file/{unknown}"
            )
            assert link.headers["location"] == f"/portal/verify/file/{unknown}"
            for name in ("portal.css", "portal.js"):
                assert (await api.client.get(f"/portal/static/{name}")).status_code == 200
            assert (await api.client.get("/portal/static/../api.py")).status_code == 404
            paths = (await api.client.get("/openapi.json")).json()["paths"]
            assert not [path for path in paths if path == "/" or path.startswith("/portal")]

    run(body())


def test_live_views_are_bounded_and_stream_blocks(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            app = FastAPI()
            app.include_router(
                portal_router(
                    Reads(api.node), clock_ms=api.clock, limits=PortalLimits(streams_max=1)
                )
            )
            first = Stream(app, "/portal/ledger/events", {})
            await first.read_until(lambda event: event[0] == ": subscribed")
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=ORIGIN
            ) as client:
                second = await client.get("/portal/ledger/events")
            assert (first.status, second.status_code) == (200, 429)
            await api.commit("carrier", "bl.issue", issue_body("BL-LIVE", "seller", to_order=True))
            seen = await first.read_until(lambda event: event[0] == "block")
            block = seen[-1][1]
            assert block["height"] == api.node.store.height
            assert [v["signed"] for v in block["validators"]] == [block["validators"][0]["window"]]
            await first.close()
            assert len(api.node.events) == 0

    run(body())


# --- sessions and verdicts without a node --------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now_ms = 1_000_000

    def __call__(self) -> int:
        return self.now_ms


def test_the_session_store_is_bounded_and_expires_everything() -> None:
    net = Network()
    state = MemoryState(genesis_writes(net.genesis))
    clock = _Clock()
    limits = PortalLimits(challenges_max=2, tickets_max=2, sessions_max=2)
    store = SessionStore(
        chain_id=net.chain_id, node_key=b"\x01" * 32, clock_ms=clock, limits=limits
    )

    def redeem(organisation: str) -> str:
        challenge, _ = store.issue_challenge()
        key = net.key(organisation)
        payload = session_payload(challenge=challenge, key=key.public_key, node_key=b"\x01" * 32)
        token, ticket = store.redeem_challenge(
            state,
            key=key.public_key,
            challenge=challenge,
            signature=key.sign(Domain.SESSION, net.chain_id, payload),
        )
        roles = frozenset(net.organisations[organisation])
        assert ticket.reader == Reader(organisation=organisation, roles=roles, key=key.public_key)
        return token

    # a challenge expires
    challenge, _ = store.issue_challenge()
    clock.now_ms += limits.challenge_ttl_ms + 1
    with pytest.raises(SignInRefused, match="expired"):
        store.redeem_challenge(state, key=b"\x00" * 32, challenge=challenge, signature=b"")

    # a ticket expires; sessions are bounded (the oldest is forgotten) and end when idle
    late = redeem("customs")
    clock.now_ms += limits.ticket_ttl_ms + 1
    assert store.open_session(state, late) is None
    opened = [store.open_session(state, redeem(org)) for org in ("customs", "bank", "buyer")]
    tokens = [pair[0] for pair in opened if pair is not None]
    assert len(tokens) == 3
    assert len(store) == 2
    assert store.session(state, tokens[0]) is None  # forgotten: the store holds two
    assert store.session(state, tokens[2]) is not None
    clock.now_ms += limits.session_idle_ms + 1
    assert store.session(state, tokens[2]) is None


def test_every_status_has_a_verdict_in_words() -> None:
    cases = {
        ("bl", "issued"): GENUINE,
        ("bl", "transfer_pending"): GENUINE,
        ("bl", "surrendered_for_delivery"): SURRENDERED,
        ("bl", "surrendered_for_amendment"): SURRENDERED,
        ("bl", "amended"): SUPERSEDED,
        ("bl", "voided"): REVOKED,
        ("coo", "issued"): GENUINE,
        ("coo", "revoked"): REVOKED,
        ("pay", "attested"): GENUINE,
        ("pay", "confirmed"): GENUINE,
        ("pay", "corrected"): SUPERSEDED,
        ("pay", "revoked"): REVOKED,
        ("customs", "recorded"): GENUINE,
    }
    for (family, status), kind in cases.items():
        assert status_kind(family, status) == kind
        verdict = record_verdict(family=family, record_type="x", status=status, issuer="Org")
        assert verdict.kind == kind
        assert verdict.advice
    assert money(4_850_000, "EUR") == "EUR 48,500.00"
    assert money(1500, "JPY") == "JPY 1,500"
    assert money(-1, "BHD") == "BHD -0.001"
