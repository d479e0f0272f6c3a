"""The HTTP API against a real single-validator node, in-process (httpx.ASGITransport).

Every endpoint's happy path, submission in both encodings, batches with mixed items, and the
refusals of bad bodies: oversized (413), malformed JSON or msgpack (400), wrong media type.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from contracts.testing import issue_body, seeded_key, sha
from ledger import merkle
from ledger.codec import Value, encode
from ledger.types import Commit, Header, Transaction, verify_result
from node import runtime
from tests.api_harness import Api, run, running_api, trade


def test_health_readiness_status_validators(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            assert (await api.client.get("/healthz")).json() == {"status": "ok"}
            ready = await api.client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["ready"] is True
            status = (await api.client.get("/v1/status")).json()
            assert status["chain_id"] == api.net.chain_id
            assert status["genesis_hash"] == api.net.genesis.hash().hex()
            assert status["height"] == api.node.store.height
            validators = (await api.client.get("/v1/validators")).json()
            assert validators["validators"] == [
                {
                    "node_key": api.node.key.public_key.hex(),
                    "power": 1,
                    "organisation": "carrier",
                    "connected": True,
                }
            ]

    run(body())


def test_submit_json_and_msgpack_then_status_and_blocks(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            tx = api.tx("carrier", "bl.issue", issue_body("BL-J", "seller", to_order=True))
            answer = await api.client.post(
                "/v1/transactions", json={"transaction": tx.encode().hex()}
            )
            assert answer.status_code == 202
            assert answer.json() == {"id": tx.id.hex(), "status": "pending"}
            waited = await api.client.post(
                "/v1/transactions?wait=true&timeout_ms=10000",
                content=tx.encode(),  # the same transaction again: admitted once, waited on
                headers={"content-type": "application/msgpack"},
            )
            assert waited.status_code == 200
            committed = waited.json()
            assert committed["status"] == "committed"
            assert committed["code"] == "ok"
            height = committed["height"]

            status = (await api.client.get(f"/v1/transactions/{tx.id.hex()}")).json()
            assert status == {
                "id": tx.id.hex(),
                "status": "committed",
                "height": height,
                "code": "ok",
            }
            missing = await api.client.get(f"/v1/transactions/{'ab' * 32}")
            assert missing.status_code == 404
            assert missing.json()["error"] == "not_found"

            latest = (await api.client.get("/v1/blocks/latest")).json()
            assert latest["height"] == height
            block = (await api.client.get(f"/v1/blocks/{height}")).json()
            assert block == latest
            assert block["transactions"] == 1
            header = Header.from_value(_from_hex_fields(block["header"]))
            assert header.hash().hex() == block["hash"]
            commit = Commit.from_value(_from_hex_fields(block["commit"]))
            commit.verify(api.net.chain_id, api.net.genesis.validators)
            assert (await api.client.get(f"/v1/blocks/{height + 1}")).status_code == 404

    run(body())


def test_a_pending_transaction_and_a_wait_that_times_out(tmp_path: Path) -> None:
    async def body() -> None:
        # the node proposes 10 minutes after its last block: what is submitted stays pending
        async with running_api(tmp_path, block_interval_ms_min=600_000) as api:
            tx = api.tx("carrier", "bl.issue", issue_body("BL-P", "seller", to_order=True))
            await api.client.post("/v1/transactions", json={"transaction": tx.encode().hex()})
            status = await api.client.get(f"/v1/transactions/{tx.id.hex()}")
            assert status.json() == {"id": tx.id.hex(), "status": "pending"}
            timed_out = await api.client.post(
                "/v1/transactions?wait=true&timeout_ms=20",
                json={"transaction": tx.encode().hex()},
            )
            assert timed_out.status_code == 408
            assert timed_out.json()["error"] == "timeout"
            assert timed_out.json()["tx"] == tx.id.hex()

    run(body())


def test_documents_history_lookup_bundle_and_file_check(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            await trade(api)
            bill = api.documents["bill"]
            record = await api.read("seller", f"/v1/documents/{bill}")
            assert record.status_code == 200, record.text
            assert record.json()["id"] == bill
            assert record.json()["title"]["holder"] == "seller"

            history = (await api.read("carrier", f"/v1/documents/{bill}/history")).json()
            assert history["document"]["id"] == bill
            # the certificate and the payment attestation naming the bill left an event on it
            # (the attestation also made its banks parties of it)
            actions = [event["action"] for event in history["events"]]
            assert actions == ["bl.issue", "coo.issue", "pay.attest"]
            assert history["events"][1]["detail"] == {"certificate": api.documents["certificate"]}
            assert history["events"][2]["detail"] == {"attestation": api.documents["payment"]}
            assert [entry["action"] for entry in history["endorsement_chain"]] == ["ISSUE"]
            certificate = api.documents["certificate"]
            coo_history = await api.read("chamber", f"/v1/documents/{certificate}/history")
            assert "endorsement_chain" not in coo_history.json()

            found = await api.read(
                "seller", "/v1/documents?family=bl&issuer=carrier&reference=BL-1"
            )
            assert found.json() == {"id": bill}
            nothing = await api.read(
                "seller", "/v1/documents?family=bl&issuer=carrier&reference=BL-404"
            )
            assert nothing.status_code == 404

            bundle = (await api.read("seller", f"/v1/documents/{bill}/bundle")).json()
            check_bundle(api, bundle, bill)

            registered = (await api.client.get(f"/v1/verify/file/{sha('bill/BL-1').hex()}")).json()
            assert registered["registered"] is True
            assert registered["document"] == bill
            assert registered["family"] == "bl"
            assert registered["issuer"] == "carrier"
            assert registered["status"] == "issued"
            assert "superseded_by" not in registered
            unknown = await api.client.get(f"/v1/verify/file/{sha('never').hex()}")
            assert unknown.json() == {"registered": False}
            bad = await api.client.get("/v1/verify/file/not-a-hash")
            assert bad.status_code == 400
            assert bad.json()["error"] == "bad_request"

    run(body())


def check_bundle(api: Api, bundle: dict[str, object], document_id: str) -> None:
    """What `client.verify.verify_bundle` checks, done by hand with the ledger's types."""
    assert bundle["format"] == "tradeledger-bundle/2"
    assert bundle["chain_id"] == api.net.chain_id
    assert bundle["genesis_hash"] == api.net.genesis.hash().hex()
    assert bundle["document_id"] == document_id
    entries = bundle["entries"]
    assert isinstance(entries, list)
    assert entries
    for entry in entries:
        header = Header.from_value(_from_hex_fields(entry["header"]))
        commit = Commit.from_value(_from_hex_fields(entry["commit"]))
        assert commit.block_hash == header.hash()
        commit.verify(api.net.chain_id, api.net.genesis.validators)
        data = bytes.fromhex(entry["transaction"])
        Transaction.decode(data).verify_signature()
        merkle.verify_inclusion(
            merkle.leaf_hash(data),
            entry["log_index"],
            header.log_size,
            [bytes.fromhex(node) for node in entry["inclusion_proof"]],
            header.log_root,
        )
        assert entry["code"] == "ok"
        verify_result(
            entry["code"],
            entry["index_in_block"],
            header.tx_count,
            [bytes.fromhex(node) for node in entry["code_proof"]],
            header.results_root,
        )
    first = Transaction.decode(bytes.fromhex(entries[0]["transaction"]))
    assert first.id.hex() == document_id


def test_proofs_organisations_and_members(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            await trade(api)
            bill = api.documents["bill"]
            size = api.node.store.head.log_size
            proof = (await api.read("seller", f"/v1/proofs/inclusion?tx={bill}")).json()
            assert proof["tree_size"] == size
            location = api.node.store.transaction_location(bytes.fromhex(bill))
            assert location is not None
            block = api.node.store.block(location.height)
            assert block is not None
            merkle.verify_inclusion(
                merkle.leaf_hash(block.transactions[location.index]),
                proof["leaf_index"],
                proof["tree_size"],
                [bytes.fromhex(node) for node in proof["proof"]],
                bytes.fromhex(proof["root"]),
            )
            at_size = await api.read("seller", f"/v1/proofs/inclusion?tx={bill}&size=1")
            assert at_size.json()["tree_size"] == 1
            too_big = await api.read("seller", f"/v1/proofs/inclusion?tx={bill}&size={size + 1}")
            assert too_big.status_code == 400

            consistency = (await api.client.get(f"/v1/proofs/consistency?from=2&to={size}")).json()
            merkle.verify_consistency(
                2,
                size,
                [bytes.fromhex(node) for node in consistency["proof"]],
                bytes.fromhex(consistency["root_from"]),
                bytes.fromhex(consistency["root_to"]),
            )
            assert consistency["from"] == 2
            assert consistency["to"] == size
            backwards = await api.client.get("/v1/proofs/consistency?from=3&to=2")
            assert backwards.status_code == 400

            organisations = (await api.read("buyer", "/v1/organisations")).json()
            ids = [org["id"] for org in organisations["organisations"]]
            assert sorted(ids) == sorted(api.net.organisations)
            buyer = next(o for o in organisations["organisations"] if o["id"] == "buyer")
            assert buyer["roles"] == ["buyer"]
            assert buyer["suspended"] is False

            members = (await api.read("buyer", "/v1/organisations/buyer/members")).json()
            keys = {member["key"]: member["kind"] for member in members["members"]}
            assert keys == {
                api.net.key("buyer").public_key.hex(): "member",
                api.net.key("buyer", admin=True).public_key.hex(): "admin",
            }
            governance = await api.read("gov", "/v1/organisations/buyer/members")
            assert governance.status_code == 200
            unknown = await api.read("gov", "/v1/organisations/nobody/members")
            assert unknown.status_code == 404

    run(body())


def test_a_batch_submitted_to_an_idle_proposer_goes_in_one_block(tmp_path: Path) -> None:
    # The node waits for work with its value request pending; the batch's first admitted
    # transaction must not make a block of one and leave the rest for the next height.
    async def body() -> None:
        async with running_api(tmp_path, block_interval_ms_min=0) as api:
            height = api.node.store.height
            txs = [
                api.tx("carrier", "bl.issue", issue_body(f"BL-ONE-{i}", "seller", to_order=True))
                for i in range(5)
            ]
            waits = [api.node.wait_committed(tx.id) for tx in txs]
            answer = await api.client.post(
                "/v1/transactions/batch",
                content=encode([tx.encode() for tx in txs]),
                headers={"content-type": "application/msgpack"},
            )
            assert answer.status_code == 200, answer.text
            committed = await asyncio.gather(*waits)
            assert {c.height for c in committed} == {height + 1}
            assert [c.code for c in committed] == ["ok"] * 5

    run(body())


def test_wait_with_too_many_clients_waiting_answers_pending_and_still_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The transaction is admitted before the node finds the waiters full: it must not be
    # answered as refused (429 mempool_full), but as without `wait` (docs/api.md).
    monkeypatch.setattr(runtime, "COMMIT_WAITERS_MAX", 1)

    async def body() -> None:
        async with running_api(tmp_path) as api:
            tx = api.tx("carrier", "bl.issue", issue_body("BL-WAIT", "seller", to_order=True))
            ours = api.node.wait_committed(tx.id)  # the one waiter the limit allows
            answer = await api.client.post(
                "/v1/transactions?wait=true&timeout_ms=5000",
                content=tx.encode(),
                headers={"content-type": "application/msgpack"},
            )
            assert answer.status_code == 202, answer.text
            assert answer.json() == {"id": tx.id.hex(), "status": "pending"}
            committed = await ours
            assert committed.code == "ok"

    run(body())


def test_batch_with_mixed_items_in_both_encodings(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            good = api.tx("carrier", "bl.issue", issue_body("BL-B1", "seller", to_order=True))
            other_chain = api.net.tx("carrier", "bl.issue", {}, expiry_height=10)
            forged = Transaction.decode(
                api.tx("carrier", "bl.issue", {"x": 1}).encode()
            ).to_value() | {"signature": bytes(64)}
            stranger = api.tx(seeded_key("nobody"), "bl.issue", {})
            items = [
                good.encode(),
                b"\xc1 not msgpack",
                encode(forged),
                stranger.encode(),
                good.encode(),  # already pending: admitted once, same id
                _on_other_chain(other_chain),
            ]
            answer = await api.client.post(
                "/v1/transactions/batch",
                content=encode(list(items)),
                headers={"content-type": "application/msgpack"},
            )
            assert answer.status_code == 200, answer.text
            results = answer.json()["results"]
            assert results[0] == {"id": good.id.hex(), "status": "pending"}
            assert [r.get("error") for r in results[1:4]] == [
                "malformed_transaction",
                "bad_signature",
                "key_unknown",
            ]
            assert all(set(r) == {"error", "detail"} for r in results[1:4])
            # The same transaction again: still pending, or (the node may decide a block while
            # the batch is admitted) already committed; never a second copy.
            assert results[4] == {"id": good.id.hex(), "status": "pending"} or (
                results[4]["error"] == "duplicate_transaction"
            )
            assert results[5]["error"] == "wrong_chain"

            second = api.tx("carrier", "bl.issue", issue_body("BL-B2", "seller", to_order=True))
            as_json = await api.client.post(
                "/v1/transactions/batch",
                json={"transactions": [second.encode().hex(), "zz", 7]},
            )
            assert as_json.status_code == 200
            results = as_json.json()["results"]
            assert results[0] == {"id": second.id.hex(), "status": "pending"}
            assert [r["error"] for r in results[1:]] == ["malformed_transaction"] * 2

            too_many = await api.client.post(
                "/v1/transactions/batch", json={"transactions": ["00"] * 1001}
            )
            assert too_many.status_code == 400
            assert "1000" in too_many.json()["detail"]
            not_a_list = await api.client.post(
                "/v1/transactions/batch",
                content=msgpack.packb({"a": 1}),
                headers={"content-type": "application/msgpack"},
            )
            assert not_a_list.status_code == 400
            assert not_a_list.json()["error"] == "bad_request"

    run(body())


def _on_other_chain(tx: Transaction) -> bytes:
    from ledger.crypto import Domain

    key = seeded_key("carrier/member")
    unsigned = Transaction(
        chain_id="another-chain",
        kind=tx.kind,
        sender=key.public_key,
        nonce=tx.nonce,
        expiry_height=tx.expiry_height,
        body=tx.body,
    )
    signature = key.sign(Domain.TRANSACTION, "another-chain", unsigned.signed_payload())
    return encode(unsigned.to_value() | {"signature": signature})


def test_bad_bodies_are_refused_with_precise_codes(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            client = api.client
            oversized = await client.post(
                "/v1/transactions",
                content=b"\x00" * (300 * 1024),
                headers={"content-type": "application/msgpack"},
            )
            assert oversized.status_code == 413
            assert oversized.json()["error"] == "body_too_large"

            async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: read, then cut
                for _ in range(100):
                    yield b"\x00" * 8192

            streamed = await client.post(
                "/v1/transactions",
                content=chunks(),
                headers={"content-type": "application/msgpack"},
            )
            assert streamed.status_code == 413
            assert streamed.json()["error"] == "body_too_large"
            huge_batch = await client.post(
                "/v1/transactions/batch",
                content=b"\x00" * (9 * 1024 * 1024),
                headers={"content-type": "application/msgpack"},
            )
            assert huge_batch.status_code == 413

            for text in (b"{not json", b'{"transaction": 12}', b'["x"]', b"[" * 100_000):
                answer = await client.post(
                    "/v1/transactions", content=text, headers={"content-type": "application/json"}
                )
                assert answer.status_code == 400, text[:20]
                assert answer.json()["error"] == "bad_request"
            garbage = await client.post(
                "/v1/transactions",
                content=b"\x93\x01\x02",
                headers={"content-type": "application/msgpack"},
            )
            assert garbage.status_code == 400
            assert garbage.json()["error"] == "malformed_transaction"
            non_canonical = await client.post(
                "/v1/transactions",
                content=b"\xd9\x01a",  # "a" as str8: not the shortest form
                headers={"content-type": "application/msgpack"},
            )
            assert non_canonical.json()["error"] == "malformed_transaction"
            wrong_type = await client.post(
                "/v1/transactions", content=b"x", headers={"content-type": "text/plain"}
            )
            assert wrong_type.status_code == 415
            assert wrong_type.json()["error"] == "unsupported_media_type"
            batch_json = await client.post(
                "/v1/transactions/batch",
                content=b"[1,",
                headers={"content-type": "application/json"},
            )
            assert batch_json.status_code == 400
            assert batch_json.json()["error"] == "bad_request"
            bad_query = await client.post("/v1/transactions?wait=maybe", json={})
            assert bad_query.status_code == 400
            assert bad_query.json()["error"] == "bad_request"
            assert (await client.get("/v1/blocks/0")).json()["error"] == "bad_request"
            assert (await client.get("/no/such/path")).json()["error"] == "not_found"

    run(body())


def test_refused_admissions_carry_the_transaction_id(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            bill = await api.commit(
                "carrier", "bl.issue", issue_body("BL-D", "seller", to_order=True)
            )
            location = api.node.store.transaction_location(bytes.fromhex(bill))
            assert location is not None
            block = api.node.store.block(location.height)
            assert block is not None
            again = await api.client.post(
                "/v1/transactions",
                content=block.transactions[location.index],
                headers={"content-type": "application/msgpack"},
            )
            assert again.status_code == 409
            assert again.json()["error"] == "duplicate_transaction"
            assert again.json()["tx"] == bill
            unknown = api.tx(seeded_key("nobody"), "bl.issue", {})
            refused = await api.client.post(
                "/v1/transactions", json={"transaction": unknown.encode().hex()}
            )
            assert refused.status_code == 403
            assert refused.json() == {
                "error": "key_unknown",
                "detail": refused.json()["detail"],
                "tx": unknown.id.hex(),
            }

    run(body())


def test_openapi_documents_the_routes_with_examples(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            docs = await api.client.get("/docs")
            assert docs.status_code == 200
            schema = (await api.client.get("/openapi.json")).json()
            paths = schema["paths"]
            for path in (
                "/v1/transactions",
                "/v1/transactions/batch",
                "/v1/documents/{document_id}/bundle",
                "/v1/verify/file/{sha256}",
                "/v1/proofs/consistency",
                "/v1/events",
                "/metrics",
            ):
                assert path in paths, path
            assert "422" not in json.dumps(schema)
            submit = paths["/v1/transactions"]["post"]
            assert "example" in submit["requestBody"]["content"]["application/json"]
            assert paths["/v1/documents/{document_id}"]["get"]["security"] == [
                {"TLKey": [], "TLTimestamp": [], "TLSignature": []}
            ]
            assert "examples" in schema["components"]["schemas"]["FileCheck"]

    run(body())


def _from_hex_fields(value: Any) -> Value:
    """A JSON header or commit back to its canonical value (hex fields to bytes)."""
    text_fields = {"chain_id"}

    def back(item: Any, key: str) -> Value:
        if isinstance(item, dict):
            return {k: back(v, k) for k, v in item.items()}
        if isinstance(item, list):
            return [back(v, key) for v in item]
        if isinstance(item, str) and key not in text_fields:
            return bytes.fromhex(item)
        assert item is None or isinstance(item, bool | int | str)
        return item

    return back(value, "")
