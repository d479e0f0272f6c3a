"""Prometheus metrics of one node, in a registry of its own (never the process-global one, so
two nodes in one process, as in tests, do not collide).

    tradeledger_height                          last persisted block height
    tradeledger_commit_latency_seconds          admission into this node's mempool -> commit
    tradeledger_mempool_transactions            pending transactions
    tradeledger_mempool_bytes                   their size
    tradeledger_peers                           connected validator peers
    tradeledger_blocks_persisted_total          blocks persisted
    tradeledger_transactions_rejected_total     by code and stage: "admission" (refused by
                                                this node's API) or "block" (committed with a
                                                code other than ok)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# Admission times kept for the latency histogram; beyond this the oldest are forgotten (a
# transaction that waits that long is not observed, which the mempool bounds anyway).
ADMISSION_TIMES_MAX = 200_000
COMMIT_LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class NodeMetrics:
    def __init__(
        self,
        *,
        height: Callable[[], int],
        mempool_transactions: Callable[[], int],
        mempool_bytes: Callable[[], int],
        peers: Callable[[], int],
    ) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        Gauge("tradeledger_height", "Last persisted block height", registry=registry).set_function(
            lambda: float(height())
        )
        Gauge(
            "tradeledger_mempool_transactions", "Transactions pending", registry=registry
        ).set_function(lambda: float(mempool_transactions()))
        Gauge(
            "tradeledger_mempool_bytes", "Bytes of transactions pending", registry=registry
        ).set_function(lambda: float(mempool_bytes()))
        Gauge("tradeledger_peers", "Connected validator peers", registry=registry).set_function(
            lambda: float(peers())
        )
        self.commit_latency = Histogram(
            "tradeledger_commit_latency_seconds",
            "Seconds from admission into this node's mempool to commit",
            buckets=COMMIT_LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.blocks_persisted = Counter(
            "tradeledger_blocks_persisted", "Blocks persisted", registry=registry
        )
        self.rejected = Counter(
            "tradeledger_transactions_rejected",
            "Transactions refused at admission or committed with a code other than ok",
            ["code", "stage"],
            registry=registry,
        )
        self._admitted_ms: OrderedDict[bytes, int] = OrderedDict()

    def transaction_admitted(self, tx_id: bytes, now_ms: int) -> None:
        if tx_id in self._admitted_ms:
            return
        self._admitted_ms[tx_id] = now_ms
        while len(self._admitted_ms) > ADMISSION_TIMES_MAX:
            self._admitted_ms.popitem(last=False)

    def admission_refused(self, code: str) -> None:
        self.rejected.labels(code=code, stage="admission").inc()

    def block_persisted(self, tx_ids: Sequence[bytes], codes: Sequence[str], now_ms: int) -> None:
        self.blocks_persisted.inc()
        for tx_id, code in zip(tx_ids, codes, strict=True):
            admitted_ms = self._admitted_ms.pop(tx_id, None)
            if admitted_ms is not None:
                self.commit_latency.observe(max(0, now_ms - admitted_ms) / 1000)
            if code != "ok":
                self.rejected.labels(code=code, stage="block").inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (`CONTENT_TYPE`)."""
        return generate_latest(self.registry)


__all__ = ["CONTENT_TYPE", "NodeMetrics"]
