"""Attacks from outside the validator set: invalid transactions, hostile HTTP clients, and
damage to a stopped node's files. Each returns a list of findings (empty: all held)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import msgpack
import nacl.bindings

from client import bodies
from contracts.testing import issue_body
from ledger import crypto
from ledger.crypto import SigningKey
from ledger.types import Transaction
from tests.adversarial.checker import load_chain
from tests.adversarial.cluster import Cluster
from tests.adversarial.workload import Ledger, Submitter
from tests.devnet_harness import wait_until

ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493
WAIT_MS = 15_000


def _expect_refused(op_outcome: str, code: str | None, wanted: str, what: str) -> list[str]:
    if op_outcome != "refused" or code != wanted:
        return [f"{what}: expected refusal {wanted}, got {op_outcome} {code}"]
    return []


def second_signature(key: SigningKey, tx: Transaction) -> bytes:
    """Another valid Ed25519 signature of `tx`'s sign-bytes (a random nonce instead of the
    deterministic one): the same id, different bytes."""
    digest = hashlib.sha512(key.seed).digest()
    scalar = bytearray(digest[:32])
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    a = nacl.bindings.crypto_core_ed25519_scalar_reduce(bytes(scalar) + bytes(32))
    r = nacl.bindings.crypto_core_ed25519_scalar_reduce(os.urandom(64))
    big_r = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(r)
    message = crypto.sign_bytes(crypto.Domain.TRANSACTION, tx.chain_id, tx.signed_payload())
    k = nacl.bindings.crypto_core_ed25519_scalar_reduce(
        hashlib.sha512(big_r + key.public_key + message).digest()
    )
    s = nacl.bindings.crypto_core_ed25519_scalar_add(
        r, nacl.bindings.crypto_core_ed25519_scalar_mul(k, a)
    )
    return bytes(big_r + s)


def invalid_transactions(cluster: Cluster, ledger: Ledger, rng: random.Random) -> list[str]:
    """Each kind of invalid transaction against a random node; findings if any is accepted
    or refused with the wrong code. The checker later proves none reached a block."""
    findings: list[str] = []
    client = Submitter(ledger, "attacker")
    nodes = list(range(cluster.size))
    seller = ledger.key("seller")
    try:

        def node() -> int:
            return rng.choice(nodes)

        # a genuine bill, to replay and to act on
        issue = ledger.sign(
            ledger.key("carrier"),
            "bl.issue",
            issue_body(f"ATTACK-{rng.randrange(10**9)}", "seller", to_order=True),
        )
        genuine = client.submit(node(), issue, "carrier", wait_ms=WAIT_MS)
        if genuine.outcome != "committed" or genuine.code != "ok":
            return [f"the genuine bill did not commit: {genuine.outcome} {genuine.code}"]
        document = genuine.tx_id

        # replayed: the same bytes again, to every node
        for index in nodes:
            op = client.submit(index, issue, "carrier", wait=False)
            findings += _expect_refused(op.outcome, op.code, "duplicate_transaction", "replay")

        # malleated: a second valid signature (same id), S + L, a flipped bit, non-canonical
        other = replace(issue, signature=second_signature(ledger.key("carrier"), issue))
        other.verify_signature()
        op = client.submit(node(), other, "carrier", wait=False, expect="absent")
        findings += _expect_refused(op.outcome, op.code, "duplicate_transaction", "2nd signature")
        s = int.from_bytes(issue.signature[32:], "little") + ED25519_ORDER
        high_s = replace(issue, signature=issue.signature[:32] + s.to_bytes(32, "little"))
        op = client.submit(node(), high_s, "carrier", wait=False, expect="absent")
        findings += _expect_refused(op.outcome, op.code, "bad_signature", "S + L")

        fresh = ledger.sign(seller, "bl.transfer", bodies.bl_transfer(document, "buyer", 10**6))
        flipped = bytearray(fresh.signature)
        flipped[rng.randrange(64)] ^= 1 << rng.randrange(8)
        op = client.submit(
            node(), replace(fresh, signature=bytes(flipped)), "seller", wait=False, expect="absent"
        )
        findings += _expect_refused(op.outcome, op.code, "bad_signature", "flipped signature")
        loose = msgpack.packb(fresh.to_value() | {"nonce": fresh.nonce}, use_bin_type=True)
        reordered = msgpack.packb(dict(reversed(list(fresh.to_value().items()))))
        for what, data in (("non-canonical", reordered), ("loose", loose + b"\x00")):
            op = client.submit(node(), fresh, "seller", wait=False, expect="absent", data=data)
            findings += _expect_refused(op.outcome, op.code, "malformed_transaction", what)

        # forged: the seller's key as sender, signed by the buyer's key
        forged = replace(
            fresh,
            signature=ledger.key("buyer").sign(
                crypto.Domain.TRANSACTION, fresh.chain_id, fresh.signed_payload()
            ),
        )
        op = client.submit(node(), forged, "seller", wait=False, expect="absent")
        findings += _expect_refused(op.outcome, op.code, "bad_signature", "forged")

        # cross-chain: validly signed for another network
        foreign = ledger.sign(
            seller,
            "bl.transfer",
            bodies.bl_transfer(document, "buyer", 10**6),
            chain_id="tradeledger-elsewhere",
        )
        op = client.submit(node(), foreign, "seller", wait=False, expect="absent")
        findings += _expect_refused(op.outcome, op.code, "wrong_chain", "cross-chain")

        # expired: an expiry height already passed
        height = max(1, ledger.height_seen)
        stale = ledger.sign(
            seller,
            "bl.transfer",
            bodies.bl_transfer(document, "buyer", height + 50),
            expiry_height=max(1, height - 1),
        )
        op = client.submit(node(), stale, "seller", wait=False, expect="absent")
        findings += _expect_refused(op.outcome, op.code, "expired", "expired")

        # an unknown key, then a revoked one: the buyer's admin registers a key, revokes it
        stranger = SigningKey(hashlib.sha256(b"stranger" + os.urandom(8)).digest())
        unknown = ledger.sign(stranger, "bl.accept", bodies.document_only(document))
        op = client.submit(node(), unknown, "buyer", wait=False, expect="absent")
        findings += _expect_refused(op.outcome, op.code, "key_unknown", "unknown key")
        admin = ledger.key("buyer", admin=True)
        for kind, body in (
            ("member.register", bodies.member_register(stranger.public_key, "temp")),
            ("member.revoke", bodies.member_revoke(stranger.public_key)),
        ):
            op = client.submit(node(), ledger.sign(admin, kind, body), "buyer", wait_ms=WAIT_MS)
            if op.outcome != "committed" or op.code != "ok":
                findings.append(f"{kind}: {op.outcome} {op.code}")
        revoked = ledger.sign(stranger, "bl.accept", bodies.document_only(document))
        op = client.submit(node(), revoked, "buyer", wait=False, expect="absent")
        findings += _expect_refused(op.outcome, op.code, "key_revoked", "revoked key")

        # outside its role: documented as admitted, then committed with the refusal code
        for signer, kind, body, wanted in (
            (
                "seller",
                "bl.issue",
                issue_body(f"ROLE-{rng.randrange(10**9)}", "buyer", to_order=True),
                "role_not_allowed",
            ),
            (
                "carrier",
                "bl.transfer",
                bodies.bl_transfer(document, "buyer", 10**6),
                "role_not_allowed",
            ),
            (
                "seller",
                "member.register",
                bodies.member_register(os.urandom(32), "x"),
                "admin_required",
            ),
            (
                "buyer",
                "bl.transfer",
                bodies.bl_transfer(document, "bank-nl", 10**6),
                "sender_not_holder",
            ),
        ):
            op = client.submit(
                node(),
                ledger.sign(ledger.key(signer), kind, body),
                signer,
                expect="not_ok",
                wait_ms=WAIT_MS,
            )
            if op.outcome != "committed" or op.code != wanted:
                findings.append(
                    f"{signer} {kind}: expected committed {wanted}, got {op.outcome} {op.code}"
                )
    finally:
        client.close()
    return findings


# --- hostile HTTP clients ----------------------------------------------------------------------

SLOW_CONNECTIONS = 64
FLOOD_TRANSACTIONS = 2_000
RSS_KIB_MAX = 1_500_000  # a node past 1.5 GiB resident is not "bounded"


def hostile_clients(
    cluster: Cluster,
    ledger: Ledger,
    rng: random.Random,
    duration_s: float,
    *,
    flood: int = FLOOD_TRANSACTIONS,
) -> list[str]:
    findings: list[str] = []
    node = rng.randrange(cluster.size)
    url = cluster.net.url(node)
    host, port = url.removeprefix("http://").split(":")
    rss_before = cluster.rss_kib(node)
    http = httpx.Client(timeout=30.0)
    try:
        # oversized: declared, and undeclared (chunked)
        answer = http.post(
            f"{url}/v1/transactions",
            content=b"\x00" * (300 * 1024),
            headers={"content-type": "application/msgpack"},
        )
        if answer.status_code != 413:
            findings.append(f"oversized body: {answer.status_code}")

        def chunks() -> object:
            for _ in range(40):
                yield b"\x01" * 16_384

        answer = http.post(
            f"{url}/v1/transactions",
            content=chunks(),  # type: ignore[arg-type]
            headers={"content-type": "application/msgpack"},
        )
        if answer.status_code != 413:
            findings.append(f"oversized chunked body: {answer.status_code}")
        # malformed JSON and msgpack, to the single and the batch endpoints
        for path, content_type, body in (
            ("/v1/transactions", "application/json", b'{"transaction": '),
            ("/v1/transactions", "application/json", b"[" * 10_000),
            ("/v1/transactions", "application/json", b'{"transaction": "zz"}'),
            ("/v1/transactions", "application/msgpack", b"\xc1\xc1\xc1"),
            ("/v1/transactions", "application/msgpack", os.urandom(512)),
            ("/v1/transactions/batch", "application/msgpack", b"\xdd\xff\xff\xff\xff"),
            ("/v1/transactions/batch", "application/json", b'{"transactions": 5}'),
            ("/v1/transactions", "text/plain", b"hello"),
        ):
            answer = http.post(f"{url}{path}", content=body, headers={"content-type": content_type})
            if not 400 <= answer.status_code < 500:
                findings.append(f"malformed {content_type} to {path}: {answer.status_code}")
        # a batch whose items are not transactions: each item refused on its own (docs/api.md)
        answer = http.post(
            f"{url}/v1/transactions/batch",
            content=msgpack.packb([1, "x", None, b"\x93\x01\x02\x03"]),
            headers={"content-type": "application/msgpack"},
        )
        items = answer.json().get("results", []) if answer.status_code == 200 else []
        if len(items) != 4 or any("error" not in item for item in items):
            findings.append(f"batch of non-transactions: {answer.status_code} {answer.text[:200]}")
        # slow clients: many connections that send half a request and hold it
        sockets = []
        for _ in range(SLOW_CONNECTIONS):
            with contextlib.suppress(OSError):
                sock = socket.create_connection((host, int(port)), timeout=5)
                sock.sendall(
                    b"POST /v1/transactions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                )
                sockets.append(sock)
        try:
            # a flood from one organisation while another must still commit
            seller = ledger.key("seller")
            flood_txs = [
                ledger.sign(seller, "bl.transfer", bodies.bl_transfer("00" * 32, "buyer", 10**6))
                for _ in range(flood)
            ]
            history = ledger.history
            stop = threading.Event()
            flood_errors: list[str] = []

            def flooder() -> None:
                with httpx.Client(timeout=60.0) as client:
                    for start in range(0, len(flood_txs), 500):
                        if stop.is_set():
                            return
                        batch = flood_txs[start : start + 500]
                        ops = [
                            history.invoke(
                                process="flooder",
                                node=node,
                                kind=tx.kind,
                                sender="seller",
                                tx_id=tx.id,
                                data=tx.encode(),
                            )
                            for tx in batch
                        ]
                        try:
                            reply = client.post(
                                f"{url}/v1/transactions/batch",
                                content=msgpack.packb([tx.encode() for tx in batch]),
                                headers={"content-type": "application/msgpack"},
                            )
                            results = reply.json()["results"]
                        except (httpx.HTTPError, ValueError, KeyError) as exc:
                            flood_errors.append(f"batch: {exc}")
                            for op in ops:
                                history.complete(op, "unknown", detail=str(exc))
                            return
                        if reply.status_code >= 500:
                            flood_errors.append(f"batch answered {reply.status_code}")
                        for op, item in zip(ops, results, strict=True):
                            if "error" in item:
                                history.complete(
                                    op,
                                    "refused",
                                    http_status=reply.status_code,
                                    code=str(item["error"]),
                                )
                            else:
                                history.complete(op, "pending", http_status=reply.status_code)

            thread = threading.Thread(target=flooder, name="flooder")
            thread.start()
            submitter = Submitter(ledger, "bystander")
            try:
                committed = 0
                deadline = time.monotonic() + max(10.0, duration_s)
                while committed < 3 and time.monotonic() < deadline:
                    tx = ledger.sign(
                        ledger.key("carrier"),
                        "bl.issue",
                        issue_body(f"BYSTANDER-{rng.randrange(10**9)}", "seller", to_order=True),
                    )
                    op = submitter.submit(node, tx, "carrier", wait_ms=WAIT_MS)
                    committed += op.outcome == "committed" and op.code == "ok"
                if committed < 3:
                    findings.append(f"carrier committed only {committed} of 3 during the flood")
            finally:
                submitter.close()
                stop.set()
                thread.join(timeout=120)
            findings += flood_errors
        finally:
            for sock in sockets:
                sock.close()
        if not cluster.running(node) or not cluster.ready(node):
            findings.append(f"node {node} is down after the hostile clients")
        else:
            rss_after = cluster.rss_kib(node)
            if rss_after > RSS_KIB_MAX:
                findings.append(f"node {node} resident memory {rss_before} -> {rss_after} KiB")
    finally:
        http.close()
    cluster.count("hostile-clients")
    return findings


# --- storage damage ------------------------------------------------------------------------------


def _damage(directory: Path, rng: random.Random, *, manifest_only: bool) -> str:
    files = sorted(
        p
        for p in directory.iterdir()
        if p.is_file()
        and (p.suffix in (".ldb", ".log") or p.name.startswith("MANIFEST"))
        and (p.name.startswith("MANIFEST") or not manifest_only)
        and p.stat().st_size > 0
    )
    target = rng.choice(files)
    size = target.stat().st_size
    how = "truncate" if manifest_only else rng.choice(["truncate", "flip"])
    if how == "truncate":
        with target.open("r+b") as handle:
            handle.truncate(rng.randrange(size))
    else:
        with target.open("r+b") as handle:
            for _ in range(rng.randint(1, 8)):
                offset = rng.randrange(size)
                handle.seek(offset)
                byte = handle.read(1)
                handle.seek(offset)
                handle.write(bytes([byte[0] ^ (1 << rng.randrange(8))]))
    return f"{how} {target.name} ({size} bytes)"


def storage_damage(
    cluster: Cluster, rng: random.Random, *, manifest_only: bool = False
) -> dict[str, object]:
    """Stop a node (SIGKILL), damage a file of its store, start it. It must refuse to start
    (then its store is wiped and it syncs from its peers), or start and agree with them."""
    victim = rng.randrange(cluster.size)
    others = [i for i in range(cluster.size) if i != victim]
    cluster.kill(victim)
    damage = _damage(cluster.data_dir(victim), rng, manifest_only=manifest_only)
    cluster.count("storage-damage")
    process = cluster.start(victim)
    outcome = "started"
    wait_until(
        lambda: process.poll() is not None or cluster.ready(victim),
        30,
        f"node {victim} to exit or answer after {damage}",
    )
    if process.poll() is not None:
        outcome = f"refused to start (exit {process.returncode})"
        cluster.processes.pop(victim)
        wipe(cluster.data_dir(victim))
        cluster.start(victim)
    cluster.wait_ready([victim])
    target = max(cluster.height(i) for i in others)
    wait_until(lambda: cluster.height(victim) >= target, 90, f"node {victim} back at {target}")
    for height in range(max(1, target - 20), target + 1):
        hashes = {cluster.net.block_hash(i, height) for i in [victim, *others]}
        assert len(hashes) == 1, f"node {victim} serves another block at {height} after {damage}"
    return {"damaged": victim, "damage": damage, "outcome": outcome}


def wipe(directory: Path) -> None:
    for path in sorted(directory.iterdir()):
        if path.is_file():
            path.unlink()


__all__ = ["hostile_clients", "invalid_transactions", "load_chain", "storage_damage"]
