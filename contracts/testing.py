"""A small in-memory network for tests and demos: organisations with deterministic keys,
a genesis, a `MemoryState`, and helpers that sign transactions and execute blocks.

Keys come from fixed seeds (SHA-256 of a label), never from randomness, so every run and
every node builds the same network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contracts.context import BlockContext, BlockResult
from contracts.engine import execute_block, genesis_writes
from ledger import crypto
from ledger.codec import Value
from ledger.crypto import SigningKey
from ledger.state import GENESIS_STATE_ROOT, MemoryState, next_state_root
from ledger.types import Genesis, Member, Organisation, Role, Transaction, Validator, ValidatorSet

CHAIN_ID = "tradeledger-test"
GENESIS_TIME_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
BLOCK_INTERVAL_MS = 1_000


def seeded_key(label: str) -> SigningKey:
    return SigningKey(crypto.sha256(b"tradeledger-test-key/" + label.encode()))


DEFAULT_ORGANISATIONS: Mapping[str, tuple[Role, ...]] = {
    "carrier": (Role.CARRIER,),
    "carrier2": (Role.CARRIER,),
    "seller": (Role.SELLER,),
    "seller2": (Role.SELLER,),
    "buyer": (Role.BUYER,),
    "bank": (Role.BANK,),
    "bank2": (Role.BANK,),
    "chamber": (Role.CHAMBER,),
    "customs": (Role.CUSTOMS,),
    "gov": (Role.GOVERNANCE,),
}


@dataclass
class Network:
    """Organisations, their admin and member keys, and the ledger state after each block."""

    organisations: Mapping[str, tuple[Role, ...]] = field(
        default_factory=lambda: dict(DEFAULT_ORGANISATIONS)
    )
    admins_per_organisation: int = 1
    governance_threshold: int = 1
    chain_id: str = CHAIN_ID

    def __post_init__(self) -> None:
        self.admins: dict[str, list[SigningKey]] = {}
        self.members: dict[str, SigningKey] = {}
        orgs: list[Organisation] = []
        members: list[Member] = []
        for org_id, roles in self.organisations.items():
            admins = [
                seeded_key(f"{org_id}/admin/{i}") for i in range(self.admins_per_organisation)
            ]
            self.admins[org_id] = admins
            self.members[org_id] = seeded_key(f"{org_id}/member")
            orgs.append(
                Organisation(
                    id=org_id,
                    name=f"{org_id} Ltd",
                    country="NL",
                    roles=frozenset(roles),
                    admin_keys=tuple(k.public_key for k in admins),
                )
            )
            members.append(
                Member(key=self.members[org_id].public_key, organisation=org_id, name="clerk")
            )
        first = next(iter(self.organisations))
        self.genesis = Genesis(
            chain_id=self.chain_id,
            genesis_time_ms=GENESIS_TIME_MS,
            organisations=tuple(orgs),
            members=tuple(members),
            validators=ValidatorSet.of(
                [Validator(node_key=seeded_key("node/0").public_key, power=1, organisation=first)]
            ),
            governance_threshold=self.governance_threshold,
        )
        self.state = MemoryState(genesis_writes(self.genesis))
        self.height = 0
        self.root = GENESIS_STATE_ROOT
        self.roots: list[bytes] = []
        self._nonce = 0

    def key(self, org: str, *, admin: bool = False, index: int = 0) -> SigningKey:
        return self.admins[org][index] if admin else self.members[org]

    def tx(
        self,
        signer: str | SigningKey,
        kind: str,
        body: Mapping[str, Any],
        *,
        admin: bool = False,
        nonce: int | None = None,
        expiry_height: int | None = None,
    ) -> Transaction:
        key = signer if isinstance(signer, SigningKey) else self.key(signer, admin=admin)
        if nonce is None:
            self._nonce += 1
            nonce = self._nonce
        return Transaction.create(
            key,
            chain_id=self.chain_id,
            kind=kind,
            nonce=nonce,
            expiry_height=self.height + 100 if expiry_height is None else expiry_height,
            body=dict(body),
        )

    def context(self, height: int) -> BlockContext:
        return BlockContext(
            chain_id=self.chain_id,
            height=height,
            time_ms=GENESIS_TIME_MS + height * BLOCK_INTERVAL_MS,
            proposer=seeded_key("node/0").public_key,
        )

    def block(self, txs: Sequence[Transaction] = ()) -> BlockResult:
        """Execute the next block over the state and apply its writes."""
        self.height += 1
        result = execute_block(self.state, txs, self.context(self.height))
        self.state.apply(result.writes)
        self.root = next_state_root(self.root, result.writes)
        self.roots.append(self.root)
        return result

    def run(
        self,
        signer: str | SigningKey,
        kind: str,
        body: Mapping[str, Any],
        *,
        admin: bool = False,
    ) -> tuple[str, Transaction, BlockResult]:
        """Sign and execute one transaction in a block of its own; returns its code."""
        tx = self.tx(signer, kind, body, admin=admin)
        result = self.block([tx])
        return result.codes[0].value, tx, result


def sha(label: str) -> bytes:
    return crypto.sha256(label.encode())


def bill_body(reference: str = "BL-1") -> dict[str, Value]:
    """A minimal valid ``bill`` map for ``bl.issue``."""
    return {
        "document_type": "BOL",
        "shipper": {"name": "Seller BV", "country": "NL"},
        "vessel_voyages": [{"vessel_name": "MSC Gülsün", "voyage": "402E"}],
        "port_of_loading": "NLRTM",
        "port_of_discharge": "SGSIN",
        "goods": [
            {
                "description": "Shoes - black",
                "hs_codes": ["640510"],
                "cargo_items": [
                    {"packages": 400, "gross_weight_milli": 12_000_000, "weight_unit": "KGM"}
                ],
            }
        ],
        "issue_date": "2026-01-01",
        "is_shipped_on_board": True,
        "freight_payment_term": "PRE",
    }


def issue_body(
    reference: str,
    issue_to: str,
    *,
    to_order: bool,
    endorsee: str | None = None,
    consignee: str | None = None,
) -> dict[str, Value]:
    body: dict[str, Value] = {
        "reference": reference,
        "issue_to": issue_to,
        "to_order": to_order,
        "document_sha256": sha(f"bill/{reference}"),
        "bill": bill_body(reference),
    }
    if endorsee is not None:
        body["endorsee"] = endorsee
    if consignee is not None:
        body["consignee"] = consignee
    return body
