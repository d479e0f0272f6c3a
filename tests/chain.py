"""Build valid chains without consensus: real keys, real signatures, real Merkle roots.

Used by the store, verify and crash tests (and the store benchmark) to produce blocks that a
node would have persisted, so that corruption and crash tests start from genuine data.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger import crypto, merkle
from ledger.codec import Value
from ledger.state import GENESIS_STATE_ROOT, next_state_root
from ledger.store import ExecutedBlock, LedgerStore
from ledger.types import (
    ZERO_HASH,
    Block,
    Commit,
    CommitSignature,
    Genesis,
    Header,
    Member,
    Organisation,
    Role,
    Transaction,
    Validator,
    ValidatorSet,
    Vote,
    VoteKind,
    evidence_hash,
    results_root,
)

CHAIN_ID = "test-chain"
GENESIS_TIME_MS = 1_790_000_000_000


def key(name: str) -> crypto.SigningKey:
    """A deterministic key per name, so test chains are reproducible."""
    return crypto.SigningKey(crypto.sha256(f"tradeledger-test/{name}".encode()))


class ChainBuilder:
    def __init__(
        self,
        validator_count: int = 4,
        chain_id: str = CHAIN_ID,
        genesis_state: dict[str, Value] | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.validator_keys = [key(f"validator-{i}") for i in range(validator_count)]
        self.member_key = key("member-0")
        self.admin_key = key("admin-0")
        self.genesis = Genesis(
            chain_id=chain_id,
            genesis_time_ms=GENESIS_TIME_MS,
            organisations=(
                Organisation(
                    id="gov",
                    name="Trade Ledger Governance",
                    country="NL",
                    roles=frozenset({Role.GOVERNANCE, Role.CUSTOMS}),
                    admin_keys=(self.admin_key.public_key,),
                ),
            ),
            members=(Member(key=self.member_key.public_key, organisation="gov", name="clerk"),),
            validators=ValidatorSet.of(
                [
                    Validator(node_key=k.public_key, power=1, organisation="gov")
                    for k in self.validator_keys
                ]
            ),
        )
        self.validators = self.genesis.validators
        self.log = merkle.MerkleLog(merkle.MemoryNodeStore(), 0)
        self.height = 0
        self.genesis_state: dict[str, Value | None] = dict(genesis_state or {})
        self.state_root = next_state_root(GENESIS_STATE_ROOT, self.genesis_state)
        self.previous_hash = self.genesis.hash()
        self.last_commit: Commit | None = None
        self.nonce = 0

    def resume(self, store: LedgerStore) -> None:
        """Continue the chain that `store` holds (built by a ChainBuilder with the same keys)."""
        head = store.head
        self.height = head.height
        self.previous_hash = head.header_hash
        self.state_root = head.state_root
        self.last_commit = store.commit(head.height) if head.height else None
        self.log = merkle.MerkleLog(store, head.log_size)
        self.nonce = head.log_size

    def transaction(self, kind: str = "test.note", **body: Value) -> Transaction:
        self.nonce += 1
        return Transaction.create(
            self.member_key,
            chain_id=self.chain_id,
            kind=kind,
            nonce=self.nonce,
            expiry_height=1_000_000,
            body=dict(body),
        )

    def next_block(
        self,
        transactions: Sequence[Transaction] = (),
        writes: dict[str, Value | None] | None = None,
        codes: Sequence[str] | None = None,
    ) -> ExecutedBlock:
        """The next block of `transactions`, all accepted ("ok") unless `codes` says otherwise."""
        height = self.height + 1
        tx_bytes = tuple(tx.encode() for tx in transactions)
        leaves = [merkle.leaf_hash(tx) for tx in tx_bytes]
        self.log.append(leaves)
        self.log.mark_persisted()
        writes = dict(writes or {})
        state_root = next_state_root(self.state_root, writes)
        block_codes = tuple("ok" for _ in tx_bytes) if codes is None else tuple(codes)
        assert len(block_codes) == len(tx_bytes)
        time_ms = (
            GENESIS_TIME_MS
            if self.last_commit is None
            else self.last_commit.median_time_ms(self.validators)
        )
        header = Header(
            chain_id=self.chain_id,
            height=height,
            time_ms=time_ms,
            previous_hash=self.previous_hash,
            last_commit_hash=ZERO_HASH if self.last_commit is None else self.last_commit.hash(),
            tx_root=merkle.root(leaves),
            tx_count=len(tx_bytes),
            log_size=self.log.size,
            log_root=self.log.root(),
            results_root=results_root(block_codes),
            state_root=state_root,
            evidence_hash=evidence_hash(()),
            validators_hash=self.validators.hash(),
            next_validators_hash=self.validators.hash(),
            proposer=self.validators.proposer(height, 0),
        )
        block = Block(header=header, transactions=tx_bytes, last_commit=self.last_commit)
        commit = self.sign_commit(header, time_ms + 1)
        self.height = height
        self.state_root = state_root
        self.previous_hash = header.hash()
        self.last_commit = commit
        return ExecutedBlock(block=block, commit=commit, codes=block_codes, writes=writes)

    def sign_commit(self, header: Header, timestamp_ms: int) -> Commit:
        signers = self.validator_keys[: self.validators.quorum_power]
        return signed_commit(
            self.chain_id, header.height, header.hash(), signers, [timestamp_ms] * len(signers)
        )


def signed_commit(
    chain_id: str,
    height: int,
    block_hash: bytes,
    keys: Sequence[crypto.SigningKey],
    timestamps_ms: Sequence[int],
) -> Commit:
    """Round-0 precommits for `block_hash` at `height` by the first len(timestamps_ms) of
    `keys`, one timestamp each."""
    signatures = []
    for key, timestamp_ms in zip(keys, timestamps_ms, strict=False):
        vote = Vote(
            kind=VoteKind.PRECOMMIT,
            height=height,
            round=0,
            block_hash=block_hash,
            timestamp_ms=timestamp_ms,
            validator=key.public_key,
        )
        signatures.append(
            CommitSignature(
                validator=key.public_key,
                timestamp_ms=timestamp_ms,
                signature=key.sign(crypto.Domain.PRECOMMIT, chain_id, vote.signed_payload()),
            )
        )
    return Commit(height=height, round=0, block_hash=block_hash, signatures=tuple(signatures))


Domain = crypto.Domain
