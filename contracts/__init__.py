"""The document rules: pure, deterministic functions over a read-only state view.

Entry points for the node:

    genesis_writes(genesis) -> dict[str, Value]
    execute_transaction(view, tx, ctx) -> TxOutcome
    execute_block(view, txs, ctx) -> BlockResult

Read helpers for the API are in `contracts.queries`; the role policy in `contracts.policy`;
the result codes in `ledger.codes`. See docs/contracts.md.
"""

from contracts.context import LIMITS, BlockContext, BlockResult, Event, Limits, TxOutcome
from contracts.engine import KINDS, execute_block, execute_transaction, genesis_writes

__all__ = [
    "KINDS",
    "LIMITS",
    "BlockContext",
    "BlockResult",
    "Event",
    "Limits",
    "TxOutcome",
    "execute_block",
    "execute_transaction",
    "genesis_writes",
]
