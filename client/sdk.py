"""The Python SDK: sign and submit trade-document transactions, read the ledger, fetch and
check evidence bundles. Speaks the HTTP API of docs/api.md through httpx.

    from client.sdk import Client
    with Client("http://127.0.0.1:8080", key) as client:
        bill = client.bl_issue(reference="BL-1", issue_to="seller", to_order=True,
                               endorsee="seller", document_sha256=digest, bill=content)
        client.bl_transfer(bill.id, "buyer")            # waits for commit by default
        report = client.verified_bundle(bill.id, genesis, file_bytes)

One seam for tests and proxies: `transport` (any `httpx.BaseTransport`, e.g.
`httpx.MockTransport`). Every failure is a `client.errors.ClientError` (see that module's
tree); a transaction the ledger refused raises `TransactionRejected` unless `check=False`.

Envelopes: the nonce is unique per sender without coordination: microseconds since the
epoch shifted left 12 bits, plus 12 random bits (below 2**64 until 2112), strictly increasing
within a Client. Two Clients of one key collide only if they sign in the same microsecond and
draw the same bits; the node refuses the second as `nonce_reused` and a retry draws again.
The expiry height is the chain's current height plus `expiry_window_blocks`.

Signed reads carry `X-TL-Key`, `X-TL-Timestamp` and `X-TL-Signature` over the exact request
target sent; the timestamp strictly increases within a Client, so two identical reads in one
millisecond are not refused as replays. (Two Clients of one key making the same read in the
same millisecond do collide: the second gets `request_replayed`; retry.)
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from client import bodies, dcsa
from client.bodies import (
    Bill,
    CertificateGoodsItem,
    CertificateTransport,
    Party,
    PaymentReferences,
)
from client.errors import (
    ApiError,
    ClientError,
    CommitTimeout,
    InvalidArgument,
    KeyRequired,
    ProtocolError,
    TransactionRejected,
    TransportError,
)
from client.verify import BundleReport, verify_bundle
from ledger import crypto, merkle
from ledger.bundle import commit_from_json, header_from_json, hex_bytes
from ledger.codec import Value, encode
from ledger.crypto import Domain, SigningKey
from ledger.errors import LedgerError
from ledger.signed_read import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    read_request_payload,
)
from ledger.types import Commit, Genesis, Header, Transaction

TIMEOUT_S_DEFAULT = 30.0  # connect/read timeout of one HTTP request
WAIT_COMMIT_MS_DEFAULT = 10_000  # how long a submission waits for commit (node caps at 30 s)
EXPIRY_WINDOW_BLOCKS_DEFAULT = 600  # a transaction may be committed this many blocks ahead
OFFER_WINDOW_BLOCKS_DEFAULT = 100_000  # a transfer offer stays open this long by default
PROPOSAL_WINDOW_BLOCKS_DEFAULT = 100_000  # a governance proposal stays open this long
NONCE_RANDOM_BITS = 12
HEIGHT_CACHE_S = 2.0  # reuse the chain height for expiry heights this long
BATCH_TRANSACTIONS_MAX = 1000  # per request (docs/api.md)
EVENT_LINE_BYTES_MAX = 1024 * 1024
STATUS_PENDING = "pending"
STATUS_COMMITTED = "committed"


def wall_clock_ns() -> int:
    return time.time_ns()


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """What the node said about a submitted transaction. For a transaction that creates a
    document (bl.issue, bl.amend, coo.issue, pay.attest/correct/revoke, customs.record) the
    id is the new document's id."""

    id: str
    kind: str
    status: str  # "pending" or "committed"
    height: int | None = None
    code: str | None = None

    @property
    def committed(self) -> bool:
        return self.status == STATUS_COMMITTED

    @property
    def ok(self) -> bool:
        return self.committed and self.code == "ok"


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchResult:
    """One transaction of a batch: admitted (`id`, `status`) or refused (`error`, `detail`)."""

    id: str | None
    status: str | None
    error: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockInfo:
    height: int
    hash: str
    header: Header
    commit: Commit
    transaction_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    proof: tuple[bytes, ...]
    root: bytes

    def verify(self, transaction: bytes, root: bytes | None = None) -> None:
        """Raise `merkle.MerkleError` unless `transaction` (its canonical bytes) is leaf
        `leaf_index` of the log under `root` (default: the root the node sent; pass the
        `log_root` of a header you trust to make the check mean something)."""
        merkle.verify_inclusion(
            merkle.leaf_hash(transaction),
            self.leaf_index,
            self.tree_size,
            self.proof,
            self.root if root is None else root,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsistencyProof:
    size_from: int
    size_to: int
    proof: tuple[bytes, ...]
    root_from: bytes
    root_to: bytes

    def verify(self, root_from: bytes | None = None, root_to: bytes | None = None) -> None:
        """Raise `merkle.MerkleError` unless the log of `size_to` extends that of
        `size_from`. Pass the roots of headers you kept to check the node against them."""
        merkle.verify_consistency(
            self.size_from,
            self.size_to,
            self.proof,
            self.root_from if root_from is None else root_from,
            self.root_to if root_to is None else root_to,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One server-sent event: `type` is ``block`` or ``tx``; `data` its JSON."""

    type: str
    data: Any


class Client:
    """A connection to one node, acting as the member whose `key` signs (None: read-only,
    unauthenticated queries only). Not shared between processes; safe across threads."""

    def __init__(
        self,
        url: str,
        key: SigningKey | None,
        *,
        chain_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = TIMEOUT_S_DEFAULT,
        expiry_window_blocks: int = EXPIRY_WINDOW_BLOCKS_DEFAULT,
        clock_ns: Callable[[], int] = wall_clock_ns,
    ) -> None:
        if not 1 <= expiry_window_blocks <= 100_000:
            raise InvalidArgument("expiry_window_blocks", "must be 1..100000")
        self.url = url.rstrip("/")
        self.key = key
        self._chain_id = chain_id
        self.expiry_window_blocks = expiry_window_blocks
        self._clock_ns = clock_ns
        self._http = httpx.Client(
            base_url=self.url,
            transport=transport,
            timeout=timeout_s,
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )
        self._lock = threading.Lock()
        self._last_nonce = 0
        self._last_read_ms = 0
        self._height: int | None = None
        self._height_read_ns = 0

    # --- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def chain_id(self) -> str:
        """The chain this client signs for (asked of the node once if not given)."""
        if self._chain_id is None:
            chain_id = self.status().get("chain_id")
            if not isinstance(chain_id, str) or not chain_id:
                raise ProtocolError("the node's /v1/status has no chain_id")
            self._chain_id = chain_id
        return self._chain_id

    @property
    def public_key(self) -> bytes:
        return self._signing_key().public_key

    # --- signing and submitting ------------------------------------------------------------

    def transaction(
        self,
        kind: str,
        body: Mapping[str, Value],
        *,
        nonce: int | None = None,
        expiry_height: int | None = None,
    ) -> Transaction:
        """Sign a transaction of `kind` with `body` (see `client.bodies` for the builders)."""
        key = self._signing_key()
        try:
            return Transaction.create(
                key,
                chain_id=self.chain_id,
                kind=kind,
                nonce=self.next_nonce() if nonce is None else nonce,
                expiry_height=self.expiry_height() if expiry_height is None else expiry_height,
                body=dict(body),
            )
        except LedgerError as exc:
            raise InvalidArgument("transaction", str(exc)) from None

    def next_nonce(self) -> int:
        """A nonce no other Client of this key is likely to pick: time in µs, random bits."""
        microseconds = self._clock_ns() // 1000
        candidate = microseconds << NONCE_RANDOM_BITS | secrets.randbits(NONCE_RANDOM_BITS)
        with self._lock:
            self._last_nonce = max(candidate, self._last_nonce + 1)
            return self._last_nonce

    def expiry_height(self) -> int:
        return self.height() + self.expiry_window_blocks

    def height(self, *, fresh: bool = False) -> int:
        """The node's committed height (cached for HEIGHT_CACHE_S unless `fresh`)."""
        now_ns = time.monotonic_ns()
        if fresh or self._height is None or now_ns - self._height_read_ns > HEIGHT_CACHE_S * 1e9:
            height = self.status().get("height")
            if not isinstance(height, int) or isinstance(height, bool) or height < 0:
                raise ProtocolError("the node's /v1/status has no height")
            self._height, self._height_read_ns = height, now_ns
        return self._height

    def submit(
        self,
        tx: Transaction,
        *,
        wait: bool = True,
        timeout_ms: int = WAIT_COMMIT_MS_DEFAULT,
        check: bool = True,
    ) -> Receipt:
        """Submit a signed transaction. With `wait`, return once it is committed (raise
        `CommitTimeout` after `timeout_ms`; it may still commit) and, with `check`, raise
        `TransactionRejected` if the ledger refused it."""
        params = {"wait": "true", "timeout_ms": str(timeout_ms)} if wait else None
        answer = self._json(
            "POST",
            "/v1/transactions",
            params=params,
            content=tx.encode(),
            headers={"Content-Type": "application/msgpack"},
            timeout_s=timeout_ms / 1000 + TIMEOUT_S_DEFAULT if wait else None,
        )
        receipt = _receipt(answer, tx.kind)
        if receipt.id != tx.id.hex():
            raise ProtocolError(
                f"the node answered for transaction {receipt.id}, not {tx.id.hex()}"
            )
        if check:
            _check(receipt)
        return receipt

    def send(
        self,
        kind: str,
        body: Mapping[str, Value],
        *,
        wait: bool = True,
        check: bool = True,
        expiry_height: int | None = None,
    ) -> Receipt:
        """Sign and submit in one step."""
        return self.submit(
            self.transaction(kind, body, expiry_height=expiry_height), wait=wait, check=check
        )

    def submit_batch(self, txs: Sequence[Transaction]) -> list[BatchResult]:
        """Submit many signed transactions (BATCH_TRANSACTIONS_MAX per request, as msgpack).
        Returns one result per transaction, in order; use `wait_for` to await commits."""
        results: list[BatchResult] = []
        for start in range(0, len(txs), BATCH_TRANSACTIONS_MAX):
            chunk = txs[start : start + BATCH_TRANSACTIONS_MAX]
            answer = self._json(
                "POST",
                "/v1/transactions/batch",
                content=encode([tx.encode() for tx in chunk]),
                headers={"Content-Type": "application/msgpack"},
            )
            items = answer.get("results") if isinstance(answer, dict) else None
            if not isinstance(items, list) or len(items) != len(chunk):
                raise ProtocolError(f"the batch answer does not have {len(chunk)} results")
            for tx, item in zip(chunk, items, strict=True):
                results.append(_batch_result(item, tx))
        return results

    def wait_for(
        self,
        tx_id: str,
        *,
        kind: str = "",
        timeout_s: float = 30.0,
        poll_interval_s: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        check: bool = True,
    ) -> Receipt:
        """Poll a transaction's status until it is committed (or raise CommitTimeout)."""
        deadline = time.monotonic() + timeout_s
        while True:
            receipt = self.transaction_status(tx_id, kind=kind)
            if receipt.committed:
                if check:
                    _check(receipt)
                return receipt
            if time.monotonic() >= deadline:
                raise CommitTimeout(
                    408, "timeout", f"not committed within {timeout_s:g} s; still pending", tx_id
                )
            sleep(poll_interval_s)

    # --- bills of lading -------------------------------------------------------------------

    def bl_issue(
        self,
        *,
        reference: str,
        issue_to: str,
        to_order: bool,
        document_sha256: bytes,
        bill: Bill,
        endorsee: str | None = None,
        consignee: str | None = None,
        wait: bool = True,
    ) -> Receipt:
        """Carrier: issue a bill of lading to `issue_to` (its first holder)."""
        body = bodies.bl_issue(
            reference=reference,
            issue_to=issue_to,
            to_order=to_order,
            document_sha256=document_sha256,
            bill=bill,
            endorsee=endorsee,
            consignee=consignee,
        )
        return self.send("bl.issue", body, wait=wait)

    def bl_issue_dcsa(
        self,
        document: Mapping[str, Any],
        details: dcsa.IssueDetails,
        *,
        wait: bool = True,
    ) -> Receipt:
        """Carrier: issue the bill described by a DCSA eBL 3.0 transport document."""
        try:
            body = dcsa.issue_body(dcsa.find_transport_document(document), details)
        except LedgerError as exc:
            raise InvalidArgument("dcsa", str(exc)) from None
        return self.send("bl.issue", body, wait=wait)

    def bl_transfer(
        self,
        document: str,
        recipient: str,
        *,
        offer_expiry_height: int | None = None,
        wait: bool = True,
    ) -> Receipt:
        """Holder: offer the bill to `recipient`, who must accept before the offer lapses
        (default: OFFER_WINDOW_BLOCKS_DEFAULT blocks from now)."""
        if offer_expiry_height is None:
            offer_expiry_height = self.height() + OFFER_WINDOW_BLOCKS_DEFAULT
        body = bodies.bl_transfer(document, recipient, offer_expiry_height)
        return self.send("bl.transfer", body, wait=wait)

    def bl_accept(self, document: str, *, wait: bool = True) -> Receipt:
        """Recipient of an offer: accept it and become the holder."""
        return self.send("bl.accept", bodies.document_only(document), wait=wait)

    def bl_cancel(self, document: str, *, wait: bool = True) -> Receipt:
        """Holder: withdraw the pending transfer offer."""
        return self.send("bl.cancel", bodies.document_only(document), wait=wait)

    def bl_endorse(
        self, document: str, action: str, endorsee: str | None = None, *, wait: bool = True
    ) -> Receipt:
        """Holder of a to-order bill: ENDORSE, ENDORSE_TO_ORDER (to `endorsee`) or
        BLANK_ENDORSE."""
        return self.send("bl.endorse", bodies.bl_endorse(document, action, endorsee), wait=wait)

    def bl_surrender(
        self,
        document: str,
        purpose: str,
        *,
        reason_code: str | None = None,
        comments: str | None = None,
        wait: bool = True,
    ) -> Receipt:
        """Holder: surrender the bill to its carrier for `delivery` or `amendment`."""
        body = bodies.bl_surrender(document, purpose, reason_code, comments)
        return self.send("bl.surrender", body, wait=wait)

    def bl_surrender_accept(self, document: str, *, wait: bool = True) -> Receipt:
        """Issuing carrier: accept the pending surrender."""
        return self.send("bl.surrender_accept", bodies.document_only(document), wait=wait)

    def bl_surrender_reject(self, document: str, reason: str, *, wait: bool = True) -> Receipt:
        """Issuing carrier: reject the pending surrender; the bill goes back."""
        body = bodies.document_reason(document, reason)
        return self.send("bl.surrender_reject", body, wait=wait)

    def bl_amend(
        self,
        document: str,
        *,
        reference: str,
        document_sha256: bytes,
        bill: Bill,
        wait: bool = True,
    ) -> Receipt:
        """Issuing carrier, after an accepted surrender for amendment: issue the amended bill
        (the receipt's id is the new bill's id)."""
        body = bodies.bl_amend(document, reference, document_sha256, bill)
        return self.send("bl.amend", body, wait=wait)

    def bl_void(self, document: str, reason: str, *, wait: bool = True) -> Receipt:
        """Issuing carrier: void a bill that was never transferred."""
        return self.send("bl.void", bodies.document_reason(document, reason), wait=wait)

    # --- certificates of origin ------------------------------------------------------------

    def coo_issue(
        self,
        *,
        reference: str,
        document_sha256: bytes,
        exporter: Party,
        importer: Party,
        country_of_export: str,
        country_of_import: str,
        goods: Sequence[CertificateGoodsItem],
        issue_date: str,
        producer: Party | None = None,
        transport: CertificateTransport | None = None,
        invoice_reference: str | None = None,
        expiry_date: str | None = None,
        bill_of_lading: str | None = None,
        exporter_organisation: str | None = None,
        importer_organisation: str | None = None,
        wait: bool = True,
    ) -> Receipt:
        """Chamber: issue a certificate of origin."""
        body = bodies.coo_issue(
            reference=reference,
            document_sha256=document_sha256,
            exporter=exporter,
            importer=importer,
            country_of_export=country_of_export,
            country_of_import=country_of_import,
            goods=goods,
            issue_date=issue_date,
            producer=producer,
            transport=transport,
            invoice_reference=invoice_reference,
            expiry_date=expiry_date,
            bill_of_lading=bill_of_lading,
            exporter_organisation=exporter_organisation,
            importer_organisation=importer_organisation,
        )
        return self.send("coo.issue", body, wait=wait)

    def coo_revoke(self, document: str, reason: str, *, wait: bool = True) -> Receipt:
        """Issuing chamber: revoke the certificate (final)."""
        return self.send("coo.revoke", bodies.document_reason(document, reason), wait=wait)

    def coo_verify(
        self,
        document: str,
        outcome: str,
        *,
        reason: str | None = None,
        declaration_reference: str | None = None,
        wait: bool = True,
    ) -> Receipt:
        """Customs: record the verification outcome (accepted, rejected, query)."""
        body = bodies.coo_verify(document, outcome, reason, declaration_reference)
        return self.send("coo.verify", body, wait=wait)

    # --- payment attestations --------------------------------------------------------------

    def pay_attest(
        self,
        *,
        reference: str,
        uetr: str,
        beneficiary_bank: str,
        direction: str,
        payer: Party,
        payee: Party,
        payer_bank_bic: str,
        payee_bank_bic: str,
        amount_minor: int,
        currency: str,
        value_date: str,
        end_to_end_id: str | None = None,
        references: PaymentReferences | None = None,
        document_sha256: bytes | None = None,
        wait: bool = True,
    ) -> Receipt:
        """Bank: attest a payment it sent or received; `beneficiary_bank` confirms it."""
        body = bodies.pay_attest(
            reference=reference,
            uetr=uetr,
            beneficiary_bank=beneficiary_bank,
            direction=direction,
            payer=payer,
            payee=payee,
            payer_bank_bic=payer_bank_bic,
            payee_bank_bic=payee_bank_bic,
            amount_minor=amount_minor,
            currency=currency,
            value_date=value_date,
            end_to_end_id=end_to_end_id,
            references=references,
            document_sha256=document_sha256,
        )
        return self.send("pay.attest", body, wait=wait)

    def pay_confirm(self, document: str, *, wait: bool = True) -> Receipt:
        """Beneficiary bank: confirm receipt of the attested payment."""
        return self.send("pay.confirm", bodies.document_only(document), wait=wait)

    def pay_correct(
        self, document: str, attestation: Mapping[str, Value], *, wait: bool = True
    ) -> Receipt:
        """Attesting bank: record a correction (a new record). `attestation` is the full
        corrected payment, built with `client.bodies.pay_attest(...)`."""
        return self.send("pay.correct", bodies.pay_correct(document, dict(attestation)), wait=wait)

    def pay_revoke(self, document: str, reason: str, *, wait: bool = True) -> Receipt:
        """Attesting bank: revoke the attestation (a new revocation record)."""
        return self.send("pay.revoke", bodies.document_reason(document, reason), wait=wait)

    # --- customs ---------------------------------------------------------------------------

    def customs_record(
        self,
        *,
        reference: str,
        decision: str,
        outcome: str,
        documents: Sequence[str],
        reason: str | None = None,
        declaration_reference: str | None = None,
        wait: bool = True,
    ) -> Receipt:
        """Customs: record a verification or clearance decision about `documents`."""
        body = bodies.customs_record(
            reference=reference,
            decision=decision,
            outcome=outcome,
            documents=documents,
            reason=reason,
            declaration_reference=declaration_reference,
        )
        return self.send("customs.record", body, wait=wait)

    # --- membership and governance ---------------------------------------------------------

    def member_register(self, key: bytes, name: str, *, wait: bool = True) -> Receipt:
        """Organisation admin: register a member key."""
        return self.send("member.register", bodies.member_register(key, name), wait=wait)

    def member_rotate(
        self, old_key: bytes, new_key: bytes, name: str | None = None, *, wait: bool = True
    ) -> Receipt:
        """Organisation admin: replace a member key (the old one is revoked)."""
        body = bodies.member_rotate(old_key, new_key, name)
        return self.send("member.rotate", body, wait=wait)

    def member_revoke(self, key: bytes, *, wait: bool = True) -> Receipt:
        """Organisation admin: revoke a member key of the organisation."""
        return self.send("member.revoke", bodies.member_revoke(key), wait=wait)

    def gov_propose(
        self,
        action: str,
        params: Mapping[str, object],
        *,
        expiry_height: int | None = None,
        wait: bool = True,
    ) -> Receipt:
        """Governance admin: propose a change (`client.bodies.org_add_params`, ...); the
        receipt's id is the proposal's id, and the proposal counts as the first approval."""
        if expiry_height is None:
            expiry_height = self.height() + PROPOSAL_WINDOW_BLOCKS_DEFAULT
        body = bodies.gov_propose(action, params, expiry_height)
        return self.send("gov.propose", body, wait=wait)

    def gov_approve(self, proposal: str, *, wait: bool = True) -> Receipt:
        """Governance admin: approve an open proposal."""
        return self.send("gov.approve", bodies.gov_approve(proposal), wait=wait)

    # --- queries ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The node's status: chain id, height, head, peers, sync state."""
        return _object(self._json("GET", "/v1/status"))

    def transaction_status(self, tx_id: str, *, kind: str = "") -> Receipt:
        """Committed (height, code) or pending; ApiError not_found if the node knows neither."""
        return _receipt(self._json("GET", f"/v1/transactions/{_id(tx_id, 'tx_id')}"), kind)

    def document(self, document_id: str) -> dict[str, Any]:
        """A document's current record (signed read)."""
        path = f"/v1/documents/{_id(document_id, 'document')}"
        return _object(self._json("GET", path, signed=True))

    def history(self, document_id: str) -> dict[str, Any]:
        """`{document, events, endorsement_chain?}` (signed read)."""
        path = f"/v1/documents/{_id(document_id, 'document')}/history"
        return _object(self._json("GET", path, signed=True))

    def lookup(self, family: str, issuer: str, reference: str) -> str | None:
        """The id of the current document of `issuer` with this `reference`, or None."""
        params = {"family": family, "issuer": issuer, "reference": reference}
        try:
            answer = _object(self._json("GET", "/v1/documents", params=params, signed=True))
        except ApiError as exc:
            if exc.code == "not_found":
                return None
            raise
        found = answer.get("id")
        if not isinstance(found, str):
            raise ProtocolError("the lookup answer has no id")
        return found

    def verify_file(self, data: bytes) -> dict[str, Any]:
        """Whether this exact file is on the ledger, and its status (no authentication)."""
        return self.verify_file_hash(crypto.sha256(data))

    def verify_file_hash(self, sha256: bytes) -> dict[str, Any]:
        if len(sha256) != 32:
            raise InvalidArgument("sha256", "a SHA-256 digest is 32 bytes")
        return _object(self._json("GET", f"/v1/verify/file/{sha256.hex()}"))

    def block(self, height: int | None = None) -> BlockInfo:
        """The block at `height` (default: the latest), with its header and commit parsed."""
        path = "/v1/blocks/latest" if height is None else f"/v1/blocks/{int(height)}"
        answer = _object(self._json("GET", path))
        try:
            info = BlockInfo(
                height=_int(answer.get("height"), "height"),
                hash=str(answer.get("hash")),
                header=header_from_json(answer.get("header")),
                commit=commit_from_json(answer.get("commit")),
                transaction_count=_int(answer.get("transactions"), "transactions"),
            )
        except LedgerError as exc:
            raise ProtocolError(f"the block answer is malformed: {exc}") from None
        if info.header.hash().hex() != info.hash:
            raise ProtocolError("the block's hash does not match its header")
        return info

    def validators(self) -> dict[str, Any]:
        return _object(self._json("GET", "/v1/validators"))

    def organisations(self) -> Any:
        """Organisations with roles and suspended flag (signed read)."""
        return self._json("GET", "/v1/organisations", signed=True)

    def members(self, organisation: str) -> Any:
        """Member keys of `organisation` (signed read: your own organisation only)."""
        bodies.check_organisation(organisation, "organisation")
        return self._json("GET", f"/v1/organisations/{organisation}/members", signed=True)

    def bundle(self, document_id: str) -> dict[str, Any]:
        """The evidence bundle of a document, as JSON (signed read). Check it with
        `client.verify.verify_bundle` or use `verified_bundle`."""
        path = f"/v1/documents/{_id(document_id, 'document')}/bundle"
        return _object(self._json("GET", path, signed=True))

    def verified_bundle(
        self, document_id: str, genesis: Genesis, file_bytes: bytes | None = None
    ) -> BundleReport:
        """Fetch the bundle and verify it offline against the trusted `genesis` (raises
        `BundleInvalid`); the node is not trusted for anything the report says."""
        bundle = self.bundle(document_id)
        if bundle.get("document_id") != document_id:
            raise ProtocolError(f"the node sent the bundle of another document for {document_id}")
        return verify_bundle(bundle, genesis, file_bytes)

    def inclusion_proof(self, tx_id: str, size: int) -> InclusionProof:
        """Proof that `tx_id` is in the log of `size` transactions (signed read)."""
        params = {"tx": _id(tx_id, "tx_id"), "size": str(int(size))}
        answer = _object(self._json("GET", "/v1/proofs/inclusion", params=params, signed=True))
        try:
            return InclusionProof(
                leaf_index=_int(answer.get("leaf_index"), "leaf_index"),
                tree_size=_int(answer.get("tree_size"), "tree_size"),
                proof=_hashes(answer.get("proof"), "proof"),
                root=hex_bytes(answer.get("root"), "root", size=32),
            )
        except LedgerError as exc:
            raise ProtocolError(f"the inclusion proof answer is malformed: {exc}") from None

    def consistency_proof(self, size_from: int, size_to: int) -> ConsistencyProof:
        """Proof that the log of `size_to` extends the log of `size_from`."""
        params = {"from": str(int(size_from)), "to": str(int(size_to))}
        answer = _object(self._json("GET", "/v1/proofs/consistency", params=params))
        try:
            return ConsistencyProof(
                size_from=_int(answer.get("from"), "from"),
                size_to=_int(answer.get("to"), "to"),
                proof=_hashes(answer.get("proof"), "proof"),
                root_from=hex_bytes(answer.get("root_from"), "root_from", size=32),
                root_to=hex_bytes(answer.get("root_to"), "root_to", size=32),
            )
        except LedgerError as exc:
            raise ProtocolError(f"the consistency proof answer is malformed: {exc}") from None

    def events(self) -> Iterator[Event]:
        """Committed events as they happen (server-sent events, filtered to what this key's
        organisation may see). Stop iterating to close the stream."""
        request = self._request("GET", "/v1/events", signed=True)
        request.headers["Accept"] = "text/event-stream"
        response = self._send(request, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                raise _api_error(response)
            yield from _parse_events(response.iter_lines())
        except httpx.HTTPError as exc:
            raise TransportError(f"the event stream from {self.url} broke: {exc}") from None
        finally:
            response.close()

    # --- HTTP ------------------------------------------------------------------------------

    def _signing_key(self) -> SigningKey:
        if self.key is None:
            raise KeyRequired("this needs a member key: create the Client with one")
        return self.key

    def _read_timestamp_ms(self) -> int:
        with self._lock:
            self._last_read_ms = max(self._clock_ns() // 1_000_000, self._last_read_ms + 1)
            return self._last_read_ms

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        signed: bool = False,
        timeout_s: float | None = None,
    ) -> httpx.Request:
        extensions = {} if timeout_s is None else {"timeout": httpx.Timeout(timeout_s).as_dict()}
        request = self._http.build_request(
            method,
            path,
            params=params,
            content=content,
            headers=headers,
            extensions=extensions,
        )
        if signed:
            request.headers.update(self.read_headers(request))
        return request

    def read_headers(self, request: httpx.Request) -> dict[str, str]:
        """The signed-read headers for `request` (docs/api.md "Signed reads"): the signature
        covers the method, the request target exactly as sent, the body's SHA-256, the key
        and a timestamp, under Domain.READ_REQUEST and the chain id."""
        key = self._signing_key()
        timestamp_ms = self._read_timestamp_ms()
        payload = read_request_payload(
            key=key.public_key,
            method=request.method,
            target=request.url.raw_path.decode("ascii"),
            body=request.content,
            timestamp_ms=timestamp_ms,
        )
        return {
            HEADER_KEY: key.public_key.hex(),
            HEADER_TIMESTAMP: str(timestamp_ms),
            HEADER_SIGNATURE: key.sign(Domain.READ_REQUEST, self.chain_id, payload).hex(),
        }

    def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        try:
            return self._http.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise TransportError(f"{self.url} did not answer in time ({exc!r})") from None
        except httpx.HTTPError as exc:
            raise TransportError(f"cannot reach the node at {self.url}: {exc}") from None

    def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        signed: bool = False,
        timeout_s: float | None = None,
    ) -> Any:
        request = self._request(
            method,
            path,
            params=params,
            content=content,
            headers=headers,
            signed=signed,
            timeout_s=timeout_s,
        )
        response = self._send(request)
        if response.status_code >= 400:
            raise _api_error(response)
        try:
            return response.json()
        except ValueError:
            raise ProtocolError(
                f"{method} {path}: the node answered {response.status_code} without JSON"
            ) from None


# --- answers ------------------------------------------------------------------------------------


def _api_error(response: httpx.Response) -> ApiError:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = body["error"]
        detail = body.get("detail")
        tx = body.get("tx")
        error_class = CommitTimeout if status == 408 else ApiError
        return error_class(
            status,
            code,
            detail if isinstance(detail, str) else "",
            tx if isinstance(tx, str) else None,
        )
    text = response.text[:200].strip()
    return ApiError(status, "server_error" if status >= 500 else "http_error", text)


def _receipt(answer: Any, kind: str) -> Receipt:
    if not isinstance(answer, dict):
        raise ProtocolError("a transaction answer is not a JSON object")
    tx_id, status = answer.get("id"), answer.get("status")
    if not isinstance(tx_id, str) or status not in (STATUS_PENDING, STATUS_COMMITTED):
        raise ProtocolError(f"a transaction answer lacks id or status: {answer!r:.200}")
    if status == STATUS_PENDING:
        return Receipt(id=tx_id, kind=kind, status=status)
    code = answer.get("code")
    if not isinstance(code, str):
        raise ProtocolError("a committed transaction's answer has no code")
    return Receipt(
        id=tx_id, kind=kind, status=status, height=_int(answer.get("height"), "height"), code=code
    )


def _check(receipt: Receipt) -> None:
    if receipt.committed and receipt.code != "ok":
        assert receipt.code is not None
        raise TransactionRejected(receipt.id, receipt.code, receipt.height)


def _batch_result(item: Any, tx: Transaction) -> BatchResult:
    if not isinstance(item, dict):
        raise ProtocolError("a batch result is not a JSON object")
    error = item.get("error")
    if isinstance(error, str):
        detail = item.get("detail")
        return BatchResult(
            id=tx.id.hex(),
            status=None,
            error=error,
            detail=detail if isinstance(detail, str) else None,
        )
    receipt = _receipt(item, tx.kind)
    if receipt.id != tx.id.hex():
        raise ProtocolError("the batch results are not in the order submitted")
    return BatchResult(id=receipt.id, status=receipt.status)


def _parse_events(lines: Iterator[str]) -> Iterator[Event]:
    event_type, data_lines = "message", list[str]()
    for line in lines:
        if len(line) > EVENT_LINE_BYTES_MAX:
            raise ProtocolError("an event line exceeds the size limit")
        if not line:
            if data_lines:
                try:
                    data = json.loads("\n".join(data_lines))
                except ValueError:
                    raise ProtocolError("an event's data is not JSON") from None
                yield Event(type=event_type, data=data)
            event_type, data_lines = "message", list[str]()
        elif line.startswith(":"):
            continue  # a comment (keep-alive)
        elif line.startswith("event:"):
            event_type = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data_lines.append(line[len("data:") :].lstrip(" "))


def _object(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise ProtocolError("expected a JSON object from the node")
    return answer


def _int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(f"the node's answer has no integer {name}")
    return value


def _hashes(value: Any, name: str) -> tuple[bytes, ...]:
    if not isinstance(value, list) or len(value) > merkle.PROOF_HASHES_MAX:
        raise ProtocolError(f"the node's {name} is not a list of hashes")
    return tuple(hex_bytes(item, f"{name}[{i}]", size=32) for i, item in enumerate(value))


def _id(value: str, field: str) -> str:
    return bodies.check_document_id(value, field)


__all__ = [
    "BatchResult",
    "BlockInfo",
    "Client",
    "ClientError",
    "ConsistencyProof",
    "Event",
    "InclusionProof",
    "Receipt",
    "read_request_payload",
]
