"""What every `tradeledger` command shares: one-line errors, the node and key options, output.

Failure is one line on stderr that says what went wrong and what to do, and a non-zero exit:

    EXIT_PROBLEM (1)      refused, not found, invalid: the thing asked for is wrong
    EXIT_USAGE (2)        the command was used wrongly (click's own code)
    EXIT_UNAVAILABLE (3)  the node could not be reached or answered nonsense

With ``--json`` the outcome is one JSON document on stdout, failures included
(``{"ok": false, "error": <code>, "detail": <words>}``).

Tests inject an `httpx` transport and a clock through click's context object
(`CliContext`), never by patching.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx
from rich.console import Console

from client.errors import (
    ApiError,
    BundleInvalid,
    ClientError,
    CommitTimeout,
    InvalidArgument,
    KeyRequired,
    ProtocolError,
    TransactionRejected,
    TransportError,
)
from client.keystore import KEY_FILE_SUFFIX, KeystoreError, list_keys, read_key_info, unlock
from client.sdk import Client, Receipt, wall_clock_ns
from ledger.crypto import SigningKey
from ledger.errors import LedgerError

EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
DEFAULT_KEYSTORE = Path.home() / ".tradeledger" / "keys"
PASSPHRASE_ENV = "TRADELEDGER_PASSPHRASE"

_API_HINTS = {
    "unauthenticated": "pass --key NAME so the read is signed",
    "bad_signature": "check that --node serves the chain your key is registered on",
    "request_expired": "check this computer's clock (it must be within 60 s of the node's)",
    "request_replayed": "run the command again",
    "key_unknown": "ask your organisation's admin to register your public key",
    "key_revoked": "this key was revoked; use your current key",
    "forbidden": "your organisation is not a party to it and its role does not grant it",
    "not_found": "check the id or reference",
    "mempool_full": "the node is busy; retry shortly",
    "nonce_reused": "retry: a new nonce is drawn each time",
    "expired": "retry: the expiry height is taken from the node's current height",
}


@dataclass
class CliContext:
    """What tests put in click's context object (`CliRunner.invoke(..., obj=...)`)."""

    transport: httpx.BaseTransport | None = None
    clock_ns: Callable[[], int] = wall_clock_ns
    clients: list[Client] = field(default_factory=list)


class OneLineGroup(click.Group):
    """A group whose usage errors are one line: ``error: <what> (see '<cmd> --help')``."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "tradeledger"
            message = " ".join(exc.format_message().split())  # click may wrap choices
            click.echo(f"error: {message} (see '{where} --help')", err=True)
            sys.exit(EXIT_USAGE)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(EXIT_PROBLEM)
        except click.ClickException as exc:
            click.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        if standalone_mode:
            sys.exit(result if isinstance(result, int) else 0)
        return result


# --- failing --------------------------------------------------------------------------------


def fail(
    message: str, *, code: str = "error", exit_code: int = EXIT_PROBLEM, as_json: bool = False
) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"ok": False, "error": code, "detail": message}))
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(exit_code)


def explain(exc: Exception) -> tuple[str, str, int]:
    """(code, one line saying what went wrong and what to do, exit code) for an error."""
    if isinstance(exc, TransactionRejected):
        return exc.code, f"{exc}; nothing changed (the refusal is recorded)", EXIT_PROBLEM
    if isinstance(exc, CommitTimeout):
        hint = f"check later with `tradeledger tx status {exc.tx}`" if exc.tx else "check later"
        return exc.code, f"not committed in time; it is still pending: {hint}", EXIT_PROBLEM
    if isinstance(exc, ApiError):
        advice = _API_HINTS.get(exc.code)
        message = f"the node refused: {exc}" + (f"; {advice}" if advice else "")
        return exc.code, message, EXIT_PROBLEM
    if isinstance(exc, TransportError):
        return (
            "unavailable",
            f"{exc}; check --node (or TRADELEDGER_NODE) and that the node is running",
            EXIT_UNAVAILABLE,
        )
    if isinstance(exc, ProtocolError):
        return (
            "protocol",
            f"{exc}; is --node the API address of a tradeledger node?",
            EXIT_UNAVAILABLE,
        )
    if isinstance(exc, KeyRequired):
        return (
            "key_required",
            "this command signs: pass --key NAME (see `tradeledger keys list`)",
            EXIT_PROBLEM,
        )
    if isinstance(exc, InvalidArgument):
        return "invalid_argument", f"{exc.field}: {exc.detail}", EXIT_PROBLEM
    if isinstance(exc, BundleInvalid):
        return "bundle_invalid", str(exc), EXIT_PROBLEM
    return "error", str(exc), EXIT_PROBLEM


@contextmanager
def reported(as_json: bool) -> Iterator[None]:
    """Turn the errors a command may meet into one line (or JSON) and an exit code."""
    try:
        yield
    except (ClientError, KeystoreError, LedgerError, OSError) as exc:
        code, message, exit_code = explain(exc)
        fail(message, code=code, exit_code=exit_code, as_json=as_json)


# --- the session: node, key, output ---------------------------------------------------------


@dataclass
class Session:
    """One command's connection settings, from its options."""

    node_url: str | None
    key_name: str | None
    keystore: Path
    passphrase_file: Path | None
    passphrase: str | None
    as_json: bool
    context: CliContext

    def client(self, *, sign: bool = True) -> Client:
        """A Client for --node, with the unlocked --key when `sign` (and --key given)."""
        if self.node_url is None:
            fail(
                "no node: pass --node URL (the node's API address) or set TRADELEDGER_NODE",
                code="usage",
                exit_code=EXIT_USAGE,
                as_json=self.as_json,
            )
        key = self.signing_key() if sign and self.key_name is not None else None
        client = Client(
            self.node_url,
            key,
            transport=self.context.transport,
            clock_ns=self.context.clock_ns,
        )
        self.context.clients.append(client)
        return client

    def signing_key(self) -> SigningKey:
        if self.key_name is None:
            raise KeyRequired("no key")
        path = self.keystore / f"{self.key_name}{KEY_FILE_SUFFIX}"
        if not path.exists():
            known = ", ".join(info.name for info in list_keys(self.keystore)) or "none"
            raise KeystoreError(
                f"no key {self.key_name!r} in {self.keystore} (keys there: {known}); "
                "create one with `tradeledger keys new` or pass --keystore DIR"
            )
        info = read_key_info(path)
        return unlock(path, self.read_passphrase(info.name))

    def read_passphrase(self, name: str) -> str:
        if self.passphrase_file is not None:
            text = self.passphrase_file.read_text(encoding="utf-8")
            return text[:-1] if text.endswith("\n") else text
        if self.passphrase is not None:
            return self.passphrase
        return str(click.prompt(f"passphrase for key {name}", hide_input=True, err=True))

    def emit(self, value: Any, human: Callable[[], None]) -> None:
        """Print `value` as JSON with --json, else call `human`."""
        if self.as_json:
            click.echo(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))
        else:
            human()

    def receipt(self, receipt: Receipt, *, creates: str | None = None) -> None:
        """Report a submitted transaction; `creates` names the document it creates."""
        value = {
            "ok": receipt.ok or not receipt.committed,
            "id": receipt.id,
            "kind": receipt.kind,
            "status": receipt.status,
            "height": receipt.height,
            "code": receipt.code,
        }
        if creates is not None:
            value["document"] = receipt.id

        def human() -> None:
            if receipt.committed:
                click.echo(f"committed {receipt.kind} at height {receipt.height}: {receipt.code}")
            else:
                click.echo(f"submitted {receipt.kind}; pending (check: tradeledger tx status ID)")
            label = f"{creates} id" if creates is not None else "tx"
            click.echo(f"{label} {receipt.id}")

        self.emit(value, human)


def stderr_console() -> Console:
    return Console(stderr=True)


keystore_option = click.option(
    "--keystore",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_KEYSTORE,
    envvar="TRADELEDGER_KEYSTORE",
    show_default=True,
    help="Directory of encrypted key files [env TRADELEDGER_KEYSTORE].",
)


def session_options(function: Callable[..., None]) -> Callable[..., None]:
    """Add --node, --key, --keystore, --passphrase-file, --json; pass `session: Session`."""

    @functools.wraps(function)
    def wrapper(
        node_url: str | None,
        key_name: str | None,
        keystore: Path,
        passphrase_file: Path | None,
        passphrase: str | None,
        as_json: bool,
        **kwargs: Any,
    ) -> None:
        context = click.get_current_context().find_object(CliContext) or CliContext()
        session = Session(
            node_url=node_url,
            key_name=key_name,
            keystore=keystore,
            passphrase_file=passphrase_file,
            passphrase=passphrase,
            as_json=as_json,
            context=context,
        )
        try:
            with reported(as_json):
                function(session, **kwargs)
        finally:
            for client in context.clients:
                client.close()
            context.clients.clear()

    options = [
        click.option(
            "--node",
            "node_url",
            envvar="TRADELEDGER_NODE",
            metavar="URL",
            help="The node's API address, e.g. http://127.0.0.1:8080 [env TRADELEDGER_NODE].",
        ),
        click.option(
            "--key",
            "key_name",
            envvar="TRADELEDGER_KEY",
            metavar="NAME",
            help="The member key that signs (see `keys list`) [env TRADELEDGER_KEY].",
        ),
        keystore_option,
        click.option(
            "--passphrase-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help=f"Read the key's passphrase from this file (else ${PASSPHRASE_ENV}, else asked).",
        ),
        click.option("--passphrase", envvar=PASSPHRASE_ENV, hidden=True),
        click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts."),
    ]
    decorated: Callable[..., None] = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


wait_option = click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait until the transaction is committed (with its result code).",
)


def read_json_file(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InvalidArgument(what, f"{path} is not JSON ({exc})") from None


__all__ = [
    "DEFAULT_KEYSTORE",
    "EXIT_PROBLEM",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "CliContext",
    "OneLineGroup",
    "Session",
    "explain",
    "fail",
    "keystore_option",
    "read_json_file",
    "reported",
    "session_options",
    "stderr_console",
    "wait_option",
]
