"""Signed reads and who may read what, against a real node through the API.

Every organisation tries every read of every scenario document (record, history, bundle,
inclusion proof, lookup by reference) and every organisation's member list: what the rules
of contracts/visibility.py allow answers 200, everything else 403 `forbidden` (404 for a
lookup by a guessable reference) with no document content in the body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from client.verify import verify_bundle
from contracts.testing import Network, seeded_key
from contracts.visibility import Reader
from ledger.crypto import Domain
from ledger.types import Role, Transaction
from node.auth import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    ReadAuthenticator,
    ReplayCache,
    read_request_payload,
    sign_read_request,
)
from node.reads import ApiError
from tests.api_harness import ORGANISATIONS, SEES, START_MS, Api, run, running_api, trade

STATUS = "/v1/organisations"


def test_a_valid_signed_read_names_the_reader(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            answer = await api.read("buyer", STATUS)
            assert answer.status_code == 200, answer.text
            admin = await api.read(api.net.key("buyer", admin=True), STATUS)
            assert admin.status_code == 200

    run(body())


@pytest.mark.parametrize("missing", [HEADER_KEY, HEADER_TIMESTAMP, HEADER_SIGNATURE])
def test_missing_headers_are_unauthenticated(tmp_path: Path, missing: str) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            headers = api.sign("buyer", STATUS)
            del headers[missing]
            answer = await api.client.get(STATUS, headers=headers)
            assert answer.status_code == 401
            assert answer.json()["error"] == "unauthenticated"
            assert missing in answer.json()["detail"]

    run(body())


def test_malformed_headers_are_unauthenticated(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            for name, value in (
                (HEADER_KEY, "zz"),
                (HEADER_KEY, "ab" * 31),
                (HEADER_TIMESTAMP, "-5"),
                (HEADER_TIMESTAMP, "1e12"),
                (HEADER_TIMESTAMP, "9" * 40),
                (HEADER_SIGNATURE, "00" * 63),
            ):
                headers = api.sign("buyer", STATUS) | {name: value}
                answer = await api.client.get(STATUS, headers=headers)
                assert answer.status_code == 401, (name, value)
                assert answer.json()["error"] == "unauthenticated", (name, value)

    run(body())


def test_signatures_that_do_not_cover_this_request_are_refused(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            wrong_path = api.sign("buyer", "/v1/organisations/buyer/members")
            other_query = api.sign("buyer", f"{STATUS}?a=1")
            other_method = api.sign("buyer", STATUS, method="POST")
            with_body = api.sign("buyer", STATUS, body=b"x")
            impostor = api.sign("buyer", STATUS) | {
                HEADER_KEY: api.net.key("seller").public_key.hex()
            }
            api.clock.now_ms += 1
            other_chain = sign_read_request(
                api.net.key("buyer"),
                "another-chain",
                method="GET",
                target=STATUS,
                timestamp_ms=api.clock.now_ms,
            )
            for headers in (
                wrong_path,
                other_query,
                other_method,
                with_body,
                impostor,
                other_chain,
            ):
                answer = await api.client.get(STATUS, headers=headers)
                assert answer.status_code == 401
                assert answer.json()["error"] == "bad_signature"
            signed_body = api.sign("buyer", STATUS, body=b"{}")
            sent = await api.client.request("GET", STATUS, content=b"{}", headers=signed_body)
            assert sent.status_code == 200  # the body hash is covered, and matches

    run(body())


def test_timestamps_outside_the_window_are_expired(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            now = api.clock.now_ms
            for skew_ms, status in ((-60_001, 401), (60_001, 401), (-60_000, 200), (60_000, 200)):
                headers = api.sign("buyer", STATUS, timestamp_ms=now + skew_ms)
                api.clock.now_ms = now  # sign() moved it
                answer = await api.client.get(STATUS, headers=headers)
                assert answer.status_code == status, skew_ms
                if status == 401:
                    assert answer.json()["error"] == "request_expired"

    run(body())


def test_a_replayed_request_is_refused(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            headers = api.sign("buyer", STATUS)
            assert (await api.client.get(STATUS, headers=headers)).status_code == 200
            again = await api.client.get(STATUS, headers=headers)
            assert again.status_code == 401
            assert again.json()["error"] == "request_replayed"
            api.clock.now_ms += 61_000  # the window has passed: expired, never accepted again
            late = await api.client.get(STATUS, headers=headers)
            assert late.json()["error"] == "request_expired"

    run(body())


def test_unknown_and_revoked_keys_are_forbidden(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            unknown = await api.read(seeded_key("nobody"), STATUS)
            assert unknown.status_code == 403
            assert unknown.json()["error"] == "key_unknown"
            clerk = api.net.key("buyer")
            await api.commit("buyer", "member.revoke", {"key": clerk.public_key}, admin=True)
            revoked = await api.read(clerk, STATUS)
            assert revoked.status_code == 403
            assert revoked.json()["error"] == "key_revoked"

    run(body())


def test_the_replay_cache_is_bounded_and_never_lets_a_replay_through() -> None:
    net = Network()
    clock_ms = START_MS
    authenticator = ReadAuthenticator(
        net.chain_id, lambda: clock_ms, replay_cache=ReplayCache(entries_max=2)
    )
    key = net.key("buyer")

    def request(timestamp_ms: int) -> tuple[dict[str, str], Reader | str]:
        headers = sign_read_request(
            key, net.chain_id, method="GET", target=STATUS, timestamp_ms=timestamp_ms
        )
        return headers, attempt(headers)

    def attempt(headers: dict[str, str]) -> Reader | str:
        try:
            return authenticator.authenticate(
                net.state, method="GET", target=STATUS, body=b"", headers=headers
            )
        except ApiError as exc:
            return exc.error

    first, reader = request(START_MS - 3)
    assert reader == Reader(organisation="buyer", roles=frozenset({Role.BUYER}), key=key.public_key)
    request(START_MS - 2)
    request(START_MS - 1)  # the cache holds two: the oldest (START_MS - 3) is forgotten
    assert len(authenticator.replay_cache) == 2
    assert authenticator.replay_cache.floor_ms == START_MS - 3
    assert attempt(first) == "request_expired"  # a replay of the forgotten one: refused
    assert request(START_MS - 3)[1] == "request_expired"
    assert isinstance(request(START_MS)[1], Reader)
    payload = read_request_payload(
        key=key.public_key, method="GET", target=STATUS, body=b"", timestamp_ms=START_MS
    )
    headers = sign_read_request(
        key, net.chain_id, method="GET", target=STATUS, timestamp_ms=START_MS
    )
    assert headers[HEADER_SIGNATURE] == key.sign(Domain.READ_REQUEST, net.chain_id, payload).hex()


# --- the authorisation matrix -----------------------------------------------------------------

REFERENCES = {
    "bill": ("bl", "carrier", "BL-1"),
    "certificate": ("coo", "chamber", "COO-1"),
    "payment": ("pay", "bank", "PAY-1"),
    "decision": ("customs", "customs", "DEC-1"),
}
SECRETS = ("BL-1", "COO-1", "PAY-1", "DEC-1", "NLRTM", "Cheese", "Seller BV", "INV-1")


def test_every_organisation_reads_only_what_it_may(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            await trade(api)
            for name, document_id in api.documents.items():
                for organisation in ORGANISATIONS:
                    await check_document_reads(api, name, document_id, organisation)

    run(body())


async def check_document_reads(api: Api, name: str, document_id: str, organisation: str) -> None:
    allowed = organisation in SEES[name]
    family, issuer, reference = REFERENCES[name]
    targets = (
        f"/v1/documents/{document_id}",
        f"/v1/documents/{document_id}/history",
        f"/v1/documents/{document_id}/bundle",
        f"/v1/proofs/inclusion?tx={document_id}",
    )
    for target in targets:
        answer = await api.read(organisation, target)
        where = f"{organisation} reads {name}: {target}"
        if allowed:
            assert answer.status_code == 200, where
            continue
        assert answer.status_code == 403, where
        assert answer.json()["error"] == "forbidden", where
        assert set(answer.json()) == {"error", "detail"}, where
        assert not any(secret in answer.text for secret in SECRETS), where
        assert document_id not in answer.text, where
    lookup = await api.read(
        organisation, f"/v1/documents?family={family}&issuer={issuer}&reference={reference}"
    )
    if allowed:
        assert lookup.json() == {"id": document_id}
    else:
        assert lookup.status_code == 404, f"{organisation} looks up {name}"
        assert document_id not in lookup.text


def test_banks_see_what_their_payments_reference_and_no_more(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            await trade(api)
            bill = api.documents["bill"]
            certificate = api.documents["certificate"]
            assert (await api.read("bank", f"/v1/documents/{bill}")).status_code == 200
            assert (await api.read("bank2", f"/v1/documents/{bill}/bundle")).status_code == 200
            # the attestation links the bill only: the certificate stays out of sight
            assert (await api.read("bank", f"/v1/documents/{certificate}")).status_code == 403
            # the banks are parties of the bill now; the payment is still theirs alone
            record = (await api.read("carrier", f"/v1/documents/{bill}")).json()
            assert record["parties"] == ["bank", "bank2", "carrier", "seller"]

    run(body())


def test_a_bundle_carries_only_the_transactions_the_reader_may_see(tmp_path: Path) -> None:
    """The bill's history points to the certificate and the payment attestation that name
    it; the bill's bundle carries each of those transactions (and so its content) only to
    the organisations that may see that record, and verifies offline either way."""

    async def body() -> None:
        async with running_api(tmp_path) as api:
            await trade(api)
            bill, payment = api.documents["bill"], api.documents["payment"]
            for organisation in ("bank", "bank2", "carrier", "seller"):
                sees_payment = organisation in ("bank", "bank2")
                sees_certificate = organisation == "seller"  # its exporter organisation
                history = (await api.read(organisation, f"/v1/documents/{bill}/history")).json()
                actions = [e["action"] for e in history["events"]]
                assert actions == ["bl.issue", "coo.issue", "pay.attest"]
                bundle = (await api.read(organisation, f"/v1/documents/{bill}/bundle")).json()
                report = verify_bundle(bundle, api.net.genesis)
                kinds = ["bl.issue"]
                kinds += ["coo.issue"] if sees_certificate else []
                kinds += ["pay.attest"] if sees_payment else []
                assert [entry.kind for entry in report.entries] == kinds, organisation
                assert ("INV-1" in str(_bodies(bundle))) == sees_payment, organisation
                proof = await api.read(organisation, f"/v1/proofs/inclusion?tx={payment}")
                assert proof.status_code == (200 if sees_payment else 403), organisation

    run(body())


def _bodies(bundle: dict[str, Any]) -> list[Any]:
    return [
        Transaction.decode(bytes.fromhex(entry["transaction"])).body for entry in bundle["entries"]
    ]


def test_member_lists_are_for_their_own_organisation_and_governance(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            for reader in ORGANISATIONS:
                for organisation in ORGANISATIONS:
                    answer = await api.read(reader, f"/v1/organisations/{organisation}/members")
                    if reader in (organisation, "gov"):
                        assert answer.status_code == 200, (reader, organisation)
                        assert answer.json()["organisation"] == organisation
                    else:
                        assert answer.status_code == 403, (reader, organisation)
                        assert answer.json()["error"] == "forbidden"
                        assert "key" not in answer.json()

    run(body())


def test_the_sender_organisation_sees_the_proof_of_its_transaction(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            new_key = seeded_key("buyer/new clerk").public_key
            tx = await api.commit(
                "buyer", "member.register", {"key": new_key, "name": "clerk 2"}, admin=True
            )
            mine = await api.read("buyer", f"/v1/proofs/inclusion?tx={tx}")
            assert mine.status_code == 200
            theirs = await api.read("seller", f"/v1/proofs/inclusion?tx={tx}")
            assert theirs.status_code == 403
            assert theirs.json()["error"] == "forbidden"

    run(body())
