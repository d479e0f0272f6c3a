"""Whole-chain verification of a node's data directory, trusting nothing in it but genesis.

For every block from 1 to the head it checks the hash chain, the previous commit and the
block time derived from it, every transaction's encoding, chain id and signature, the
transaction root, the RFC 6962 log size and root, the result codes, the chained state
root, evidence, validator-set hashes, the block's own commit against the validator set and
the transaction index; at the end it checks every stored Merkle node and every state value
against what the replay produced. The first inconsistency stops it and is named precisely.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from ledger import crypto, merkle
from ledger.errors import LedgerError, StoreCorrupted
from ledger.state import GENESIS_STATE_ROOT, parse_change_record, state_root_after
from ledger.store import LedgerStore
from ledger.types import ZERO_HASH, Block, Transaction, evidence_hash, results_root


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    height: int  # 0 when the problem is not in one block
    what: str
    expected: str = ""
    found: str = ""

    def __str__(self) -> str:
        where = f"height {self.height}: " if self.height else ""
        detail = f" (expected {self.expected}, found {self.found})" if self.expected else ""
        return f"{where}{self.what}{detail}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    chain_id: str
    height: int  # the last height fully verified
    transaction_count: int
    head_hash: bytes
    log_root: bytes
    elapsed_s: float
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


class _Failed(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _expect(height: int, what: str, expected: object, found: object) -> None:
    if expected != found:
        raise _Failed(
            Problem(height=height, what=what, expected=_show(expected), found=_show(found))
        )


def _show(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()[:32] + ("…" if len(value) > 16 else "")
    return str(value)


def verify_directory(
    path: str | os.PathLike[str], progress: Callable[[int, int], None] | None = None
) -> Report:
    """Verify the store at `path` end to end; `progress(height, head)` is called per block."""
    started = time.monotonic()
    try:
        store = LedgerStore.open(path)
    except LedgerError as exc:
        return Report(
            chain_id="?",
            height=0,
            transaction_count=0,
            head_hash=b"",
            log_root=b"",
            elapsed_s=time.monotonic() - started,
            problem=Problem(height=0, what=f"the store does not open: {exc}"),
        )
    with store:
        checker = _Checker(store)
        problem = None
        try:
            checker.run(progress)
        except _Failed as failed:
            problem = failed.problem
        except (LedgerError, AssertionError) as exc:
            problem = Problem(height=checker.height + 1, what=f"unreadable: {exc}")
        return Report(
            chain_id=store.genesis.chain_id,
            height=checker.height,
            transaction_count=checker.log.size,
            head_hash=checker.previous_hash,
            log_root=checker.log.root(),
            elapsed_s=time.monotonic() - started,
            problem=problem,
        )


class _Checker:
    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self.chain_id = store.genesis.chain_id
        self.nodes = merkle.MemoryNodeStore()
        self.log = merkle.MerkleLog(self.nodes, 0)
        self.height = 0
        self.previous_hash = store.genesis.hash()
        self.previous_time_ms = store.genesis.genesis_time_ms - 1
        self.state_root = GENESIS_STATE_ROOT
        self.state: dict[str, bytes] = {}  # key -> SHA-256 of the value's bytes
        self.apply_writes(0)

    def run(self, progress: Callable[[int, int], None] | None) -> None:
        head = self.store.head
        for height in range(1, head.height + 1):
            self.check_block(height)
            self.height = height
            if progress is not None:
                progress(height, head.height)
        _expect(0, "head hash", self.previous_hash, head.header_hash)
        if self.store.block_bytes(head.height + 1) is not None:
            raise _Failed(Problem(height=head.height + 1, what="block stored beyond the head"))
        self.check_state()

    def check_block(self, height: int) -> None:
        store = self.store
        block = store.block(height)
        if block is None:
            raise _Failed(Problem(height=height, what="block missing"))
        header = block.header
        _expect(height, "header.chain_id", self.chain_id, header.chain_id)
        _expect(height, "header.height", height, header.height)
        _expect(height, "header.previous_hash", self.previous_hash, header.previous_hash)
        validators = store.validators_at(height)
        _expect(height, "header.validators_hash", validators.hash(), header.validators_hash)
        _expect(
            height,
            "header.next_validators_hash",
            store.validators_at(height + 1).hash(),
            header.next_validators_hash,
        )
        self.check_last_commit(block)
        self.check_transactions(block)
        codes = store.result_codes(height)
        if codes is None or len(codes) != len(block.transactions):
            raise _Failed(Problem(height=height, what="result codes missing or wrong in number"))
        _expect(height, "header.results_root", results_root(codes), header.results_root)
        self.apply_writes(height)
        _expect(height, "header.state_root", self.state_root, header.state_root)
        for evidence in block.evidence:
            evidence.validate(self.chain_id, validators)
        _expect(height, "header.evidence_hash", evidence_hash(block.evidence), header.evidence_hash)
        commit = store.commit(height)
        if commit is None:
            raise _Failed(Problem(height=height, what="commit missing"))
        _expect(height, "commit.block_hash", header.hash(), commit.block_hash)
        _expect(height, "commit.height", height, commit.height)
        try:
            commit.verify(self.chain_id, validators)
        except LedgerError as exc:
            raise _Failed(Problem(height=height, what=f"commit invalid: {exc}")) from None
        self.previous_hash = header.hash()

    def apply_writes(self, height: int) -> None:
        record = self.store.change_record(height)
        if record is None:
            raise _Failed(Problem(height=height, what="state changes missing"))
        try:
            changes = parse_change_record(record)
        except LedgerError as exc:
            raise _Failed(Problem(height=height, what=f"change record unreadable: {exc}")) from None
        self.state_root = state_root_after(self.state_root, record)
        for key, digest in changes:
            if digest is None:
                self.state.pop(key, None)
            else:
                self.state[key] = digest

    def check_last_commit(self, block: Block) -> None:
        header, height = block.header, block.header.height
        if height == 1:
            if block.last_commit is not None:
                raise _Failed(Problem(height=1, what="first block carries a previous commit"))
            _expect(1, "header.last_commit_hash", ZERO_HASH, header.last_commit_hash)
            time_ms = self.store.genesis.genesis_time_ms
        else:
            last = block.last_commit
            if last is None:
                raise _Failed(Problem(height=height, what="previous commit missing from block"))
            _expect(height, "header.last_commit_hash", last.hash(), header.last_commit_hash)
            _expect(height, "last_commit.block_hash", self.previous_hash, last.block_hash)
            previous_validators = self.store.validators_at(height - 1)
            try:
                last.verify(self.chain_id, previous_validators)
            except LedgerError as exc:
                raise _Failed(
                    Problem(height=height, what=f"previous commit invalid: {exc}")
                ) from None
            time_ms = last.median_time_ms(previous_validators)
        _expect(height, "header.time_ms (median of the previous commit)", time_ms, header.time_ms)
        if header.time_ms <= self.previous_time_ms:
            raise _Failed(Problem(height=height, what="block time does not increase"))
        self.previous_time_ms = header.time_ms

    def check_transactions(self, block: Block) -> None:
        header, height = block.header, block.header.height
        leaves = []
        first_log_index = self.log.size
        for index, data in enumerate(block.transactions):
            try:
                tx = Transaction.decode(data)
                tx.verify_signature()
            except LedgerError as exc:
                raise _Failed(Problem(height=height, what=f"transaction {index}: {exc}")) from None
            _expect(height, f"transaction {index} chain id", self.chain_id, tx.chain_id)
            location = self.store.transaction_location(tx.id)
            found = (
                None if location is None else (location.height, location.index, location.log_index)
            )
            _expect(
                height,
                f"index of transaction {index}",
                (height, index, first_log_index + index),
                found,
            )
            leaves.append(merkle.leaf_hash(data))
        _expect(height, "header.tx_root", merkle.root(leaves), header.tx_root)
        created = self.log.append(leaves)
        self.nodes.put_nodes(created)
        self.log.mark_persisted()
        for (level, index), digest in sorted(created.items()):
            stored = self.store.get_node(level, index)
            _expect(height, f"stored Merkle node (level {level}, index {index})", digest, stored)
        _expect(height, "header.log_size", self.log.size, header.log_size)
        _expect(height, "header.log_root", self.log.root(), header.log_root)

    def check_state(self) -> None:
        stored = {key: crypto.sha256(data) for key, data in self.store.state_items_raw("")}
        for key in sorted(set(stored) | set(self.state)):
            _expect(
                0,
                f"state value {key!r} (SHA-256)",
                _hex(self.state.get(key)),
                _hex(stored.get(key)),
            )


def _hex(digest: bytes | None) -> str | None:
    return None if digest is None else digest.hex()


__all__ = ["Problem", "Report", "StoreCorrupted", "verify_directory"]
