from __future__ import annotations

import random
from pathlib import Path

import plyvel
import pytest

from ledger import merkle
from ledger.codec import decode, encode
from ledger.crypto import sha256
from ledger.errors import StoreCorrupted, StoreError
from ledger.store import LedgerStore
from tests.chain import ChainBuilder


def build(path: Path, blocks: int = 5, per_block: int = 3) -> ChainBuilder:
    chain = ChainBuilder()
    with LedgerStore.open(path, chain.genesis) as store:
        for height in range(1, blocks + 1):
            txs = [chain.transaction(n=height * 10 + i) for i in range(per_block)]
            executed = chain.next_block(txs, {f"k/{height}": height, "k/1": None})
            store.persist_block(executed)
    return chain


def test_blocks_state_and_log_survive_reopen(tmp_path: Path) -> None:
    chain = build(tmp_path / "db")
    with LedgerStore.open(tmp_path / "db") as store:
        assert store.height == 5
        assert store.head.header_hash == chain.previous_hash
        assert store.get("k/5") == 5
        assert store.get("k/1") is None  # deleted by a later block
        assert [key for key, _ in store.state_items("k/")] == ["k/2", "k/3", "k/4", "k/5"]
        assert store.log.size == 15
        assert store.log.root() == chain.log.root()
        block = store.block(3)
        assert block is not None
        commit = store.commit(3)
        assert commit is not None
        commit.verify(chain.chain_id, store.validators_at(3))
        assert store.result_codes(3) == ("ok", "ok", "ok")


def test_inclusion_proof_of_a_stored_transaction_verifies(tmp_path: Path) -> None:
    build(tmp_path / "db")
    with LedgerStore.open(tmp_path / "db") as store:
        block = store.block(4)
        assert block is not None
        from ledger.types import Transaction

        tx = Transaction.decode(block.transactions[1])
        location = store.transaction_location(tx.id)
        assert location is not None
        assert (location.height, location.index, location.log_index) == (4, 1, 10)
        proof = store.log.inclusion_proof(location.log_index, block.header.log_size)
        merkle.verify_inclusion(
            merkle.leaf_hash(block.transactions[1]),
            location.log_index,
            block.header.log_size,
            proof,
            block.header.log_root,
        )


def test_refuses_a_different_genesis(tmp_path: Path) -> None:
    build(tmp_path / "db", blocks=1)
    other = ChainBuilder(chain_id="other-chain")
    with pytest.raises(StoreError, match="other-chain"):
        LedgerStore.open(tmp_path / "db", other.genesis)


def test_empty_store_without_genesis_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no genesis"):
        LedgerStore.open(tmp_path / "db")


def _tamper(path: Path, key: bytes, value: bytes | None) -> None:
    db = plyvel.DB(str(path))
    if value is None:
        db.delete(key)
    else:
        db.put(key, value)
    db.close()


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"b/" + (5).to_bytes(8, "big"), None, "missing"),
        (b"c/" + (5).to_bytes(8, "big"), None, "missing"),
        (b"b/" + (6).to_bytes(8, "big"), b"\x80", "beyond the head"),
        (b"m/" + bytes(1) + (14).to_bytes(8, "big"), None, "Merkle|missing"),
        (b"m/" + bytes([3]) + (0).to_bytes(8, "big"), bytes(32), "log root"),
        (b"meta/head", b"\xc1", "head record unreadable"),
        (b"meta/head", None, "no head record"),
    ],
)
def test_open_refuses_an_inconsistent_store(
    tmp_path: Path, key: bytes, value: bytes | None, reason: str
) -> None:
    build(tmp_path / "db")
    _tamper(tmp_path / "db", key, value)
    with pytest.raises(StoreCorrupted, match=reason):
        LedgerStore.open(tmp_path / "db")


def test_genesis_state_is_stored_and_verified(tmp_path: Path) -> None:
    from ledger.verify import verify_directory

    chain = ChainBuilder(genesis_state={"org/customs": {"name": "Customs"}})
    with LedgerStore.open(tmp_path / "db", chain.genesis, chain.genesis_state) as store:
        assert store.get("org/customs") == {"name": "Customs"}
        store.persist_block(chain.next_block([chain.transaction()], {"doc/1": 1}))
    report = verify_directory(tmp_path / "db")
    assert report.ok, report.problem
    db = plyvel.DB(str(tmp_path / "db"))
    db.put(b"s/org/customs", b"\xa1x")
    db.close()
    report = verify_directory(tmp_path / "db")
    assert report.problem is not None
    assert "org/customs" in report.problem.what


def _store_with_tables(path: Path) -> list[Path]:
    """A store of 40 blocks (about 5 MB) laid out as LevelDB does in time: tables of at most
    256 KiB with disjoint key ranges. Its tables in key order; the first hold old blocks,
    which opening the store does not read."""
    chain = ChainBuilder()
    with LedgerStore.open(path, chain.genesis) as store:
        for height in range(1, 41):
            txs = [
                chain.transaction(n=n, pad=random.Random(n).randbytes(6000))  # incompressible
                for n in range(height * 100, height * 100 + 20)
            ]
            store.persist_block(chain.next_block(txs, {f"k/{height}": height}))
    db = plyvel.DB(str(path), max_file_size=256 * 1024)
    db.compact_range(start=b"\x00", stop=b"\xff")  # (without bounds plyvel compacts nothing)
    db.close()
    tables = sorted(path.glob("*.ldb"))  # compaction numbers its output in key order
    assert len(tables) >= 4, f"{len(tables)} table files: nothing old to damage"
    return tables


@pytest.mark.parametrize("keep", [0.0, 0.5], ids=["emptied", "cut-in-half"])
def test_a_truncated_table_stops_the_store_at_open(tmp_path: Path, keep: float) -> None:
    # LevelDB's iterators step over a table that does not open, and plyvel does not report
    # it: the checksum pass alone passed such a store, with the table's keys missing.
    from ledger.verify import verify_directory

    table = _store_with_tables(tmp_path / "db")[0]
    table.write_bytes(table.read_bytes()[: int(table.stat().st_size * keep)])
    with pytest.raises(StoreCorrupted, match=f"table {table.name} is"):
        LedgerStore.open(tmp_path / "db")
    report = verify_directory(tmp_path / "db")
    assert report.problem is not None
    assert table.name in report.problem.what


def test_a_missing_table_stops_the_store_at_open(tmp_path: Path) -> None:
    table = _store_with_tables(tmp_path / "db")[0]
    table.unlink()
    with pytest.raises(StoreCorrupted, match=f"missing files; e.g.: .*{table.name}"):
        LedgerStore.open(tmp_path / "db")


class _FailingStore(LedgerStore):
    """A store whose next block write fails as a full or broken disk would."""

    fail_next = True

    def _write_block(self, *args: object, **kwargs: object) -> None:
        if self.fail_next:
            self.fail_next = False
            raise StoreError("disk full")
        super()._write_block(*args, **kwargs)  # type: ignore[arg-type]


def test_a_failed_block_write_leaves_the_store_at_its_head(tmp_path: Path) -> None:
    chain = ChainBuilder()
    with LedgerStore.open(tmp_path / "db", chain.genesis) as plain:
        plain.persist_block(chain.next_block([chain.transaction()]))
    store = _FailingStore.open(tmp_path / "db")
    with store:
        executed = chain.next_block([chain.transaction(), chain.transaction()])
        with pytest.raises(StoreError, match="disk full"):
            store.persist_block(executed)
        assert store.height == 1
        assert store.log.size == 1
        store.persist_block(executed)  # the same block again, once the disk is back
        assert store.height == 2
        assert store.log.root() == chain.log.root()


def test_a_flipped_byte_in_an_old_table_stops_the_store_at_open(tmp_path: Path) -> None:
    table = _store_with_tables(tmp_path / "db")[0]
    data = bytearray(table.read_bytes())
    data[len(data) // 3] ^= 0x10  # inside the data blocks of old blocks, far from the head
    table.write_bytes(bytes(data))
    with pytest.raises(StoreCorrupted, match="checksum"):
        LedgerStore.open(tmp_path / "db")


def test_parsed_records_are_cached_until_a_block_writes_their_key(tmp_path: Path) -> None:
    chain = ChainBuilder()
    parsed: list[object] = []

    def parse(value: object) -> tuple[object]:
        parsed.append(value)
        return (value,)

    with LedgerStore.open(tmp_path / "db", chain.genesis) as store:
        store.persist_block(chain.next_block([], {"k/a": 1, "k/b": 2}))
        assert store.get_parsed("k/a", parse) == (1,)
        assert store.get_parsed("k/a", parse) == (1,)
        assert store.get_parsed("k/none", parse) is None
        assert store.get_parsed("k/none", parse) is None
        assert parsed == [1]  # each key read and parsed once
        store.persist_block(chain.next_block([], {"k/a": 3, "k/none": 4, "k/b": None}))
        assert store.get_parsed("k/a", parse) == (3,)
        assert store.get_parsed("k/none", parse) == (4,)
        assert store.get_parsed("k/b", parse) is None
        assert parsed == [1, 3, 4]


def test_the_change_record_names_each_value_by_its_digest(tmp_path: Path) -> None:
    chain = build(tmp_path / "db")
    with LedgerStore.open(tmp_path / "db") as store:
        changes = store.block_changes(2)
        assert changes == [("k/1", None), ("k/2", sha256(encode(2)))]
        record = store.change_record(2)
        assert record is not None
        assert decode(record) == [["k/1", None], ["k/2", sha256(encode(2))]]
    assert chain.height == 5
