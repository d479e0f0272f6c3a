"""The history: every client operation, recorded when invoked and when it completed.

An operation is one submission of one signed transaction to one node. Its outcome is:

- `committed`: the node answered that the transaction is in a block (height, result code);
- `refused`: the node answered a definite refusal at admission (an error code); nothing was
  admitted, so these exact bytes must never reach a block;
- `unknown`: no definite answer (timeout, connection error, 408, 429, 5xx); it may or may
  not commit, and the checker accepts either;
- `pending`: admitted without waiting (wait=false): it may commit or expire.

`expect` says what the scenario promises about the transaction:
- `any`: the workload; whatever the contracts decide;
- `not_ok`: may be committed, but never with code `ok` (an organisation outside its role);
- `absent`: these bytes must never appear in any block (forged, cross-chain, malleated, ...).

Thread-safe: workload threads append concurrently.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

Outcome = Literal["invoked", "committed", "refused", "unknown", "pending"]
Expect = Literal["any", "not_ok", "absent"]

# Answers that decide nothing: the transaction may still commit.
UNKNOWN_ERRORS = frozenset({"timeout", "request_timeout", "mempool_full", "busy"})


@dataclass
class Operation:
    op_id: int
    process: str  # the client (worker) that invoked it
    node: int
    kind: str
    sender: str  # organisation
    tx_id: str  # hex
    bytes_sha256: str  # hex of the exact bytes sent
    expect: Expect
    tags: tuple[str, ...]
    invoked_s: float
    outcome: Outcome = "invoked"
    completed_s: float | None = None
    http_status: int | None = None
    code: str | None = None  # result code (committed) or error code (refused)
    height: int | None = None
    detail: str = ""


@dataclass
class History:
    operations: list[Operation] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def invoke(
        self,
        *,
        process: str,
        node: int,
        kind: str,
        sender: str,
        tx_id: bytes,
        data: bytes,
        expect: Expect = "any",
        tags: tuple[str, ...] = (),
    ) -> Operation:
        with self._lock:
            op = Operation(
                op_id=len(self.operations),
                process=process,
                node=node,
                kind=kind,
                sender=sender,
                tx_id=tx_id.hex(),
                bytes_sha256=hashlib.sha256(data).hexdigest(),
                expect=expect,
                tags=tags,
                invoked_s=time.monotonic(),
            )
            self.operations.append(op)
            return op

    def complete(
        self,
        op: Operation,
        outcome: Outcome,
        *,
        http_status: int | None = None,
        code: str | None = None,
        height: int | None = None,
        detail: str = "",
    ) -> None:
        with self._lock:
            op.outcome = outcome
            op.completed_s = time.monotonic()
            op.http_status = http_status
            op.code = code
            op.height = height
            op.detail = detail[:200]

    def snapshot(self) -> list[Operation]:
        with self._lock:
            return list(self.operations)

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for op in self.snapshot():
            result[op.outcome] = result.get(op.outcome, 0) + 1
        return result

    def dump(self, path: Path) -> None:
        """One JSON object per line, in invocation order (for a failed run's post-mortem)."""
        with path.open("w") as out:
            for op in self.snapshot():
                out.write(json.dumps(asdict(op), sort_keys=True) + "\n")
