"""The benchmark's transaction mix: real document transactions signed by the demo organisations'
member keys, built with the client's body builders (`client.bodies`), as a client would.

    bl.issue     the carrier issues a to-order bill of lading to the seller
    bl.transfer  the seller offers a bill (issued and committed earlier) to the buyer
    coo.issue    the chamber of commerce issues a certificate of origin
    pay.attest   the buyer's bank attests a payment to the seller's bank (a fresh UETR)

A transfer needs its bill committed first, so transfers only name bills from `bills`, a
pool of bills whose issue was committed before the phase started (the setup phase, or an
earlier phase); when the pool runs dry the slot becomes a bill issue. References, file hashes
and UETRs are unique per (run, phase, generator, index); nonces per generator and phase.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from client import bodies
from ledger import crypto
from ledger.crypto import SigningKey
from ledger.types import Transaction

KINDS = ("bl.issue", "bl.transfer", "coo.issue", "pay.attest")
SENDER_OF_KIND = {
    "bl.issue": "carrier",
    "bl.transfer": "seller",
    "coo.issue": "chamber-nl",
    "pay.attest": "bank-sg",
}
DEFAULT_MIX: Mapping[str, int] = {
    "bl.issue": 30,
    "bl.transfer": 20,
    "coo.issue": 25,
    "pay.attest": 25,
}
OFFER_EXPIRY_BLOCKS = 1_000_000  # a transfer offer stays open far past any benchmark


@dataclass(frozen=True, slots=True, kw_only=True)
class Signed:
    kind: str
    data: bytes  # the canonical signed bytes, as submitted
    id: bytes
    bill: str | None = None  # the bill a transfer names


def parse_mix(text: str) -> dict[str, int]:
    """Weights from "bl.issue=30,bl.transfer=20,coo.issue=25,pay.attest=25" (kinds checked)."""
    mix: dict[str, int] = {}
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        kind = kind.strip()
        if kind not in KINDS or not weight.strip().isdigit():
            raise ValueError(f"mix: expected KIND=WEIGHT with KIND in {KINDS}, got {part!r}")
        mix[kind] = int(weight)
    if sum(mix.values()) <= 0:
        raise ValueError("mix: the weights add up to zero")
    return mix


def kind_sequence(mix: Mapping[str, int], count: int) -> list[str]:
    """`count` kinds interleaved in proportion to `mix` (smooth weighted round-robin), so any
    window of the sequence carries the mix, not runs of one kind."""
    weights = {kind: weight for kind, weight in mix.items() if weight > 0}
    total = sum(weights.values())
    current = dict.fromkeys(weights, 0)
    sequence = []
    for _ in range(count):
        for kind, weight in weights.items():
            current[kind] += weight
        chosen = max(current, key=lambda kind: (current[kind], kind))
        current[chosen] -= total
        sequence.append(chosen)
    return sequence


def _uetr(tag: int, index: int) -> str:
    """A well-formed UUID v4 text, unique for (tag, index)."""
    digest = crypto.sha256(f"uetr/{tag}/{index}".encode()).hex()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"


class Signer:
    """Signs the mix for one generator. `label` makes references unique; `nonce_base` nonces."""

    def __init__(
        self,
        *,
        chain_id: str,
        seeds: Mapping[str, bytes],
        label: str,
        nonce_base: int,
        expiry_height: int,
        offer_expiry_height: int,
    ) -> None:
        self.chain_id = chain_id
        self.keys = {org: SigningKey(seed) for org, seed in seeds.items()}
        self.label = label
        self.nonce = nonce_base
        self.expiry_height = expiry_height
        self.offer_expiry_height = offer_expiry_height
        self.tag = int.from_bytes(crypto.sha256(label.encode())[:6], "big")

    def sign(self, kind: str, index: int, bill: str | None = None) -> Signed:
        self.nonce += 1
        reference = f"{self.label}-{index}"
        if kind == "bl.issue":
            body = bodies.bl_issue(
                reference=f"BL-{reference}",
                issue_to="seller",
                to_order=True,
                document_sha256=crypto.sha256(f"bill/{reference}".encode()),
                bill={
                    "document_type": "BOL",
                    "shipper": {"name": "Delft Ceramics B.V.", "country": "NL"},
                    "vessel_voyages": [{"vessel_name": "OCL Rotterdam", "voyage": "512E"}],
                    "port_of_loading": "NLRTM",
                    "port_of_discharge": "SGSIN",
                    "goods": [
                        {
                            "description": "Hand-painted ceramic tableware",
                            "hs_codes": ["691110"],
                            "cargo_items": [
                                {
                                    "packages": 120,
                                    "gross_weight_milli": 9_600_000_000,
                                    "weight_unit": "KGM",
                                }
                            ],
                        }
                    ],
                    "issue_date": "2026-01-01",
                    "is_shipped_on_board": True,
                    "freight_payment_term": "PRE",
                },
            )
        elif kind == "bl.transfer":
            assert bill is not None, "a transfer names a committed bill"
            body = bodies.bl_transfer(bill, "buyer", self.offer_expiry_height)
        elif kind == "coo.issue":
            body = bodies.coo_issue(
                reference=f"COO-{reference}",
                document_sha256=crypto.sha256(f"coo/{reference}".encode()),
                exporter={"name": "Delft Ceramics B.V.", "country": "NL"},
                importer={"name": "Lion City Imports Pte. Ltd.", "country": "SG"},
                country_of_export="NL",
                country_of_import="SG",
                goods=[
                    {
                        "description": "Hand-painted ceramic tableware",
                        "hs_code": "691110",
                        "quantity": 2400,
                        "unit": "NAR",
                        "origin_country": "NL",
                        "origin_criterion": "WO",
                    }
                ],
                issue_date="2026-01-02",
                invoice_reference=f"INV-{reference}",
                exporter_organisation="seller",
                importer_organisation="buyer",
            )
        elif kind == "pay.attest":
            body = bodies.pay_attest(
                reference=f"PAY-{reference}",
                uetr=_uetr(self.tag, index),
                beneficiary_bank="bank-nl",
                direction="sent",
                payer={"name": "Lion City Imports Pte. Ltd.", "country": "SG"},
                payee={"name": "Delft Ceramics B.V.", "country": "NL"},
                payer_bank_bic="STRBSGSGXXX",
                payee_bank_bic="HRBKNL2AXXX",
                amount_minor=4_850_000,
                currency="EUR",
                value_date="2026-01-05",
                references={"invoice": f"INV-{reference}"},
            )
        else:
            raise ValueError(f"unknown kind {kind!r}")
        tx = Transaction.create(
            self.keys[SENDER_OF_KIND[kind]],
            chain_id=self.chain_id,
            kind=kind,
            nonce=self.nonce,
            expiry_height=self.expiry_height,
            body=body,
        )
        return Signed(kind=kind, data=tx.encode(), id=tx.id, bill=bill)

    def sign_mix(self, kinds: Sequence[str], bills: Sequence[str]) -> list[Signed]:
        """One transaction per kind in `kinds`; transfers take bills from `bills` in order
        (a transfer with no bill left becomes a bill issue)."""
        signed = []
        available = iter(bills)
        for index, kind in enumerate(kinds):
            if kind == "bl.transfer":
                bill = next(available, None)
                signed.append(
                    self.sign("bl.issue", index) if bill is None else self.sign(kind, index, bill)
                )
            else:
                signed.append(self.sign(kind, index))
        return signed
