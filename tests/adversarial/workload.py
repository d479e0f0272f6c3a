"""The workload: organisations walking bills of lading through their life over real HTTP.

A trader thread repeats, until its deadline or its operation budget: the carrier issues a
bill to the seller; the holder offers it to another holder organisation (bl.transfer), the
recipient accepts (bl.accept), a few times; at times the last holder surrenders it for
delivery and the carrier accepts the surrender. Each step goes to a random node. A step
whose outcome is not a committed `ok` ends that bill (an unknown outcome may still commit:
the checker accepts both). Every submission is recorded in the History.

`Submitter` is the one place that turns an HTTP answer into an outcome.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from client import bodies
from contracts.testing import issue_body
from ledger.codec import Value
from ledger.crypto import SigningKey
from ledger.types import Transaction
from tests.adversarial.cluster import Cluster
from tests.adversarial.history import UNKNOWN_ERRORS, Expect, History, Operation

HOLDER_ORGANISATIONS = ("seller", "buyer", "bank-nl", "bank-sg")
EXPIRY_BLOCKS = 300  # a transaction's expiry: this many blocks past the last height seen
OFFER_BLOCKS = 60
WAIT_MS = 4_000  # how long a submission waits for its commit before it is `unknown`
HTTP_TIMEOUT_S = 10.0
TRANSFERS_PER_BILL_MAX = 3


@dataclass
class Ledger:
    """What the clients share: keys, nonces, the highest height seen."""

    cluster: Cluster
    history: History
    chain_id: str
    keys: dict[str, SigningKey] = field(default_factory=dict)
    height_seen: int = 0
    _nonces: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def key(self, organisation: str, *, admin: bool = False) -> SigningKey:
        name = f"{organisation}/admin" if admin else organisation
        with self._lock:
            if name not in self.keys:
                cluster = self.cluster
                self.keys[name] = (
                    cluster.admin_key(organisation) if admin else cluster.member_key(organisation)
                )
            return self.keys[name]

    def nonce(self) -> int:
        with self._lock:
            return next(self._nonces)

    def saw_height(self, height: int) -> None:
        with self._lock:
            self.height_seen = max(self.height_seen, height)

    def sign(
        self,
        key: SigningKey,
        kind: str,
        body: dict[str, Value],
        *,
        expiry_height: int | None = None,
        chain_id: str | None = None,
        nonce: int | None = None,
    ) -> Transaction:
        return Transaction.create(
            key,
            chain_id=chain_id or self.chain_id,
            kind=kind,
            nonce=self.nonce() if nonce is None else nonce,
            expiry_height=expiry_height or self.height_seen + EXPIRY_BLOCKS,
            body=body,
        )


class Submitter:
    """One client's HTTP connection pool; every submission is recorded."""

    def __init__(self, ledger: Ledger, process: str) -> None:
        self.ledger = ledger
        self.process = process
        self.http = httpx.Client(timeout=HTTP_TIMEOUT_S)

    def close(self) -> None:
        self.http.close()

    def submit(
        self,
        node: int,
        tx: Transaction,
        sender: str,
        *,
        expect: Expect = "any",
        tags: tuple[str, ...] = (),
        wait: bool = True,
        wait_ms: int = WAIT_MS,
        data: bytes | None = None,
    ) -> Operation:
        data = tx.encode() if data is None else data
        history = self.ledger.history
        op = history.invoke(
            process=self.process,
            node=node,
            kind=tx.kind,
            sender=sender,
            tx_id=tx.id,
            data=data,
            expect=expect,
            tags=tags,
        )
        url = self.ledger.cluster.net.url(node)
        try:
            answer = self.http.post(
                f"{url}/v1/transactions",
                params={"wait": "true" if wait else "false", "timeout_ms": str(wait_ms)},
                content=data,
                headers={"content-type": "application/msgpack"},
                timeout=wait_ms / 1000 + HTTP_TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            history.complete(op, "unknown", detail=f"{type(exc).__name__}: {exc}")
            return op
        record(history, op, answer)
        if op.height is not None:
            self.ledger.saw_height(op.height)
        return op


def record(history: History, op: Operation, answer: httpx.Response) -> None:
    """Complete `op` from the node's answer to a submission."""
    status = answer.status_code
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if status == 200 and body.get("status") == "committed":
        history.complete(
            op,
            "committed",
            http_status=status,
            code=str(body.get("code")),
            height=int(body["height"]),
        )
    elif status == 202:
        history.complete(op, "pending", http_status=status)
    elif 400 <= status < 500 and str(body.get("error")) not in UNKNOWN_ERRORS:
        history.complete(
            op,
            "refused",
            http_status=status,
            code=str(body.get("error")),
            detail=str(body.get("detail", "")),
        )
    else:
        history.complete(
            op,
            "unknown",
            http_status=status,
            code=str(body.get("error")) if body.get("error") else None,
            detail=answer.text[:200],
        )


@dataclass
class Bill:
    document: str
    holder: str


class Trader:
    """One workload thread (see the module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        name: str,
        rng: random.Random,
        nodes: Callable[[], Sequence[int]],
        deadline_s: float,
        operations_max: int,
    ) -> None:
        self.ledger = ledger
        self.name = name
        self.rng = rng
        self.nodes = nodes
        self.deadline_s = deadline_s
        self.operations_max = operations_max
        self.operations = 0
        self.bills = 0
        self.submitter = Submitter(ledger, name)
        self.stop = threading.Event()

    def _go(self) -> bool:
        return (
            not self.stop.is_set()
            and time.monotonic() < self.deadline_s
            and self.operations < self.operations_max
        )

    def _step(self, organisation: str, kind: str, body: dict[str, Value]) -> Operation:
        self.operations += 1
        node = self.rng.choice(list(self.nodes()))
        tx = self.ledger.sign(self.ledger.key(organisation), kind, body)
        return self.submitter.submit(node, tx, organisation)

    def run(self) -> None:
        try:
            while self._go():
                self._one_bill()
        finally:
            self.submitter.close()

    def _one_bill(self) -> None:
        self.bills += 1
        reference = f"{self.name}-{self.bills}-{self.rng.randrange(10**9)}"
        op = self._step("carrier", "bl.issue", issue_body(reference, "seller", to_order=True))
        if not _ok(op):
            return
        bill = Bill(document=op.tx_id, holder="seller")
        for _ in range(self.rng.randint(1, TRANSFERS_PER_BILL_MAX)):
            if not self._go():
                return
            recipient = self.rng.choice([o for o in HOLDER_ORGANISATIONS if o != bill.holder])
            expiry = self.ledger.height_seen + OFFER_BLOCKS
            offer = self._step(
                bill.holder, "bl.transfer", bodies.bl_transfer(bill.document, recipient, expiry)
            )
            if not _ok(offer) or not self._go():
                return
            accept = self._step(recipient, "bl.accept", bodies.document_only(bill.document))
            if not _ok(accept):
                return
            bill.holder = recipient
        if self.rng.random() < 0.3 and self._go():
            surrender = self._step(
                bill.holder, "bl.surrender", bodies.bl_surrender(bill.document, "delivery")
            )
            if _ok(surrender) and self._go():
                self._step("carrier", "bl.surrender_accept", bodies.document_only(bill.document))


def _ok(op: Operation) -> bool:
    return op.outcome == "committed" and op.code == "ok"


class Workload:
    """Several traders in threads. `start()`, then `stop()` (joins, bounded)."""

    def __init__(
        self,
        ledger: Ledger,
        rng: random.Random,
        *,
        traders: int,
        duration_s: float,
        operations_max: int,
        nodes: Callable[[], Sequence[int]],
    ) -> None:
        deadline = time.monotonic() + duration_s
        self.traders = [
            Trader(
                ledger,
                f"trader{i}",
                random.Random(rng.randrange(2**32)),
                nodes,
                deadline,
                operations_max,
            )
            for i in range(traders)
        ]
        self.threads = [threading.Thread(target=t.run, name=t.name) for t in self.traders]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        for trader in self.traders:
            trader.stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self.threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
        stuck = [thread.name for thread in self.threads if thread.is_alive()]
        assert not stuck, f"workload threads did not stop: {stuck}"

    @property
    def operations(self) -> int:
        return sum(trader.operations for trader in self.traders)
