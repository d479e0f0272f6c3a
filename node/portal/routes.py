"""The portal's routes. Each parses, finds who is signed in, calls the reads
(`node.reads.Reads`, `node.portal.links.PortalReads`) and renders a template.

    GET  /                                   -> /portal
    GET  /portal                             verify a document: file, reference, link
    GET  /portal/verify/file?sha256=         (a typed fingerprint) -> the verdict page
    GET  /portal/verify/link?link=           (a pasted verification link) -> the verdict page
    GET  /portal/verify/file/{sha256}        the verdict on the file with this SHA-256
         ?file={sha256}                      ... compared with another file (altered?)
    GET  /portal/verify/reference            signed in: a document by issuer and reference
         ?family=&issuer=&reference=[&file=]
    GET  /portal/documents/{id}[?file=]      signed in: a document the organisation may see
    GET  /portal/documents/{id}/bundle       signed in: its evidence bundle (JSON download)
    GET  /portal/sheet/{sha256}              printable verification sheet with a QR code
    GET  /portal/ledger                      height, validators, recent blocks
    GET  /portal/ledger/events               ... updated live (server-sent events)
    GET  /portal/me                          signed in: the organisation's documents and
                                             pending actions
    GET  /portal/sign-in                     how to sign in
    POST /portal/session/challenge           (the CLI) a sign-in challenge
    POST /portal/session                     (the CLI) a signed challenge -> a sign-in link
    GET  /portal/login/{token}               the sign-in link: confirm
    POST /portal/login                       ... exchange it for a session cookie
    POST /portal/logout                      end the session

The pages are not part of the API's OpenAPI schema. Public pages show what the holder of the
file (or of the verification link, which carries the file's SHA-256) already knows, as
`GET /v1/verify/file/{sha256}` does, plus the issuer's name and role; everything else needs a
signed-in member whose organisation may see it (`Reads.may_see`).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import jinja2
import segno
from fastapi import APIRouter, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from markupsafe import Markup
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect

from contracts.identity import load_organisation
from contracts.records import FAMILIES, Document, load_document
from contracts.visibility import Reader
from node.events import HubFull, Subscription, SubscriptionDropped
from node.portal import views
from node.portal.links import PortalReads, Related
from node.portal.sessions import PortalLimits, Session, SessionStore, SignInRefused
from node.reads import ApiError, Reads

COOKIE = "tl_portal"
COOKIE_PATH = "/portal"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_TOKEN = re.compile(r"[0-9a-f]{64}")
_LINK = re.compile(r"/portal/verify/file/([0-9a-fA-F]{64})(?![0-9a-fA-F])")
_ORG_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
REFERENCE_LENGTH_MAX = 256
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make form posts send Origin: null
    "X-Frame-Options": "DENY",
}
STATIC_FILES = {
    "portal.css": "text/css; charset=utf-8",
    "portal.js": "text/javascript; charset=utf-8",
}


class _Page(Exception):
    """An error page: HTTP `status`, a title, what happened and what to do."""

    def __init__(self, status: int, title: str, what: str, todo: str) -> None:
        super().__init__(what)
        self.status = status
        self.title = title
        self.what = what
        self.todo = todo


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("node.portal", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = views.when
    environment.filters["iso"] = views.iso
    environment.filters["short"] = views.short
    environment.globals["family_label"] = views.family_label
    environment.globals["status_label"] = views.status_label
    environment.globals["status_kind"] = views.status_kind
    environment.globals["icons"] = views.ICONS
    return environment


def _static_files() -> dict[str, bytes]:
    folder = resources.files("node.portal").joinpath("static")
    return {name: folder.joinpath(name).read_bytes() for name in STATIC_FILES}


def router(
    reads: Reads, *, clock_ms: Callable[[], int], limits: PortalLimits | None = None
) -> APIRouter:
    """The portal of the node behind `reads`; `clock_ms` is the clock sessions run on."""
    limits = limits or PortalLimits()
    node = reads.node
    store = reads.store
    portal_reads = PortalReads(reads)
    sessions = SessionStore(
        chain_id=node.chain_id, node_key=node.key.public_key, clock_ms=clock_ms, limits=limits
    )
    environment = _environment()
    static = _static_files()
    streams: list[Subscription] = []  # the live ledger views open now
    routes = APIRouter(include_in_schema=False)

    # --- rendering -------------------------------------------------------------------------

    def organisation(organisation_id: object) -> dict[str, Any]:
        record = (
            load_organisation(store, organisation_id)
            if isinstance(organisation_id, str) and organisation_id
            else None
        )
        if record is None:
            text = str(organisation_id)
            return {"id": text, "name": text, "roles": [], "country": ""}
        return {
            "id": record.id,
            "name": record.name,
            "country": record.country,
            "roles": [views.ROLE_LABELS.get(role.value, role.value) for role in record.roles],
        }

    def name(organisation_id: object) -> str:
        return str(organisation(organisation_id)["name"])

    def render(
        request: Request,
        template: str,
        session: Session | None,
        *,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        page = environment.get_template(template).render(
            session=session,
            member=None if session is None else organisation(session.reader.organisation),
            chain_id=node.chain_id,
            node_name=node.config.name,
            path=request.url.path,
            here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            status=status,
            org=organisation,
            name=name,
            **context,
        )
        headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}  # a status must be current
        return HTMLResponse(page, status_code=status, headers=headers)

    def error_page(request: Request, session: Session | None, page: _Page) -> HTMLResponse:
        return render(
            request,
            "error.html",
            session,
            status=page.status,
            title=page.title,
            what=page.what,
            todo=page.todo,
        )

    def current(request: Request) -> Session | None:
        token = request.cookies.get(COOKIE)
        if token is None or _TOKEN.fullmatch(token) is None:
            return None
        return sessions.session(store, token)

    def page_of(
        build: Callable[[Request, Session | None], Response],
    ) -> Callable[[Request], Any]:
        """A route that renders `build`'s page, or the error page it raised."""

        async def route(request: Request) -> Response:
            session = current(request)
            try:
                return build(request, session)
            except _Page as page:
                return error_page(request, session, page)

        return route

    # --- documents: verdicts and details ---------------------------------------------------

    def details(reader: Reader, document: Document) -> dict[str, Any]:
        """What a member whose organisation may see `document` is shown about it."""
        history = reads.history(reader, document.id)
        related: Related = portal_reads.related(reader, document, history["events"])
        steps = views.timeline(history.get("endorsement_chain") or [], name)
        return {
            "events": history["events"],
            "timeline": steps,
            "related": related,
            "content": views.content_rows(document.family, document.data, name),
            "verifications": [note for note in document.notes if "customs" in note],
            "confirmations": [note for note in document.notes if "confirmed_by" in note],
            "holder": None if document.title is None else document.title.holder,
            "offer": None if document.title is None else document.title.offer,
        }

    def verdict_page(
        request: Request,
        session: Session | None,
        document: Document | None,
        *,
        checked_sha256: str | None,
        file_sha256: str | None,
        how: str,
    ) -> HTMLResponse:
        """The verdict on `document` (None: not on the ledger). `checked_sha256` is the file
        hash the visitor checked; `file_sha256`, if given, a second file compared with it."""
        if document is None:
            return render(
                request,
                "verdict.html",
                session,
                verdict=views.not_found_verdict(),
                document=None,
                details=None,
                checked_sha256=checked_sha256,
                file_sha256=file_sha256,
                other=None,
                how=how,
                may_see=False,
            )
        issuer = name(document.issuer)
        registered_sha256 = (
            None if document.document_sha256 is None else document.document_sha256.hex()
        )
        altered = (
            file_sha256 is not None
            and registered_sha256 is not None
            and file_sha256 != registered_sha256
        )
        if altered:
            verdict = views.altered_verdict(
                family=document.family, record_type=document.record_type, issuer=issuer
            )
        else:
            verdict = views.record_verdict(
                family=document.family,
                record_type=document.record_type,
                status=document.status,
                issuer=issuer,
            )
        other = None
        if altered and file_sha256 is not None:
            found = reads.verify_file(bytes.fromhex(file_sha256))
            other = found if found.get("registered") else None
        may_see = session is not None and reads.may_see(session.reader, document)
        return render(
            request,
            "verdict.html",
            session,
            verdict=verdict,
            registered_verdict=views.record_verdict(
                family=document.family,
                record_type=document.record_type,
                status=document.status,
                issuer=issuer,
            ),
            document=document,
            registered_sha256=registered_sha256,
            details=details(session.reader, document) if session and may_see else None,
            checked_sha256=checked_sha256,
            file_sha256=file_sha256,
            other=other,
            how=how,
            may_see=may_see,
        )

    def verify_file(request: Request, session: Session | None) -> Response:
        sha256 = _hash_param(request.path_params["sha256"], "The file fingerprint in the link")
        file_sha256 = _optional_hash(request, "file")
        public = reads.verify_file(bytes.fromhex(sha256))
        document = (
            load_document(store, str(public["document"])) if public.get("registered") else None
        )
        return verdict_page(
            request,
            session,
            document,
            checked_sha256=file_sha256 if document is not None and file_sha256 else sha256,
            file_sha256=file_sha256,
            how="file",
        )

    def verify_reference(request: Request, session: Session | None) -> Response:
        if session is None:
            raise _Page(
                401,
                "Sign in to look up a reference",
                "Looking up a document by its reference is open to signed-in members only: "
                "references are easy to guess, so the ledger shows a document only to "
                "organisations that may see it.",
                "Sign in (see below), or check the file itself, or open the verification link "
                "from the document's QR code.",
            )
        query = request.query_params
        family = query.get("family", "")
        issuer = query.get("issuer", "").strip()
        reference = query.get("reference", "").strip()
        if family not in FAMILIES or not _ORG_ID.fullmatch(issuer) or not reference:
            raise _Page(
                400,
                "Incomplete lookup",
                "A lookup needs the kind of document, the issuing organisation's id and the "
                "reference.",
                "Go back and fill in all three fields.",
            )
        if len(reference) > REFERENCE_LENGTH_MAX:
            raise _Page(
                400,
                "Reference too long",
                f"A reference has at most {REFERENCE_LENGTH_MAX} characters.",
                "Check the reference and try again.",
            )
        file_sha256 = _optional_hash(request, "file")
        try:
            found = reads.lookup(session.reader, family, issuer, reference)
        except ApiError as exc:
            raise _Page(
                404,
                "No such document for you",
                f"No {views.family_label(family)} of {issuer!r} with reference {reference!r} "
                "is on the ledger that your organisation may see.",
                "Check the issuer's id and the reference (they are case-sensitive), or ask the "
                "issuer to confirm them.",
            ) from exc
        document = load_document(store, str(found["id"]))
        assert document is not None
        return verdict_page(
            request,
            session,
            document,
            checked_sha256=file_sha256,
            file_sha256=file_sha256,
            how="reference",
        )

    def visible_document(session: Session | None, document_id: str) -> tuple[Session, Document]:
        if session is None:
            raise _Page(
                401,
                "Sign in to see this document",
                "A document's full record is shown only to signed-in members whose "
                "organisation may see it.",
                "Sign in (see below). To check a file without signing in, go to Verify.",
            )
        if _HEX64.fullmatch(document_id) is None:
            raise _Page(
                400,
                "Not a document id",
                "A document id is 64 hexadecimal digits.",
                "Check the link you followed.",
            )
        document_id = document_id.lower()
        document = load_document(store, document_id)
        if document is None:
            raise _Page(
                404,
                "No such document",
                f"No document {document_id} is on the ledger.",
                "Check the link you followed.",
            )
        if not reads.may_see(session.reader, document):
            raise _Page(
                403,
                "Not visible to your organisation",
                "Your organisation is not a party to this document, and its role does not "
                "grant it.",
                "Ask a party to the document (its issuer or holder) to share its verification "
                "sheet, or check the file itself under Verify.",
            )
        return session, document

    def document_page(request: Request, session: Session | None) -> Response:
        session, document = visible_document(session, request.path_params["document_id"])
        file_sha256 = _optional_hash(request, "file")
        return verdict_page(
            request,
            session,
            document,
            checked_sha256=file_sha256,
            file_sha256=file_sha256,
            how="document",
        )

    def bundle(request: Request, session: Session | None) -> Response:
        session, document = visible_document(session, request.path_params["document_id"])
        answer = reads.bundle(session.reader, document.id)
        safe_reference = re.sub(r"[^A-Za-z0-9._-]", "_", document.reference)[:80]
        return Response(
            json.dumps(answer, indent=2, sort_keys=True) + "\n",
            media_type="application/json",
            headers={
                "Content-Disposition": (
                    f'attachment; filename="{document.family}-{safe_reference}-bundle.json"'
                ),
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    def sheet(request: Request, session: Session | None) -> Response:
        sha256 = _hash_param(request.path_params["sha256"], "The file fingerprint in the link")
        public = reads.verify_file(bytes.fromhex(sha256))
        if not public.get("registered"):
            raise _Page(
                404,
                "Not on the ledger",
                "No document with this file fingerprint is registered, so there is no "
                "verification sheet for it.",
                "Check the file under Verify.",
            )
        document = load_document(store, str(public["document"]))
        assert document is not None
        link = f"{str(request.base_url).rstrip('/')}/portal/verify/file/{sha256}"
        qr = segno.make(link, error="m")
        may_see = session is not None and reads.may_see(session.reader, document)
        return render(
            request,
            "sheet.html",
            session,
            document=document,
            verdict=views.record_verdict(
                family=document.family,
                record_type=document.record_type,
                status=document.status,
                issuer=name(document.issuer),
            ),
            sha256=sha256,
            as_of=reads.block(None)["header"],
            link=link,
            qr_svg=Markup(
                qr.svg_inline(
                    scale=4,
                    border=4,  # the quiet zone ISO/IEC 18004 asks for
                    svgclass="qr",
                    lineclass=None,
                    omitsize=True,
                    title="QR code of the verification link",
                )
            ),
            may_see=may_see,
        )

    # --- the member's view ---------------------------------------------------------------

    def me(request: Request, session: Session | None) -> Response:
        if session is None:
            return RedirectResponse("/portal/sign-in", status_code=303)
        overview = portal_reads.overview(
            session.reader,
            documents_max=limits.documents_listed_max,
            pending_max=limits.pending_listed_max,
        )
        return render(request, "me.html", session, overview=overview)

    def sign_in(request: Request, session: Session | None) -> Response:
        return render(request, "sign_in.html", session, node_url=str(request.base_url).rstrip("/"))

    def login_confirm(request: Request, session: Session | None) -> Response:
        token = request.path_params["token"]
        ticket = sessions.ticket(token) if _TOKEN.fullmatch(token) else None
        if ticket is None:
            raise _Page(
                410,
                "This sign-in link cannot be used",
                "The link is unknown, was already used, or expired (a link is valid for "
                f"{limits.ticket_ttl_ms // 1000} seconds, once).",
                "Run `tradeledger portal login` again and open the new link.",
            )
        return render(
            request,
            "login.html",
            session,
            token=token,
            ticket_organisation=organisation(ticket.reader.organisation),
            key_name=ticket.key_name,
            key=ticket.reader.key.hex(),
        )

    # --- the ledger ------------------------------------------------------------------------

    def recent_blocks() -> list[dict[str, Any]]:
        height = store.height
        return [reads.block(h) for h in range(height, max(0, height - limits.recent_blocks), -1)]

    def ledger_snapshot() -> dict[str, Any]:
        blocks = recent_blocks()
        return {
            "status": reads.status(),
            "validators": liveness([_signers(block) for block in blocks]),
            "window": len(blocks),
            "blocks": [
                {
                    "height": block["height"],
                    "hash": block["hash"],
                    "time_ms": block["header"]["time_ms"],
                    "tx_count": block["transactions"],
                }
                for block in blocks
            ],
        }

    def liveness(signers: list[set[str]]) -> list[dict[str, Any]]:
        """The validators, each with whether this node reaches it and in how many of the
        recent commits (`signers`, newest first) its signature is."""
        return [
            {
                "node_key": entry["node_key"],
                "organisation": entry["organisation"],
                "name": name(entry["organisation"]),
                "power": entry["power"],
                "connected": entry["connected"],
                "signed": sum(1 for keys in signers if entry["node_key"] in keys),
                "window": len(signers),
            }
            for entry in reads.validators()["validators"]
        ]

    def ledger(request: Request, session: Session | None) -> Response:
        return render(request, "ledger.html", session, ledger=ledger_snapshot())

    async def ledger_stream(subscription: Subscription) -> AsyncIterator[str]:
        """Each block as it is persisted, with the validators' liveness over the recent
        blocks; closed after `stream_duration_s` (the browser's EventSource reconnects)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.stream_duration_s
        window: deque[set[str]] = deque(
            (_signers(block) for block in recent_blocks()), maxlen=limits.recent_blocks
        )
        seen = store.height
        try:
            yield ": subscribed\n\n"
            while (remaining_s := deadline - loop.time()) > 0:
                try:
                    block = await subscription.get(min(limits.keepalive_s, remaining_s))
                except SubscriptionDropped as exc:
                    yield _sse("dropped", {"reason": str(exc)})
                    return
                if block is None:
                    yield ": keepalive\n\n"
                    continue
                if block.height <= seen:
                    continue  # already in the window the stream started with
                seen = block.height
                window.appendleft(_signers(reads.block(block.height)))
                yield _sse(
                    "block",
                    {
                        "height": block.height,
                        "hash": block.hash.hex(),
                        "time_ms": block.time_ms,
                        "time": views.when(block.time_ms),
                        "tx_count": block.tx_count,
                        "validators": liveness(list(window)),
                    },
                )
        finally:
            close(subscription)

    def close(subscription: Subscription) -> None:
        subscription.close()
        if subscription in streams:
            streams.remove(subscription)

    # --- routes ----------------------------------------------------------------------------

    @routes.get("/")
    async def root() -> RedirectResponse:
        return RedirectResponse("/portal", status_code=307)

    @routes.get("/portal/static/{name}")
    async def static_file(name: str) -> Response:
        if name not in static:
            return Response("not found\n", status_code=404, media_type="text/plain")
        return Response(
            static[name],
            media_type=STATIC_FILES[name],
            headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    def home(request: Request, session: Session | None) -> Response:
        return render(
            request,
            "home.html",
            session,
            families=[(family, views.family_label(family)) for family in FAMILIES],
            organisations=reads.organisations()["organisations"] if session else [],
        )

    def verify_file_form(request: Request, session: Session | None) -> Response:
        """The typed-fingerprint form (works without JavaScript)."""
        sha256 = _hash_param(
            request.query_params.get("sha256", "").strip(), "The fingerprint you typed"
        )
        return RedirectResponse(f"/portal/verify/file/{sha256}", status_code=303)

    def verify_link(request: Request, session: Session | None) -> Response:
        """A pasted verification link: go to its verdict on this node."""
        found = _LINK.search(request.query_params.get("link", ""))
        if found is None:
            raise _Page(
                400,
                "Not a verification link",
                "A verification link ends in /portal/verify/file/ followed by 64 hexadecimal "
                "digits.",
                "Copy the whole link under the QR code of the verification sheet, or scan the "
                "code with your phone's camera.",
            )
        return RedirectResponse(f"/portal/verify/file/{found.group(1).lower()}", status_code=303)

    routes.add_api_route("/portal", page_of(home), methods=["GET"])
    routes.add_api_route("/portal/verify/file", page_of(verify_file_form), methods=["GET"])
    routes.add_api_route("/portal/verify/link", page_of(verify_link), methods=["GET"])
    routes.add_api_route("/portal/verify/file/{sha256}", page_of(verify_file), methods=["GET"])
    routes.add_api_route("/portal/verify/reference", page_of(verify_reference), methods=["GET"])
    routes.add_api_route("/portal/documents/{document_id}", page_of(document_page), methods=["GET"])
    routes.add_api_route("/portal/documents/{document_id}/bundle", page_of(bundle), methods=["GET"])
    routes.add_api_route("/portal/sheet/{sha256}", page_of(sheet), methods=["GET"])
    routes.add_api_route("/portal/ledger", page_of(ledger), methods=["GET"])
    routes.add_api_route("/portal/me", page_of(me), methods=["GET"])
    routes.add_api_route("/portal/sign-in", page_of(sign_in), methods=["GET"])
    routes.add_api_route("/portal/login/{token}", page_of(login_confirm), methods=["GET"])

    @routes.get("/portal/ledger/events")
    async def ledger_events() -> Response:
        if len(streams) >= limits.streams_max:
            return Response(
                "too many live views are open; reload the page later\n",
                status_code=429,
                media_type="text/plain",
                headers={"Retry-After": "30"},
            )
        try:
            subscription = node.events.subscribe()
        except HubFull:
            return Response(
                "the node's event streams are all in use; reload the page later\n",
                status_code=429,
                media_type="text/plain",
                headers={"Retry-After": "30"},
            )
        streams.append(subscription)
        return StreamingResponse(
            ledger_stream(subscription),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            background=BackgroundTask(close, subscription),
        )

    # --- sign-in (the CLI's half is JSON, the browser's half is pages) -----------------------

    @routes.post("/portal/session/challenge")
    async def session_challenge() -> JSONResponse:
        challenge, expires_ms = sessions.issue_challenge()
        return JSONResponse(
            {
                "challenge": challenge.hex(),
                "chain_id": node.chain_id,
                "node_key": node.key.public_key.hex(),
                "expires_ms": expires_ms,
            },
            headers={"Cache-Control": "no-store"},
        )

    @routes.post("/portal/session")
    async def session_open(request: Request) -> JSONResponse:
        body = await _read_small_body(request, limits)
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise ApiError(400, "bad_request", "the body is not valid JSON") from None
        fields = {}
        for field, size in (("key", 32), ("challenge", 32), ("signature", 64)):
            value = document.get(field) if isinstance(document, dict) else None
            data = _hex_bytes(value, size)
            if data is None:
                raise ApiError(
                    400, "bad_request", f"{field} must be {size * 2} hex digits (JSON string)"
                )
            fields[field] = data
        try:
            token, ticket = sessions.redeem_challenge(
                store,
                key=fields["key"],
                challenge=fields["challenge"],
                signature=fields["signature"],
            )
        except SignInRefused as exc:
            raise ApiError(exc.status, exc.code, exc.detail) from None
        return JSONResponse(
            {
                "login_path": f"/portal/login/{token}",
                "organisation": ticket.reader.organisation,
                "expires_ms": ticket.expires_ms,
                "valid_s": limits.ticket_ttl_ms // 1000,
            },
            headers={"Cache-Control": "no-store"},
        )

    @routes.post("/portal/login")
    async def login(request: Request) -> Response:
        session = current(request)
        try:
            _same_origin(request)
            form = await _form(request, limits)
            token = form.get("token", "")
            opened = sessions.open_session(store, token) if _TOKEN.fullmatch(token) else None
            if opened is None:
                raise _Page(
                    410,
                    "This sign-in link cannot be used",
                    "The link is unknown, was already used, or expired, or its key may no "
                    "longer sign.",
                    "Run `tradeledger portal login` again and open the new link.",
                )
        except _Page as page:
            return error_page(request, session, page)
        if session is not None:
            sessions.close(request.cookies.get(COOKIE, ""))
        session_token, _ = opened
        response = RedirectResponse("/portal/me", status_code=303)
        response.set_cookie(
            COOKIE,
            session_token,
            max_age=limits.session_lifetime_ms // 1000,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @routes.post("/portal/logout")
    async def logout(request: Request) -> Response:
        try:
            _same_origin(request)
        except _Page as page:
            return error_page(request, current(request), page)
        token = request.cookies.get(COOKIE)
        if token is not None:
            sessions.close(token)
        response = RedirectResponse("/portal", status_code=303)
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
        return response

    def not_found(request: Request, session: Session | None) -> Response:
        raise _Page(
            404,
            "Page not found",
            f"There is no portal page at {request.url.path}.",
            "Start again from Verify, or check the link you followed.",
        )

    routes.add_api_route("/portal/{rest:path}", page_of(not_found), methods=["GET"])
    return routes


# --- helpers ---------------------------------------------------------------------------------


def _hash_param(text: str, what: str) -> str:
    if _HEX64.fullmatch(text) is None:
        raise _Page(
            400,
            "Not a file fingerprint",
            f"{what} must be a SHA-256: 64 hexadecimal digits.",
            "Check the link you followed, or choose the file again under Verify.",
        )
    return text.lower()


def _optional_hash(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    return _hash_param(value, f"The {name} fingerprint")


def _hex_bytes(value: object, size: int) -> bytes | None:
    if not isinstance(value, str) or len(value) != size * 2:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def _same_origin(request: Request) -> None:
    """Refuse a form posted from another site (the cookie is SameSite=Strict as well)."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin is not None and origin != own:
        raise _Page(
            403,
            "Form from another site",
            "This form was sent from another web site, so the portal refused it.",
            "Open the portal's own page and use its buttons.",
        )


async def _read_small_body(request: Request, limits: PortalLimits) -> bytes:
    declared = request.headers.get("content-length")
    too_large = ApiError(
        413, "body_too_large", f"the body exceeds {limits.request_body_bytes_max} bytes"
    )
    if (
        declared is not None
        and declared.isdigit()
        and int(declared) > limits.request_body_bytes_max
    ):
        raise too_large
    body = bytearray()
    try:
        async with asyncio.timeout(limits.request_body_timeout_s):
            async for chunk in request.stream():
                body.extend(chunk)
                if len(body) > limits.request_body_bytes_max:
                    raise too_large
    except TimeoutError:
        raise ApiError(408, "request_timeout", "the body did not arrive in time") from None
    except ClientDisconnect:
        raise ApiError(400, "bad_request", "the client went away mid-body") from None
    return bytes(body)


async def _form(request: Request, limits: PortalLimits) -> dict[str, str]:
    """A small url-encoded form, first value of each field."""
    try:
        body = await _read_small_body(request, limits)
    except ApiError as exc:
        raise _Page(400, "Form not accepted", exc.detail, "Go back and try again.") from None
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=8)
    except ValueError:
        raise _Page(
            400, "Form not accepted", "Too many fields.", "Go back and try again."
        ) from None
    return {name: values[0] for name, values in fields.items() if values}


def _signers(block: dict[str, Any]) -> set[str]:
    """The validators whose precommit signatures are in a block's commit."""
    return {str(entry["validator"]) for entry in block["commit"]["signatures"]}


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


__all__ = ["COOKIE", "SECURITY_HEADERS", "router"]
