"""`tradeledger portal login`: sign in to a node's web portal with a member key.

    tradeledger portal login --node URL --key NAME [--keystore DIR] [--json]

Asks the node for a challenge, signs it (`Domain.SESSION`, see `node.portal.sessions`) with
the member key unlocked here, and prints a one-time sign-in link to open in a browser. The key
and its passphrase never leave this computer.
"""

from __future__ import annotations

from typing import Any

import click
import httpx

from client.cli_support import EXIT_PROBLEM, EXIT_UNAVAILABLE, Session, fail, session_options
from node.portal.sessions import sign_session_challenge

TIMEOUT_S = 30.0


@click.group("portal")
def portal() -> None:
    """The node's web portal."""


@portal.command("login")
@session_options
def login(session: Session) -> None:
    """Print a one-time link that signs this browser in as --key's organisation."""
    if session.node_url is None:
        fail(
            "no node: pass --node URL (the node's API address) or set TRADELEDGER_NODE",
            code="usage",
            exit_code=2,
            as_json=session.as_json,
        )
    base = session.node_url.rstrip("/")
    key = session.signing_key()
    with httpx.Client(
        base_url=base, transport=session.context.transport, timeout=TIMEOUT_S
    ) as http:
        challenge = _post(http, "/portal/session/challenge", None, session.as_json)
        try:
            signature = sign_session_challenge(
                key,
                str(challenge["chain_id"]),
                challenge=bytes.fromhex(str(challenge["challenge"])),
                node_key=bytes.fromhex(str(challenge["node_key"])),
            )
        except (KeyError, ValueError):
            fail(
                f"{base} did not answer a sign-in challenge; is it a tradeledger node?",
                code="protocol",
                exit_code=EXIT_UNAVAILABLE,
                as_json=session.as_json,
            )
        opened = _post(
            http,
            "/portal/session",
            {
                "key": key.public_key.hex(),
                "challenge": str(challenge["challenge"]),
                "signature": signature.hex(),
            },
            session.as_json,
        )
    link = f"{base}{opened.get('login_path', '')}"
    session.emit(
        {
            "ok": True,
            "link": link,
            "organisation": opened.get("organisation"),
            "valid_s": opened.get("valid_s"),
        },
        lambda: click.echo(
            f"open this link in your browser within {opened.get('valid_s')} s (it works once) "
            f"to sign in as {opened.get('organisation')}:\n{link}"
        ),
    )


def _post(http: httpx.Client, path: str, body: dict[str, str] | None, as_json: bool) -> Any:
    try:
        answer = http.post(path, json=body)
    except httpx.HTTPError as exc:
        fail(
            f"cannot reach the node: {exc}; check --node (or TRADELEDGER_NODE)",
            code="unavailable",
            exit_code=EXIT_UNAVAILABLE,
            as_json=as_json,
        )
    try:
        value = answer.json()
    except ValueError:
        value = None
    if answer.status_code != 200 or not isinstance(value, dict):
        error = value.get("error", "error") if isinstance(value, dict) else "protocol"
        detail = value.get("detail", answer.text[:200]) if isinstance(value, dict) else ""
        fail(
            f"the node refused the sign-in ({answer.status_code} {error}): {detail}",
            code=str(error),
            exit_code=EXIT_PROBLEM,
            as_json=as_json,
        )
    return value


__all__ = ["portal"]
