"""Four validator processes on loopback with real LevelDB, mutual TLS and HTTP.

One devnet serves the module; each test leaves it with all four nodes running. At the end
every node is stopped and its data directory verified end to end: the four chains agree.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import threading
from collections.abc import Iterator

import msgpack
import pytest

from ledger.crypto import SigningKey
from ledger.store import LedgerStore
from ledger.types import SignedVote, Transaction, Vote, VoteKind
from ledger.verify import verify_directory
from network.consensus import encode_message
from network.transport import PeerAddress, Transport, TransportConfig
from node.config import load_node_key
from node.demo import run_demo
from tests.devnet_harness import Devnet, wait_until

pytestmark = pytest.mark.timeout(300)

SEED = int(os.environ.get("TRADELEDGER_NODE_SEED", random.SystemRandom().randrange(2**32)))
COMMIT_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    directory = tmp_path_factory.mktemp("devnet")
    net = Devnet.create(directory)
    try:
        yield net
    finally:
        net.stop()
    reports = [verify_directory(net.data_dir(i)) for i in range(len(net.nodes))]
    for index, report in enumerate(reports):
        assert report.ok, f"node {index}: {report.problem}"
    common = min(r.height for r in reports)
    assert common > 0
    hashes = set()
    for index in range(len(net.nodes)):
        with LedgerStore.open(net.data_dir(index)) as store:
            block = store.block(common)
            assert block is not None
            hashes.add(block.hash())
    assert len(hashes) == 1, f"the nodes' chains differ at height {common}"


def all_agree_up_to(net: Devnet, height: int) -> bool:
    if min(net.height(i) for i in range(len(net.nodes))) < height:
        return False
    return len({net.block_hash(i, height) for i in range(len(net.nodes))}) == 1


def test_transactions_submitted_to_every_node_commit_everywhere(net: Devnet) -> None:
    ids = []
    for index in range(8):
        tx = net.bill(f"BL-ALL-{index}")
        answer = net.submit(index % 4, tx)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["status"], body["code"]) == ("committed", "ok")
        ids.append((tx.id.hex(), body["height"]))
    top = max(height for _, height in ids)
    wait_until(lambda: all_agree_up_to(net, top), COMMIT_TIMEOUT_S, f"all nodes at height {top}")
    for node in range(4):
        for height in range(1, top + 1):
            assert net.block_hash(node, height) == net.block_hash(0, height)
        for tx_id, height in ids:
            answer = net.http.get(f"{net.url(node)}/v1/transactions/{tx_id}")
            assert answer.json()["height"] == height


def test_large_transactions_in_one_batch_commit_everywhere(net: Devnet) -> None:
    # 1.8 MB in one batch: the blocks built from it cross the transport whole (a 1 MiB codec
    # default once stalled the network under such load).
    key = net.member_key("seller")
    height = net.height(0)
    txs = [
        Transaction.create(
            key,
            chain_id=net.chain_id,
            kind="bl.transfer",
            nonce=index + 1,
            expiry_height=height + 1_000,
            body={"padding": bytes([index]) * 60_000},  # refused by the contract, still committed
        )
        for index in range(30)
    ]
    answer = net.http.post(
        f"{net.url(0)}/v1/transactions/batch",
        content=msgpack.packb([tx.encode() for tx in txs]),
        headers={"content-type": "application/msgpack"},
    )
    assert answer.status_code == 200, answer.text[:500]
    assert all("error" not in item for item in answer.json()["results"])

    def all_committed() -> bool:
        return all(
            net.http.get(f"{net.url(3)}/v1/transactions/{tx.id.hex()}").json().get("status")
            == "committed"
            for tx in txs
        )

    # How the 30 split into blocks depends on timing; that a frame holds the largest block is
    # asserted deterministically in tests/test_runtime_limits.py.
    wait_until(all_committed, COMMIT_TIMEOUT_S, "30 large transactions to commit everywhere")


def test_the_demo_trade_over_real_http(net: Devnet) -> None:
    steps = run_demo(net.directory)
    assert [step.who for step in steps] == [
        "carrier",
        "chamber-nl",
        "bank-sg",
        "bank-nl",
        "seller",
        "buyer",
        "customs-nl",
        "customs-nl",
        "buyer",
        "carrier",
        "anyone",
        "buyer",
    ]
    assert "file matches: True" in steps[-1].detail


def test_a_killed_validator_catches_up_and_nothing_committed_is_lost(net: Devnet) -> None:
    rng = random.Random(SEED)
    committed: list[str] = []
    for round_ in range(3):
        _kill_one_under_load(net, rng, round_, committed)
    for node in range(4):
        for tx_id in committed:
            answer = net.http.get(f"{net.url(node)}/v1/transactions/{tx_id}")
            assert answer.status_code == 200, f"{tx_id} missing on node {node} (seed {SEED})"
            assert answer.json()["status"] == "committed"


def _kill_one_under_load(
    net: Devnet, rng: random.Random, round_: int, committed: list[str]
) -> None:
    """SIGKILL a random validator while transactions flow, at a random point of the load;
    the others keep committing; it restarts and catches up by block sync."""
    victim = rng.randrange(4)
    survivors = [i for i in range(4) if i != victim]
    stop = threading.Event()
    errors: list[str] = []

    def load() -> None:
        for index in range(40):
            if stop.is_set():
                return
            tx = net.bill(f"BL-KILL-{round_}-{index}")
            answer = net.submit(survivors[index % 3], tx)
            if answer.status_code != 200 or answer.json()["code"] != "ok":
                errors.append(answer.text)
                return
            committed.append(tx.id.hex())

    worker = threading.Thread(target=load)
    worker.start()
    try:
        first = len(committed) + rng.randrange(1, 6)
        wait_until(lambda: len(committed) >= first or bool(errors), COMMIT_TIMEOUT_S, "load")
        net.kill(victim)  # at a random moment of the load: mid block write at times
        after_kill = len(committed)
        wait_until(
            lambda: len(committed) >= after_kill + 5 or bool(errors),
            COMMIT_TIMEOUT_S,
            f"three validators to keep committing (seed {SEED})",
        )
    finally:
        stop.set()
        worker.join(timeout=COMMIT_TIMEOUT_S)
    assert not errors, f"{errors[0]} (seed {SEED})"
    net.restart_stopped()
    target = max(net.height(i) for i in survivors)
    wait_until(
        lambda: net.height(victim) >= target,
        COMMIT_TIMEOUT_S,
        f"node {victim} to catch up to height {target} (seed {SEED})",
    )


def _run_transport(key: SigningKey, peers: list[PeerAddress], action: object) -> set[bytes]:
    """Start a transport with `key` dialling `peers`, run `action(transport)`, return the
    peers it was connected to."""

    async def main() -> set[bytes]:
        transport = Transport(
            key=key,
            config=TransportConfig(listen_host="127.0.0.1", listen_port=0, peers=tuple(peers)),
            allowed=frozenset(p.node_key for p in peers),
            on_message=lambda peer, message: None,
        )
        await transport.start()
        try:
            return set(await action(transport))  # type: ignore[operator]
        finally:
            await transport.close()

    return asyncio.run(main())


def _peer(net: Devnet, index: int) -> PeerAddress:
    host, _, port = str(net.nodes[index]["p2p"]).rpartition(":")
    return PeerAddress(
        node_key=bytes.fromhex(str(net.nodes[index]["node_key"])), host=host, port=int(port)
    )


async def _connected_within(
    transport: Transport, expected: int, timeout_s: float
) -> frozenset[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    # The transport has no connection event to await: poll, bounded by the deadline.
    while len(transport.connected_peers()) < expected and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return transport.connected_peers()


def test_a_peer_with_an_unlisted_key_is_refused(net: Devnet) -> None:
    stranger = SigningKey(bytes(range(32)))

    async def try_connect(transport: Transport) -> frozenset[bytes]:
        return await _connected_within(transport, 1, timeout_s=3.0)

    assert _run_transport(stranger, [_peer(net, 0)], try_connect) == set()
    tx = net.bill("BL-AFTER-STRANGER")
    assert net.submit(1, tx).json()["code"] == "ok"


def test_garbage_oversized_frames_and_forged_messages_do_not_stop_the_network(
    net: Devnet,
) -> None:
    host, _, port = str(net.nodes[0]["p2p"]).rpartition(":")
    for payload in (b"\x16\x03\x01garbage" * 100, b"\xff\xff\xff\xff", os.urandom(4096)):
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            raw.sendall(payload)
    # Pose as validator 3 (its key is on disk) while it is down, and send forged messages.
    net.kill(3)
    impostor_key = load_node_key(net.directory / "nodes" / "node3" / "node.key")
    victim_key = bytes.fromhex(str(net.nodes[1]["node_key"]))
    height = net.height(0)

    async def attack(transport: Transport) -> frozenset[bytes]:
        connected = await _connected_within(transport, 3, timeout_s=10.0)
        forged_vote = SignedVote(
            vote=Vote(
                kind=VoteKind.PRECOMMIT,
                height=height + 1,
                round=0,
                block_hash=bytes(32),
                timestamp_ms=1,
                validator=victim_key,  # claims to be node 1, signed by node 3's key
            ),
            signature=impostor_key.sign(
                VoteKind.PRECOMMIT.domain, net.chain_id, b"not the vote's bytes"
            ),
        )
        frames: list[dict[str, object]] = [
            {"type": "consensus", "data": b"\x00garbage"},
            {"type": "consensus", "data": encode_message(forged_vote)},
            {"type": "consensus", "data": 7},
            {"type": "blocks", "items": [{"value": b"x", "commit": {}}]},
            {"type": "get_blocks", "from": -1, "count": 10**9},
            {"type": "txs", "items": [b"\x81\xa1a\x01"]},
            {"type": "txs", "items": "not a list"},
            {"type": "nonsense"},
        ]
        for frame in frames:
            transport.broadcast(frame)  # type: ignore[arg-type]
        return connected

    connected = _run_transport(impostor_key, [_peer(net, i) for i in range(3)], attack)
    assert len(connected) == 3, "the impostor could not connect to the validators"
    tx = net.bill("BL-AFTER-FORGERY")
    answer = net.submit(0, tx)
    assert answer.json()["code"] == "ok", answer.text
    net.restart_stopped()
    target = net.height(0)
    wait_until(lambda: net.height(3) >= target, COMMIT_TIMEOUT_S, "node 3 to rejoin")
    for index in range(3):
        refused = net.status(index)["stats"]
        assert isinstance(refused, dict)
        assert refused["peer_messages_refused"] >= 5


def test_governance_adds_a_validator_whose_votes_then_count(net: Devnet) -> None:
    index = net.add_node("bank-sg")
    new_key = bytes.fromhex(str(net.nodes[index]["node_key"]))
    height = net.height(0)
    proposal = Transaction.create(
        net.admin_key("council"),
        chain_id=net.chain_id,
        kind="gov.propose",
        nonce=1,
        expiry_height=height + 1_000,
        body={
            "action": "validator.set",
            "params": {"node_key": new_key, "organisation": "bank-sg", "power": 1},
            "expiry_height": height + 1_000,
        },
    )
    answer = net.submit(0, proposal)
    assert answer.json()["code"] == "ok", answer.text
    changed_at = int(answer.json()["height"])
    net.restart_stopped()  # starts the new node: it syncs, then votes from `changed_at + 1`
    wait_until(lambda: net.height(index) > changed_at, COMMIT_TIMEOUT_S, "the new node to sync")
    # Five validators: a quorum is four. With one original validator down, blocks commit
    # only if the new validator's votes count.
    net.kill(0)
    tx = net.bill("BL-FIVE-VALIDATORS")
    answer = net.submit(1, tx)
    assert answer.status_code == 200, answer.text
    committed = int(answer.json()["height"])
    assert committed > changed_at
    net.restart_stopped()
    wait_until(lambda: net.height(0) >= committed, COMMIT_TIMEOUT_S, "node 0 to rejoin")
    # Node 1 decided that block while node 0 was down: its commit holds four signatures of
    # validators 1, 2, 3 and the new one.
    block = net.http.get(f"{net.url(1)}/v1/blocks/{committed}").json()
    signers = {signature["validator"] for signature in block["commit"]["signatures"]}
    assert new_key.hex() in signers
