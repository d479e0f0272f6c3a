"""The node's HTTP API (FastAPI; OpenAPI at /docs). The contract is docs/api.md.

A route parses, authorises (`node.auth`), calls one function (`node.reads.Reads` or the
node's `submit`) and renders. Every refusal is a 4xx with a body
``{"error": <code>, "detail": <words>, "tx": <id hex>?}``; no client input produces a 5xx.

Limits (all named in `ApiLimits`):

- Bodies are read incrementally and refused with 413 ``body_too_large`` as soon as they
  pass the limit (a declared Content-Length over it is refused before anything is read):
  256 KiB for one transaction, 8 MiB for a batch, 16 KiB for a signed read.
- Slow clients: the body must arrive within `body_read_timeout_s` (10 s; a batch 30 s) or
  the request is refused with 408 ``request_timeout``. Idle keep-alive connections are
  closed by uvicorn after `timeout_keep_alive` (5 s, set in node/main.py), which also
  bounds concurrent connections (`limit_concurrency`).
- A batch holds at most 1000 transactions; at most 64 event streams are open at once
  (429 ``busy`` beyond), and a stream more than 256 blocks behind is dropped.
- Waiting for commit is bounded by `timeout_ms` (at most 30 s; 408 ``timeout`` after).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from contracts.visibility import Reader
from ledger.codec import CodecLimits, decode
from ledger.codes import Code
from ledger.errors import LedgerError
from ledger.types import Transaction
from node.auth import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    ReadAuthenticator,
    request_target,
)
from node.events import HubFull, Subscription, SubscriptionDropped
from node.mempool import AdmissionError
from node.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from node.portal import router as portal_router
from node.reads import ApiError, Reads, parse_hex_id
from node.runtime import Node

MSGPACK_MEDIA_TYPES = ("application/msgpack", "application/x-msgpack")
WAIT_COMMIT_MS_MAX = 30_000
HEIGHT_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiLimits:
    transaction_body_bytes_max: int = 256 * 1024  # one transaction is at most 64 KiB
    batch_body_bytes_max: int = 8 * 1024 * 1024
    read_body_bytes_max: int = 16 * 1024  # a signed read has no business sending a body
    batch_transactions_max: int = 1000
    body_read_timeout_s: float = 10.0
    batch_body_read_timeout_s: float = 30.0
    event_keepalive_s: float = 15.0  # a comment line on an idle event stream

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) <= 0:
                raise ValueError(f"ApiLimits.{name} must be > 0")


# Admission refusals (`node.mempool`) by HTTP status; any other code answers 400.
ADMISSION_STATUS: dict[Code, int] = {
    Code.TRANSACTION_TOO_LARGE: 413,
    Code.KEY_UNKNOWN: 403,
    Code.KEY_REVOKED: 403,
    Code.ORGANISATION_SUSPENDED: 403,
    Code.DUPLICATE_TRANSACTION: 409,
    Code.NONCE_REUSED: 409,
    Code.MEMPOOL_FULL: 429,
}

# --- response models (they are the OpenAPI schema; examples show the shapes) ---------------

_TX_ID = "5b1c0a4e2f7d9c3b8a6e4d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a"
_HASH = "9f2c4e6a8b0d1f3e5c7a9b1d3f5e7c9a1b3d5f7e9c1a3b5d7f9e1c3a5b7d9f1e"


class ErrorBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"error": "forbidden", "detail": "your organisation may not see this document"},
                {"error": "timeout", "detail": "not committed within 10000 ms", "tx": _TX_ID},
            ]
        }
    )
    error: str = Field(description="a ledger.codes.Code value or an API code (docs/api.md)")
    detail: str
    tx: str | None = Field(default=None, description="the transaction concerned, if any")


class TransactionStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"id": _TX_ID, "status": "pending"},
                {"id": _TX_ID, "status": "committed", "height": 12, "code": "ok"},
            ]
        }
    )
    id: str
    status: Literal["pending", "committed"]
    height: int | None = None
    code: str | None = Field(default=None, description="the result code; ok if accepted")


class BatchItem(BaseModel):
    id: str | None = None
    status: Literal["pending"] | None = None
    error: str | None = None
    detail: str | None = None


class BatchAnswer(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {"id": _TX_ID, "status": "pending"},
                        {"error": "bad_signature", "detail": "signature does not verify"},
                    ]
                }
            ]
        }
    )
    results: list[BatchItem]


class DocumentHistory(BaseModel):
    document: dict[str, Any]
    events: list[dict[str, Any]]
    endorsement_chain: list[dict[str, Any]] | None = Field(
        default=None, description="bills of lading only, oldest first"
    )


class DocumentId(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": _TX_ID}]})
    id: str


class BundleEntry(BaseModel):
    transaction: str
    height: int
    index_in_block: int
    log_index: int
    code: str
    code_proof: list[str]
    header: dict[str, Any]
    commit: dict[str, Any]
    inclusion_proof: list[str]


class Bundle(BaseModel):
    format: Literal["tradeledger-bundle/2"]
    chain_id: str
    genesis_hash: str
    document_id: str
    document: dict[str, Any]
    entries: list[BundleEntry]


class FileCheck(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"registered": False},
                {
                    "registered": True,
                    "document": _TX_ID,
                    "family": "bl",
                    "record_type": "bill",
                    "status": "issued",
                    "issuer": "carrier",
                    "registered_height": 7,
                    "registered_time_ms": 1767225607000,
                },
            ]
        }
    )
    registered: bool
    document: str | None = None
    family: str | None = None
    record_type: str | None = None
    status: str | None = None
    issuer: str | None = None
    superseded_by: str | None = None
    registered_height: int | None = None
    registered_time_ms: int | None = None


class BlockAnswer(BaseModel):
    height: int
    hash: str
    header: dict[str, Any]
    transactions: int = Field(description="how many transactions the block holds")
    commit: dict[str, Any]


class InclusionProof(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"leaf_index": 41, "tree_size": 57, "proof": [_HASH], "root": _HASH}]
        }
    )
    leaf_index: int
    tree_size: int
    proof: list[str]
    root: str


class ConsistencyProof(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"from": 10, "to": 57, "proof": [_HASH], "root_from": _HASH, "root_to": _HASH}
            ]
        },
    )
    from_: int = Field(alias="from")
    to: int
    proof: list[str]
    root_from: str
    root_to: str


class ValidatorEntry(BaseModel):
    node_key: str
    power: int
    organisation: str
    connected: bool


class Validators(BaseModel):
    height: int
    validators: list[ValidatorEntry]


class OrganisationEntry(BaseModel):
    id: str
    name: str
    country: str
    roles: list[str]
    suspended: bool
    added_height: int
    suspended_height: int | None


class Organisations(BaseModel):
    organisations: list[OrganisationEntry]


class MemberEntry(BaseModel):
    key: str
    kind: Literal["admin", "member"]
    name: str
    registered_height: int
    revoked_height: int | None
    replaced_by: str | None


class Members(BaseModel):
    organisation: str
    members: list[MemberEntry]


class MempoolStatus(BaseModel):
    transactions: int
    bytes: int


class NodeStatus(BaseModel):
    chain_id: str
    genesis_hash: str
    node: str
    node_key: str
    height: int
    head_hash: str
    log_size: int
    log_root: str
    state_root: str
    peers: list[str]
    syncing: bool
    mempool: MempoolStatus
    stats: dict[str, int]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    peers: int
    height: int


# --- OpenAPI: request bodies and error responses --------------------------------------------


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody, "description": _STATUS_TEXT[code]} for code in statuses}


_STATUS_TEXT = {
    400: "bad_request, or a transaction refusal code",
    401: "unauthenticated, bad_signature, request_expired, request_replayed",
    403: "forbidden, key_unknown, key_revoked, organisation_suspended",
    404: "not_found",
    408: "timeout (still pending) or request_timeout (body too slow)",
    409: "duplicate_transaction, nonce_reused",
    413: "body_too_large, transaction_too_large",
    415: "unsupported_media_type",
    429: "busy or mempool_full: retry later",
}
_SIGNED = (400, 401, 403, 413, 408)
_SUBMIT_ERRORS = _errors(400, 403, 408, 409, 413, 415, 429)

_SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/msgpack": {
                "schema": {"type": "string", "format": "binary"},
                "description": "the transaction's canonical msgpack bytes",
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["transaction"],
                    "properties": {"transaction": {"type": "string", "pattern": "^[0-9a-f]*$"}},
                },
                "example": {"transaction": "87a4626f6479…(hex of the signed bytes)"},
            },
        },
    }
}
_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/msgpack": {
                "schema": {"type": "string", "format": "binary"},
                "description": "a msgpack list of transactions' canonical bytes",
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["transactions"],
                    "properties": {
                        "transactions": {
                            "type": "array",
                            "maxItems": 1000,
                            "items": {"type": "string", "pattern": "^[0-9a-f]*$"},
                        }
                    },
                },
                "example": {"transactions": ["87a4626f6479…", "87a4626f6479…"]},
            },
        },
    }
}

_KEY_HEADER = APIKeyHeader(
    name=HEADER_KEY, scheme_name="TLKey", auto_error=False, description="member public key, hex"
)
_TIMESTAMP_HEADER = APIKeyHeader(
    name=HEADER_TIMESTAMP,
    scheme_name="TLTimestamp",
    auto_error=False,
    description="ms since the Unix epoch, within ±60 s of the node's clock",
)
_SIGNATURE_HEADER = APIKeyHeader(
    name=HEADER_SIGNATURE,
    scheme_name="TLSignature",
    auto_error=False,
    description="Ed25519 signature (hex) of the read request; see docs/api.md",
)
_SECURITY_SCHEMES = ("TLKey", "TLTimestamp", "TLSignature")


@dataclass(frozen=True, slots=True, kw_only=True)
class _SignedReads:
    node: Node
    authenticator: ReadAuthenticator
    limits: ApiLimits


async def _signed_reader(
    request: Request,
    key: Annotated[str | None, Security(_KEY_HEADER)],
    timestamp: Annotated[str | None, Security(_TIMESTAMP_HEADER)],
    signature: Annotated[str | None, Security(_SIGNATURE_HEADER)],
) -> Reader:
    """The dependency of every signed read: the authenticated reader, or 401/403."""
    del key, timestamp, signature  # declared for OpenAPI; read from the headers below
    context: _SignedReads = request.app.state.signed_reads
    limits = context.limits
    body = await _read_body(request, limits.read_body_bytes_max, limits.body_read_timeout_s)
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    return context.authenticator.authenticate(
        context.node.store,
        method=request.method,
        target=request_target(raw_path, request.scope.get("query_string", b"")),
        body=body,
        headers=request.headers,
    )


SignedReader = Annotated[Reader, Depends(_signed_reader)]
HEX_ID_PATTERN = "^[0-9a-fA-F]{64}$"
DocumentIdPath = Annotated[
    str,
    Path(
        description="a document id: 64 lowercase hex digits",
        max_length=64,
        pattern="^[0-9a-f]{64}$",
    ),
]


def create_app(
    node: Node,
    *,
    clock_ms: Callable[[], int] | None = None,
    limits: ApiLimits | None = None,
) -> FastAPI:
    """The API of `node`. `clock_ms` (default: the node's) is the clock signed reads are
    checked against."""
    limits = limits or ApiLimits()
    reads = Reads(node)
    authenticator = ReadAuthenticator(node.chain_id, clock_ms or node.clock_ms)
    app = FastAPI(
        title="tradeledger node",
        description=(
            "Submit signed trade-document transactions and read the ledger. Reads of "
            "confidential content are signed by a member key (headers X-TL-Key, "
            "X-TL-Timestamp, X-TL-Signature); see docs/api.md for the signing rule, the "
            "visibility rules and the error codes."
        ),
        version="0.1.0",
    )

    app.state.signed_reads = _SignedReads(node=node, authenticator=authenticator, limits=limits)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', '')}"
            for error in exc.errors()[:5]
        )
        return JSONResponse(
            ApiError(400, "bad_request", problems[:500] or "invalid request").body(),
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = "not_found" if exc.status_code == 404 else "bad_request"
        return JSONResponse(
            ApiError(exc.status_code, error, str(exc.detail)).body(),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    # --- health and status -------------------------------------------------------------------

    @app.get("/healthz", tags=["node"], response_model=Health)
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["node"],
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "not connected to a quorum"}},
    )
    async def readyz() -> JSONResponse:
        """Ready when this node and its connected peers hold a quorum of voting power."""
        readiness = reads.readiness()
        return JSONResponse(readiness, status_code=200 if readiness["ready"] else 503)

    @app.get("/v1/status", tags=["node"], response_model=NodeStatus)
    async def status() -> dict[str, Any]:
        """Height, head, peers, sync state and mempool of this node."""
        return reads.status()

    @app.get(
        "/metrics",
        tags=["node"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        """Prometheus text: height, commit latency, mempool, peers, rejected by code."""
        return Response(node.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    # --- transactions ------------------------------------------------------------------------

    @app.post(
        "/v1/transactions",
        tags=["transactions"],
        status_code=202,
        response_model=TransactionStatus,
        responses={200: {"model": TransactionStatus}, **_SUBMIT_ERRORS},
        openapi_extra=_SUBMIT_BODY,
    )
    async def submit(
        request: Request,
        wait: bool = False,
        timeout_ms: Annotated[int, Query(ge=1, le=2**31)] = 10_000,
    ) -> JSONResponse:
        """Submit one signed transaction: its canonical msgpack bytes
        (`Content-Type: application/msgpack`) or JSON `{"transaction": "<hex>"}`.

        Answers at once with the id (202 pending), or with `wait=true` when it is committed
        (200, with its height and result code; a committed transaction may carry a refusal
        code) or 408 `timeout` after `timeout_ms` (at most 30 000; it stays pending). A
        transaction already committed is refused 409 `duplicate_transaction`, except with
        `wait=true`, which answers its result (so a retry is safe)."""
        data = await _transaction_bytes(request, limits)
        try:
            tx_id = (await _submit(node, data)).id
        except ApiError as exc:
            # a retry of a committed transaction with wait=true answers its result
            if not (wait and exc.error == Code.DUPLICATE_TRANSACTION.value and exc.tx):
                raise
            tx_id = exc.tx
        if not wait:
            return JSONResponse({"id": tx_id.hex(), "status": "pending"}, status_code=202)
        timeout_ms = min(timeout_ms, WAIT_COMMIT_MS_MAX)
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                committed = await node.wait_committed(tx_id)
        except TimeoutError:
            raise ApiError(
                408, "timeout", f"not committed within {timeout_ms} ms; still pending", tx_id
            ) from None
        except AdmissionError:
            # Admitted, but too many clients wait on commits: answer as without `wait`; the
            # client polls GET /v1/transactions/{id}.
            return JSONResponse({"id": tx_id.hex(), "status": "pending"}, status_code=202)
        return JSONResponse(
            {
                "id": tx_id.hex(),
                "status": "committed",
                "height": committed.height,
                "code": committed.code,
            },
            status_code=200,
        )

    @app.post(
        "/v1/transactions/batch",
        tags=["transactions"],
        response_model=BatchAnswer,
        response_model_exclude_none=True,
        responses=_errors(400, 408, 413, 415),
        openapi_extra=_BATCH_BODY,
    )
    async def submit_batch(request: Request) -> dict[str, Any]:
        """Submit up to 1000 signed transactions: a msgpack list of their bytes
        (`application/msgpack`) or JSON `{"transactions": ["<hex>", ...]}`. Each is admitted
        or refused on its own; the results are in the order given."""
        items = await _batch_items(request, limits)
        datas = [item for item in items if item is not None]
        submitted = iter(await node.submit_batch(datas) if datas else [])
        return {"results": [_batch_result(None if i is None else next(submitted)) for i in items]}

    @app.get(
        "/v1/transactions/{tx_id}",
        tags=["transactions"],
        response_model=TransactionStatus,
        response_model_exclude_none=True,
        responses=_errors(400, 404),
    )
    async def transaction(
        tx_id: Annotated[str, Path(max_length=64, pattern=HEX_ID_PATTERN)],
    ) -> dict[str, Any]:
        """A transaction's status: committed (height, result code) or pending."""
        return reads.transaction_status(parse_hex_id(tx_id, "a transaction id"))

    # --- documents (signed reads) ------------------------------------------------------------

    @app.get(
        "/v1/documents",
        tags=["documents"],
        response_model=DocumentId,
        responses=_errors(*_SIGNED, 404),
    )
    async def lookup(
        reader: SignedReader,
        family: Annotated[Literal["bl", "coo", "pay", "customs"], Query()],
        issuer: Annotated[str, Query(max_length=64, description="the issuer's organisation")],
        reference: Annotated[str, Query(max_length=256, description="the issuer's reference")],
    ) -> dict[str, Any]:
        """The id of the current document an issuer issued with this reference. A document
        the caller may not see is answered 404 like a missing one (references are
        guessable)."""
        return reads.lookup(reader, family, issuer, reference)

    @app.get(
        "/v1/documents/{document_id}",
        tags=["documents"],
        response_model=dict[str, Any],
        responses={
            200: {
                "description": "the document's current record",
                "content": {
                    "application/json": {
                        "example": {
                            "id": _TX_ID,
                            "family": "bl",
                            "record_type": "bill",
                            "issuer": "carrier",
                            "reference": "BL-1",
                            "status": "issued",
                            "parties": ["carrier", "seller"],
                            "links": {},
                            "data": {"document_type": "BOL", "port_of_loading": "NLRTM"},
                        }
                    }
                },
            },
            **_errors(*_SIGNED, 404),
        },
    )
    async def document(reader: SignedReader, document_id: DocumentIdPath) -> dict[str, Any]:
        """A document's current record (status, holder, links, parties, content)."""
        return reads.document(reader, document_id)

    @app.get(
        "/v1/documents/{document_id}/history",
        tags=["documents"],
        response_model=DocumentHistory,
        response_model_exclude_none=True,
        responses=_errors(*_SIGNED, 404),
    )
    async def history(reader: SignedReader, document_id: DocumentIdPath) -> dict[str, Any]:
        """The document, every change of it (oldest first) and, for a bill of lading, its
        endorsement chain (including the bills an amendment replaced)."""
        return reads.history(reader, document_id)

    @app.get(
        "/v1/documents/{document_id}/bundle",
        tags=["documents", "proofs"],
        response_model=Bundle,
        responses=_errors(*_SIGNED, 404),
    )
    async def bundle(reader: SignedReader, document_id: DocumentIdPath) -> dict[str, Any]:
        """A self-contained evidence bundle (`tradeledger-bundle/2`) that
        `client.verify.verify_bundle(bundle, genesis)` checks offline."""
        return reads.bundle(reader, document_id)

    @app.get(
        "/v1/verify/file/{sha256}",
        tags=["documents"],
        response_model=FileCheck,
        response_model_exclude_none=True,
        responses=_errors(400),
    )
    async def verify_file(
        sha256: Annotated[
            str,
            Path(max_length=64, pattern=HEX_ID_PATTERN, description="SHA-256 of the file, hex"),
        ],
    ) -> dict[str, Any]:
        """Is this exact file on the ledger, and what is its status? Public: it tells only
        what the holder of the file already knows."""
        return reads.verify_file(parse_hex_id(sha256, "a SHA-256"))

    # --- blocks and proofs -------------------------------------------------------------------

    @app.get(
        "/v1/blocks/latest", tags=["blocks"], response_model=BlockAnswer, responses=_errors(404)
    )
    async def latest_block() -> dict[str, Any]:
        """The latest block's header, transaction count and commit."""
        return reads.block(None)

    @app.get(
        "/v1/blocks/{height}",
        tags=["blocks"],
        response_model=BlockAnswer,
        responses=_errors(400, 404),
    )
    async def block(height: Annotated[int, Path(ge=1, le=HEIGHT_MAX)]) -> dict[str, Any]:
        """A block's header, transaction count and commit."""
        return reads.block(height)

    @app.get(
        "/v1/proofs/inclusion",
        tags=["proofs"],
        response_model=InclusionProof,
        responses=_errors(*_SIGNED, 404),
    )
    async def inclusion_proof(
        reader: SignedReader,
        tx: Annotated[
            str, Query(max_length=64, pattern=HEX_ID_PATTERN, description="the transaction id")
        ],
        size: Annotated[
            int | None, Query(ge=1, le=HEIGHT_MAX, description="log size (default: now)")
        ] = None,
    ) -> dict[str, Any]:
        """RFC 6962 inclusion proof of a committed transaction in the log of `size` entries.
        Allowed when the caller may see the transaction's document, or its organisation
        sent it."""
        return reads.inclusion_proof(reader, parse_hex_id(tx, "tx"), size)

    @app.get(
        "/v1/proofs/consistency",
        tags=["proofs"],
        response_model=ConsistencyProof,
        responses=_errors(400),
    )
    async def consistency_proof(
        first: Annotated[int, Query(alias="from", ge=0, le=HEIGHT_MAX)],
        second: Annotated[int, Query(alias="to", ge=0, le=HEIGHT_MAX)],
    ) -> dict[str, Any]:
        """RFC 6962 consistency proof that the log of `to` entries extends that of `from`."""
        return reads.consistency_proof(first, second)

    @app.get("/v1/validators", tags=["blocks"], response_model=Validators)
    async def validators() -> dict[str, Any]:
        """The validator set for the next block, and which validators this node reaches."""
        return reads.validators()

    # --- organisations (signed reads) ----------------------------------------------------------

    @app.get(
        "/v1/organisations",
        tags=["organisations"],
        response_model=Organisations,
        responses=_errors(*_SIGNED),
    )
    async def organisations(reader: SignedReader) -> dict[str, Any]:
        """Every organisation with its roles and whether it is suspended."""
        del reader  # every member may list the organisations
        return reads.organisations()

    @app.get(
        "/v1/organisations/{organisation_id}/members",
        tags=["organisations"],
        response_model=Members,
        responses=_errors(*_SIGNED, 404),
    )
    async def members(
        reader: SignedReader,
        organisation_id: Annotated[str, Path(max_length=64, pattern="^[A-Za-z0-9._-]{1,64}$")],
    ) -> dict[str, Any]:
        """An organisation's admin and member keys: for its own members, or governance."""
        return reads.members(reader, organisation_id)

    # --- events ------------------------------------------------------------------------------

    @app.get(
        "/v1/events",
        tags=["events"],
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "server-sent events: block, tx, and a final dropped or closed",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **_errors(*_SIGNED, 429),
        },
    )
    async def events(reader: SignedReader) -> StreamingResponse:
        """Committed events as server-sent events: `block` (public fields) for every block,
        `tx` for each contract event the caller may see. A stream that falls 256 blocks
        behind is sent `dropped` and closed."""
        try:
            subscription = node.events.subscribe()
        except HubFull as exc:
            raise ApiError(429, "busy", str(exc)) from None
        return StreamingResponse(
            _event_stream(reads, reader, subscription, limits.event_keepalive_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            background=BackgroundTask(subscription.close),
        )

    app.include_router(portal_router(reads, clock_ms=authenticator.clock_ms))  # web portal
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


# --- helpers ---------------------------------------------------------------------------------


async def _read_body(request: Request, size_bytes_max: int, timeout_s: float) -> bytes:
    """The request body, refused (413) past `size_bytes_max` before it is read whole and
    (408) when it does not arrive within `timeout_s`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > size_bytes_max:
        raise _too_large(size_bytes_max)
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                body.extend(chunk)
                if len(body) > size_bytes_max:
                    raise _too_large(size_bytes_max)
    except TimeoutError:
        raise ApiError(
            408, "request_timeout", f"the body did not arrive within {timeout_s:g} s"
        ) from None
    except ClientDisconnect:
        raise ApiError(400, "bad_request", "the client went away mid-body") from None
    return bytes(body)


def _too_large(size_bytes_max: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the body exceeds {size_bytes_max} bytes")


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        raise ApiError(400, "bad_request", "the body is not valid JSON") from None


async def _transaction_bytes(request: Request, limits: ApiLimits) -> bytes:
    media_type = _media_type(request)
    if media_type not in (*MSGPACK_MEDIA_TYPES, "application/json", ""):
        raise _unsupported(media_type)
    body = await _read_body(request, limits.transaction_body_bytes_max, limits.body_read_timeout_s)
    if media_type in MSGPACK_MEDIA_TYPES:
        return body
    document = _load_json(body)
    hex_text = document.get("transaction") if isinstance(document, dict) else None
    data = _from_hex(hex_text)
    if data is None:
        raise ApiError(
            400, "bad_request", 'expected JSON {"transaction": "<hex of the signed bytes>"}'
        )
    return data


async def _batch_items(request: Request, limits: ApiLimits) -> list[bytes | None]:
    """The batch's items: bytes, or None for an item that is not bytes / hex."""
    media_type = _media_type(request)
    if media_type not in (*MSGPACK_MEDIA_TYPES, "application/json", ""):
        raise _unsupported(media_type)
    body = await _read_body(request, limits.batch_body_bytes_max, limits.batch_body_read_timeout_s)
    items: list[bytes | None]
    if media_type in MSGPACK_MEDIA_TYPES:
        try:
            value = decode(body, CodecLimits(frame_size_bytes_max=limits.batch_body_bytes_max))
        except LedgerError as exc:
            raise ApiError(400, "bad_request", f"not one canonical msgpack list: {exc}") from None
        if not isinstance(value, list):
            raise ApiError(400, "bad_request", "expected a msgpack list of transaction bytes")
        items = [item if isinstance(item, bytes) else None for item in value]
    else:
        document = _load_json(body)
        listed = document.get("transactions") if isinstance(document, dict) else None
        if not isinstance(listed, list):
            raise ApiError(400, "bad_request", 'expected JSON {"transactions": ["<hex>", ...]}')
        items = [_from_hex(item) for item in listed]
    if len(items) > limits.batch_transactions_max:
        raise ApiError(
            400,
            "bad_request",
            f"{len(items)} transactions; a batch holds at most {limits.batch_transactions_max}",
        )
    return items


def _from_hex(text: object) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def _unsupported(media_type: str) -> ApiError:
    return ApiError(
        415,
        "unsupported_media_type",
        f"unsupported content type {media_type!r}; send application/msgpack or application/json",
    )


async def _submit(node: Node, data: bytes) -> Transaction:
    try:
        return await node.submit(data)
    except AdmissionError as exc:
        raise ApiError(
            ADMISSION_STATUS.get(exc.code, 400), exc.code.value, exc.detail, _tx_id(data)
        ) from None


def _batch_result(submitted: Transaction | AdmissionError | None) -> dict[str, Any]:
    if submitted is None:
        return {
            "error": Code.MALFORMED_TRANSACTION.value,
            "detail": "an item must be the transaction's bytes (msgpack bin, or hex in JSON)",
        }
    if isinstance(submitted, AdmissionError):
        return {"error": submitted.code.value, "detail": submitted.detail}
    return {"id": submitted.id.hex(), "status": "pending"}


def _tx_id(data: bytes) -> bytes | None:
    """The id of `data` if it decodes as a transaction (to name it in a refusal)."""
    try:
        return Transaction.decode(data).id
    except LedgerError:
        return None


async def _event_stream(
    reads: Reads, reader: Reader, subscription: Subscription, keepalive_s: float
) -> AsyncIterator[str]:
    try:
        yield ": subscribed\n\n"
        while True:
            try:
                block = await subscription.get(keepalive_s)
            except SubscriptionDropped as exc:
                yield _sse("dropped", {"reason": str(exc)})
                return
            if block is None:
                yield ": keepalive\n\n"
                continue
            if not reads.still_authorised(reader):
                yield _sse("closed", {"reason": "the key was revoked"})
                return
            yield _sse(
                "block",
                {
                    "height": block.height,
                    "hash": block.hash.hex(),
                    "time_ms": block.time_ms,
                    "tx_count": block.tx_count,
                },
            )
            for event in reads.visible_events(reader, block):
                yield _sse("tx", event)
    finally:
        subscription.close()


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema, with FastAPI's unused 422 answers removed (validation errors
    answer 400 here) and the three signed-read headers required together."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
            if operation.get("security"):
                operation["security"] = [{name: [] for name in _SECURITY_SCHEMES}]
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = schema
    return schema


__all__ = ["ADMISSION_STATUS", "ApiError", "ApiLimits", "create_app"]
