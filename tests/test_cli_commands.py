"""The role commands of `tradeledger` with click's CliRunner.

Argument errors and failures: one line on stderr and a non-zero exit; `--json` parses. Then
every role walks its part of a trade against the real in-process node (tests/asgi_bridge.py),
and the bundle it fetched verifies offline. The HTTP transport and the clock reach the
commands through click's context object (`CliContext`), never by patching.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import nacl.pwhash
import pytest
from click.testing import CliRunner, Result

from client.cli import CliContext, main
from client.keystore import create_key_file
from contracts.testing import Network
from ledger import crypto
from ledger.codec import decode
from ledger.crypto import SigningKey
from ledger.types import Transaction
from tests.api_harness import BASE_URL, START_MS
from tests.asgi_bridge import BridgeTransport, running_node
from tests.test_client_bodies import DCSA, PLACEHOLDERS
from tests.test_client_sdk import FakeNode

OPS, MEM = nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN
PASSPHRASE = "correct horse battery"
ORGANISATIONS = ("carrier", "seller", "buyer", "bank", "bank2", "chamber", "customs")
DOCUMENT = "ab" * 32


def keystore_for(net: Network, directory: Path) -> Path:
    for organisation in ORGANISATIONS:
        create_key_file(
            directory,
            organisation,
            organisation,
            PASSPHRASE,
            key=net.key(organisation),
            opslimit=OPS,
            memlimit=MEM,
        )
        create_key_file(
            directory,
            f"{organisation}-admin",
            organisation,
            PASSPHRASE,
            key=net.key(organisation, admin=True),
            opslimit=OPS,
            memlimit=MEM,
        )
    return directory


class Cli:
    """Runs `tradeledger` against one node with a keystore, as organisation `as_`."""

    def __init__(self, transport: httpx.BaseTransport, keystore: Path, clock_start_ms: int) -> None:
        self.keystore = keystore
        ticks = itertools.count(clock_start_ms * 1_000_000, 1_000_000)  # 1 ms per reading
        self.context = CliContext(transport=transport, clock_ns=lambda: next(ticks))
        self.runner = CliRunner(
            env={"TRADELEDGER_PASSPHRASE": PASSPHRASE, "TRADELEDGER_NODE": BASE_URL}
        )

    def __call__(self, as_: str | None, *args: str | Path) -> Result:
        command = [str(a) for a in args] + ["--keystore", str(self.keystore)]
        if as_ is not None:
            command += ["--key", as_]
        return self.runner.invoke(main, command, obj=self.context)

    def ok(self, as_: str | None, *args: str | Path) -> dict[str, object]:
        result = self(as_, *args, "--json")
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        answer = json.loads(result.stdout)
        assert isinstance(answer, dict)
        return answer


def one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# --- against a fake node ----------------------------------------------------------------------


@pytest.fixture
def fake(tmp_path: Path) -> tuple[Cli, FakeNode]:
    node = FakeNode()
    keystore = keystore_for(node.net, tmp_path / "keys")
    return Cli(httpx.MockTransport(node.handle), keystore, 1_767_225_600_000), node


def test_a_write_command_signs_with_the_chosen_key(fake: tuple[Cli, FakeNode]) -> None:
    cli, node = fake
    answer = cli.ok("buyer", "bl", "accept", DOCUMENT)
    assert answer["code"] == "ok"
    assert answer["kind"] == "bl.accept"
    tx = Transaction.decode(node.requests[-1].content)
    assert tx.sender == node.net.key("buyer").public_key
    assert tx.body == {"document": DOCUMENT}


def test_human_output_names_the_result(fake: tuple[Cli, FakeNode]) -> None:
    cli, _ = fake
    result = cli("seller", "bl", "transfer", DOCUMENT, "--to", "buyer", "--offer-blocks", "10")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "committed bl.transfer at height 42: ok"


def test_a_refusal_is_one_line_with_its_meaning(fake: tuple[Cli, FakeNode]) -> None:
    cli, node = fake
    node.code = "sender_not_holder"
    result = cli("seller", "bl", "transfer", DOCUMENT, "--to", "buyer")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "sender_not_holder (only the current holder may do this)" in line
    as_json = json.loads(cli("seller", "bl", "cancel", DOCUMENT, "--json").stdout)
    assert as_json == {
        "ok": False,
        "error": "sender_not_holder",
        "detail": as_json["detail"],
    }


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("bl", "transfer", "not-an-id", "--to", "buyer"), "is not a document id"),
        (("bl", "transfer", DOCUMENT), "Missing option '--to'"),
        (("bl", "surrender", DOCUMENT, "--for", "lunch"), "'lunch' is not one of"),
        (("bl", "teleport"), "No such command 'teleport'"),
        (("customs", "record", "--reference", "R"), "Missing option"),
        (("gov", "propose", "org.delete", "--params", "{}"), "'org.delete' is not one of"),
    ],
)
def test_argument_errors_are_one_line_and_exit_2(
    fake: tuple[Cli, FakeNode], args: tuple[str, ...], text: str
) -> None:
    cli, node = fake
    result = cli("seller", *args)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert text in line
    assert "--help" in line
    assert node.requests == []


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("pay", "attest", "--reference", "P-1"), "--uetr: is required"),
        (("coo", "issue", "--reference", "C-1"), "--file: is required"),
        (("bl", "issue", "--issue-to", "seller"), "--reference: is required without --dcsa"),
        (("gov", "propose", "org.suspend", "--params", "{not json"), "--params: not JSON"),
        (("member", "register", "nobody", "--name", "x"), "neither 64 hex digits nor a key"),
    ],
)
def test_incomplete_input_is_one_line_and_sends_nothing(
    fake: tuple[Cli, FakeNode], args: tuple[str, ...], text: str
) -> None:
    cli, node = fake
    result = cli("seller-admin", *args)
    assert result.exit_code == 1
    assert text in one_error_line(result)
    assert not any(r.method == "POST" for r in node.requests)


def test_a_signing_command_without_a_key_says_so(fake: tuple[Cli, FakeNode]) -> None:
    cli, _ = fake
    result = cli(None, "bl", "accept", DOCUMENT)
    assert result.exit_code == 1
    assert "pass --key NAME" in one_error_line(result)


def test_an_unknown_key_or_wrong_passphrase_is_one_line(fake: tuple[Cli, FakeNode]) -> None:
    cli, _ = fake
    result = cli("nobody", "bl", "accept", DOCUMENT)
    assert result.exit_code == 1
    assert "no key 'nobody'" in one_error_line(result)
    wrong = cli.runner.invoke(
        main,
        ["bl", "accept", DOCUMENT, "--key", "buyer", "--keystore", str(cli.keystore)],
        obj=cli.context,
        env={"TRADELEDGER_PASSPHRASE": "not the passphrase"},
    )
    assert wrong.exit_code == 1
    assert "wrong passphrase" in one_error_line(wrong)


def test_the_passphrase_is_prompted_or_read_from_a_file(
    fake: tuple[Cli, FakeNode], tmp_path: Path
) -> None:
    cli, _ = fake
    args = ["bl", "accept", DOCUMENT, "--key", "buyer", "--keystore", str(cli.keystore)]
    prompted = CliRunner(env={"TRADELEDGER_NODE": BASE_URL}).invoke(
        main, args, obj=cli.context, input=f"{PASSPHRASE}\n"
    )
    assert prompted.exit_code == 0, prompted.stderr
    assert "passphrase for key buyer" in prompted.stderr
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    from_file = CliRunner(env={"TRADELEDGER_NODE": BASE_URL}).invoke(
        main, [*args, "--passphrase-file", str(secret)], obj=cli.context
    )
    assert from_file.exit_code == 0, from_file.stderr


def test_no_node_and_an_unreachable_node(fake: tuple[Cli, FakeNode]) -> None:
    cli, _ = fake
    result = CliRunner().invoke(main, ["status"], obj=cli.context)
    assert result.exit_code == 2
    assert "pass --node URL" in one_error_line(result)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    down = CliContext(transport=httpx.MockTransport(refuse))
    result = CliRunner().invoke(main, ["status", "--node", "http://10.9.9.9:1"], obj=down)
    assert result.exit_code == 3
    assert "cannot reach the node at http://10.9.9.9:1" in one_error_line(result)
    as_json = CliRunner().invoke(main, ["status", "--node", "http://x", "--json"], obj=down)
    assert json.loads(as_json.stdout)["error"] == "unavailable"


def test_payment_amounts_become_minor_units(fake: tuple[Cli, FakeNode]) -> None:
    cli, node = fake
    common = [
        "--reference",
        "P-1",
        "--uetr",
        "8a562c67-ca16-48ba-b074-65581be6f001",
        "--beneficiary-bank",
        "bank2",
        "--payer",
        "Buyer",
        "--payee",
        "Seller",
        "--payer-bic",
        "DEUTDEFF",
        "--payee-bic",
        "ABNANL2A",
        "--value-date",
        "2026-01-02",
    ]
    cli.ok("bank", "pay", "attest", *common, "--amount", "12500.50", "--currency", "EUR")
    assert Transaction.decode(node.requests[-1].content).body["amount_minor"] == 1_250_050
    cli.ok("bank", "pay", "attest", *common, "--amount", "12500", "--currency", "JPY")
    assert Transaction.decode(node.requests[-1].content).body["amount_minor"] == 12_500
    result = cli("bank", "pay", "attest", *common, "--amount", "1.005", "--currency", "EUR")
    assert result.exit_code == 1
    assert "EUR has 2 decimals" in one_error_line(result)


def test_member_keys_by_name_or_hex(fake: tuple[Cli, FakeNode]) -> None:
    cli, node = fake
    new = SigningKey(bytes(range(32)))
    cli.ok("seller-admin", "member", "register", new.public_key.hex(), "--name", "robot")
    body = Transaction.decode(node.requests[-1].content).body
    assert body == {"key": new.public_key, "name": "robot"}
    cli.ok("seller-admin", "member", "revoke", "seller")  # a keystore name
    body = Transaction.decode(node.requests[-1].content).body
    assert body == {"key": node.net.key("seller").public_key}


def test_governance_params_take_hex_keys(fake: tuple[Cli, FakeNode], tmp_path: Path) -> None:
    cli, node = fake
    params = tmp_path / "org.json"
    admin = SigningKey(bytes(range(1, 33))).public_key
    params.write_text(
        json.dumps(
            {
                "id": "forwarder",
                "name": "Forwarder",
                "country": "DE",
                "roles": ["seller"],
                "admin_keys": [admin.hex()],
            }
        )
    )
    answer = cli.ok("seller-admin", "gov", "propose", "org.add", "--params", f"@{params}")
    assert answer["document"] == answer["id"]
    body = Transaction.decode(node.requests[-1].content).body
    assert body["params"] == {
        "admin_keys": [admin],
        "country": "DE",
        "id": "forwarder",
        "name": "Forwarder",
        "roles": ["seller"],
    }
    assert body["expiry_height"] == node.height + 100_000


def test_no_wait_returns_pending(fake: tuple[Cli, FakeNode]) -> None:
    cli, node = fake
    answer = cli.ok("buyer", "bl", "accept", DOCUMENT, "--no-wait")
    assert answer["status"] == "pending"
    assert decode(node.requests[-1].content) is not None


# --- every role against the real node ---------------------------------------------------------


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cli, Path, Network]]:
    directory = tmp_path_factory.mktemp("cli-node")
    with running_node(directory / "node") as (api, loop):
        keystore = keystore_for(api.net, directory / "keys")
        yield Cli(BridgeTransport(api.app, loop), keystore, START_MS), directory, api.net


def test_every_role_walks_a_trade_with_the_cli(real: tuple[Cli, Path, Network]) -> None:
    cli, directory, net = real
    template = DCSA / "conformance-gateway" / "ebl-api-3.0.0-negotiable-bl.json"
    text = template.read_text(encoding="utf-8")
    for token, value in PLACEHOLDERS.items():
        text = text.replace(token, value)
    dcsa_file = directory / "bill.json"
    dcsa_file.write_text(text)

    # carrier issues from the DCSA document, to the seller's order
    bill = cli.ok(
        "carrier", "bl", "issue", "--dcsa", dcsa_file, "--issue-to", "seller",
        "--endorsee", "seller", "--reference", "TDR-CLI-1",
        "--vessel", "MSC Gülsün", "--voyage", "402E", "--from", "NLRTM", "--to", "SGSIN",
    )["document"]  # fmt: skip
    assert isinstance(bill, str)
    certificate_file = directory / "coo.pdf"
    certificate_file.write_bytes(b"%PDF certificate of origin COO-CLI-1")
    certificate = cli.ok(
        "chamber", "coo", "issue", "--reference", "COO-CLI-1", "--file", certificate_file,
        "--exporter", "Seller BV", "--exporter-country", "NL",
        "--importer", "Buyer Pte", "--importer-country", "SG",
        "--goods", "Cheese|040690|100|KGM|NL|WO", "--issue-date", "2026-01-02",
        "--bill-of-lading", bill, "--exporter-org", "seller", "--importer-org", "buyer",
    )["document"]  # fmt: skip
    assert isinstance(certificate, str)
    payment = cli.ok(
        "bank", "pay", "attest", "--reference", "PAY-CLI-1",
        "--uetr", "8a562c67-ca16-48ba-b074-65581be6f002", "--beneficiary-bank", "bank2",
        "--payer", "Buyer Pte", "--payee", "Seller BV", "--payer-bic", "DBSSSGSGXXX",
        "--payee-bic", "INGBNL2A", "--amount", "12500.00", "--currency", "EUR",
        "--value-date", "2026-01-05", "--bill-of-lading", bill, "--certificate", certificate,
    )["document"]  # fmt: skip
    assert isinstance(payment, str)
    cli.ok("bank2", "pay", "confirm", payment)
    cli.ok("seller", "bl", "endorse", bill, "--endorsee", "buyer")
    cli.ok("seller", "bl", "transfer", bill, "--to", "buyer")
    cli.ok("buyer", "bl", "accept", bill)
    cli.ok("customs", "coo", "verify", certificate, "--outcome", "accepted")
    cli.ok(
        "customs", "customs", "record", "--reference", "CLR-CLI-1", "--decision", "clearance",
        "--outcome", "released", "--document", bill, "--document", certificate,
    )  # fmt: skip
    cli.ok("buyer", "bl", "surrender", bill, "--for", "delivery")
    cli.ok("carrier", "bl", "surrender-accept", bill)

    # customs look up and verify
    assert cli.ok("customs", "doc", "lookup", "--family", "bl", "--issuer", "carrier",
                  "--reference", "TDR-CLI-1")["id"] == bill  # fmt: skip
    record = cli.ok("buyer", "doc", "show", bill)
    assert record["status"] == "surrendered_for_delivery"
    human = cli("buyer", "doc", "history", bill)
    assert human.exit_code == 0, human.stderr
    assert "SACC" in human.stdout
    bundle_file = directory / "bill.bundle.json"
    cli.ok("customs", "doc", "bundle", bill, "-o", bundle_file)
    genesis_file = directory / "genesis.json"
    genesis_file.write_text(net.genesis.to_json())
    verified = cli.runner.invoke(
        main, ["verify", str(bundle_file), "--genesis", str(genesis_file), "--file", str(dcsa_file)]
    )
    assert verified.exit_code == 0, verified.stderr
    assert f"VERIFIED document {bill}" in verified.stdout
    # a file looked up on the node, then proven with a key and the genesis
    registered = cli.ok(None, "verify", certificate_file)
    assert registered["document"] == certificate
    proven = cli.ok("chamber", "verify", certificate_file, "--genesis", genesis_file)
    assert proven["ok"] is True
    assert proven["file_matches"] is True
    stranger = directory / "stranger.pdf"
    stranger.write_bytes(b"never registered")
    result = cli(None, "verify", stranger)
    assert result.exit_code == 1
    assert "NOT REGISTERED" in one_error_line(result)

    # the reads, as JSON and as tables for people
    status = cli.ok(None, "status")
    assert status["chain_id"] == net.chain_id
    assert cli.ok(None, "block")["commit_signatures"] == 1
    tx_answer = cli.ok(None, "tx", "status", bill)
    assert tx_answer["code"] == "ok"
    for as_, *args in (
        (None, "status"),
        (None, "block", "1"),
        (None, "validators"),
        ("seller", "orgs"),
        ("seller", "members", "seller"),
        ("buyer", "doc", "show", bill),
        ("bank2", "doc", "show", payment),
    ):
        shown = cli(as_, *args)
        assert shown.exit_code == 0, (args, shown.stderr)
        assert shown.stdout.strip()
    assert "surrendered_for_delivery" in cli("buyer", "doc", "show", bill).stdout


def test_a_refusal_by_the_real_ledger(real: tuple[Cli, Path, Network]) -> None:
    cli, _, _ = real
    result = cli("carrier2", "bl", "accept", "cd" * 32)
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "no key 'carrier2'" in line  # not in this keystore
    result = cli("seller", "bl", "accept", "cd" * 32)
    assert result.exit_code == 1
    assert "document_unknown" in one_error_line(result)


def test_a_bill_from_options(fake: tuple[Cli, FakeNode], tmp_path: Path) -> None:
    cli, node = fake
    signed_file = tmp_path / "bill.pdf"
    signed_file.write_bytes(b"%PDF the bill")
    answer = cli.ok(
        "carrier", "bl", "issue", "--issue-to", "seller", "--straight", "--consignee", "buyer",
        "--reference", "BL-OPT", "--file", signed_file, "--shipper", "Seller BV",
        "--shipper-country", "NL", "--vessel", "MSC Gülsün", "--voyage", "402E",
        "--from", "NLRTM", "--to", "SGSIN", "--goods", "Shoes", "--hs-code", "640510",
        "--packages", "400", "--weight-kg", "12000.5", "--issue-date", "2026-01-01",
    )  # fmt: skip
    tx = Transaction.decode(node.requests[-1].content)
    assert answer["document"] == tx.id.hex()
    bill = tx.body["bill"]
    assert isinstance(bill, dict)
    assert bill["goods"] == [
        {
            "description": "Shoes",
            "hs_codes": ["640510"],
            "cargo_items": [
                {"packages": 400, "gross_weight_milli": 12_000_500, "weight_unit": "KGM"}
            ],
        }
    ]
    assert (tx.body["to_order"], tx.body["consignee"]) == (False, "buyer")
    assert tx.body["document_sha256"] == crypto.sha256(b"%PDF the bill")


def test_a_dcsa_bill_must_agree_with_the_options(
    fake: tuple[Cli, FakeNode], tmp_path: Path
) -> None:
    cli, node = fake
    template = DCSA / "conformance-gateway" / "ebl-api-3.0.0-negotiable-bl.json"
    text = template.read_text(encoding="utf-8")
    for token, value in PLACEHOLDERS.items():
        text = text.replace(token, value)
    document = tmp_path / "negotiable.json"
    document.write_text(text)
    common: list[str | Path] = ["bl", "issue", "--dcsa", document, "--issue-to", "seller"]
    common += ["--reference", "R-1"]
    result = cli("carrier", *common, "--straight")
    assert result.exit_code == 1
    assert "isToOrder=True" in one_error_line(result)
    result = cli("carrier", *common, "--consignee", "buyer")
    assert "a to-order bill names an --endorsee" in one_error_line(result)
    result = cli("carrier", *common)
    assert "give --vessel, --voyage, --from, --to" in one_error_line(result)
    assert node.requests == []


def test_certificate_fields_from_a_data_file(fake: tuple[Cli, FakeNode], tmp_path: Path) -> None:
    cli, node = fake
    data = tmp_path / "coo.json"
    data.write_text(
        json.dumps(
            {
                "exporter": {"name": "Seller BV", "address": ["Main 1"], "country": "NL"},
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
                "document_sha256": "11" * 32,
            }
        )
    )
    cli.ok("chamber", "coo", "issue", "--reference", "COO-D", "--data", data)
    body = Transaction.decode(node.requests[-1].content).body
    assert body["document_sha256"] == bytes.fromhex("11" * 32)
    assert body["exporter"] == {"name": "Seller BV", "address": ["Main 1"], "country": "NL"}
    assert body["reference"] == "COO-D"
    data.write_text(json.dumps({**json.loads(data.read_text()), "colour": "red"}))
    result = cli("chamber", "coo", "issue", "--reference", "COO-E", "--data", data)
    assert result.exit_code == 1
    assert "--data: unexpected or missing field" in one_error_line(result)
