"""The SDK (client/sdk.py) over a fake node behind `httpx.MockTransport`: envelopes, request
signing (checked by the node's own `ReadAuthenticator`), submission, errors, queries.

The fake node keeps what the SDK sent, so each test checks the exact bytes on the wire.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from client.errors import (
    ApiError,
    BundleInvalid,
    ClientError,
    CommitTimeout,
    InvalidArgument,
    KeyRequired,
    ProtocolError,
    TransactionRejected,
    TransportError,
)
from client.sdk import NONCE_RANDOM_BITS, Client, read_request_payload
from contracts.testing import Network
from ledger import crypto, merkle
from ledger.bundle import commit_to_json, header_to_json
from ledger.codec import decode
from ledger.crypto import Domain, SigningKey
from ledger.types import Transaction
from node.auth import ReadAuthenticator, request_target
from tests.chain import ChainBuilder
from tests.test_bundle_verify import FILE, build_bundle

NOW_MS = 1_767_225_600_000
URL = "http://node.test"


@dataclass
class FakeNode:
    """Answers like docs/api.md; authenticates signed reads with the node's own code."""

    net: Network = field(default_factory=Network)
    height: int = 41
    code: str = "ok"
    requests: list[httpx.Request] = field(default_factory=list)
    routes: dict[str, Callable[[httpx.Request], httpx.Response]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.auth = ReadAuthenticator(self.net.chain_id, lambda: NOW_MS)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        for prefix, route in self.routes.items():
            if path.startswith(prefix):
                return route(request)
        if path == "/v1/status":
            return httpx.Response(200, json={"chain_id": self.net.chain_id, "height": self.height})
        if path == "/v1/transactions" and request.method == "POST":
            tx = Transaction.decode(request.content)
            tx.verify_signature()
            if request.url.params.get("wait") == "true":
                answer = {"id": tx.id.hex(), "status": "committed", "height": 42, "code": self.code}
                return httpx.Response(200, json=answer)
            return httpx.Response(202, json={"id": tx.id.hex(), "status": "pending"})
        if path.startswith(("/v1/documents", "/v1/organisations")):
            raw_path, _, query = request.url.raw_path.partition(b"?")
            reader = self.auth.authenticate(
                self.net.state,
                method=request.method,
                target=request_target(raw_path, query),
                body=request.content,
                headers=request.headers,
            )
            return httpx.Response(200, json={"id": "ab" * 32, "reader": reader.organisation})
        return httpx.Response(404, json={"error": "not_found", "detail": path})


def make_client(
    node: FakeNode, key: SigningKey | None = None, clock_ns: Callable[[], int] | None = None
) -> Client:
    return Client(
        URL,
        key if key is not None else node.net.key("seller"),
        transport=httpx.MockTransport(node.handle),
        clock_ns=clock_ns or (lambda: NOW_MS * 1_000_000),
    )


@pytest.fixture
def node() -> FakeNode:
    return FakeNode()


# --- envelopes --------------------------------------------------------------------------------


def test_transactions_are_signed_for_the_nodes_chain_with_unique_nonces(node: FakeNode) -> None:
    client = make_client(node)  # a frozen clock: the nonces must still differ
    txs = [client.transaction("bl.accept", {"document": "00" * 32}) for _ in range(50)]
    nonces = [tx.nonce for tx in txs]
    assert nonces == sorted(set(nonces))
    assert nonces[0] >> NONCE_RANDOM_BITS == NOW_MS * 1000  # microseconds, then random bits
    for tx in txs:
        assert tx.chain_id == node.net.chain_id
        assert tx.expiry_height == node.height + client.expiry_window_blocks
        assert tx.sender == node.net.key("seller").public_key
        tx.verify_signature()
    assert sum(r.url.path == "/v1/status" for r in node.requests) == 2  # chain id, then height


def test_clients_of_one_key_at_one_instant_draw_different_nonces(node: FakeNode) -> None:
    nonces = {make_client(node).next_nonce() for _ in range(20)}
    # one clock reading: only the random bits differ (all equal: probability 4096**-19)
    assert len(nonces) > 1
    assert {n >> NONCE_RANDOM_BITS for n in nonces} == {NOW_MS * 1000}


def test_explicit_chain_id_nonce_and_expiry(node: FakeNode) -> None:
    client = Client(
        URL,
        node.net.key("seller"),
        chain_id="elsewhere",
        transport=httpx.MockTransport(node.handle),
    )
    tx = client.transaction("bl.accept", {"document": "00" * 32}, nonce=7, expiry_height=9)
    assert (tx.chain_id, tx.nonce, tx.expiry_height) == ("elsewhere", 7, 9)
    assert node.requests == []


# --- submission -------------------------------------------------------------------------------


def test_submit_sends_the_canonical_bytes_and_waits(node: FakeNode) -> None:
    client = make_client(node)
    document = "ab" * 32
    receipt = client.bl_accept(document)
    request = node.requests[-1]
    assert request.headers["content-type"] == "application/msgpack"
    assert request.url.params["wait"] == "true"
    tx = Transaction.decode(request.content)
    assert (tx.kind, tx.body) == ("bl.accept", {"document": document})
    assert receipt.id == tx.id.hex()
    assert (receipt.ok, receipt.height, receipt.kind) == (True, 42, "bl.accept")
    pending = client.bl_cancel(document, wait=False)
    assert (pending.status, pending.committed) == ("pending", False)
    assert "wait" not in node.requests[-1].url.params


def test_a_refused_transaction_raises_unless_asked_not_to(node: FakeNode) -> None:
    node.code = "sender_not_holder"
    client = make_client(node)
    with pytest.raises(TransactionRejected) as info:
        client.bl_transfer("ab" * 32, "buyer")
    assert info.value.code == "sender_not_holder"
    assert "only the current holder may do this" in str(info.value)
    tx = Transaction.decode(node.requests[-1].content)
    assert tx.body["offer_expiry_height"] == node.height + 100_000
    receipt = client.send("bl.accept", {"document": "ab" * 32}, check=False)
    assert (receipt.committed, receipt.ok, receipt.code) == (True, False, "sender_not_holder")


def test_batch_is_one_msgpack_list(node: FakeNode) -> None:
    client = make_client(node)
    txs = [client.transaction("bl.accept", {"document": f"{i:064x}"}) for i in range(3)]

    def batch(request: httpx.Request) -> httpx.Response:
        items = decode(request.content)
        assert items == [tx.encode() for tx in txs]
        results: list[dict[str, str]] = [
            {"id": txs[0].id.hex(), "status": "pending"},
            {"error": "nonce_reused", "detail": "the sender already used this nonce"},
            {"id": txs[2].id.hex(), "status": "pending"},
        ]
        return httpx.Response(200, json={"results": results})

    node.routes["/v1/transactions/batch"] = batch
    results = client.submit_batch(txs)
    assert [r.status for r in results] == ["pending", None, "pending"]
    assert results[1].error == "nonce_reused"
    assert [r.id for r in results] == [tx.id.hex() for tx in txs]


def test_wait_for_polls_without_sleeping(node: FakeNode) -> None:
    answers = iter(["pending", "pending", "committed"])
    tx_id = "cd" * 32

    def status(request: httpx.Request) -> httpx.Response:
        state = next(answers)
        body: dict[str, Any] = {"id": tx_id, "status": state}
        if state == "committed":
            body |= {"height": 7, "code": "ok"}
        return httpx.Response(200, json=body)

    node.routes["/v1/transactions/"] = status
    naps: list[float] = []
    receipt = make_client(node).wait_for(tx_id, sleep=naps.append, poll_interval_s=0.01)
    assert (receipt.height, naps) == (7, [0.01, 0.01])


# --- signed reads -----------------------------------------------------------------------------


def test_signed_reads_verify_for_the_exact_bytes(node: FakeNode) -> None:
    client = make_client(node)
    answer = client.document("ab" * 32)
    assert answer["reader"] == "seller"  # the node's ReadAuthenticator accepted it
    request = node.requests[-1]
    key = node.net.key("seller").public_key
    assert request.headers["X-TL-Key"] == key.hex()
    timestamp_ms = int(request.headers["X-TL-Timestamp"])
    assert timestamp_ms == NOW_MS
    payload = read_request_payload(
        key=key,
        method="GET",
        target=f"/v1/documents/{'ab' * 32}",
        body=b"",
        timestamp_ms=timestamp_ms,
    )
    assert payload == (
        b"\x85"  # a map of five, keys in canonical order
        + b"\xabbody_sha256\xc4\x20"
        + crypto.sha256(b"")
        + b"\xa3key\xc4\x20"
        + key
        + b"\xa6method\xa3GET"
        + b"\xa4path\xd9\x4e/v1/documents/"  # str8 of 78 characters
        + b"ab" * 32
        + b"\xactimestamp_ms\xcf"
        + timestamp_ms.to_bytes(8, "big")
    )
    crypto.verify(
        key,
        Domain.READ_REQUEST,
        node.net.chain_id,
        payload,
        bytes.fromhex(request.headers["X-TL-Signature"]),
    )


def test_the_query_string_is_signed_as_sent(node: FakeNode) -> None:
    client = make_client(node)
    assert client.lookup("bl", "carrier", "BL 1/2?&x=ü") == "ab" * 32
    target = node.requests[-1].url.raw_path.decode("ascii")
    assert target == "/v1/documents?family=bl&issuer=carrier&reference=BL+1%2F2%3F%26x%3D%C3%BC"


def test_repeated_reads_in_one_millisecond_are_not_replays(node: FakeNode) -> None:
    client = make_client(node)  # the clock never moves
    for _ in range(3):
        client.document("ab" * 32)  # the node refuses a replayed signature
    stamps = [int(r.headers["X-TL-Timestamp"]) for r in node.requests if "X-TL-Key" in r.headers]
    assert stamps == [NOW_MS, NOW_MS + 1, NOW_MS + 2]


def test_a_read_signed_for_another_chain_is_refused_by_the_node(node: FakeNode) -> None:
    client = Client(
        URL,
        node.net.key("seller"),
        chain_id="elsewhere",
        transport=httpx.MockTransport(node.handle),
        clock_ns=lambda: NOW_MS * 1_000_000,
    )
    with pytest.raises(Exception, match="does not verify"):
        client.document("ab" * 32)


def test_without_a_key_only_public_queries_work(node: FakeNode) -> None:
    client = Client(URL, None, transport=httpx.MockTransport(node.handle))
    assert client.status()["height"] == node.height
    with pytest.raises(KeyRequired):
        client.document("ab" * 32)
    with pytest.raises(KeyRequired):
        client.bl_accept("ab" * 32)


# --- errors -----------------------------------------------------------------------------------


def answering(response: httpx.Response | Exception) -> Client:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/status":
            return httpx.Response(200, json={"chain_id": "c", "height": 1})
        if isinstance(response, Exception):
            raise response
        return response

    return Client(URL, SigningKey(bytes(32)), chain_id="c", transport=httpx.MockTransport(handle))


def test_refusals_become_api_errors_with_the_documented_code() -> None:
    client = answering(
        httpx.Response(400, json={"error": "nonce_reused", "detail": "nonce 5", "tx": "ab" * 32})
    )
    with pytest.raises(ApiError) as info:
        client.bl_accept("ab" * 32, wait=False)
    error = info.value
    assert (error.status, error.code, error.detail, error.tx) == (
        400,
        "nonce_reused",
        "nonce 5",
        "ab" * 32,
    )
    assert error.description == "the sender already used this nonce"
    assert isinstance(error, ClientError)
    assert "nonce_reused (400): the sender already used this nonce [nonce 5]" in str(error)


def test_a_commit_timeout_is_its_own_error() -> None:
    client = answering(httpx.Response(408, json={"error": "timeout", "detail": "still pending"}))
    with pytest.raises(CommitTimeout) as info:
        client.bl_accept("ab" * 32)
    assert isinstance(info.value, ApiError)


@pytest.mark.parametrize(
    ("response", "error", "text"),
    [
        (httpx.ConnectError("refused"), TransportError, "cannot reach the node"),
        (httpx.ReadTimeout("slow"), TransportError, "did not answer in time"),
        (httpx.Response(200, text="<html>"), ProtocolError, "without JSON"),
        (httpx.Response(200, json={"status": "done"}), ProtocolError, "lacks id or status"),
        (httpx.Response(502, text="Bad Gateway"), ApiError, "server_error"),
        (httpx.Response(403, json={"error": "forbidden", "detail": "x"}), ApiError, "forbidden"),
    ],
)
def test_failures_are_client_errors(
    response: httpx.Response | Exception, error: type[ClientError], text: str
) -> None:
    with pytest.raises(error, match=text):
        answering(response).bl_accept("ab" * 32, wait=False)


def test_an_answer_for_another_transaction_is_a_protocol_error() -> None:
    client = answering(httpx.Response(202, json={"id": "00" * 32, "status": "pending"}))
    with pytest.raises(ProtocolError, match="answered for transaction"):
        client.bl_accept("ab" * 32, wait=False)


def test_malformed_ids_never_leave_the_client(node: FakeNode) -> None:
    client = make_client(node)
    with pytest.raises(InvalidArgument):
        client.document("../../etc/passwd")
    with pytest.raises(InvalidArgument):
        client.transaction_status("AB" * 32)
    assert node.requests == []


# --- blocks, proofs, bundles, events ----------------------------------------------------------


@pytest.fixture(scope="module")
def chain_bundle(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_bundle(tmp_path_factory.mktemp("sdk") / "db", ChainBuilder())


def test_blocks_are_parsed_and_their_hash_checked(node: FakeNode, chain_bundle: Any) -> None:
    entry = chain_bundle.entries[1]
    answer = {
        "height": entry.height,
        "hash": entry.header.hash().hex(),
        "header": header_to_json(entry.header),
        "transactions": entry.header.tx_count,
        "commit": commit_to_json(entry.commit),
    }
    node.routes["/v1/blocks/"] = lambda request: httpx.Response(200, json=answer)
    block = make_client(node).block(entry.height)
    assert (block.header, block.commit) == (entry.header, entry.commit)
    block.commit.verify(chain_bundle.genesis.chain_id, chain_bundle.genesis.validators)
    assert node.requests[-1].url.path == f"/v1/blocks/{entry.height}"
    make_client(node).block()
    assert node.requests[-1].url.path == "/v1/blocks/latest"
    node.routes["/v1/blocks/"] = lambda request: httpx.Response(200, json=answer | {"hash": "00"})
    with pytest.raises(ProtocolError, match="hash"):
        make_client(node).block(3)


def test_proofs_are_parsed_and_verifiable(node: FakeNode) -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(7)]
    inclusion = {
        "leaf_index": 5,
        "tree_size": 7,
        "proof": [h.hex() for h in merkle.inclusion_proof(leaves, 5)],
        "root": merkle.root(leaves).hex(),
    }
    consistency = {
        "from": 3,
        "to": 7,
        "proof": [h.hex() for h in merkle.consistency_proof(leaves, 3)],
        "root_from": merkle.root(leaves[:3]).hex(),
        "root_to": merkle.root(leaves).hex(),
    }
    node.routes["/v1/proofs/inclusion"] = lambda request: httpx.Response(200, json=inclusion)
    node.routes["/v1/proofs/consistency"] = lambda request: httpx.Response(200, json=consistency)
    client = make_client(node)
    proof = client.inclusion_proof("ab" * 32, 7)
    proof.verify(bytes([5]))
    with pytest.raises(merkle.MerkleError):
        proof.verify(bytes([4]))
    assert node.requests[-1].url.params["size"] == "7"
    assert "X-TL-Signature" in node.requests[-1].headers
    client.consistency_proof(3, 7).verify()
    with pytest.raises(merkle.MerkleError):
        client.consistency_proof(3, 7).verify(root_from=merkle.root(leaves[:2]))


def test_verified_bundle_trusts_only_the_genesis(node: FakeNode, chain_bundle: Any) -> None:
    document_id = chain_bundle.document_id
    node.routes[f"/v1/documents/{document_id}/bundle"] = lambda request: httpx.Response(
        200, json=chain_bundle.bundle
    )
    client = make_client(node)
    report = client.verified_bundle(document_id, chain_bundle.genesis, FILE)
    assert report.ok
    assert report.file_matches
    with pytest.raises(BundleInvalid, match="not the file that was registered"):
        client.verified_bundle(document_id, chain_bundle.genesis, b"another file")
    with pytest.raises(ProtocolError, match="another document"):
        client.verified_bundle("ef" * 32, chain_bundle.genesis)


def test_file_verification_needs_no_key(node: FakeNode) -> None:
    digest = crypto.sha256(FILE).hex()
    node.routes["/v1/verify/file/"] = lambda request: httpx.Response(
        200, json={"registered": request.url.path.endswith(digest)}
    )
    client = Client(URL, None, transport=httpx.MockTransport(node.handle))
    assert client.verify_file(FILE) == {"registered": True}
    assert "X-TL-Key" not in node.requests[-1].headers


def test_events_are_read_from_the_stream(node: FakeNode) -> None:
    stream = (
        ": keep-alive\n\n"
        'event: block\ndata: {"height": 5}\n\n'
        'event: tx\ndata: {"id": "ab",\ndata:  "code": "ok"}\n\n'
    )
    node.routes["/v1/events"] = lambda request: httpx.Response(
        200, text=stream, headers={"content-type": "text/event-stream"}
    )
    events = list(make_client(node).events())
    assert [(e.type, e.data) for e in events] == [
        ("block", {"height": 5}),
        ("tx", {"id": "ab", "code": "ok"}),
    ]
    assert "X-TL-Signature" in node.requests[-1].headers
    node.routes["/v1/events"] = lambda request: httpx.Response(
        403, json={"error": "forbidden", "detail": "no"}
    )
    with pytest.raises(ApiError, match="forbidden"):
        list(make_client(node).events())


def test_the_genesis_file_round_trips_for_offline_use(tmp_path: Path, chain_bundle: Any) -> None:
    path = tmp_path / "genesis.json"
    path.write_text(chain_bundle.genesis.to_json())
    assert json.loads(path.read_text())["chain_id"] == chain_bundle.genesis.chain_id
