"""Execution: what one node builds, another accepts bit for bit; anything else is refused.

Two "nodes" are two real `LedgerStore`s over one genesis whose four validators' keys the
test holds, so commits are real precommit signatures and `ledger verify` can check the
chains the nodes persist.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

import contracts
from contracts.testing import Network, issue_body, seeded_key
from ledger.crypto import SigningKey
from ledger.errors import LedgerError, ValidationError
from ledger.store import LedgerStore
from ledger.types import (
    Block,
    Commit,
    Genesis,
    Header,
    Transaction,
    Validator,
    ValidatorSet,
)
from ledger.verify import verify_directory
from network.consensus import Decided
from node.execution import InvalidBlock, LedgerApplication
from tests.chain import signed_commit

VALIDATOR_KEYS = [seeded_key(f"validator/{i}") for i in range(4)]
STRANGER = seeded_key("stranger")


def validator_genesis(net: Network) -> Genesis:
    """The test network's organisations, with four validators whose keys we hold."""
    validators = ValidatorSet.of(
        [Validator(node_key=key.public_key, power=1, organisation="gov") for key in VALIDATOR_KEYS]
    )
    return dataclasses.replace(net.genesis, validators=validators)


def sign_commit(
    chain_id: str,
    block: Block,
    timestamps_ms: Sequence[int],
    keys: Sequence[SigningKey] = VALIDATOR_KEYS,
) -> Commit:
    """Precommits for `block` by the first len(timestamps_ms) of `keys`, one timestamp each."""
    return signed_commit(chain_id, block.height, block.hash(), keys, timestamps_ms)


@dataclass
class Node:
    path: Path
    store: LedgerStore
    app: LedgerApplication


class Cluster:
    def __init__(self, root: Path) -> None:
        self.net = Network()
        self.genesis = validator_genesis(self.net)
        self.chain_id = self.genesis.chain_id
        self.a = self.open(root / "a", VALIDATOR_KEYS[0])
        self.b = self.open(root / "b", VALIDATOR_KEYS[1])

    def open(
        self,
        path: Path,
        key: SigningKey,
        verified: Callable[[bytes], Transaction | None] = lambda data: None,
    ) -> Node:
        store = LedgerStore.open(path, self.genesis, contracts.genesis_writes(self.genesis))
        return Node(path=path, store=store, app=LedgerApplication(store, key.public_key, verified))

    @property
    def nodes(self) -> tuple[Node, Node]:
        return self.a, self.b

    def close(self) -> None:
        for node in self.nodes:
            node.store.close()

    def transactions(self) -> list[Transaction]:
        """Accepted and refused ones alike: each leaves a result code and a replay record."""
        net = self.net
        return [
            net.tx("carrier", "bl.issue", issue_body("BL-1", "seller", to_order=True)),
            net.tx("buyer", "bl.issue", issue_body("BL-2", "seller", to_order=True)),
            net.tx(STRANGER, "bl.issue", issue_body("BL-3", "seller", to_order=True)),
        ]

    def decide(self, value: bytes, timestamps_ms: Sequence[int]) -> Decided:
        block = Block.decode(value)
        return Decided(value=value, commit=sign_commit(self.chain_id, block, timestamps_ms))


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path)
    yield cluster
    cluster.close()  # closing twice is harmless


def flip(digest: bytes) -> bytes:
    return bytes([digest[0] ^ 0x01]) + digest[1:]


def with_header(value: bytes, **changes: object) -> bytes:
    block = Block.decode(value)
    header = replace(block.header, **changes)  # type: ignore[arg-type]
    return replace(block, header=header).encode()


def refusal(app: LedgerApplication, height: int, value: bytes) -> str:
    """validate says None, and check says why."""
    assert app.validate(height, value) is None
    with pytest.raises(InvalidBlock) as caught:
        app.check(height, value)
    return str(caught.value)


# --- building and validating --------------------------------------------------------------


def test_a_built_block_is_accepted_by_another_node_with_the_same_hash_and_time(
    cluster: Cluster,
) -> None:
    txs = cluster.transactions()
    value = cluster.a.app.build([tx.encode() for tx in txs])
    block = Block.decode(value)
    assert block.transactions == tuple(tx.encode() for tx in txs)
    assert block.last_commit is None
    assert block.header.proposer == VALIDATOR_KEYS[0].public_key
    assert block.header.time_ms == cluster.genesis.genesis_time_ms
    assert block.header.previous_hash == cluster.genesis.hash()
    for node in cluster.nodes:
        checked = node.app.validate(1, value)
        assert checked is not None
        assert checked.value_hash == block.hash()
        assert checked.time_ms == block.header.time_ms
    candidate = cluster.b.app.check(1, value)
    assert candidate.block == block
    assert candidate.result.code_values() == ("ok", "role_not_allowed", "key_unknown")
    assert candidate.transactions == tuple(txs)


def test_an_empty_block_is_accepted_too(cluster: Cluster) -> None:
    value = cluster.a.app.build([])
    checked = cluster.b.app.validate(1, value)
    assert checked is not None
    assert checked.value_hash == Block.decode(value).hash()


HEADER_TAMPERS: dict[str, Callable[[Header], object]] = {
    "time_ms": lambda h: h.time_ms + 1,
    "state_root": lambda h: flip(h.state_root),
    "results_root": lambda h: flip(h.results_root),
    "log_root": lambda h: flip(h.log_root),
    "log_size": lambda h: h.log_size + 1,
    "tx_root": lambda h: flip(h.tx_root),
    "previous_hash": lambda h: flip(h.previous_hash),
    "last_commit_hash": lambda h: flip(h.last_commit_hash),
    "evidence_hash": lambda h: flip(h.evidence_hash),
    "validators_hash": lambda h: flip(h.validators_hash),
    "next_validators_hash": lambda h: flip(h.next_validators_hash),
    "chain_id": lambda h: "tradeledger-other",
}


@pytest.mark.parametrize("field", sorted(HEADER_TAMPERS))
def test_a_block_with_one_header_field_changed_is_refused(cluster: Cluster, field: str) -> None:
    value = cluster.a.app.build([tx.encode() for tx in cluster.transactions()])
    header = Block.decode(value).header
    tampered = with_header(value, **{field: HEADER_TAMPERS[field](header)})
    assert Block.decode(tampered).header != header
    for node in cluster.nodes:  # the builder is not fooled by its own cached candidate either
        assert f"header.{field}:" in refusal(node.app, 1, tampered)
    assert cluster.b.app.validate(1, value) is not None  # the genuine block still passes


def test_a_block_from_a_proposer_that_is_not_a_validator_is_refused(cluster: Cluster) -> None:
    value = cluster.a.app.build([tx.encode() for tx in cluster.transactions()])
    tampered = with_header(value, proposer=STRANGER.public_key)
    assert "proposer is not a validator" in refusal(cluster.b.app, 1, tampered)


def test_a_block_with_a_broken_transaction_signature_is_refused(cluster: Cluster) -> None:
    txs = cluster.transactions()
    value = cluster.a.app.build([tx.encode() for tx in txs])
    block = Block.decode(value)
    signature = bytearray(txs[1].signature)
    signature[0] ^= 0x01
    broken = replace(txs[1], signature=bytes(signature)).encode()
    tampered = replace(block, transactions=(block.transactions[0], broken, block.transactions[2]))
    assert tampered.hash() == block.hash()  # the header is unchanged: only the body differs
    for node in cluster.nodes:  # the builder holds a candidate under this very hash
        reason = refusal(node.app, 1, tampered.encode())
        assert reason.startswith("transaction 1:")
        assert "signature" in reason


def test_a_block_with_an_undecodable_transaction_is_refused(cluster: Cluster) -> None:
    block = Block.decode(cluster.a.app.build([tx.encode() for tx in cluster.transactions()]))
    tampered = replace(block, transactions=(block.transactions[0], b"\xc1", block.transactions[2]))
    assert refusal(cluster.b.app, 1, tampered.encode()).startswith("transaction 1:")


def test_a_block_for_another_height_is_refused(cluster: Cluster) -> None:
    value = cluster.a.app.build([tx.encode() for tx in cluster.transactions()])
    assert "height 2, but the store is at 0" in refusal(cluster.b.app, 2, value)
    assert "height 0, but the store is at 0" in refusal(cluster.b.app, 0, value)
    relabelled = with_header(value, height=2)
    assert "header height 2 != 1" in refusal(cluster.b.app, 1, relabelled)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda value: b"", id="empty"),
        pytest.param(lambda value: b"\xc1", id="reserved-byte"),
        pytest.param(lambda value: value[:-1], id="truncated"),
        pytest.param(lambda value: value + b"\x00", id="trailing-byte"),
        pytest.param(lambda value: with_header(value, tx_count=2), id="tx-count-mismatch"),
    ],
)
def test_undecodable_bytes_are_refused(cluster: Cluster, mangle: Callable[[bytes], bytes]) -> None:
    value = cluster.a.app.build([tx.encode() for tx in cluster.transactions()])
    assert refusal(cluster.b.app, 1, mangle(value)).startswith("undecodable:")


def test_block_1_carrying_a_previous_commit_is_refused(cluster: Cluster) -> None:
    value = cluster.a.app.build([])
    block = Block.decode(value)
    bogus = sign_commit(cluster.chain_id, block, [1, 2, 3])
    tampered = replace(block, last_commit=bogus).encode()
    assert "block 1 carries a previous commit" in refusal(cluster.b.app, 1, tampered)


def test_signatures_the_mempool_verified_are_not_checked_again(cluster: Cluster) -> None:
    txs = cluster.transactions()
    forged = replace(txs[0], signature=bytes(64)).encode()  # decodes; does not verify
    value = cluster.a.app.build([forged, *(tx.encode() for tx in txs[1:])])
    asked: list[bytes] = []
    vouched = {forged}

    def verified_here(data: bytes) -> Transaction | None:
        asked.append(data)
        return Transaction.decode(data) if data in vouched else None

    assert refusal(cluster.b.app, 1, value).startswith("transaction 0:")  # checked by default
    cluster.b.store.close()
    cluster.b = cluster.open(cluster.b.path, VALIDATOR_KEYS[1], verified_here)
    # asked once per transaction; what the callback vouches for is not checked again
    assert cluster.b.app.validate(1, value) is not None
    assert asked == list(Block.decode(value).transactions)
    vouched.clear()
    cluster.b.store.close()  # a fresh application: the accepted candidate is cached
    cluster.b = cluster.open(cluster.b.path, VALIDATOR_KEYS[1], verified_here)
    assert refusal(cluster.b.app, 1, value).startswith("transaction 0:")


def test_a_certified_block_is_executed_without_checking_its_signatures_again(
    cluster: Cluster,
) -> None:
    txs = cluster.transactions()
    forged = replace(txs[0], signature=bytes(64)).encode()  # decodes; does not verify
    value = cluster.a.app.build([forged, *(tx.encode() for tx in txs[1:])])
    block_hash = Block.decode(value).hash()
    cluster.b.app.certify(1, bytes(32))  # a commit for another block certifies nothing here
    assert refusal(cluster.b.app, 1, value).startswith("transaction 0:")
    cluster.b.app.certify(2, block_hash)  # nor one for another height
    assert refusal(cluster.b.app, 1, value).startswith("transaction 0:")
    cluster.b.app.certify(1, block_hash)
    assert cluster.b.app.validate(1, value) is not None
    # the rest is still checked: a certified hash does not vouch for a different header
    block = Block.decode(value)
    tampered = replace(block, header=replace(block.header, time_ms=7)).encode()
    assert refusal(cluster.b.app, 1, tampered)


# --- deciding and persisting --------------------------------------------------------------


def test_decided_blocks_persist_identically_on_two_nodes_and_verify(cluster: Cluster) -> None:
    genesis_ms = cluster.genesis.genesis_time_ms
    a, b = cluster.nodes
    txs = cluster.transactions()

    # height 1: node B validated the proposal, so it persists its executed candidate
    value_1 = a.app.build([tx.encode() for tx in txs])
    assert b.app.validate(1, value_1) is not None
    # precommit clocks 100, 900, 300, 700 ms after genesis: the median (2 of 4 power) is 300
    decided_1 = cluster.decide(
        value_1, [genesis_ms + 100, genesis_ms + 900, genesis_ms + 300, 700 + genesis_ms]
    )
    for node in cluster.nodes:
        candidate = node.app.execute_and_persist(decided_1)
        assert candidate.block.hash() == decided_1.value_hash
        assert node.store.height == 1
    assert a.store.head == b.store.head
    assert a.store.commit(1) == decided_1.commit
    for node in cluster.nodes:  # candidates of height 1 are forgotten once it is persisted
        assert refusal(node.app, 2, value_1) == "header height 1 != 2"

    # height 2 carries commit 1 and takes its median time
    more = [
        cluster.net.tx("seller", "bl.issue", issue_body("BL-4", "seller", to_order=True)),
        cluster.net.tx("carrier", "bl.issue", issue_body("BL-5", "buyer", to_order=True)),
    ]
    value_2 = a.app.build([tx.encode() for tx in more])
    block_2 = Block.decode(value_2)
    assert block_2.last_commit == decided_1.commit
    assert block_2.header.last_commit_hash == decided_1.commit.hash()
    assert block_2.header.time_ms == genesis_ms + 300
    assert block_2.header.previous_hash == a.store.head.header_hash
    checked = b.app.validate(2, value_2)
    assert checked is not None
    assert (checked.value_hash, checked.time_ms) == (block_2.hash(), genesis_ms + 300)

    # node C never saw block 2 proposed: it verifies the commit and executes on persist
    c = cluster.open(cluster.b.path.parent / "c", VALIDATOR_KEYS[2])
    c.app.execute_and_persist(decided_1)
    decided_2 = cluster.decide(value_2, [genesis_ms + 1_000] * 3)
    for node in (a, b, c):
        node.app.execute_and_persist(decided_2)
        assert node.store.height == 2
    assert a.store.head == b.store.head == c.store.head
    for height in (1, 2):
        assert (
            a.store.block_bytes(height)
            == b.store.block_bytes(height)
            == c.store.block_bytes(height)
        )
        assert a.store.result_codes(height) == b.store.result_codes(height)
    assert a.store.result_codes(1) == ("ok", "role_not_allowed", "key_unknown")
    assert a.store.result_codes(2) == ("role_not_allowed", "ok")
    assert list(a.store.state_items("")) == list(b.store.state_items(""))
    location = a.store.transaction_location(more[1].id)
    assert location is not None
    assert (location.height, location.index, location.log_index) == (2, 1, 4)

    c.store.close()
    cluster.close()
    reports = [verify_directory(node.path) for node in (a, b, c)]
    for report in reports:
        assert report.ok, report.problem
        assert report.height == 2
        assert report.transaction_count == 5
    assert reports[0].head_hash == reports[1].head_hash == reports[2].head_hash


def _persist_block_1(cluster: Cluster) -> Decided:
    value = cluster.a.app.build([tx.encode() for tx in cluster.transactions()])
    ms = cluster.genesis.genesis_time_ms
    decided = cluster.decide(value, [ms + 10, ms + 20, ms + 30])
    for node in cluster.nodes:
        node.app.execute_and_persist(decided)
    return decided


def test_block_2_with_a_bad_previous_commit_is_refused(cluster: Cluster) -> None:
    decided_1 = _persist_block_1(cluster)
    block_1 = Block.decode(decided_1.value)
    value = cluster.a.app.build([])
    block = Block.decode(value)
    ms = cluster.genesis.genesis_time_ms

    missing = replace(block, last_commit=None).encode()
    assert "previous commit missing" in refusal(cluster.b.app, 2, missing)

    below_quorum = sign_commit(cluster.chain_id, block_1, [ms + 10, ms + 20])
    reason = refusal(cluster.b.app, 2, replace(block, last_commit=below_quorum).encode())
    assert "previous commit invalid" in reason
    assert "quorum" in reason

    by_a_stranger = sign_commit(
        cluster.chain_id, block_1, [ms + 10] * 3, [*VALIDATOR_KEYS[:2], STRANGER]
    )
    reason = refusal(cluster.b.app, 2, replace(block, last_commit=by_a_stranger).encode())
    assert "previous commit invalid" in reason

    for_block_2 = sign_commit(cluster.chain_id, block, [ms + 10] * 3)
    reason = refusal(cluster.b.app, 2, replace(block, last_commit=for_block_2).encode())
    assert "previous commit is not for the previous block" in reason

    other_block_1 = replace(block_1, header=replace(block_1.header, time_ms=ms + 1))
    for_another_block_1 = sign_commit(cluster.chain_id, other_block_1, [ms + 10] * 3)
    reason = refusal(cluster.b.app, 2, replace(block, last_commit=for_another_block_1).encode())
    assert "previous commit is not for the previous block" in reason

    # another valid commit for block 1 may be carried, but the header must follow from it
    other_valid = sign_commit(cluster.chain_id, block_1, [ms + 50, ms + 60, ms + 70, ms + 80])
    swapped = replace(block, last_commit=other_valid)
    reason = refusal(cluster.b.app, 2, swapped.encode())
    assert reason.startswith("header.last_commit_hash:")
    consistent = replace(
        swapped,
        header=replace(block.header, last_commit_hash=other_valid.hash(), time_ms=ms + 60),
    )
    checked = cluster.b.app.validate(2, consistent.encode())
    assert checked is not None
    assert (checked.value_hash, checked.time_ms) == (consistent.hash(), ms + 60)
    inconsistent_time = replace(consistent, header=replace(consistent.header, time_ms=ms + 70))
    reason = refusal(cluster.b.app, 2, inconsistent_time.encode())
    assert reason.startswith("header.time_ms:")

    assert cluster.b.app.validate(2, value) is not None


def test_a_decided_block_with_an_invalid_commit_is_not_persisted(cluster: Cluster) -> None:
    value = cluster.a.app.build([tx.encode() for tx in cluster.transactions()])
    block = Block.decode(value)
    ms = cluster.genesis.genesis_time_ms
    below_quorum = Decided(value=value, commit=sign_commit(cluster.chain_id, block, [ms, ms]))
    with pytest.raises(LedgerError, match="quorum"):
        cluster.b.app.execute_and_persist(below_quorum)
    assert cluster.b.store.height == 0
    assert cluster.b.store.block_bytes(1) is None


# --- blocks an honest proposer never builds ---------------------------------------------------


def _persist_everywhere(cluster: Cluster, value: bytes, timestamps_ms: Sequence[int]) -> None:
    decided = cluster.decide(value, timestamps_ms)
    for node in cluster.nodes:
        node.app.execute_and_persist(decided)


@pytest.mark.parametrize("where", ["in-a-later-block", "twice-in-one-block"])
def test_a_block_replaying_a_transaction_is_refused(cluster: Cluster, where: str) -> None:
    # A replay would give one id two places in the transaction index and break
    # `ledger verify` on every node, so validators refuse the block outright.
    ms = cluster.genesis.genesis_time_ms
    replayed = cluster.transactions()[0].encode()
    if where == "in-a-later-block":
        _persist_everywhere(cluster, cluster.a.app.build([replayed]), [ms + 10] * 3)
    value = _forged_block(cluster, [replayed] if where == "in-a-later-block" else [replayed] * 2)
    height = cluster.b.store.height + 1
    assert cluster.b.app.validate(height, value) is None
    with pytest.raises(InvalidBlock, match="already committed"):
        cluster.b.app.check(height, value)


def test_a_block_with_a_transaction_for_another_chain_is_refused(cluster: Cluster) -> None:
    other = Network(chain_id="tradeledger-other")
    foreign = other.tx("carrier", "bl.issue", issue_body("BL-9", "seller", to_order=True))
    value = _forged_block(cluster, [foreign.encode()])
    assert cluster.b.app.validate(1, value) is None
    with pytest.raises(InvalidBlock, match="signed for chain"):
        cluster.b.app.check(1, value)


def test_the_proposer_leaves_out_what_validators_would_refuse(cluster: Cluster) -> None:
    replayed = cluster.transactions()[0].encode()
    foreign = Network(chain_id="tradeledger-other").tx(
        "carrier", "bl.issue", issue_body("BL-9", "seller", to_order=True)
    )
    value = cluster.a.app.build([replayed, replayed, foreign.encode()])
    assert Block.decode(value).transactions == (replayed,)
    assert cluster.b.app.validate(1, value) is not None


def _forged_block(cluster: Cluster, transactions: list[bytes]) -> bytes:
    """An otherwise valid next block whose transactions are replaced (a Byzantine proposer)."""
    block = Block.decode(cluster.a.app.build([]))
    return replace(
        block,
        transactions=tuple(transactions),
        header=replace(block.header, tx_count=len(transactions)),
    ).encode()


def test_a_transaction_whose_chain_id_is_not_ascii_is_refused_not_raised(
    cluster: Cluster,
) -> None:
    carrier = cluster.net.key("carrier").public_key
    unsignable = Transaction(
        chain_id="tradeledger-tést",  # 1..64 characters, but no chain id is non-ASCII
        kind="bl.issue",
        sender=carrier,
        nonce=1,
        expiry_height=10,
        body={},
        signature=bytes(64),
    ).encode()
    with pytest.raises(ValidationError, match="chain_id"):
        Transaction.decode(unsignable)
    block = Block.decode(cluster.a.app.build([]))
    forged = replace(
        block,
        transactions=(unsignable,),
        header=replace(block.header, tx_count=1),
    )
    assert cluster.b.app.validate(1, forged.encode()) is None
    with pytest.raises(InvalidBlock, match="transaction 0"):
        cluster.b.app.check(1, forged.encode())
