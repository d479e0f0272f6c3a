"""The LedgerStore: the only code that touches LevelDB.

One database per node. Every decided block is persisted in ONE synced write batch holding
the block, its commit, its result codes, its state changes, the new state values, the
transaction index, the new Merkle log nodes and the head record. After a crash the store is
at height h or h+1, never between. On open it checks that the head it records agrees with
the block, the commit, the Merkle log and the state root stored under it, and refuses to
start (StoreCorrupted) when they do not.

Key layout (all heights and indexes are 8-byte big-endian, so keys sort by height):

    meta/genesis          canonical genesis value
    meta/head             {height, header_hash, log_size, log_root, state_root}
    b/<height>            encoded Block
    c/<height>            encoded Commit that decided the block at <height>
    r/<height>            result codes of the block's transactions, in order
    w/<height>            the block's state changes [[key, value|nil], ...] (for audit/replay);
                          w/0 is the initial state the genesis implies
    v/<height>            ValidatorSet in force from <height> (written when it changes)
    t/<tx id>             [height, index in block, index in log]
    m/<level><index>      Merkle log node (1-byte level, 8-byte index)
    s/<state key>         state value
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plyvel

from ledger import merkle
from ledger.codec import Value, decode, decode_trusted, encode
from ledger.errors import DecodeError, StoreCorrupted, StoreError, ValidationError
from ledger.fields import Fields
from ledger.state import (
    GENESIS_STATE_ROOT,
    ChangeList,
    EncodedWrites,
    R,
    Writes,
    encode_writes,
    next_state_root,
    parse_change_record,
    state_root_after,
    writes_record,
)
from ledger.types import Block, Commit, Genesis, Validator, ValidatorSet, transaction_id

LRU_CACHE_BYTES = 32 * 1024 * 1024  # LevelDB's cache of uncompressed table blocks
# LevelDB's memtable. The default (4 MiB) is less than one full block's batch, so every
# block flushed a table to level 0 and set off a compaction that merged it with level 1's
# tables (state keys are hashes: every table overlaps): the compaction thread used a third
# of a node's CPU under load. At 64 MiB (RocksDB's default) it uses a seventh, and the
# devnet commits a third more (docs/benchmarks.md). Costs up to twice this in memory
# (the full memtable while it is written out) and a longer log to replay at open.
WRITE_BUFFER_BYTES = 64 * 1024 * 1024
# LevelDB compresses each table block on its own: at 16 KiB (default 4 KiB) a block holds
# more of the small state records, whose field names and ids repeat, so snappy finds more.
# Disk after compaction 2.93x -> 2.51x the raw transactions; a point read that misses the
# cache decompresses 16 KiB instead of 4 (a few µs). 64 KiB gave 2.36x for four times that.
TABLE_BLOCK_BYTES = 16 * 1024
PARSED_CACHE_MAX = 65_536
VALIDATORS_CACHE_MAX = 1024  # parsed state records kept by `get_parsed`

_GENESIS_KEY = b"meta/genesis"
_HEAD_KEY = b"meta/head"


TABLE_CHECK_ATTEMPTS = 3
# A table in LevelDB's "leveldb.sstables" property: " <file number>:<size in bytes>[...]"
# (keys in the brackets are printed escaped, so no line of a key can look like this).
_TABLE_LINE = re.compile(rb"^ (\d+):(\d+)\[", re.MULTILINE)


def _height_key(prefix: bytes, height: int) -> bytes:
    return prefix + height.to_bytes(8, "big")


def _node_key(level: int, index: int) -> bytes:
    return b"m/" + level.to_bytes(1, "big") + index.to_bytes(8, "big")


def _state_key(key: str) -> bytes:
    return b"s/" + key.encode("utf-8")


@dataclass(frozen=True, slots=True, kw_only=True)
class Head:
    """What the store says it holds: the last persisted block and the roots after it."""

    height: int
    header_hash: bytes
    log_size: int
    log_root: bytes
    state_root: bytes

    def to_value(self) -> dict[str, Value]:
        return {
            "header_hash": self.header_hash,
            "height": self.height,
            "log_root": self.log_root,
            "log_size": self.log_size,
            "state_root": self.state_root,
        }

    @classmethod
    def from_value(cls, value: Value) -> Head:
        r = Fields(value, "head")
        head = cls(
            header_hash=r.binary("header_hash", size=32),
            height=r.integer("height"),
            log_root=r.binary("log_root", size=32),
            log_size=r.integer("log_size"),
            state_root=r.binary("state_root", size=32),
        )
        r.finish()
        return head


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutedBlock:
    """A decided block with everything that executing it produced, ready to persist."""

    block: Block
    commit: Commit
    codes: tuple[str, ...]
    writes: Writes
    next_validators: ValidatorSet | None = None  # set only when the block changes the set
    encoded_writes: EncodedWrites | None = None  # `encode_writes(writes)`, if already made
    writes_record: bytes | None = None  # `writes_record(encoded_writes)`, if already made
    tx_ids: tuple[bytes, ...] | None = None  # the transactions' ids, if already computed


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionLocation:
    height: int
    index: int  # position in its block
    log_index: int  # position in the Merkle log of all transactions


class LedgerStore:
    """A node's data directory. Open with `LedgerStore.open(path, genesis)`."""

    def __init__(self, db: Any, genesis: Genesis, head: Head, path: Path) -> None:
        self._db = db
        self._path = path
        self.genesis = genesis
        self._head = head
        self._log = merkle.MerkleLog(self, head.log_size)
        # Validator sets by height; cleared when a block records a new set.
        self._validators_cache: dict[int, ValidatorSet] = {}
        # Parsed records by (state key, parser): filled by `get_parsed`, and a key's entries
        # dropped when a block writes that key. Bounded; cleared whole when full.
        self._parsed: dict[tuple[str, Callable[[Value], object]], object] = {}
        self._parsed_keys: dict[str, list[tuple[str, Callable[[Value], object]]]] = {}

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        genesis: Genesis | None = None,
        genesis_state: Writes | None = None,
    ) -> LedgerStore:
        """Open (creating with `genesis` if empty) and check integrity; StoreCorrupted if bad.

        A new store starts with `genesis_state` (the state the contracts derive from the
        genesis; the ledger core does not know the contracts). An existing store must have
        been created with the same genesis (if one is given).
        """
        Path(path).mkdir(parents=True, exist_ok=True)
        try:
            db = plyvel.DB(
                os.fspath(path),
                create_if_missing=True,
                paranoid_checks=True,
                # Most reads on the hot path look for keys that do not exist (a new
                # transaction's id, nonce, reference): a Bloom filter answers those without
                # reading a table block.
                bloom_filter_bits=10,
                lru_cache_size=LRU_CACHE_BYTES,
                write_buffer_size=WRITE_BUFFER_BYTES,
                block_size=TABLE_BLOCK_BYTES,
            )
        except plyvel.CorruptionError as exc:
            raise StoreCorrupted(f"{path}: LevelDB reports corruption: {exc}") from None
        except plyvel.IOError as exc:
            raise StoreError(f"{path}: cannot open the store: {exc}") from None
        try:
            return cls._open_db(db, path, genesis, genesis_state or {})
        except BaseException:
            db.close()
            raise

    @classmethod
    def _open_db(
        cls, db: Any, path: str | os.PathLike[str], genesis: Genesis | None, genesis_state: Writes
    ) -> LedgerStore:
        stored_genesis = _get(db, _GENESIS_KEY)
        if stored_genesis is None:
            if genesis is None:
                raise StoreError(f"{path}: empty store and no genesis to create it with")
            if any(True for _ in db.iterator(include_value=False)):
                raise StoreCorrupted(f"{path}: data present but no genesis record")
            head = Head(
                height=0,
                header_hash=genesis.hash(),
                log_size=0,
                log_root=merkle.EMPTY_ROOT,
                state_root=next_state_root(GENESIS_STATE_ROOT, genesis_state),
            )
            encoded = encode_writes(genesis_state)
            with db.write_batch(transaction=True, sync=True) as batch:
                batch.put(_GENESIS_KEY, encode(genesis.to_value()))
                batch.put(_height_key(b"w/", 0), writes_record(encoded))
                for key, value_bytes in encoded:
                    if value_bytes is not None:
                        batch.put(_state_key(key), value_bytes)
                batch.put(_HEAD_KEY, encode(head.to_value()))
            return cls(db, genesis, head, Path(path))
        try:
            loaded = Genesis.from_value(decode(stored_genesis))
        except (DecodeError, ValidationError) as exc:
            raise StoreCorrupted(f"{path}: stored genesis unreadable: {exc}") from None
        if genesis is not None and genesis.hash() != loaded.hash():
            raise StoreError(
                f"{path}: holds chain {loaded.chain_id!r} with genesis {loaded.hash().hex()[:16]}, "
                f"not the given genesis {genesis.hash().hex()[:16]} ({genesis.chain_id!r})"
            )
        store = cls(db, loaded, _load_head(db, path), Path(path))
        store.check_integrity()
        return store

    def close(self) -> None:
        self._db.close()

    def compact(self) -> None:
        """Compact the whole key range now (LevelDB does it gradually by itself; benchmarks
        call this to measure what the data costs once merged)."""
        try:
            # Both bounds given: plyvel's compact_range() without them compacts nothing.
            # Every key of ours starts with an ASCII letter, so this range is all of them.
            self._db.compact_range(start=b"\x00", stop=b"\xff")
        except plyvel.Error as exc:
            raise StoreError(f"compaction failed: {exc}") from None

    def __enter__(self) -> LedgerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading ----------------------------------------------------------------------------

    @property
    def head(self) -> Head:
        return self._head

    @property
    def height(self) -> int:
        return self._head.height

    @property
    def log(self) -> merkle.MerkleLog:
        return self._log

    def get(self, key: str) -> Value | None:
        """StateView: the committed value at `key`."""
        data = self._read(_state_key(key))
        # Our own canonical bytes under LevelDB's checksums; `ledger verify` decodes strictly.
        return None if data is None else decode_trusted(data)

    def get_parsed(self, key: str, parse: Callable[[Value], R]) -> R | None:
        """`parse(get(key))` (None if absent), cached until a block writes `key`."""
        slot = (key, parse)
        if slot in self._parsed:
            return self._parsed[slot]  # type: ignore[return-value]
        value = self.get(key)
        parsed = None if value is None else parse(value)
        if len(self._parsed) >= PARSED_CACHE_MAX:
            self._parsed.clear()
            self._parsed_keys.clear()
        self._parsed[slot] = parsed
        self._parsed_keys.setdefault(key, []).append(slot)
        return parsed

    def state_items(self, prefix: str) -> Iterator[tuple[str, Value]]:
        """Committed state entries whose key starts with `prefix`, in key order."""
        for key, data in self.state_items_raw(prefix):
            yield key, decode_trusted(data)

    def get_node(self, level: int, index: int) -> bytes | None:
        """merkle.NodeReader: a stored complete-subtree node of the transaction log."""
        return self._read(_node_key(level, index))

    def block(self, height: int) -> Block | None:
        data = self._read(_height_key(b"b/", height))
        return None if data is None else Block.decode(data)

    def block_bytes(self, height: int) -> bytes | None:
        return self._read(_height_key(b"b/", height))

    def commit(self, height: int) -> Commit | None:
        data = self._read(_height_key(b"c/", height))
        return None if data is None else Commit.from_value(decode(data))

    def result_codes(self, height: int) -> tuple[str, ...] | None:
        data = self._read(_height_key(b"r/", height))
        if data is None:
            return None
        codes = decode(data)
        assert isinstance(codes, list)
        return tuple(str(code) for code in codes)

    def change_record(self, height: int) -> bytes | None:
        """The block's change record as stored (`ledger.state.writes_record`: each written
        key with the SHA-256 of its new value's bytes, or nil for a deletion)."""
        return self._read(_height_key(b"w/", height))

    def block_changes(self, height: int) -> ChangeList | None:
        """The block's change record parsed (`ledger.state.parse_change_record`)."""
        data = self.change_record(height)
        return None if data is None else parse_change_record(data)

    def state_items_raw(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        """`state_items` with each value's stored bytes, undecoded."""
        try:
            for key, data in self._db.iterator(prefix=_state_key(prefix)):
                yield key[2:].decode("utf-8"), data
        except plyvel.Error as exc:
            raise StoreCorrupted(f"LevelDB cannot read state under {prefix!r}: {exc}") from None

    def transaction_location(self, tx_id: bytes) -> TransactionLocation | None:
        data = self._read(b"t/" + tx_id)
        if data is None:
            return None
        height, index, log_index = _int_list(decode_trusted(data), 3)
        return TransactionLocation(height=height, index=index, log_index=log_index)

    def validators_at(self, height: int) -> ValidatorSet:
        """The validator set that signs the commit of the block at `height`."""
        cached = self._validators_cache.get(height)
        if cached is None:
            cached = self._load_validators_at(height)
            if len(self._validators_cache) >= VALIDATORS_CACHE_MAX:
                self._validators_cache.clear()
            self._validators_cache[height] = cached
        return cached

    def _load_validators_at(self, height: int) -> ValidatorSet:
        try:
            found = next(
                self._db.iterator(
                    start=b"v/",
                    stop=_height_key(b"v/", height + 1),
                    reverse=True,
                    include_key=False,
                ),
                None,
            )
        except plyvel.Error as exc:
            raise StoreCorrupted(f"LevelDB cannot read the validator sets: {exc}") from None
        if found is None:
            return self.genesis.validators
        value = decode(found)
        assert isinstance(value, list)
        return ValidatorSet.of(
            [Validator.from_value(item, f"validators[{i}]") for i, item in enumerate(value)]
        )

    # --- writing ----------------------------------------------------------------------------

    def preview_log(self, transactions: Sequence[bytes]) -> tuple[int, bytes, bytes]:
        """(log size, log root, tx root) the log would have after appending `transactions`."""
        leaves = [merkle.leaf_hash(tx) for tx in transactions]
        preview = merkle.MerkleLog(self, self._head.log_size)
        preview.append(leaves)
        return preview.size, preview.root(), merkle.root(leaves)

    def persist_block(self, executed: ExecutedBlock) -> None:
        """Persist one decided, executed block in one synced, atomic write batch.

        If the write fails (StoreError), nothing is persisted and the in-memory log is
        reloaded from disk, so the store stays at its head; the node must stop."""
        try:
            self._persist_block(executed)
        except BaseException:
            self._log = merkle.MerkleLog(self, self._head.log_size)
            raise

    def _persist_block(self, executed: ExecutedBlock) -> None:
        block, commit = executed.block, executed.commit
        header = block.header
        height = header.height
        assert height == self._head.height + 1, (height, self._head.height)
        assert header.previous_hash == self._head.header_hash
        assert commit.height == height
        assert commit.block_hash == header.hash()
        assert len(executed.codes) == len(block.transactions)

        leaves = [merkle.leaf_hash(tx) for tx in block.transactions]
        new_nodes = self._log.append(leaves)
        log_root = self._log.root()
        encoded = executed.encoded_writes
        if encoded is None:
            encoded = encode_writes(executed.writes)
        record = executed.writes_record
        if record is None:
            record = writes_record(encoded)
        state_root = state_root_after(self._head.state_root, record)
        assert (header.log_size, header.log_root) == (self._log.size, log_root)
        assert header.state_root == state_root
        head = Head(
            height=height,
            header_hash=header.hash(),
            log_size=self._log.size,
            log_root=log_root,
            state_root=state_root,
        )
        try:
            self._write_block(executed, height, head, record, encoded, new_nodes)
        except plyvel.Error as exc:
            raise StoreError(f"height {height}: the block could not be written: {exc}") from None
        self._log.mark_persisted()
        self._head = head
        if executed.next_validators is not None:
            self._validators_cache.clear()
        for key, _ in encoded:
            for slot in self._parsed_keys.pop(key, ()):
                self._parsed.pop(slot, None)

    def _write_block(
        self,
        executed: ExecutedBlock,
        height: int,
        head: Head,
        record: bytes,
        encoded: EncodedWrites,
        new_nodes: dict[tuple[int, int], bytes],
    ) -> None:
        block, commit = executed.block, executed.commit
        with self._db.write_batch(transaction=True, sync=True) as batch:
            batch.put(_height_key(b"b/", height), block.encode())
            batch.put(_height_key(b"c/", height), encode(commit.to_value()))
            batch.put(_height_key(b"r/", height), encode(list(executed.codes)))
            batch.put(_height_key(b"w/", height), record)
            if executed.next_validators is not None:
                batch.put(
                    _height_key(b"v/", height + 1), encode(executed.next_validators.to_value())
                )
            first_log_index = self._head.log_size
            # (The application refuses a block holding a committed id before it gets here.)
            tx_ids = executed.tx_ids or tuple(transaction_id(tx) for tx in block.transactions)
            assert len(tx_ids) == len(block.transactions)
            for index, tx_id in enumerate(tx_ids):
                batch.put(b"t/" + tx_id, encode([height, index, first_log_index + index]))
            for (level, index), digest in new_nodes.items():
                batch.put(_node_key(level, index), digest)
            for key, value_bytes in encoded:
                if value_bytes is None:
                    batch.delete(_state_key(key))
                else:
                    batch.put(_state_key(key), value_bytes)
            batch.put(_HEAD_KEY, encode(head.to_value()))

    # --- integrity --------------------------------------------------------------------------

    def check_integrity(self) -> None:
        """Refuse (StoreCorrupted) unless every stored byte passes LevelDB's checksums and the
        head agrees with what is stored under it. The checksum pass reads the whole database
        once (sequentially, in LevelDB's C++ loop): a damaged old block must stop the node at
        start, not when a peer or a client first asks for it."""
        self._check_checksums()
        head = self._head
        if head.height == 0:
            if head.log_size != 0 or head.header_hash != self.genesis.hash():
                raise StoreCorrupted("head at height 0 does not match the genesis")
            return
        where = f"height {head.height}"
        try:
            block = self.block(head.height)
            commit = self.commit(head.height)
        except (DecodeError, ValidationError) as exc:
            raise StoreCorrupted(f"{where}: head block or commit unreadable: {exc}") from None
        if block is None or commit is None:
            raise StoreCorrupted(f"{where}: the head names a block or commit that is missing")
        if block.header.hash() != head.header_hash:
            raise StoreCorrupted(
                f"{where}: header hash expected {head.header_hash.hex()}, "
                f"found {block.header.hash().hex()}"
            )
        if commit.block_hash != head.header_hash:
            raise StoreCorrupted(f"{where}: the commit is for another block")
        if self.block_bytes(head.height + 1) is not None:
            raise StoreCorrupted(f"height {head.height + 1}: block present beyond the head")
        header = block.header
        if (header.log_size, header.log_root, header.state_root) != (
            head.log_size,
            head.log_root,
            head.state_root,
        ):
            raise StoreCorrupted(f"{where}: header roots differ from the head record")
        try:
            log_root = self._log.root()
        except (merkle.MerkleError, AssertionError) as exc:
            raise StoreCorrupted(f"{where}: Merkle log nodes missing: {exc}") from None
        if log_root != head.log_root:
            raise StoreCorrupted(
                f"{where}: log root expected {head.log_root.hex()}, found {log_root.hex()}"
            )

    def _check_checksums(self) -> None:
        self._check_table_files()
        try:
            for _ in self._db.iterator(
                include_value=False, verify_checksums=True, fill_cache=False
            ):
                pass
        except plyvel.Error as exc:
            raise StoreCorrupted(f"LevelDB checksum pass failed: {exc}") from None

    def _check_table_files(self) -> None:
        """Every table LevelDB's manifest lists must be on disk at the size it recorded. The
        checksum pass cannot see a table that does not open (emptied or cut short): LevelDB's
        iterators step over it, and plyvel does not report the iterator's error, so its keys
        would just be missing (docs/adversarial.md, finding 4). A compaction LevelDB starts
        at open may delete a table between the listing and the look at it: a problem counts
        only if a fresh listing shows it again."""
        for _ in range(TABLE_CHECK_ATTEMPTS):
            problem = self._table_file_problem()
            if problem is None:
                return
        raise StoreCorrupted(problem)

    def _table_file_problem(self) -> str | None:
        listing = self._db.get_property(b"leveldb.sstables")
        if listing is None:
            return "LevelDB does not list its tables"
        for number, size in _TABLE_LINE.findall(listing):
            for name in (f"{int(number):06d}.ldb", f"{int(number):06d}.sst"):  # .sst: older
                try:
                    found = (self._path / name).stat().st_size
                    break
                except FileNotFoundError:
                    continue
            else:
                return f"LevelDB table {int(number):06d}.ldb is missing"
            if found != int(size):
                return f"LevelDB table {name} is {found} bytes; LevelDB wrote {int(size)}"
        return None

    def _read(self, key: bytes) -> bytes | None:
        try:
            data: bytes | None = self._db.get(key, verify_checksums=True)
        except plyvel.Error as exc:  # corruption, or a file LevelDB can no longer read
            raise StoreCorrupted(f"LevelDB cannot read {key[:12]!r}: {exc}") from None
        return data


def _get(db: Any, key: bytes) -> bytes | None:
    try:
        data: bytes | None = db.get(key, verify_checksums=True)
    except plyvel.Error as exc:
        raise StoreCorrupted(f"LevelDB cannot read {key!r}: {exc}") from None
    return data


def _load_head(db: Any, path: str | os.PathLike[str]) -> Head:
    data = _get(db, _HEAD_KEY)
    if data is None:
        raise StoreCorrupted(f"{path}: genesis present but no head record")
    try:
        return Head.from_value(decode(data))
    except (DecodeError, ValidationError) as exc:
        raise StoreCorrupted(f"{path}: head record unreadable: {exc}") from None


def _int_list(value: Value, length: int) -> list[int]:
    assert isinstance(value, list)
    assert len(value) == length
    assert all(type(item) is int for item in value)
    return [int(item) for item in value if isinstance(item, int)]
