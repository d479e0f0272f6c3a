"""The application side of consensus: building, checking and executing blocks.

Execution happens before the vote: the proposer executes its candidate block to fill in the
header's roots, and every validator re-executes a proposed block in `validate` and compares
the whole header it would have built with the one proposed. The result is kept until the
block is decided, so `execute_and_persist` only writes. A block decided elsewhere (learned
by block sync) is checked the same way before it is persisted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import contracts
from contracts.context import BlockContext, BlockResult
from ledger.errors import LedgerError
from ledger.state import EncodedWrites, encode_writes, state_root_after, writes_record
from ledger.store import ExecutedBlock, LedgerStore
from ledger.types import (
    ZERO_HASH,
    Block,
    Commit,
    DuplicateVoteEvidence,
    Header,
    Transaction,
    ValidatorSet,
    evidence_hash,
    results_root,
)
from network.consensus import CheckedValue, Decided

log = logging.getLogger(__name__)

PENDING_BLOCKS_MAX = 64  # executed candidates kept for the current height (a few per round)


class InvalidBlock(Exception):
    """A proposed or synced block that this node would not have built."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    block: Block
    result: BlockResult
    transactions: tuple[Transaction, ...]
    encoded_writes: EncodedWrites  # the result's writes, encoded once for root and store
    writes_record: bytes  # `writes_record(encoded_writes)`: the state root's input


class LedgerApplication:
    """`network.consensus.Application` over the store and the contracts."""

    def __init__(
        self,
        store: LedgerStore,
        node_key: bytes,
        verified_transaction: Callable[[bytes], Transaction | None] = lambda data: None,
    ) -> None:
        self.store = store
        self.chain_id = store.genesis.chain_id
        self.node_key = node_key
        self._verified_transaction = verified_transaction
        self._candidates: dict[bytes, Candidate] = {}
        # Block hashes a verified commit certifies, by height (see `certify`).
        self._certified: dict[int, bytes] = {}
        self._candidates_height = store.height + 1

    # --- consensus Application ---------------------------------------------------------------

    def validate(self, height: int, value: bytes) -> CheckedValue | None:
        try:
            candidate = self.check(height, value)
        except InvalidBlock as exc:
            log.warning("invalid block height=%d reason=%s", height, exc)
            return None
        return CheckedValue(
            value_hash=candidate.block.hash(), time_ms=candidate.block.header.time_ms
        )

    def certify(self, height: int, block_hash: bytes) -> None:
        """A commit for `block_hash` at `height` was verified (block sync, or a decision by
        certificate). Its transactions' signatures are then not checked again: validators
        holding more than 2/3 of the power precommitted it, so at least one honest validator
        checked every signature in it. Everything else is still checked, and the header
        (whose tx_root binds the transactions) must be the one the commit is for."""
        if height > self.store.height:
            self._certified[height] = block_hash
            while len(self._certified) > PENDING_BLOCKS_MAX:
                del self._certified[min(self._certified)]

    # --- building ----------------------------------------------------------------------------

    def build(
        self, transactions: Sequence[bytes], evidence: Sequence[DuplicateVoteEvidence] = ()
    ) -> bytes:
        """The encoded block this node proposes at the next height."""
        height = self.store.height + 1
        chosen: list[bytes] = []
        txs_chosen: list[Transaction] = []
        seen: set[bytes] = set()
        for data in transactions:  # leave out what `check` refuses, whatever the mempool holds
            tx = self._verified_transaction(data) or Transaction.decode(data)
            tx_id = tx.id
            if tx.chain_id != self.chain_id or tx_id in seen:
                continue
            if self.store.transaction_location(tx_id) is not None:
                continue
            seen.add(tx_id)
            chosen.append(data)
            txs_chosen.append(tx)
        header_fields = self._context(height)
        candidate = self._execute(
            height,
            tuple(chosen),
            tuple(txs_chosen),
            tuple(evidence),
            header_fields,
            proposer=self.node_key,
        )
        self._remember(candidate)
        return candidate.block.encode()

    # --- checking ----------------------------------------------------------------------------

    def check(self, height: int, value: bytes) -> Candidate:
        """The executed candidate for `value` at `height`, or InvalidBlock saying why."""
        if height != self.store.height + 1:
            raise InvalidBlock(f"height {height}, but the store is at {self.store.height}")
        try:
            block = Block.decode(value)
        except LedgerError as exc:
            raise InvalidBlock(f"undecodable: {exc}") from None
        known = self._candidates.get(block.hash())
        if known is not None and known.block == block:
            return known
        header = block.header
        if header.height != height:
            raise InvalidBlock(f"header height {header.height} != {height}")
        validators = self.store.validators_at(height)
        if validators.power_of(header.proposer) == 0:
            raise InvalidBlock("proposer is not a validator")
        context = self._context(height)
        if block.last_commit != context.last_commit:
            self._check_last_commit(block, height)
            context = _Context(
                last_commit=block.last_commit,
                time_ms=self._time_after(block.last_commit, height),
                validators=validators,
            )
        txs: list[Transaction] = []
        seen: set[bytes] = set()
        certified = self._certified.get(height) == block.hash()
        for index, data in enumerate(block.transactions):
            # Bytes this node admitted (decoded and verified then) are not checked again.
            verified = self._verified_transaction(data)
            try:
                tx = Transaction.decode(data) if verified is None else verified
            except LedgerError as exc:
                raise InvalidBlock(f"transaction {index}: {exc}") from None
            # An honest proposer never includes these (admission refuses them); a block that
            # does would break the one-location-per-id transaction index and `ledger verify`.
            if tx.chain_id != self.chain_id:
                raise InvalidBlock(f"transaction {index}: signed for chain {tx.chain_id!r}")
            tx_id = tx.id
            if tx_id in seen or self.store.transaction_location(tx_id) is not None:
                raise InvalidBlock(f"transaction {index}: {tx_id.hex()[:16]} already committed")
            seen.add(tx_id)
            if verified is None and not certified:
                try:
                    tx.verify_signature()
                except LedgerError as exc:
                    raise InvalidBlock(f"transaction {index}: {exc}") from None
            txs.append(tx)
        for index, evidence in enumerate(block.evidence):
            try:
                evidence.validate(self.chain_id, validators)
            except LedgerError as exc:
                raise InvalidBlock(f"evidence {index}: {exc}") from None
        candidate = self._execute(
            height, block.transactions, tuple(txs), block.evidence, context, header.proposer
        )
        if candidate.block.header != header:
            raise InvalidBlock(_header_difference(candidate.block.header, header))
        candidate = replace(candidate, block=block)
        self._remember(candidate)
        return candidate

    # --- persisting --------------------------------------------------------------------------

    def execute_and_persist(self, decided: Decided) -> Candidate:
        """Persist a decided block (executing it if this node has not yet)."""
        height = decided.height
        assert height == self.store.height + 1, (height, self.store.height)
        candidate = self._candidates.get(decided.value_hash)
        if candidate is None:
            decided.commit.verify(self.chain_id, self.store.validators_at(height))
            candidate = self.check(height, decided.value)
        assert candidate.block.hash() == decided.commit.block_hash
        self.store.persist_block(
            ExecutedBlock(
                block=candidate.block,
                commit=decided.commit,
                codes=candidate.result.code_values(),
                writes=candidate.result.writes,
                next_validators=candidate.result.validator_set,
                encoded_writes=candidate.encoded_writes,
                writes_record=candidate.writes_record,
                tx_ids=tuple(tx.id for tx in candidate.transactions),
            )
        )
        self._candidates.clear()
        self._candidates_height = height + 1
        self._certified.pop(height, None)
        return candidate

    # --- internals ---------------------------------------------------------------------------

    def _context(self, height: int) -> _Context:
        validators = self.store.validators_at(height)
        if height == 1:
            return _Context(
                last_commit=None, time_ms=self.store.genesis.genesis_time_ms, validators=validators
            )
        last_commit = self.store.commit(height - 1)
        assert last_commit is not None, f"commit of height {height - 1} missing"
        return _Context(
            last_commit=last_commit,
            time_ms=self._time_after(last_commit, height),
            validators=validators,
        )

    def _time_after(self, last_commit: Commit | None, height: int) -> int:
        if last_commit is None:
            return self.store.genesis.genesis_time_ms
        return last_commit.median_time_ms(self.store.validators_at(height - 1))

    def _check_last_commit(self, block: Block, height: int) -> None:
        last = block.last_commit
        if height == 1:
            if last is not None:
                raise InvalidBlock("block 1 carries a previous commit")
            return
        if last is None:
            raise InvalidBlock("previous commit missing")
        if last.height != height - 1 or last.block_hash != self.store.head.header_hash:
            raise InvalidBlock("previous commit is not for the previous block")
        try:
            last.verify(self.chain_id, self.store.validators_at(height - 1))
        except LedgerError as exc:
            raise InvalidBlock(f"previous commit invalid: {exc}") from None

    def _execute(
        self,
        height: int,
        transactions: tuple[bytes, ...],
        txs: tuple[Transaction, ...],
        evidence: tuple[DuplicateVoteEvidence, ...],
        context: _Context,
        proposer: bytes,
    ) -> Candidate:
        head = self.store.head
        block_context = BlockContext(
            chain_id=self.chain_id, height=height, time_ms=context.time_ms, proposer=proposer
        )
        result = contracts.execute_block(self.store, txs, block_context)
        log_size, log_root, tx_root = self.store.preview_log(transactions)
        encoded_writes = encode_writes(result.writes)
        record = writes_record(encoded_writes)
        next_validators = result.validator_set or context.validators
        header = Header(
            chain_id=self.chain_id,
            height=height,
            time_ms=context.time_ms,
            previous_hash=head.header_hash,
            last_commit_hash=ZERO_HASH
            if context.last_commit is None
            else context.last_commit.hash(),
            tx_root=tx_root,
            tx_count=len(transactions),
            log_size=log_size,
            log_root=log_root,
            results_root=results_root(result.code_values()),
            state_root=state_root_after(head.state_root, record),
            evidence_hash=evidence_hash(evidence),
            validators_hash=context.validators.hash(),
            next_validators_hash=next_validators.hash(),
            proposer=proposer,
        )
        block = Block(
            header=header,
            transactions=transactions,
            evidence=evidence,
            last_commit=context.last_commit,
        )
        return Candidate(
            block=block,
            result=result,
            transactions=txs,
            encoded_writes=encoded_writes,
            writes_record=record,
        )

    def _remember(self, candidate: Candidate) -> None:
        height = candidate.block.height
        if height != self._candidates_height:
            self._candidates.clear()
            self._candidates_height = height
        if len(self._candidates) >= PENDING_BLOCKS_MAX:
            self._candidates.pop(next(iter(self._candidates)))
        self._candidates[candidate.block.hash()] = candidate


@dataclass(frozen=True, slots=True, kw_only=True)
class _Context:
    last_commit: Commit | None
    time_ms: int
    validators: ValidatorSet


def _header_difference(expected: Header, found: Header) -> str:
    for name, value in expected.to_value().items():
        other = found.to_value()[name]
        if value != other:
            shown = value.hex()[:16] if isinstance(value, bytes) else value
            found_shown = other.hex()[:16] if isinstance(other, bytes) else other
            return f"header.{name}: expected {shown}, found {found_shown}"
    return "header differs"


__all__ = ["Candidate", "InvalidBlock", "LedgerApplication"]
