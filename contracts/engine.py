"""Executing transactions and blocks: envelope checks, authorisation, dispatch.

Determinism rules (every node must reach byte-identical writes):
- no clock, randomness, I/O or environment: the block context carries height and time;
- no iteration over unordered sets or dicts whose order could differ between nodes
  (the state root sorts the writes; contracts build values deterministically);
- signatures are verified by the node before execution, never here.

A transaction is checked in this order, and the first failure is its code:

    wrong_chain, duplicate_transaction, expired, expiry_too_far, nonce_reused,
    unknown_kind, key_unknown, key_revoked, organisation_suspended,
    role_not_allowed, admin_required, malformed_body, then the contract's own rules.

**A rejected transaction is still committed** in its block with its code (the header's
results root covers it), and its id is recorded under ``tx/<id>`` so it can never be
replayed; its nonce is recorded too (unless the nonce was the reason for the rejection).
Exceptions: a duplicate writes nothing (its id is already recorded), nor does a transaction
signed for another chain. Nothing else a rejected transaction tried to write is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts import bill_of_lading, certificate_of_origin, customs, membership, payment
from contracts.common import Call, Kind
from contracts.context import LIMITS, BlockContext, BlockResult, Event, TxOutcome
from contracts.identity import genesis_writes as _genesis_writes
from contracts.identity import load_validator_set, resolve_sender
from contracts.policy import POLICY, authorise
from contracts.records import (
    VALIDATORS_KEY,
    Changes,
    HistoryFull,
    nonce_key,
    transaction_key,
)
from ledger.codec import Value
from ledger.codes import Code
from ledger.errors import ValidationError
from ledger.fields import Fields
from ledger.state import Overlay, StateView
from ledger.types import Genesis, Transaction

KINDS: dict[str, Kind] = {
    **bill_of_lading.KINDS,
    **certificate_of_origin.KINDS,
    **payment.KINDS,
    **customs.KINDS,
    **membership.KINDS,
}
assert set(KINDS) == set(POLICY), "every kind has a policy row and a handler"


def genesis_writes(genesis: Genesis) -> dict[str, Value]:
    """The initial state: organisations, roles, admin keys, members, validators, policy."""
    return _genesis_writes(genesis)


def execute_transaction(view: StateView, tx: Transaction, ctx: BlockContext) -> TxOutcome:
    """Execute one transaction over `view`; the outcome's writes include the replay record."""
    outcome = _decide(view, tx, ctx)
    if outcome.code in (Code.DUPLICATE_TRANSACTION, Code.WRONG_CHAIN):
        # a duplicate was recorded when first committed; a transaction signed for another
        # chain is not this chain's business (recording it would burn the sender's nonce here)
        return outcome
    writes: dict[str, Value | None] = dict(outcome.writes) if outcome.ok else {}
    writes[transaction_key(tx.id)] = {
        "code": outcome.code.value,
        "height": ctx.height,
        "kind": tx.kind,
        "nonce": tx.nonce,
        "sender": tx.sender,
    }
    if outcome.code is not Code.NONCE_REUSED:
        writes[nonce_key(tx.sender, tx.nonce)] = tx.id.hex()
    return TxOutcome(code=outcome.code, writes=writes, events=outcome.events, detail=outcome.detail)


def execute_block(view: StateView, txs: Sequence[Transaction], ctx: BlockContext) -> BlockResult:
    """Execute a block: lapse expired offers, then each transaction in order, each seeing the
    writes of those before it. The writes are the block's net state change."""
    overlay = Overlay(view)
    lapse_writes, lapse_events = bill_of_lading.lapse_offers(overlay, ctx)
    overlay.apply(lapse_writes)
    events: list[Event] = list(lapse_events)
    codes: list[Code] = []
    details: list[str] = []
    for tx in txs:
        outcome = execute_transaction(overlay, tx, ctx)
        overlay.apply(outcome.writes)
        codes.append(outcome.code)
        details.append(outcome.detail)
        events.extend(outcome.events)
    validator_set = load_validator_set(overlay) if VALIDATORS_KEY in overlay.writes else None
    return BlockResult(
        codes=tuple(codes),
        writes=dict(overlay.writes),
        events=tuple(events),
        details=tuple(details),
        validator_set=validator_set,
    )


def _decide(view: StateView, tx: Transaction, ctx: BlockContext) -> TxOutcome:
    if tx.chain_id != ctx.chain_id:
        return TxOutcome.rejected(Code.WRONG_CHAIN, f"signed for chain {tx.chain_id!r}")
    if view.get(transaction_key(tx.id)) is not None:
        return TxOutcome.rejected(Code.DUPLICATE_TRANSACTION)
    if tx.expiry_height < ctx.height:
        return TxOutcome.rejected(Code.EXPIRED, f"expiry height {tx.expiry_height}")
    if tx.expiry_height > ctx.height + LIMITS.transaction_expiry_blocks_max:
        return TxOutcome.rejected(
            Code.EXPIRY_TOO_FAR,
            f"expiry height may be at most {LIMITS.transaction_expiry_blocks_max} blocks ahead",
        )
    if view.get(nonce_key(tx.sender, tx.nonce)) is not None:
        return TxOutcome.rejected(Code.NONCE_REUSED, f"nonce {tx.nonce}")
    kind = KINDS.get(tx.kind)
    if kind is None:
        return TxOutcome.rejected(Code.UNKNOWN_KIND, f"kind {tx.kind!r}")
    sender = resolve_sender(view, tx.sender)
    if isinstance(sender, Code):
        return TxOutcome.rejected(sender)
    refusal = authorise(tx.kind, sender.organisation.roles, sender.is_admin)
    if refusal is not None:
        roles = ", ".join(sorted(role.value for role in sender.organisation.roles))
        return TxOutcome.rejected(refusal, f"{tx.kind} is not allowed for roles {roles}")
    try:
        body = kind.parse(Fields(tx.body, "body"))
    except ValidationError as exc:
        return TxOutcome.rejected(Code.MALFORMED_BODY, str(exc))
    try:
        return kind.apply(Call(changes=Changes(view), tx=tx, ctx=ctx, sender=sender), body)
    except HistoryFull as exc:  # its partial writes are dropped with the Call's changes
        return TxOutcome.rejected(Code.DOCUMENT_HISTORY_FULL, str(exc))
