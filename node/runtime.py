"""The node: store, mempool, consensus, transport and execution wired on one event loop.

Everything that changes the node's state runs on the loop thread: messages from peers,
timers, submitted transactions. Only the signature checks of batches of transactions
(submitted or gossiped, more than `VERIFY_INLINE_MAX`) run in a thread pool (PyNaCl releases
the GIL). The order of work for consensus is `drain_ready`'s: vote records are durable before
any vote is signed and sent; a decided block is executed and persisted in one synced batch
before the replica moves on.

Peer messages (canonical msgpack maps with a `type`):

    consensus  {data: encode_message(...)}   proposal, vote, or decided value with commit
    txs        {items: [<transaction bytes>]} gossip of admitted transactions, in batches
    status     {height}                      every STATUS_INTERVAL_MS
    get_blocks {from, count}                 block sync request
    blocks     {items: [decided, ...]}       block sync answer, in height order
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import contracts
from contracts.queries import transaction_result
from ledger.codec import CodecLimits, Value
from ledger.codes import Code
from ledger.crypto import SigningKey
from ledger.errors import LedgerError
from ledger.store import LedgerStore
from ledger.types import (
    DuplicateVoteEvidence,
    Genesis,
    SignedVote,
    Transaction,
    Vote,
)
from network.consensus import (
    ConsensusConfig,
    Decided,
    InvalidMessage,
    LaggingPeer,
    Outbound,
    Proposal,
    Replica,
    SignedProposal,
    Timeout,
    ValueRequest,
    WalRecord,
    decode_message,
    drain_ready,
    encode_message,
    verify_message,
)
from network.consensus.messages import MESSAGE_SIZE_BYTES_MAX, message_height
from network.transport import PeerAddress, Transport, TransportConfig, TransportLimits
from network.wal import FileWal, load_wal_records, persist_wal_record
from node.config import NodeConfig
from node.events import BlockEvents, EventHub
from node.execution import LedgerApplication
from node.mempool import AdmissionError, Mempool, prepare
from node.metrics import NodeMetrics

log = logging.getLogger(__name__)

STATUS_INTERVAL_MS = 1000
SYNC_BATCH_BLOCKS = 32  # blocks per get_blocks answer
SYNC_BATCH_BYTES_MAX = MESSAGE_SIZE_BYTES_MAX  # and at most this many bytes (at least one block)
# What one peer frame may hold: a proposal carrying a full block (a value up to the consensus
# limit inside a bytes field), or a block-sync answer of SYNC_BATCH_BYTES_MAX plus one block.
PEER_CODEC_LIMITS = CodecLimits(
    frame_size_bytes_max=2 * MESSAGE_SIZE_BYTES_MAX + 64 * 1024,
    string_length_bytes_max=MESSAGE_SIZE_BYTES_MAX,
)
SYNC_REQUEST_TIMEOUT_MS = 5000  # ask another peer after this long without an answer
EVIDENCE_POOL_MAX = 64
COMMIT_WAITERS_MAX = 10_000
VERIFY_THREADS = 2
# Up to this many signatures are checked on the loop: a thread hop costs more than a few
# checks (a single submission, the gossip of a lightly loaded node); more go to the pool.
VERIFY_INLINE_MAX = 8
# Transaction gossip: what this node admits from clients in one turn of the event loop goes
# to the peers as one frame (at most this many transactions or bytes per frame); peers check
# the signatures of a batch in the verify pool, at most this many batches at a time, and drop
# gossip beyond that (each transaction still reaches them in the block that commits it).
GOSSIP_BATCH_MAX = 1024
GOSSIP_BATCH_BYTES_MAX = 2 * 1024 * 1024
GOSSIP_BATCHES_VERIFYING_MAX = 16
# This node proposes at most this many transactions per block (the genesis may allow more):
# building, sending and checking a block must fit in the validators' propose timeout, or the
# round fails and the work is done again; under load the next block follows at once anyway.
PROPOSAL_TRANSACTIONS_MAX = 4000
# The mempool is checked whole against the state after a block that changed keys or
# organisations, and every this many blocks (expiries); otherwise only for the nonces used.
MEMPOOL_FULL_PRUNE_BLOCKS = 64


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Committed:
    tx_id: bytes
    height: int
    code: str


class Node:
    """One running node. `await node.start()`, then `await node.stop()`."""

    def __init__(
        self,
        config: NodeConfig,
        key_seed: bytes,
        genesis: Genesis,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.config = config
        self.key = SigningKey(key_seed)
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.clock_ms = clock_ms
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = LedgerStore.open(
            config.data_dir / "ledger", genesis, contracts.genesis_writes(genesis)
        )
        self.wal = FileWal.open(config.data_dir / "consensus.wal")
        self.mempool = Mempool()
        self.app = LedgerApplication(
            self.store, self.key.public_key, self.mempool.verified_transaction
        )
        self.validators = self.store.validators_at(self.store.height + 1)
        # The WAL's records, decoded once and kept in step with it (appended by `persist`,
        # cleared with it), for the replicas that take over at a height.
        self._wal_records = load_wal_records(self.wal)
        # Votes this validator signed at heights its store has not reached (its store was
        # restored or wiped and is syncing again): kept, and restored when the node gets
        # there, so that it never signs anything else at those heights.
        self._signed_ahead = {
            r.height for r in self._wal_records if r.height > self.store.height + 1
        }
        self.replica = self._new_replica(self._wal_records)
        self.transport = Transport(
            key=self.key,
            config=TransportConfig(
                listen_host=config.p2p_listen.host,
                listen_port=config.p2p_listen.port,
                peers=tuple(
                    PeerAddress(node_key=p.node_key, host=p.address.host, port=p.address.port)
                    for p in config.peers
                ),
                limits=TransportLimits(codec=PEER_CODEC_LIMITS),
            ),
            allowed=lambda: frozenset(v.node_key for v in self.validators.validators),
            on_message=self._on_peer_message,
        )
        self.evidence_pool: deque[DuplicateVoteEvidence] = deque(maxlen=EVIDENCE_POOL_MAX)
        self.peer_heights: dict[bytes, int] = {}
        self._pending_request: ValueRequest | None = None
        self._proposal_soon = False  # a `_propose_soon` is scheduled
        self.failure: BaseException | None = None  # set when the node must stop (see _drain)
        self.failed = asyncio.Event()
        self._proposal_timer: asyncio.TimerHandle | None = None
        self._replace_replica = False
        self._sync_requested_ms = 0
        self._deadlines: list[int] = []  # heap of timer deadlines the replica asked for
        self._timer: asyncio.TimerHandle | None = None  # armed for the earliest deadline
        self._timer_ms = 0
        self._waiters: dict[bytes, list[asyncio.Future[Committed]]] = {}
        self._verify_pool = ThreadPoolExecutor(VERIFY_THREADS, thread_name_prefix="verify")
        self._gossip_out: list[bytes] = []  # admitted from clients, not yet sent to the peers
        self._gossip_out_bytes = 0
        self._gossip_verifying = 0  # gossiped batches in the verify pool
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.started_ms = clock_ms()
        self.last_decided_ms = self.started_ms
        self.events = EventHub()  # committed blocks for the API's event streams
        self.metrics = NodeMetrics(
            height=lambda: self.store.height,
            mempool_transactions=lambda: len(self.mempool),
            mempool_bytes=lambda: self.mempool.size_bytes,
            peers=lambda: len(self.transport.connected_peers()),
        )
        self.stats: dict[str, int] = {
            "blocks_persisted": 0,
            "transactions_committed": 0,
            "peer_messages_refused": 0,
            "sync_blocks_applied": 0,
            "gossip_batches_dropped": 0,
        }

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.transport.start()
        self._tasks.append(asyncio.create_task(self._status_loop()))
        self._drain()
        log.info(
            "node started name=%s key=%s height=%d chain=%s",
            self.config.name,
            self.key.public_key.hex()[:16],
            self.store.height,
            self.chain_id,
        )

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._timer is not None:
            self._timer.cancel()
        self.events.close()
        await self.transport.close()
        self._verify_pool.shutdown(wait=True)
        for futures in self._waiters.values():
            for future in futures:
                future.cancel()
        self.wal.close()
        self.store.close()
        log.info("node stopped name=%s height=%d", self.config.name, self.store.height)

    # --- submitting transactions -------------------------------------------------------------

    async def submit(self, data: bytes) -> Transaction:
        """Admit a transaction (AdmissionError if refused) and gossip it to the peers."""
        try:
            tx = prepare(data, self.chain_id)  # one check: cheaper here than a thread hop
            self.admit(tx, data, gossip=True)
        except AdmissionError as exc:
            self.metrics.admission_refused(exc.code.value)
            raise
        return tx

    async def submit_batch(self, datas: list[bytes]) -> list[Transaction | AdmissionError]:
        """`submit` for many: the signatures are checked in the verify pool in one hop (split
        across its threads), then each is admitted in order; a refusal is returned in its
        place, never raised."""
        if len(datas) <= VERIFY_INLINE_MAX:
            prepared_chunks = [_prepare_batch(datas, self.chain_id)]
        else:
            loop = asyncio.get_running_loop()
            share = -(-len(datas) // VERIFY_THREADS)
            chunks = [datas[start : start + share] for start in range(0, len(datas), share)]
            prepared_chunks = await asyncio.gather(
                *(
                    loop.run_in_executor(self._verify_pool, _prepare_batch, chunk, self.chain_id)
                    for chunk in chunks
                )
            )
        results: list[Transaction | AdmissionError] = []
        for data, prepared in zip(
            datas, (p for chunk in prepared_chunks for p in chunk), strict=True
        ):
            try:
                if isinstance(prepared, AdmissionError):
                    raise prepared
                self.admit(prepared, data, gossip=True)
                results.append(prepared)
            except AdmissionError as exc:
                self.metrics.admission_refused(exc.code.value)
                results.append(exc)
        return results

    def admit(self, tx: Transaction, data: bytes, *, gossip: bool) -> None:
        tx_id = tx.id
        try:
            added = self.mempool.admit(tx, data, self.store, self.store.height + 1)
        except AdmissionError as exc:
            location = self.store.transaction_location(tx_id)
            if exc.code is Code.DUPLICATE_TRANSACTION and location is not None:
                raise AdmissionError(
                    Code.DUPLICATE_TRANSACTION, f"committed at height {location.height}"
                ) from None
            raise
        if added:
            self.metrics.transaction_admitted(tx_id, self.clock_ms())
        if added and gossip:
            self._gossip(data)
        if added and self._pending_request is not None and not self._proposal_soon:
            # Propose once this loop turn is over, not now: a batch (submitted, or gossiped
            # by a peer) is admitted in one turn, and proposing at its first transaction
            # made a block of one and left the rest for the next height.
            assert self._loop is not None
            self._proposal_soon = True
            self._loop.call_soon(self._propose_soon)

    def _gossip(self, data: bytes) -> None:
        if not self._gossip_out:
            assert self._loop is not None
            self._loop.call_soon(self._flush_gossip)
        self._gossip_out.append(data)
        self._gossip_out_bytes += len(data)
        if (
            len(self._gossip_out) >= GOSSIP_BATCH_MAX
            or self._gossip_out_bytes >= GOSSIP_BATCH_BYTES_MAX
        ):
            self._flush_gossip()

    def _flush_gossip(self) -> None:
        if self._gossip_out:
            items: list[Value] = list(self._gossip_out)
            self.transport.broadcast({"type": "txs", "items": items})
            self._gossip_out.clear()
            self._gossip_out_bytes = 0

    def wait_committed(self, tx_id: bytes) -> asyncio.Future[Committed]:
        """A future resolved when `tx_id` is committed (at once if it already is)."""
        assert self._loop is not None
        future: asyncio.Future[Committed] = self._loop.create_future()
        committed = self.committed(tx_id)
        if committed is not None:
            future.set_result(committed)
            return future
        waiters = self._waiters.setdefault(tx_id, [])
        if sum(len(w) for w in self._waiters.values()) >= COMMIT_WAITERS_MAX:
            raise AdmissionError(Code.MEMPOOL_FULL, "too many clients waiting for commits")
        waiters.append(future)
        return future

    def committed(self, tx_id: bytes) -> Committed | None:
        location = self.store.transaction_location(tx_id)
        if location is None:
            return None
        codes = self.store.result_codes(location.height)
        assert codes is not None
        return Committed(tx_id=tx_id, height=location.height, code=codes[location.index])

    def transaction_record(self, tx_id: bytes) -> dict[str, Value] | None:
        return transaction_result(self.store, tx_id)

    # --- consensus driver (ReadyHandler) -----------------------------------------------------

    def persist(self, record: WalRecord) -> None:
        persist_wal_record(self.wal, record)
        self._wal_records.append(record)

    def sign_and_send(self, message: Proposal | Vote) -> SignedProposal | SignedVote:
        signed: SignedProposal | SignedVote
        if isinstance(message, Proposal):
            signed = SignedProposal.sign(self.key, self.chain_id, message)
        else:
            signed = SignedVote.sign(self.key, self.chain_id, message)
        self.transport.broadcast({"type": "consensus", "data": encode_message(signed)})
        return signed

    def send(self, outbound: Outbound) -> None:
        frame: dict[str, Value] = {"type": "consensus", "data": encode_message(outbound.message)}
        if outbound.to is None:
            self.transport.broadcast(frame)
        else:
            self.transport.send(outbound.to, frame)

    def schedule(self, timeout: Timeout) -> None:
        if timeout.deadline_ms not in self._deadlines:
            heapq.heappush(self._deadlines, timeout.deadline_ms)
        self._arm_timer()

    def execute_and_persist(self, decided: Decided) -> None:
        candidate = self.app.execute_and_persist(decided)
        height = decided.height
        if not any(signed > height for signed in self._signed_ahead):
            self.wal.reset()  # nothing recorded for a later height: the log starts afresh
            self._wal_records.clear()
        if height + 1 in self._signed_ahead:
            self._signed_ahead.discard(height + 1)
            self._replace_replica = True  # restore what was signed at the next height
        tx_ids = [tx.id for tx in candidate.transactions]
        self.mempool.remove(tx_ids)
        writes = candidate.result.writes
        if height % MEMPOOL_FULL_PRUNE_BLOCKS == 0 or any(
            key.startswith(("key/", "org/")) for key in writes
        ):
            self.mempool.prune(self.store, height + 1)
        else:
            self.mempool.drop_used_nonces(writes)
        committed_evidence = set(candidate.block.evidence)
        for evidence in list(self.evidence_pool):
            if evidence in committed_evidence:
                self.evidence_pool.remove(evidence)
        self.stats["blocks_persisted"] += 1
        self.stats["transactions_committed"] += len(tx_ids)
        self.last_decided_ms = self.clock_ms()
        codes = candidate.result.code_values()
        for tx_id, code in zip(tx_ids, codes, strict=True):
            for future in self._waiters.pop(tx_id, []):
                if not future.done():
                    future.set_result(Committed(tx_id=tx_id, height=height, code=code))
        self.metrics.block_persisted(tx_ids, codes, self.last_decided_ms)
        self.events.publish(
            BlockEvents(
                height=height,
                hash=decided.commit.block_hash,
                time_ms=candidate.block.header.time_ms,
                tx_count=len(tx_ids),
                events=candidate.result.events,
            )
        )
        for evidence in candidate.block.evidence:
            log.warning(
                "evidence committed height=%d offender=%s", height, evidence.offender.hex()[:16]
            )
        if candidate.result.validator_set is not None:
            # From the next height on the new set votes. The transport accepts its keys at
            # once; the replica is replaced once this drain ends (see `_drain`), and until
            # then it proposes nothing under the old set.
            self.validators = candidate.result.validator_set
            self._replace_replica = True
            log.warning(
                "validator set changes at height %d: %d validators, hash %s",
                height + 1,
                len(self.validators.validators),
                self.validators.hash().hex()[:16],
            )
        log.info(
            "decided node=%s height=%d round=%d txs=%d hash=%s",
            self.config.name,
            height,
            decided.commit.round,
            len(tx_ids),
            decided.value_hash.hex()[:16],
        )

    def report_evidence(self, evidence: DuplicateVoteEvidence) -> None:
        if evidence not in self.evidence_pool:
            log.warning("equivocation detected offender=%s", evidence.offender.hex()[:16])
            self.evidence_pool.append(evidence)

    def serve_lagging(self, lagging: LaggingPeer) -> None:
        decided = self._decided_at(lagging.height)
        if decided is not None:
            self.transport.send(
                lagging.peer, {"type": "consensus", "data": encode_message(decided)}
            )

    def get_value(self, request: ValueRequest) -> bytes | None:
        if request.height != self.store.height + 1 or self._replace_replica:
            return None
        if self.clock_ms() >= self._proposal_due_ms():
            return self._build_value()
        self._pending_request = request
        self._arm_proposal_timer()
        return None

    # --- internals ---------------------------------------------------------------------------

    def _build_value(self) -> bytes:
        params = self.genesis.consensus
        transactions = self.mempool.reap(
            min(params.block_transaction_count_max, PROPOSAL_TRANSACTIONS_MAX),
            params.block_size_bytes_max - 64 * 1024,
        )
        return self.app.build(transactions, tuple(self.evidence_pool))

    def _proposal_due_ms(self) -> int:
        """When this node, as proposer, proposes: soon after the last block when there is
        work (`block_interval_ms_min` lets a block gather what arrives meanwhile, and keeps
        the event loop free for submissions between fsyncs), later when there is none."""
        has_work = len(self.mempool) > 0 or bool(self.evidence_pool)
        config = self.config
        interval = config.block_interval_ms_min if has_work else config.empty_block_interval_ms
        return self.last_decided_ms + interval

    def _arm_proposal_timer(self) -> None:
        assert self._loop is not None
        if self._proposal_timer is not None:
            self._proposal_timer.cancel()
        delay_s = max(0, self._proposal_due_ms() - self.clock_ms()) / 1000
        self._proposal_timer = self._loop.call_later(delay_s, self._fulfil_pending_request)

    def _propose_soon(self) -> None:
        self._proposal_soon = False
        if self.failure is None and not self._stopping:
            self._fulfil_pending_request()

    def _fulfil_pending_request(self) -> None:
        request = self._pending_request
        if request is None:
            return
        if request.height != self.store.height + 1:
            self._pending_request = None
            return
        if self.clock_ms() < self._proposal_due_ms():
            self._arm_proposal_timer()
            return
        self._pending_request = None
        if self.replica.propose(request, self._build_value()):
            self._drain()

    def _new_replica(self, wal_records: list[WalRecord]) -> Replica:
        return Replica(
            ConsensusConfig(
                chain_id=self.chain_id,
                validators=self.validators,
                node_key=self.key.public_key,
                params=self.genesis.consensus,
            ),
            self.app,
            now_ms=self.clock_ms(),
            last_decided_height=self.store.height,
            wal_records=wal_records,
        )

    def _drain(self) -> None:
        try:
            self._drain_all()
        except Exception as exc:
            # Consensus or the store failed (a disk that can no longer be written or read, a
            # broken invariant): this node must not go on voting. `failed` tells node/main.py
            # to stop the process with a non-zero status; nothing here retries.
            self._fatal(exc)
            raise

    def _fatal(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
            log.critical("node %s stops: %s: %s", self.config.name, type(exc).__name__, exc)
            self.failed.set()

    def _drain_all(self) -> None:
        drain_ready(self.replica, self)
        while self._replace_replica:
            # A new validator set from this height on, or votes signed at this height before
            # the store was wiped: a new replica takes over, restoring from the write-ahead
            # log whatever was recorded for this height, so nothing is ever signed twice.
            self._replace_replica = False
            self.replica = self._new_replica(self._wal_records)
            drain_ready(self.replica, self)

    def _arm_timer(self) -> None:
        assert self._loop is not None
        if not self._deadlines:
            return
        earliest = self._deadlines[0]
        if self._timer is not None and self._timer_ms <= earliest:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_ms = earliest
        self._timer = self._loop.call_later(
            max(0, earliest - self.clock_ms()) / 1000, self._on_timer
        )

    def _on_timer(self) -> None:
        self._timer = None
        now = self.clock_ms()
        while self._deadlines and self._deadlines[0] <= now:
            heapq.heappop(self._deadlines)
        self.replica.tick(now)
        self._drain()
        self._arm_timer()

    def _decided_at(self, height: int) -> Decided | None:
        value = self.store.block_bytes(height)
        commit = self.store.commit(height)
        if value is None or commit is None:
            return None
        return Decided(value=value, commit=commit)

    def _refuse(self, peer: bytes, what: str, exc: BaseException) -> None:
        self.stats["peer_messages_refused"] += 1
        log.warning("refused %s from peer=%s: %s", what, peer.hex()[:16], exc)

    def _on_peer_message(self, peer: bytes, message: Value) -> None:
        if not isinstance(message, dict):
            self._refuse(peer, "message", ValueError("not a map"))
            return
        kind = message.get("type")
        try:
            if kind == "consensus":
                self._on_consensus(peer, message.get("data"))
            elif kind == "txs":
                self._on_gossiped_transactions(peer, message.get("items"))
            elif kind == "status":
                self._on_status(peer, message.get("height"))
            elif kind == "get_blocks":
                self._on_get_blocks(peer, message.get("from"), message.get("count"))
            elif kind == "blocks":
                self._on_blocks(peer, message.get("items"))
            else:
                self._refuse(peer, "message", ValueError(f"unknown type {kind!r}"))
        except (LedgerError, InvalidMessage, ValueError) as exc:
            self._refuse(peer, str(kind), exc)

    def _on_consensus(self, peer: bytes, data: Value) -> None:
        if not isinstance(data, bytes):
            raise ValueError("consensus data must be bytes")
        message = decode_message(data)
        if message_height(message) < self.replica.height - 1 and isinstance(message, Decided):
            return
        verify_message(message, self.chain_id, self.validators)
        if isinstance(message, Decided):
            self.app.certify(message.height, message.commit.block_hash)
        self.replica.step(message)
        self._drain()

    def _on_gossiped_transactions(self, peer: bytes, items: Value) -> None:
        if (
            not isinstance(items, list)
            or not 0 < len(items) <= GOSSIP_BATCH_MAX
            or not all(isinstance(item, bytes) for item in items)
        ):
            raise ValueError(f"txs items must be a list of 1..{GOSSIP_BATCH_MAX} byte strings")
        if self._gossip_verifying >= GOSSIP_BATCHES_VERIFYING_MAX or self._syncing():
            # Overloaded, or catching up: these transactions reach us in the blocks.
            self.stats["gossip_batches_dropped"] += 1
            return
        assert self._loop is not None
        datas = [item for item in items if isinstance(item, bytes)]
        if len(datas) <= VERIFY_INLINE_MAX:
            self._admit_prepared(peer, datas, _prepare_batch(datas, self.chain_id))
            return
        self._gossip_verifying += 1
        future = self._loop.run_in_executor(self._verify_pool, _prepare_batch, datas, self.chain_id)
        future.add_done_callback(lambda done: self._admit_gossiped(peer, datas, done))

    def _admit_gossiped(
        self,
        peer: bytes,
        datas: list[bytes],
        done: asyncio.Future[list[Transaction | AdmissionError]],
    ) -> None:
        self._gossip_verifying -= 1
        if done.cancelled() or self.failure is not None or self._stopping:
            return  # failed, or stopping: the store may be closed already
        self._admit_prepared(peer, datas, done.result())

    def _admit_prepared(
        self, peer: bytes, datas: list[bytes], prepared_batch: list[Transaction | AdmissionError]
    ) -> None:
        refused = 0
        for data, prepared in zip(datas, prepared_batch, strict=True):
            try:
                if isinstance(prepared, AdmissionError):
                    raise prepared
                self.admit(prepared, data, gossip=False)
            except AdmissionError as exc:
                if exc.code not in (Code.DUPLICATE_TRANSACTION, Code.NONCE_REUSED, Code.EXPIRED):
                    refused += 1
        if refused:
            log.debug("gossiped transactions refused peer=%s count=%d", peer.hex()[:16], refused)

    def _on_status(self, peer: bytes, height: Value) -> None:
        if not isinstance(height, int) or height < 0:
            raise ValueError("status height must be a non-negative integer")
        self.peer_heights[peer] = height
        self._maybe_sync()

    def _syncing(self) -> bool:
        """Peers are more than a block ahead: this node is catching up by block sync."""
        return any(height > self.store.height + 1 for height in self.peer_heights.values())

    def _maybe_sync(self, after: int | None = None) -> None:
        """Ask the most advanced peer for the blocks after `after` (default: our height)."""
        ours = self.store.height if after is None else after
        ahead = [peer for peer, height in self.peer_heights.items() if height > ours + 1]
        now = self.clock_ms()
        if not ahead or now - self._sync_requested_ms < SYNC_REQUEST_TIMEOUT_MS:
            return
        peer = max(ahead, key=lambda p: (self.peer_heights[p], p))
        self._sync_requested_ms = now
        self.transport.send(
            peer, {"type": "get_blocks", "from": ours + 1, "count": SYNC_BATCH_BLOCKS}
        )

    def _on_get_blocks(self, peer: bytes, start: Value, count: Value) -> None:
        if not isinstance(start, int) or not isinstance(count, int) or start < 1 or count < 1:
            raise ValueError("get_blocks needs positive integers 'from' and 'count'")
        items: list[Value] = []
        size = 0
        for height in range(
            start, min(start + min(count, SYNC_BATCH_BLOCKS), self.store.height + 1)
        ):
            decided = self._decided_at(height)
            if decided is None:
                break
            size += len(decided.value)
            if items and size > SYNC_BATCH_BYTES_MAX:
                break
            items.append(decided.to_value())
        if items:
            self.transport.send(peer, {"type": "blocks", "items": items})

    def _on_blocks(self, peer: bytes, items: Value) -> None:
        if not isinstance(items, list) or len(items) > SYNC_BATCH_BLOCKS:
            raise ValueError(f"blocks must be a list of at most {SYNC_BATCH_BLOCKS}")
        batch = [Decided.from_value(item, f"blocks[{index}]") for index, item in enumerate(items)]
        if batch and batch[-1].height >= self.store.height + 1:
            # Ask for what follows before applying this batch, so the next answer is on its
            # way while this one executes (the answers come in order on one connection).
            self._sync_requested_ms = 0
            self._maybe_sync(after=batch[-1].height)
        applied = 0
        for decided in batch:
            if decided.height <= self.store.height:
                continue
            if decided.height != self.store.height + 1:
                break
            verify_message(decided, self.chain_id, self.validators)
            self.app.certify(decided.height, decided.commit.block_hash)
            self.replica.step(decided)
            self._drain()
            if self.store.height != decided.height:
                raise ValueError(f"synced block {decided.height} was not applied")
            applied += 1
        self.stats["sync_blocks_applied"] += applied
        if applied:
            log.info(
                "synced node=%s blocks=%d height=%d", self.config.name, applied, self.store.height
            )
        else:
            self._sync_requested_ms = 0
            self._maybe_sync()

    async def _status_loop(self) -> None:
        while True:
            self.transport.broadcast({"type": "status", "height": self.store.height})
            self._maybe_sync()
            await asyncio.sleep(STATUS_INTERVAL_MS / 1000)


def _prepare_batch(datas: list[bytes], chain_id: str) -> list[Transaction | AdmissionError]:
    """`prepare` for each of a gossiped batch (in the verify pool: PyNaCl releases the GIL)."""
    prepared: list[Transaction | AdmissionError] = []
    for data in datas:
        try:
            prepared.append(prepare(data, chain_id))
        except AdmissionError as exc:
            prepared.append(exc)
    return prepared
