"""Deliberately broken ledgers and histories, built as data: the checker must catch each.

`Forge` builds a real chain in a real LedgerStore the way a node would (execute, fill in the
header's roots, sign a commit with 3 of 4 validator keys, persist in one batch), with an
executor that can be swapped for a *broken build* of the node: one that skips signature
checks, lets a non-holder transfer, drops the duplicate check, ignores the role policy. Such
a chain is internally consistent where the broken build would make it so (roots, commits),
which is the point: only checks that know the rules catch it.

`CASES` lists every planted bug with the violation prefix that must report it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from client import bodies
from contracts.context import BlockContext, BlockResult
from contracts.engine import execute_block, genesis_writes
from contracts.testing import issue_body
from ledger import crypto
from ledger.codec import Value
from ledger.codes import Code
from ledger.state import encode_writes, state_root_after, writes_record
from ledger.store import ExecutedBlock, LedgerStore
from ledger.types import (
    ZERO_HASH,
    Block,
    Commit,
    Genesis,
    Header,
    Member,
    Organisation,
    Role,
    Transaction,
    Validator,
    ValidatorSet,
    evidence_hash,
    results_root,
)
from tests.adversarial.checker import NodeChain, load_chain
from tests.adversarial.history import History
from tests.chain import signed_commit

CHAIN_ID = "tradeledger-broken"
GENESIS_TIME_MS = 1_790_000_000_000
ORGANISATIONS = {
    "carrier": Role.CARRIER,
    "seller": Role.SELLER,
    "buyer": Role.BUYER,
    "bank-nl": Role.BANK,
}

Executor = Callable[[LedgerStore, Sequence[Transaction], BlockContext], BlockResult]


def _key(label: str) -> crypto.SigningKey:
    return crypto.SigningKey(crypto.sha256(f"tradeledger-broken/{label}".encode()))


def make_genesis() -> Genesis:
    return Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=GENESIS_TIME_MS,
        organisations=tuple(
            Organisation(
                id=org,
                name=org,
                country="NL",
                roles=frozenset({role}),
                admin_keys=(_key(f"{org}/admin").public_key,),
            )
            for org, role in ORGANISATIONS.items()
        ),
        members=tuple(
            Member(key=_key(org).public_key, organisation=org, name="clerk")
            for org in ORGANISATIONS
        ),
        validators=ValidatorSet.of(
            [
                Validator(
                    node_key=_key(f"validator/{i}").public_key, power=1, organisation="carrier"
                )
                for i in range(4)
            ]
        ),
    )


@dataclass
class Forge:
    """A chain being built in `path`; `history` records each transaction as a client saw it."""

    path: Path
    genesis: Genesis = field(default_factory=make_genesis)
    history: History = field(default_factory=History)
    nonce: int = 0

    def __post_init__(self) -> None:
        self.store = LedgerStore.open(self.path, self.genesis, genesis_writes(self.genesis))

    def close(self) -> None:
        self.store.close()

    def tx(
        self, org: str, kind: str, body: dict[str, Value], *, key: str | None = None
    ) -> Transaction:
        self.nonce += 1
        return Transaction.create(
            _key(key or org),
            chain_id=CHAIN_ID,
            kind=kind,
            nonce=self.nonce,
            expiry_height=10_000,
            body=body,
        )

    def block(
        self,
        txs: Sequence[Transaction],
        executor: Executor = execute_block,
        *,
        record: bool = True,
    ) -> list[str]:
        """Execute, sign and persist the next block; the transactions' codes."""
        store, genesis = self.store, self.genesis
        height = store.height + 1
        validators = genesis.validators
        last_commit = store.commit(height - 1) if height > 1 else None
        time_ms = GENESIS_TIME_MS if last_commit is None else last_commit.median_time_ms(validators)
        proposer = validators.proposer(height, 0)
        result = executor(
            store,
            txs,
            BlockContext(chain_id=CHAIN_ID, height=height, time_ms=time_ms, proposer=proposer),
        )
        tx_bytes = tuple(tx.encode() for tx in txs)
        log_size, log_root, tx_root = store.preview_log(tx_bytes)
        encoded = encode_writes(result.writes)
        header = Header(
            chain_id=CHAIN_ID,
            height=height,
            time_ms=time_ms,
            previous_hash=store.head.header_hash,
            last_commit_hash=ZERO_HASH if last_commit is None else last_commit.hash(),
            tx_root=tx_root,
            tx_count=len(tx_bytes),
            log_size=log_size,
            log_root=log_root,
            results_root=results_root(result.code_values()),
            state_root=state_root_after(store.head.state_root, writes_record(encoded)),
            evidence_hash=evidence_hash(()),
            validators_hash=validators.hash(),
            next_validators_hash=validators.hash(),
            proposer=proposer,
        )
        block = Block(header=header, transactions=tx_bytes, last_commit=last_commit)
        store.persist_block(
            ExecutedBlock(
                block=block,
                commit=_sign_commit(header, time_ms + 1),
                codes=result.code_values(),
                writes=result.writes,
                encoded_writes=encoded,
            )
        )
        codes = list(result.code_values())
        if record:
            for tx, code in zip(txs, codes, strict=True):
                self.acknowledge(tx, height, code)
        return codes

    def acknowledge(self, tx: Transaction, height: int, code: str) -> None:
        op = self.history.invoke(
            process="forge", node=0, kind=tx.kind, sender="?", tx_id=tx.id, data=tx.encode()
        )
        self.history.complete(op, "committed", http_status=200, code=code, height=height)

    def chain(self, index: int = 0) -> NodeChain:
        self.store.close()
        try:
            return load_chain(index, self.path, full=True)
        finally:
            self.store = LedgerStore.open(self.path)


def _sign_commit(header: Header, timestamp_ms: int) -> Commit:
    keys = [_key(f"validator/{i}") for i in range(3)]
    return signed_commit(CHAIN_ID, header.height, header.hash(), keys, [timestamp_ms] * 3)


# --- a normal life, then the planted bugs -------------------------------------------------------


def genuine_life(forge: Forge) -> str:
    """Issue a bill to the seller, who offers it to the buyer, who accepts. Its id."""
    issue = forge.tx("carrier", "bl.issue", issue_body("BL-1", "seller", to_order=True))
    assert forge.block([issue]) == ["ok"]
    document = issue.id.hex()
    offer = forge.tx("seller", "bl.transfer", bodies.bl_transfer(document, "buyer", 100))
    assert forge.block([offer]) == ["ok"]
    accept = forge.tx("buyer", "bl.accept", bodies.document_only(document))
    assert forge.block([accept]) == ["ok"]
    return document


def _as_holder(holder: str) -> Executor:
    """A build without the holder check: a transfer is executed as if the holder sent it."""

    def execute(view: LedgerStore, txs: Sequence[Transaction], ctx: BlockContext) -> BlockResult:
        swapped = [
            dataclasses.replace(tx, sender=_key(holder).public_key)
            if tx.kind == "bl.transfer"
            else tx
            for tx in txs
        ]
        return execute_block(view, swapped, ctx)

    return execute


def _codes_ok(view: LedgerStore, txs: Sequence[Transaction], ctx: BlockContext) -> BlockResult:
    """A build that records every transaction as `ok` (no role policy, no duplicate check)."""
    result = execute_block(view, txs, ctx)
    return dataclasses.replace(result, codes=tuple(Code.OK for _ in result.codes))


def plant_non_holder_transfer(forge: Forge) -> None:
    document = genuine_life(forge)
    theft = forge.tx("seller", "bl.transfer", bodies.bl_transfer(document, "bank-nl", 200))
    forge.block([theft], _as_holder("buyer"))


def plant_role_violation(forge: Forge) -> None:
    genuine_life(forge)
    forge.block(
        [forge.tx("seller", "bl.issue", issue_body("BL-FAKE", "buyer", to_order=True))], _codes_ok
    )


def plant_bad_signature(forge: Forge) -> None:
    document = genuine_life(forge)
    tx = forge.tx("buyer", "bl.transfer", bodies.bl_transfer(document, "bank-nl", 200))
    forged = dataclasses.replace(
        tx, signature=_key("seller").sign(crypto.Domain.TRANSACTION, CHAIN_ID, tx.signed_payload())
    )
    forge.block([forged])


def plant_duplicate(forge: Forge) -> None:
    genuine_life(forge)
    tx = forge.tx("carrier", "bl.issue", issue_body("BL-2", "seller", to_order=True))
    forge.block([tx])
    forge.store._db.delete(b"t/" + tx.id)  # the broken build keeps no index to check
    forge.block([tx], _codes_ok, record=False)


def plant_lost_block(forge: Forge) -> None:
    """A build that acknowledged a block it never made durable (write without sync)."""
    genuine_life(forge)
    lost = forge.tx("carrier", "bl.issue", issue_body("BL-LOST", "seller", to_order=True))
    forge.acknowledge(lost, forge.store.height + 1, "ok")


def plant_refused_but_committed(forge: Forge) -> None:
    document = genuine_life(forge)
    tx = forge.tx("buyer", "bl.transfer", bodies.bl_transfer(document, "bank-nl", 200))
    op = forge.history.invoke(
        process="forge", node=0, kind=tx.kind, sender="buyer", tx_id=tx.id, data=tx.encode()
    )
    forge.history.complete(op, "refused", http_status=400, code="bad_signature")
    forge.block([tx], record=False)


def plant_phantom(forge: Forge) -> None:
    genuine_life(forge)
    forge.block(
        [forge.tx("carrier", "bl.issue", issue_body("BL-P", "seller", to_order=True))], record=False
    )


def plant_double_race_win(forge: Forge) -> None:
    """A build that lets two offers of one bill both succeed."""
    issue = forge.tx("carrier", "bl.issue", issue_body("BL-R", "seller", to_order=True))
    forge.block([issue])
    document = issue.id.hex()
    offers = [
        forge.tx("seller", "bl.transfer", bodies.bl_transfer(document, to, 500))
        for to in ("buyer", "bank-nl")
    ]
    forge.block(offers, _codes_ok, record=False)
    for offer in offers:
        op = forge.history.invoke(
            process="racer",
            node=0,
            kind=offer.kind,
            sender="seller",
            tx_id=offer.id,
            data=offer.encode(),
            tags=(f"race:{document[:16]}",),
        )
        forge.history.complete(op, "committed", http_status=200, code="ok", height=2)


CASES: dict[str, tuple[Callable[[Forge], None], str]] = {
    "non-holder transfer recorded ok": (plant_non_holder_transfer, "model:"),
    "role policy ignored": (plant_role_violation, "model:"),
    "signature checks skipped": (plant_bad_signature, "integrity:"),
    "duplicate check dropped": (plant_duplicate, "model:"),
    "acknowledged block not durable": (plant_lost_block, "history:"),
    "refused, yet committed": (plant_refused_but_committed, "history:"),
    "a transaction nobody submitted": (plant_phantom, "history:"),
    "both racing transfers won": (plant_double_race_win, "race"),
}
