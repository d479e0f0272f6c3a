"""A real single-validator `Node` with its API in-process, for the API tests.

The node is the only validator of `contracts.testing.Network`'s genesis (its key is
``seeded_key("node/0")``), so it decides alone; its transport listens on 127.0.0.1:0. The API
is driven through `httpx.ASGITransport` (no sockets). Signed reads are checked against a
`Clock` the test owns; every signature the harness makes moves it one millisecond, so two
identical reads are never the same signed request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from contracts.testing import Network, issue_body, seeded_key, sha
from ledger.codec import Value
from ledger.crypto import SigningKey
from ledger.types import Transaction
from node.api import ApiLimits, create_app
from node.auth import sign_read_request
from node.config import Address, NodeConfig
from node.runtime import Node

NODE_KEY = seeded_key("node/0")  # the only validator of Network().genesis
BASE_URL = "http://node.test"
START_MS = 1_800_000_000_000
WAIT_MS = 10_000  # submit(wait=true) bound: a single validator commits in milliseconds


@dataclass
class Clock:
    now_ms: int = START_MS

    def __call__(self) -> int:
        return self.now_ms


@dataclass
class Api:
    node: Node
    client: httpx.AsyncClient
    net: Network
    clock: Clock
    app: Any
    documents: dict[str, str] = field(default_factory=dict)  # scenario name -> document id
    transactions: dict[str, str] = field(default_factory=dict)  # scenario name -> tx id

    def tx(
        self, signer: str | SigningKey, kind: str, body: Mapping[str, Any], *, admin: bool = False
    ) -> Transaction:
        return self.net.tx(
            signer, kind, body, admin=admin, expiry_height=self.node.store.height + 50
        )

    async def commit(
        self, signer: str | SigningKey, kind: str, body: Mapping[str, Any], *, admin: bool = False
    ) -> str:
        """Submit, wait for commit, require code ok; the transaction id (hex)."""
        tx = self.tx(signer, kind, body, admin=admin)
        answer = await self.client.post(
            f"/v1/transactions?wait=true&timeout_ms={WAIT_MS}",
            content=tx.encode(),
            headers={"content-type": "application/msgpack"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["code"] == "ok", answer.json()
        return tx.id.hex()

    def sign(
        self,
        signer: str | SigningKey,
        target: str,
        *,
        method: str = "GET",
        body: bytes = b"",
        timestamp_ms: int | None = None,
    ) -> dict[str, str]:
        key = signer if isinstance(signer, SigningKey) else self.net.key(signer)
        self.clock.now_ms += 1
        return sign_read_request(
            key,
            self.net.chain_id,
            method=method,
            target=target,
            body=body,
            timestamp_ms=self.clock.now_ms if timestamp_ms is None else timestamp_ms,
        )

    async def read(self, signer: str | SigningKey, target: str) -> httpx.Response:
        """A GET signed by `signer` (an organisation's member key, or a key)."""
        return await self.client.get(target, headers=self.sign(signer, target))


@contextlib.asynccontextmanager
async def running_api(
    tmp_path: Path, *, limits: ApiLimits | None = None, block_interval_ms_min: int = 20
) -> AsyncIterator[Api]:
    """A started node and a client of its API; `block_interval_ms_min` long keeps submitted
    transactions pending (the node proposes that long after its last block)."""
    net = Network()
    config = NodeConfig(
        path=tmp_path / "node.toml",
        name="api-test",
        key_file=tmp_path / "node.key",
        genesis_file=tmp_path / "genesis.json",
        data_dir=tmp_path / "data",
        p2p_listen=Address(host="127.0.0.1", port=0),
        empty_block_interval_ms=600_000,  # blocks only when there is work
        block_interval_ms_min=block_interval_ms_min,
    )
    node = Node(config, NODE_KEY.seed, net.genesis)
    await node.start()
    clock = Clock()
    app = create_app(node, clock_ms=clock, limits=limits)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE_URL
        ) as client:
            yield Api(node=node, client=client, net=net, clock=clock, app=app)
    finally:
        await node.stop()


def run(coroutine: Any) -> None:
    """Run one test's coroutine to completion, bounded well under pytest's timeout."""

    async def bounded() -> None:
        async with asyncio.timeout(60):
            await coroutine

    asyncio.run(bounded())


# --- a small trade: the records the authorisation tests read -------------------------------


def certificate_body(bill: str) -> dict[str, Value]:
    return {
        "reference": "COO-1",
        "document_sha256": sha("coo/COO-1"),
        "exporter": {"name": "Seller BV", "country": "NL"},
        "importer": {"name": "Buyer Pte", "country": "SG"},
        "country_of_export": "NL",
        "country_of_import": "SG",
        "goods": [
            {
                "description": "Cheese",
                "hs_code": "040690",
                "quantity": 100,
                "unit": "KGM",
                "origin_country": "NL",
                "origin_criterion": "WO",
            }
        ],
        "issue_date": "2026-01-01",
        "bill_of_lading": bill,
        "exporter_organisation": "seller",
    }


def attestation_body(bill: str) -> dict[str, Value]:
    return {
        "reference": "PAY-1",
        "uetr": "8a562c67-ca16-48ba-b074-65581be6f001",
        "beneficiary_bank": "bank2",
        "direction": "sent",
        "payer": {"name": "Buyer Inc"},
        "payee": {"name": "Seller BV"},
        "payer_bank_bic": "DEUTDEFF",
        "payee_bank_bic": "ABNANL2A",
        "amount_minor": 1_250_000,
        "currency": "EUR",
        "value_date": "2026-01-02",
        "references": {"bill_of_lading": bill, "invoice": "INV-1"},
    }


async def trade(api: Api) -> None:
    """carrier issues a bill to seller; chamber a certificate (exporter seller) linking it;
    bank attests a payment to bank2 referencing the bill; customs records a clearance on
    the certificate. Fills `api.documents` (bill, certificate, payment, decision)."""
    bill = await api.commit("carrier", "bl.issue", issue_body("BL-1", "seller", to_order=True))
    certificate = await api.commit("chamber", "coo.issue", certificate_body(bill))
    payment = await api.commit("bank", "pay.attest", attestation_body(bill))
    decision = await api.commit(
        "customs",
        "customs.record",
        {
            "reference": "DEC-1",
            "decision": "clearance",
            "outcome": "released",
            "documents": [certificate],
        },
    )
    api.documents.update(bill=bill, certificate=certificate, payment=payment, decision=decision)
    api.transactions.update(api.documents)


# Who may see each scenario document: its parties (contracts/visibility.py):
#   bill        carrier, seller; bank and bank2 (the attestation referencing it made them parties)
#   certificate chamber, seller, and customs (it recorded a decision on it)
#   payment     bank (attester) and bank2 (beneficiary bank)
#   decision    customs and the certificate's parties
SEES = {
    "bill": {"carrier", "seller", "bank", "bank2"},
    "certificate": {"chamber", "seller", "customs"},
    "payment": {"bank", "bank2"},
    "decision": {"customs", "chamber", "seller"},
}
ORGANISATIONS = (
    "carrier",
    "carrier2",
    "seller",
    "seller2",
    "buyer",
    "bank",
    "bank2",
    "chamber",
    "customs",
    "gov",
)
