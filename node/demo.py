"""The demo trade: one shipment from a seller in Delft to a buyer in Singapore, walked through
a running devnet with the client SDK, every organisation on its own key and its own node.

    1  the carrier issues a to-order bill of lading to the seller (the file's SHA-256 on the ledger)
    2  the chamber of commerce issues the certificate of origin, linked to the bill
    3  the buyer's bank attests the payment (a SWIFT UETR, the invoice, the bill, the certificate)
    4  the seller's bank confirms receipt
    5  the seller offers the bill to the buyer; 6  the buyer accepts: the buyer holds title
    7  customs verify the certificate; 8  customs record verification and release the goods
    9  the buyer surrenders the bill for delivery; 10  the carrier accepts the surrender
    11 anyone holding the bill's file checks it with no key; the buyer verifies the evidence
       bundle offline against the genesis, trusting no node

Each step prints one line; a failed step raises `DemoFailed` naming the step and the code.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from client.bodies import Bill
from client.keystore import unlock
from client.sdk import Client, Receipt
from ledger.types import Genesis
from node import devnet


class DemoFailed(Exception):
    """A step of the demo trade did not end as it should."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    number: int
    who: str
    what: str
    detail: str


def run_demo(directory: Path, say: Callable[[Step], None] = lambda step: None) -> list[Step]:
    """Walk the trade through the devnet in `directory`; return the steps done."""
    manifest = devnet.read_manifest(directory)
    genesis = Genesis.from_json((directory / str(manifest["genesis"])).read_text())
    nodes = devnet.nodes_of(manifest)
    organisations = manifest["organisations"]
    assert isinstance(organisations, dict)
    passphrase = str(manifest["passphrase"])
    run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 10_000:04d}"
    clients: dict[str, Client] = {}

    def client(org: str) -> Client:
        if org not in clients:
            key = unlock(directory / organisations[org]["member_key_file"], passphrase)
            url = str(nodes[len(clients) % len(nodes)]["api_url"])
            clients[org] = Client(url, key, chain_id=genesis.chain_id)
        return clients[org]

    steps: list[Step] = []

    def done(who: str, what: str, receipt: Receipt | None, detail: str = "") -> None:
        if receipt is not None and not receipt.ok:
            raise DemoFailed(f"step {len(steps) + 1} ({who}: {what}) ended with {receipt.code}")
        where = "" if receipt is None else f"block {receipt.height}, "
        step = Step(
            number=len(steps) + 1, who=who, what=what, detail=f"{where}{detail}".strip(", ")
        )
        steps.append(step)
        say(step)

    try:
        documents = directory / "documents"
        documents.mkdir(exist_ok=True)
        bill_file = documents / f"bill-of-lading-{run_id}.json"
        bill = _bill(run_id)
        bill_file.write_text(json.dumps(bill, indent=2, sort_keys=True) + "\n")
        bill_bytes = bill_file.read_bytes()
        reference = f"OCL-{run_id}"

        issued = client("carrier").bl_issue(
            reference=reference,
            issue_to="seller",
            to_order=True,
            document_sha256=hashlib.sha256(bill_bytes).digest(),
            bill=bill,
        )
        bl = issued.id
        done("carrier", f"issues bill of lading {reference} to the seller", issued, f"id {bl[:16]}")

        certificate_file = documents / f"certificate-of-origin-{run_id}.json"
        certificate_file.write_text(json.dumps(_certificate(run_id, bl), indent=2) + "\n")
        coo = client("chamber-nl").coo_issue(
            reference=f"RCC-{run_id}",
            document_sha256=hashlib.sha256(certificate_file.read_bytes()).digest(),
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
            issue_date=time.strftime("%Y-%m-%d"),
            bill_of_lading=bl,
            invoice_reference=f"INV-{run_id}",
            exporter_organisation="seller",
            importer_organisation="buyer",
        )
        done("chamber-nl", "issues the certificate of origin", coo, f"id {coo.id[:16]}")

        uetr = str(uuid.uuid4())  # a SWIFT UETR is a UUID v4
        payment = client("bank-sg").pay_attest(
            reference=f"STB-{run_id}",
            uetr=uetr,
            beneficiary_bank="bank-nl",
            direction="sent",
            payer={"name": "Lion City Imports Pte. Ltd.", "country": "SG"},
            payee={"name": "Delft Ceramics B.V.", "country": "NL"},
            payer_bank_bic="STRBSGSGXXX",
            payee_bank_bic="HRBKNL2AXXX",
            amount_minor=4_850_000,
            currency="EUR",
            value_date=time.strftime("%Y-%m-%d"),
            references={
                "invoice": f"INV-{run_id}",
                "bill_of_lading": bl,
                "certificate_of_origin": coo.id,
            },
        )
        done("bank-sg", "attests the payment of EUR 48,500.00", payment, f"UETR {uetr}")
        confirmed = client("bank-nl").pay_confirm(payment.id)
        done("bank-nl", "confirms the payment was received", confirmed)

        offer = client("seller").bl_transfer(bl, "buyer")
        done("seller", "offers the bill of lading to the buyer", offer)
        accepted = client("buyer").bl_accept(bl)
        done("buyer", "accepts the bill: the buyer now holds title", accepted)

        verified = client("customs-nl").coo_verify(coo.id, "accepted")
        done("customs-nl", "verifies the certificate of origin: accepted", verified)
        cleared = client("customs-nl").customs_record(
            reference=f"NLC-{run_id}",
            decision="clearance",
            outcome="released",
            documents=[bl, coo.id],
            declaration_reference=f"MRN-{run_id}",
        )
        done("customs-nl", "records clearance: goods released", cleared)

        surrender = client("buyer").bl_surrender(bl, "delivery")
        done("buyer", "surrenders the bill to the carrier for delivery", surrender)
        delivered = client("carrier").bl_surrender_accept(bl)
        done("carrier", "accepts the surrender: the goods are delivered", delivered)

        public = Client(str(nodes[-1]["api_url"]), None, chain_id=genesis.chain_id)
        clients["public"] = public
        check = public.verify_file(bill_bytes)
        if not check.get("registered") or check.get("status") != "surrendered_for_delivery":
            raise DemoFailed(f"the bill's file does not verify as surrendered: {check}")
        done("anyone", "checks the bill's file with no key", None, f"status {check['status']}")
        report = client("buyer").verified_bundle(bl, genesis, bill_bytes)
        done(
            "buyer",
            "verifies the bill's evidence bundle offline against the genesis",
            None,
            f"{len(report.entries)} transactions proven, file matches: {report.file_matches}",
        )
    finally:
        for opened in clients.values():
            opened.close()
    return steps


def _bill(run_id: str) -> Bill:
    return {
        "document_type": "BOL",
        "shipper": {"name": "Delft Ceramics B.V.", "country": "NL"},
        "notify_parties": [{"name": "Lion City Imports Pte. Ltd.", "country": "SG"}],
        "vessel_voyages": [{"vessel_name": "OCL Rotterdam", "voyage": "512E"}],
        "port_of_loading": "NLRTM",
        "port_of_discharge": "SGSIN",
        "goods": [
            {
                "description": "Hand-painted ceramic tableware",
                "hs_codes": ["691110"],
                "cargo_items": [
                    {"packages": 120, "gross_weight_milli": 9_600_000_000, "weight_unit": "KGM"}
                ],
            }
        ],
        "issue_date": time.strftime("%Y-%m-%d"),
        "is_shipped_on_board": True,
        "freight_payment_term": "PRE",
        "shipping_instructions_reference": f"SI-{run_id}",
    }


def _certificate(run_id: str, bill_of_lading: str) -> dict[str, object]:
    return {
        "certificate": f"RCC-{run_id}",
        "issuer": "Rotterdam Chamber of Commerce (demo)",
        "exporter": "Delft Ceramics B.V.",
        "importer": "Lion City Imports Pte. Ltd.",
        "goods": "Hand-painted ceramic tableware, HS 691110, 2400 pieces, wholly obtained in NL",
        "bill_of_lading": bill_of_lading,
    }
