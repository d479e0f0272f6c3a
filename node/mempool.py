"""The mempool: signed transactions admitted by this node and waiting for a block.

Admission refuses, with a precise `Code`, everything that could never be committed or that
is certain to be refused in a block: bytes that are not one canonical transaction, a bad
signature, another chain, an unknown, revoked or suspended sender, a committed id, a used
nonce, an expiry in the past or too far ahead. Admission is split in two so the expensive
part runs off the event loop:

    tx = prepare(data, chain_id)          # stateless, thread-safe: decode + verify signature
    mempool.admit(tx, data, view, height) # stateful, on the loop: replay, expiry, capacity

Capacity is bounded in count and bytes. When full, a newcomer displaces the newest
transaction of the sender holding the most bytes, if that sender holds more than the
newcomer's sender would after admission; otherwise it is refused (`mempool_full`). So one
organisation flooding the node cannot lock the others out. `reap` takes transactions
round-robin across senders (each sender's in admission order) for the same reason.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass

from contracts.context import LIMITS
from contracts.identity import resolve_sender
from contracts.records import NONCE_PREFIX, nonce_key, transaction_key
from ledger import crypto
from ledger.codes import Code
from ledger.errors import BadSignature, DecodeError, ValidationError
from ledger.state import StateView
from ledger.types import TRANSACTION_SIZE_BYTES_MAX, Transaction, transaction_id


class AdmissionError(Exception):
    """A transaction refused at admission: `code` says why, `detail` says it in words."""

    def __init__(self, code: Code, detail: str = "") -> None:
        super().__init__(f"{code.value}: {detail or code.description}")
        self.code = code
        self.detail = detail or code.description


@dataclass(frozen=True, slots=True, kw_only=True)
class MempoolLimits:
    transactions_max: int = 100_000
    size_bytes_max: int = 128 * 1024 * 1024
    verified_cache_max: int = 200_000  # signatures already checked, not checked again

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) < 1:
                raise ValueError(f"MempoolLimits.{name} must be >= 1")


def prepare(data: bytes, chain_id: str) -> Transaction:
    """Decode and verify one submitted transaction; AdmissionError if it can never commit."""
    if len(data) > TRANSACTION_SIZE_BYTES_MAX:
        raise AdmissionError(
            Code.TRANSACTION_TOO_LARGE, f"{len(data)} bytes > {TRANSACTION_SIZE_BYTES_MAX}"
        )
    try:
        tx = Transaction.decode(data)
    except (DecodeError, ValidationError) as exc:
        raise AdmissionError(Code.MALFORMED_TRANSACTION, str(exc)) from None
    if tx.chain_id != chain_id:
        raise AdmissionError(Code.WRONG_CHAIN, f"signed for {tx.chain_id!r}, this is {chain_id!r}")
    try:
        tx.verify_signature()
    except BadSignature as exc:
        raise AdmissionError(Code.BAD_SIGNATURE, str(exc)) from None
    return tx


@dataclass(slots=True)
class _Entry:
    tx: Transaction
    data: bytes
    digest: bytes  # sha256(data): how a block's bytes find this entry


class Mempool:
    def __init__(self, limits: MempoolLimits | None = None) -> None:
        self.limits = limits or MempoolLimits()
        self._entries: dict[bytes, _Entry] = {}  # tx id -> entry
        self._by_digest: dict[bytes, _Entry] = {}  # sha256 of the bytes -> entry
        self._by_sender: OrderedDict[bytes, deque[bytes]] = OrderedDict()
        self._sender_bytes: dict[bytes, int] = {}
        self._nonces: dict[tuple[bytes, int], bytes] = {}  # (sender, nonce) -> tx id
        self._size_bytes = 0
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self.evicted_total = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, tx_id: bytes) -> bool:
        return tx_id in self._entries

    @property
    def size_bytes(self) -> int:
        return self._size_bytes

    def admit(self, tx: Transaction, data: bytes, view: StateView, next_height: int) -> bool:
        """Add a prepared transaction. False if it was already pending; AdmissionError if refused.

        `view` is the committed state and `next_height` the height of the next block.
        """
        tx_id = transaction_id(data)
        if tx_id in self._entries:
            return False
        check_against_state(tx, tx_id, view, next_height)
        if (tx.sender, tx.nonce) in self._nonces:
            raise AdmissionError(Code.NONCE_REUSED, "another pending transaction uses this nonce")
        self._make_room(tx.sender, len(data))
        entry = _Entry(tx=tx, data=data, digest=crypto.sha256(data))
        self._entries[tx_id] = entry
        self._by_digest[entry.digest] = entry
        self._by_sender.setdefault(tx.sender, deque()).append(tx_id)
        self._sender_bytes[tx.sender] = self._sender_bytes.get(tx.sender, 0) + len(data)
        self._nonces[(tx.sender, tx.nonce)] = tx_id
        self._size_bytes += len(data)
        self._verified[entry.digest] = None  # remembered past removal: a block may carry it
        self._verified.move_to_end(entry.digest)
        while len(self._verified) > self.limits.verified_cache_max:
            self._verified.popitem(last=False)
        return True

    def reap(self, count_max: int, size_bytes_max: int) -> list[bytes]:
        """Transactions for a block, round-robin across senders, within both limits."""
        queues = [list(ids) for ids in self._by_sender.values()]
        picked: list[bytes] = []
        size = 0
        position = 0
        while len(picked) < count_max and any(queues):
            for queue in queues:
                if position < len(queue):
                    data = self._entries[queue[position]].data
                    if size + len(data) > size_bytes_max:
                        return picked
                    picked.append(data)
                    size += len(data)
                    if len(picked) >= count_max:
                        return picked
            position += 1
            if all(position >= len(queue) for queue in queues):
                break
        return picked

    def remove(self, tx_ids: list[bytes]) -> None:
        for tx_id in tx_ids:
            entry = self._entries.pop(tx_id, None)
            if entry is None:
                continue
            del self._by_digest[entry.digest]
            sender = entry.tx.sender
            queue = self._by_sender[sender]
            if queue[0] == tx_id:
                queue.popleft()  # the usual case: blocks take each sender's oldest first
            else:
                queue.remove(tx_id)
            if not queue:
                del self._by_sender[sender]
                del self._sender_bytes[sender]
            else:
                self._sender_bytes[sender] -= len(entry.data)
            self._nonces.pop((sender, entry.tx.nonce), None)
            self._size_bytes -= len(entry.data)

    def prune(self, view: StateView, next_height: int) -> int:
        """Drop what can no longer commit (committed, nonce used, expired, sender revoked)."""
        stale = []
        for tx_id, entry in self._entries.items():
            try:
                check_against_state(entry.tx, tx_id, view, next_height)
            except AdmissionError:
                stale.append(tx_id)
        self.remove(stale)
        return len(stale)

    def drop_used_nonces(self, writes: Mapping[str, object]) -> int:
        """After a block: drop pending transactions whose nonce the block used (another
        transaction of the same sender and nonce committed). Cheaper than `prune` when the
        block changed no key or organisation; expiries are left to the next `prune`."""
        stale = []
        for key in writes:
            if not key.startswith(NONCE_PREFIX):
                continue
            sender_hex, _, nonce = key[len(NONCE_PREFIX) :].partition("/")
            tx_id = self._nonces.get((bytes.fromhex(sender_hex), int(nonce)))
            if tx_id is not None:
                stale.append(tx_id)
        self.remove(stale)
        return len(stale)

    # --- signatures checked once ------------------------------------------------------------

    def verified_transaction(self, data: bytes) -> Transaction | None:
        """The decoded transaction of exactly these bytes if their signature was checked here
        (the pending one itself, or a fresh strict decode of bytes verified earlier); None
        if these bytes were never verified by this node."""
        digest = crypto.sha256(data)
        entry = self._by_digest.get(digest)
        if entry is not None:
            return entry.tx
        if digest in self._verified:
            return Transaction.decode(data)
        return None

    # --- capacity ---------------------------------------------------------------------------

    def _make_room(self, sender: bytes, size: int) -> None:
        """Evict for a newcomer, or refuse it having evicted nothing."""
        limits = self.limits
        count = len(self._entries) + 1
        total = self._size_bytes + size
        if count <= limits.transactions_max and total <= limits.size_bytes_max:
            return  # room enough: the common case, without copying the queues below
        held = dict(self._sender_bytes)
        queues = {key: list(ids) for key, ids in self._by_sender.items()}
        newcomer_bytes = held.get(sender, 0) + size
        victims = []
        while count > limits.transactions_max or total > limits.size_bytes_max:
            heaviest = max(held, key=lambda key: (held[key], key), default=None)
            if heaviest is None or heaviest == sender or held[heaviest] <= newcomer_bytes:
                raise AdmissionError(
                    Code.MEMPOOL_FULL,
                    f"{len(self._entries)} transactions, {self._size_bytes} bytes pending",
                )
            victim = queues[heaviest].pop()
            victim_size = len(self._entries[victim].data)
            victims.append(victim)
            count -= 1
            total -= victim_size
            held[heaviest] -= victim_size
            if not queues[heaviest]:
                del held[heaviest]
        self.remove(victims)
        self.evicted_total += len(victims)


def check_against_state(tx: Transaction, tx_id: bytes, view: StateView, next_height: int) -> None:
    """What the contracts would refuse for certain in the next block, refused now."""
    if view.get(transaction_key(tx_id)) is not None:
        raise AdmissionError(Code.DUPLICATE_TRANSACTION)
    if tx.expiry_height < next_height:
        raise AdmissionError(
            Code.EXPIRED, f"expiry height {tx.expiry_height} < next height {next_height}"
        )
    expiry_max = next_height + LIMITS.transaction_expiry_blocks_max
    if tx.expiry_height > expiry_max:
        raise AdmissionError(
            Code.EXPIRY_TOO_FAR, f"expiry height {tx.expiry_height} > {expiry_max}"
        )
    if view.get(nonce_key(tx.sender, tx.nonce)) is not None:
        raise AdmissionError(Code.NONCE_REUSED)
    sender = resolve_sender(view, tx.sender)
    if isinstance(sender, Code):
        raise AdmissionError(sender)
