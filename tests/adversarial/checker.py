"""The checker: what must hold after any scenario, over the history and every node's ledger.

It reads the data directories of stopped nodes (LevelDB allows one opener) and checks:

1. **integrity**: `ledger.verify.verify_directory` passes on every node (hash chain, commits,
   signatures, Merkle log, result codes, state roots replayed from genesis);
2. **agreement**: every pair of honest nodes holds the same block at every common height;
3. **re-execution**: the contracts, run from genesis over the agreed chain, give the stored
   result codes and state changes of every block (a node that recorded something the rules
   do not produce is caught, even if its store is self-consistent);
4. **an independent model**, written here without the contracts: every transaction committed
   `ok` has a valid signature by a key that was registered and not revoked at that height,
   its organisation's roles allow its kind (our own copy of the documented policy table),
   admin-only kinds carry an admin key, its id and (sender, nonce) are new and it was not
   expired; every bill of lading has one holder at a time and a linear holder chain (only
   the holder offers, only the offer's recipient accepts, nothing after surrender), and the
   nodes' stored holder and endorsement chain equal the model's;
5. **history against ledger**: what a client saw committed is in the ledger at that height
   with that code (nothing acknowledged is lost); bytes refused at admission never appear
   in a block; `absent` operations never appear, `not_ok` ones never with code `ok`; every
   transaction in the ledger was submitted by one of our clients; no answer was a 5xx; in
   each double-transfer race at most one offer is `ok` (exactly one when both committed);
6. **evidence**: no evidence is committed twice; which validators it names is reported.

`check()` returns every violation found (not just the first), each a line that says what,
where and how to look.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from contracts.context import BlockContext
from contracts.engine import execute_block, genesis_writes
from ledger import crypto
from ledger.codec import Value
from ledger.errors import LedgerError
from ledger.state import MemoryState, encode_writes
from ledger.store import LedgerStore
from ledger.types import Block, Genesis, Role, Transaction
from ledger.verify import verify_directory
from tests.adversarial.history import Operation

# Our own copy of the policy table of docs/contracts.md (not imported from contracts/, so a
# policy bug there is caught here). kind -> roles that may send it.
_HOLDERS = frozenset({"seller", "buyer", "bank"})
POLICY_MODEL: Mapping[str, frozenset[str]] = {
    "bl.issue": frozenset({"carrier"}),
    "bl.transfer": _HOLDERS,
    "bl.accept": _HOLDERS,
    "bl.cancel": _HOLDERS,
    "bl.endorse": _HOLDERS,
    "bl.surrender": _HOLDERS,
    "bl.surrender_accept": frozenset({"carrier"}),
    "bl.surrender_reject": frozenset({"carrier"}),
    "bl.amend": frozenset({"carrier"}),
    "bl.void": frozenset({"carrier"}),
    "coo.issue": frozenset({"chamber"}),
    "coo.revoke": frozenset({"chamber"}),
    "coo.verify": frozenset({"customs"}),
    "pay.attest": frozenset({"bank"}),
    "pay.confirm": frozenset({"bank"}),
    "pay.correct": frozenset({"bank"}),
    "pay.revoke": frozenset({"bank"}),
    "customs.record": frozenset({"customs"}),
    "member.register": frozenset(r.value for r in Role),
    "member.rotate": frozenset(r.value for r in Role),
    "member.revoke": frozenset(r.value for r in Role),
    "gov.propose": frozenset({"governance"}),
    "gov.approve": frozenset({"governance"}),
}
ADMIN_KINDS = frozenset(
    {"member.register", "member.rotate", "member.revoke", "gov.propose", "gov.approve"}
)
# Codes with which a committed transaction does not use up its (sender, nonce).
NONCE_KEEPING_CODES = frozenset({"nonce_reused", "duplicate_transaction", "wrong_chain"})


@dataclass
class NodeChain:
    """One node's ledger as read from its data directory (full content only if `full`)."""

    index: int
    height: int
    hashes: list[bytes]  # header hash at height h is hashes[h - 1]
    blocks: list[Block] = field(default_factory=list)
    codes: list[tuple[str, ...]] = field(default_factory=list)
    writes: list[dict[str, bytes | None]] = field(default_factory=list)  # key -> value digest
    documents: dict[str, Value] = field(default_factory=dict)  # doc/<id> -> record
    problem: str | None = None  # verify_directory's finding, if any


@dataclass
class CheckResult:
    violations: list[str]
    heights: dict[int, int]
    blocks: int
    transactions: int
    codes: Counter[str]
    evidence_offenders: Counter[str]  # validator key hex -> evidence count
    outcomes: Counter[str]
    bills: int

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        ok = self.codes.get("ok", 0)
        return (
            f"blocks={self.blocks} txs={self.transactions} ok={ok} bills={self.bills} "
            f"evidence={sum(self.evidence_offenders.values())} "
            f"ops={dict(sorted(self.outcomes.items()))} violations={len(self.violations)}"
        )


def load_chain(index: int, path: Path, *, full: bool, verify: bool = True) -> NodeChain:
    """Read node `index`'s data directory (the node must be stopped)."""
    problem = None
    if verify:
        try:
            report = verify_directory(path)
        except Exception as exc:  # noqa: BLE001 - the verifier crashing is a finding too
            problem = f"verify_directory raised {type(exc).__name__}: {exc}"
        else:
            if not report.ok:
                problem = str(report.problem)
    try:
        store = LedgerStore.open(path)
    except Exception as exc:  # noqa: BLE001 - LedgerError, or a raw plyvel error escaping
        return NodeChain(index=index, height=0, hashes=[], problem=f"does not open: {exc}")
    with store:
        chain = NodeChain(index=index, height=store.height, hashes=[], problem=problem)
        for height in range(1, store.height + 1):
            try:
                block = store.block(height)
                codes = store.result_codes(height)
                writes = store.block_changes(height)
            except Exception as exc:  # noqa: BLE001 - unreadable: a finding, not a crash
                block = codes = writes = None
                chain.problem = chain.problem or f"height {height}: unreadable: {exc}"
            if block is None or codes is None or writes is None:
                chain.problem = chain.problem or f"height {height}: block data missing"
                chain.height = height - 1
                break
            chain.hashes.append(block.hash())
            if full:
                chain.blocks.append(block)
                chain.codes.append(codes)
                chain.writes.append(dict(writes))
        if full:
            chain.documents = {
                key: value for key, value in store.state_items("doc/") if "/event/" not in key
            }
    return chain


def load_genesis(path: Path) -> Genesis:
    with LedgerStore.open(path) as store:
        return store.genesis


def check(
    history: Iterable[Operation],
    chains: Mapping[int, NodeChain],
    genesis: Genesis,
    *,
    complete_history: bool = True,
) -> CheckResult:
    """Every check of the module docstring; `chains` are the honest nodes' ledgers, and the
    one with the most blocks must have been loaded `full`."""
    operations = list(history)
    violations: list[str] = []
    for chain in chains.values():
        if chain.problem is not None:
            violations.append(f"integrity: node {chain.index}: {chain.problem}")
    _check_agreement(chains, violations)
    reference = max(chains.values(), key=lambda c: (c.height, -c.index))
    assert len(reference.blocks) == reference.height, "the longest chain must be loaded full"
    _check_reexecution(reference, genesis, violations)
    model = _Model(genesis, violations)
    ledger = model.run(reference)
    model.check_documents(reference)
    _check_history(operations, ledger, reference, violations, complete_history)
    evidence: Counter[str] = Counter()
    seen: set[bytes] = set()
    for block in reference.blocks:
        for item in block.evidence:
            digest = item.hash()
            if digest in seen:
                violations.append(
                    f"evidence: {digest.hex()[:16]} committed twice (again at height "
                    f"{block.height})"
                )
            seen.add(digest)
            evidence[item.offender.hex()] += 1
    codes: Counter[str] = Counter()
    for block_codes in reference.codes:
        codes.update(block_codes)
    return CheckResult(
        violations=violations,
        heights={index: chain.height for index, chain in chains.items()},
        blocks=reference.height,
        transactions=sum(codes.values()),
        codes=codes,
        evidence_offenders=evidence,
        outcomes=Counter(op.outcome for op in operations),
        bills=len(model.bills),
    )


# --- agreement and re-execution --------------------------------------------------------------


def _check_agreement(chains: Mapping[int, NodeChain], violations: list[str]) -> None:
    ordered = sorted(chains.values(), key=lambda c: c.index)
    for position, a in enumerate(ordered):
        for b in ordered[position + 1 :]:
            common = min(a.height, b.height)
            for height in range(1, common + 1):
                if a.hashes[height - 1] != b.hashes[height - 1]:
                    violations.append(
                        f"agreement: nodes {a.index} and {b.index} differ at height {height} "
                        f"({a.hashes[height - 1].hex()[:16]} vs {b.hashes[height - 1].hex()[:16]})"
                    )
                    break


def _check_reexecution(reference: NodeChain, genesis: Genesis, violations: list[str]) -> None:
    state = MemoryState(genesis_writes(genesis))
    for block, codes, writes in zip(
        reference.blocks, reference.codes, reference.writes, strict=True
    ):
        header = block.header
        try:
            txs = [Transaction.decode(data) for data in block.transactions]
        except LedgerError as exc:
            violations.append(f"re-execution: height {header.height}: undecodable tx: {exc}")
            return
        result = execute_block(
            state,
            txs,
            BlockContext(
                chain_id=genesis.chain_id,
                height=header.height,
                time_ms=header.time_ms,
                proposer=header.proposer,
            ),
        )
        if result.code_values() != codes:
            diffs = [
                f"tx {i} {txs[i].kind}: stored {s}, contracts say {c}"
                for i, (s, c) in enumerate(zip(codes, result.code_values(), strict=False))
                if s != c
            ]
            violations.append(
                f"re-execution: height {header.height}: result codes differ: {diffs[:3]}"
            )
            return
        digests = {
            key: None if data is None else crypto.sha256(data)
            for key, data in encode_writes(result.writes)
        }
        if digests != writes:
            keys = sorted(set(digests) ^ set(writes)) or sorted(
                k for k in writes if writes[k] != digests.get(k)
            )
            violations.append(
                f"re-execution: height {header.height}: state changes differ at {keys[:3]}"
            )
            return
        state.apply(result.writes)


# --- the independent model ---------------------------------------------------------------------


@dataclass
class _Key:
    organisation: str
    admin: bool
    revoked_height: int | None = None


@dataclass
class _Bill:
    issuer: str
    holder: str
    status: str = "issued"  # issued | offered | surrendering | final
    offer: tuple[str, int] | None = None  # (recipient, expiry height)
    surrendered_by: str | None = None
    holders: list[str] = field(default_factory=list)  # the holder chain
    transferred: bool = False


@dataclass(frozen=True, slots=True)
class LedgerTx:
    height: int
    index: int
    code: str
    kind: str
    bytes_sha256: str


class _Model:
    def __init__(self, genesis: Genesis, violations: list[str]) -> None:
        self.violations = violations
        self.roles = {
            org.id: frozenset(r.value for r in org.roles) for org in genesis.organisations
        }
        self.keys: dict[bytes, _Key] = {}
        for org in genesis.organisations:
            for key in org.admin_keys:
                self.keys[key] = _Key(organisation=org.id, admin=True)
        for member in genesis.members:
            self.keys[member.key] = _Key(organisation=member.organisation, admin=False)
        self.chain_id = genesis.chain_id
        self.bills: dict[str, _Bill] = {}
        self.nonces: set[tuple[bytes, int]] = set()

    def fail(self, height: int, tx: Transaction, what: str) -> None:
        self.violations.append(f"model: height {height}: {tx.kind} {tx.id.hex()[:16]}: {what}")

    def run(self, reference: NodeChain) -> dict[str, LedgerTx]:
        ledger: dict[str, LedgerTx] = {}
        for block, codes in zip(reference.blocks, reference.codes, strict=True):
            height = block.header.height
            for index, (data, code) in enumerate(zip(block.transactions, codes, strict=True)):
                tx = Transaction.decode(data)
                tx_id = tx.id.hex()
                if tx_id in ledger:
                    self.fail(height, tx, f"id already committed at height {ledger[tx_id].height}")
                    continue
                ledger[tx_id] = LedgerTx(
                    height=height,
                    index=index,
                    code=code,
                    kind=tx.kind,
                    bytes_sha256=hashlib.sha256(data).hexdigest(),
                )
                self.step(height, tx, code)
        return ledger

    def step(self, height: int, tx: Transaction, code: str) -> None:
        try:
            tx.verify_signature()
        except LedgerError:
            self.fail(height, tx, "signature does not verify")
            return
        if tx.chain_id != self.chain_id:
            self.fail(height, tx, f"signed for chain {tx.chain_id!r}")
        nonce = (tx.sender, tx.nonce)
        if code != "ok":
            if code not in NONCE_KEEPING_CODES:
                self.nonces.add(nonce)
            return
        if nonce in self.nonces:
            self.fail(height, tx, f"ok, but nonce {tx.nonce} was used before")
        self.nonces.add(nonce)
        if tx.expiry_height < height:
            self.fail(height, tx, f"ok after its expiry height {tx.expiry_height}")
        key = self.keys.get(tx.sender)
        if key is None:
            self.fail(height, tx, "ok, but signed by an unregistered key")
            return
        if key.revoked_height is not None:
            self.fail(height, tx, f"ok, but the key was revoked at height {key.revoked_height}")
            return
        allowed = POLICY_MODEL.get(tx.kind)
        if allowed is None or allowed.isdisjoint(self.roles.get(key.organisation, ())):
            self.fail(height, tx, f"ok, but {key.organisation} has no role allowing it")
            return
        if tx.kind in ADMIN_KINDS and not key.admin:
            self.fail(height, tx, "ok, but an admin-only kind signed by a member key")
            return
        self.apply(height, tx, key.organisation)

    def apply(self, height: int, tx: Transaction, org: str) -> None:
        body = tx.body
        kind = tx.kind
        if kind == "member.register":
            self.keys[_bytes(body.get("key"))] = _Key(organisation=org, admin=False)
        elif kind == "member.revoke":
            revoked = self.keys.get(_bytes(body.get("key")))
            if revoked is not None:
                revoked.revoked_height = height
        elif kind == "member.rotate":
            old = self.keys.get(_bytes(body.get("old_key")))
            if old is not None:
                old.revoked_height = height
            self.keys[_bytes(body.get("new_key"))] = _Key(organisation=org, admin=False)
        elif kind.startswith("bl."):
            self.bill_step(height, tx, org)

    def bill_step(self, height: int, tx: Transaction, org: str) -> None:
        body = tx.body
        if tx.kind == "bl.issue":
            holder = str(body.get("issue_to"))
            self.bills[tx.id.hex()] = _Bill(issuer=org, holder=holder, holders=[holder])
            return
        document = str(body.get("document"))
        bill = self.bills.get(document)
        if bill is None:
            self.fail(height, tx, f"ok on unknown bill {document[:16]}")
            return
        if bill.status == "offered" and bill.offer is not None and height > bill.offer[1]:
            bill.status, bill.offer = "issued", None  # lapsed at this block's start
        if bill.status == "final":
            self.fail(height, tx, "ok on a surrendered, amended or void bill")
            return
        kind = tx.kind
        holder_kinds = ("bl.transfer", "bl.endorse", "bl.surrender", "bl.cancel")
        if kind in holder_kinds and org != bill.holder:
            self.fail(height, tx, f"ok, but sent by {org}, not the holder {bill.holder}")
            return
        if kind == "bl.transfer":
            if bill.status != "issued":
                self.fail(height, tx, f"ok transfer while the bill is {bill.status}")
                return
            bill.status = "offered"
            bill.offer = (str(body.get("recipient")), int(str(body.get("offer_expiry_height"))))
        elif kind == "bl.accept":
            if bill.status != "offered" or bill.offer is None:
                self.fail(height, tx, "ok accept with no open offer")
                return
            if org != bill.offer[0]:
                self.fail(height, tx, f"ok accept by {org}, offer was to {bill.offer[0]}")
                return
            bill.holder, bill.status, bill.offer = org, "issued", None
            bill.holders.append(org)
            bill.transferred = True
        elif kind == "bl.cancel":
            bill.status, bill.offer = "issued", None
        elif kind == "bl.surrender":
            if bill.status != "issued":
                self.fail(height, tx, f"ok surrender while the bill is {bill.status}")
                return
            bill.status, bill.surrendered_by = "surrendering", bill.holder
        elif kind in ("bl.surrender_accept", "bl.surrender_reject", "bl.void"):
            if org != bill.issuer:
                self.fail(height, tx, f"ok, but sent by {org}, not the issuer {bill.issuer}")
                return
            if kind == "bl.surrender_reject":
                bill.status = "issued"
            elif kind == "bl.void" and bill.transferred:
                self.fail(height, tx, "ok void of a transferred bill")
            else:
                if kind == "bl.surrender_accept":
                    bill.holder = org
                bill.status = "final"
        elif kind == "bl.amend":
            bill.status = "final"
            holder = bill.surrendered_by or bill.holder
            self.bills[tx.id.hex()] = _Bill(issuer=org, holder=holder, holders=[holder])

    def check_documents(self, reference: NodeChain) -> None:
        """The stored holder and holder chain of every bill equal the model's."""
        for document, bill in self.bills.items():
            record = reference.documents.get(f"doc/{document}")
            if not isinstance(record, dict):
                self.violations.append(f"bills: {document[:16]} missing from the state")
                continue
            title = record.get("title")
            if not isinstance(title, dict):
                self.violations.append(f"bills: {document[:16]} has no title")
                continue
            if title.get("holder") != bill.holder:
                self.violations.append(
                    f"bills: {document[:16]} holder is {title.get('holder')!r}, "
                    f"the model says {bill.holder}"
                )
            chain = title.get("chain")
            holders = [bill.holders[0]]
            previous = holders[0]
            for entry in chain if isinstance(chain, list) else []:
                if isinstance(entry, dict) and entry.get("action") == "TRANSFER":
                    actor = entry.get("actor")
                    if actor != previous:
                        self.violations.append(
                            f"bills: {document[:16]} chain: a transfer by {actor!r} "
                            f"while {previous} held it"
                        )
                    previous = str(entry.get("recipient"))
                    holders.append(previous)
            if holders != bill.holders:
                self.violations.append(
                    f"bills: {document[:16]} stored chain {holders}, the model's {bill.holders}"
                )


def _bytes(value: Value) -> bytes:
    return value if isinstance(value, bytes) else b""


# --- history against the ledger ----------------------------------------------------------------


def _check_history(
    operations: list[Operation],
    ledger: dict[str, LedgerTx],
    reference: NodeChain,
    violations: list[str],
    complete_history: bool,
) -> None:
    on_ledger_bytes = {tx.bytes_sha256 for tx in ledger.values()}
    submitted = {op.tx_id for op in operations}
    for op in operations:
        where = f"op {op.op_id} ({op.process} {op.kind} {op.tx_id[:16]} at node {op.node})"
        found = ledger.get(op.tx_id)
        if op.http_status is not None and op.http_status >= 500:
            violations.append(f"history: {where}: the node answered {op.http_status}")
        if op.outcome == "committed":
            if found is None:
                violations.append(
                    f"history: {where}: acknowledged committed at height {op.height}, "
                    f"missing from the ledger (height {reference.height})"
                )
            elif (found.height, found.code) != (op.height, op.code):
                violations.append(
                    f"history: {where}: acknowledged at height {op.height} with {op.code}, "
                    f"ledger has height {found.height} with {found.code}"
                )
        if op.outcome == "refused":
            if op.code == "duplicate_transaction":
                if found is None:
                    violations.append(f"history: {where}: refused as a duplicate of nothing")
            elif op.bytes_sha256 in on_ledger_bytes:
                violations.append(f"history: {where}: refused ({op.code}), yet in a block")
        if op.expect == "absent" and op.bytes_sha256 in on_ledger_bytes:
            violations.append(f"history: {where}: must never commit, yet is in a block")
        succeeded = (
            found is not None and found.code == "ok" and found.bytes_sha256 == op.bytes_sha256
        )
        if op.expect == "not_ok" and succeeded:
            violations.append(f"history: {where}: must not succeed, committed ok")
    if complete_history:
        for tx_id, tx in ledger.items():
            if tx_id not in submitted:
                violations.append(
                    f"history: height {tx.height}: {tx.kind} {tx_id[:16]} was never submitted"
                )
    races: dict[str, list[Operation]] = {}
    for op in operations:
        for tag in op.tags:
            if tag.startswith("race:"):
                races.setdefault(tag, []).append(op)
    for tag, group in races.items():
        ids = {op.tx_id for op in group}
        found_txs = [ledger[i] for i in ids if i in ledger]
        ok = sum(tx.code == "ok" for tx in found_txs)
        if ok > 1 or (len(found_txs) == len(ids) and ok != 1):
            violations.append(
                f"race {tag}: {ok} of {len(ids)} conflicting transfers ok "
                f"({len(found_txs)} committed)"
            )
