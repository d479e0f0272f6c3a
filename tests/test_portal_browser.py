"""The verification portal in a real headless Chromium (Debian's `chromium`, driven by
Playwright's sync API) against real node processes (`tests.devnet_harness`).

One devnet serves the module: the demo trade, plus a revoked certificate, an amended bill
(its first version superseded) and an offer waiting for the buyer. Each verdict page is saved
as a screenshot under test-artifacts/portal/. Every wait is on a condition with a timeout.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import zxingcpp
from click.testing import CliRunner
from PIL import Image
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from client.sdk import Client
from client.verify import verify_bundle
from ledger.types import Genesis
from node.cli import main as cli_main
from node.demo import run_demo
from tests.devnet_harness import Devnet

pytestmark = pytest.mark.timeout(180)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "portal"
PAGE_TIMEOUT_MS = 15_000
LIVE_TIMEOUT_MS = 20_000  # blocks come about every second, empty or not

if not CHROMIUM.exists():
    if os.environ.get("CI"):  # CI must run these, never skip them
        pytest.fail("/usr/bin/chromium is missing: .ci/run installs it", pytrace=False)
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium, as .ci/run does)",
        allow_module_level=True,
    )


@dataclass
class Trade:
    net: Devnet
    url: str
    genesis: Genesis
    files: dict[str, Path]  # name -> document file
    ids: dict[str, str]  # name -> document id


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _bill(reference: str) -> dict[str, object]:
    return {
        "document_type": "BOL",
        "shipper": {"name": "Delft Ceramics B.V.", "country": "NL"},
        "vessel_voyages": [{"vessel_name": "OCL Rotterdam", "voyage": "513E"}],
        "port_of_loading": "NLRTM",
        "port_of_discharge": "SGSIN",
        "goods": [
            {
                "description": "Porcelain vases",
                "hs_codes": ["691390"],
                "cargo_items": [
                    {"packages": 4, "gross_weight_milli": 320_000_000, "weight_unit": "KGM"}
                ],
            }
        ],
        "issue_date": time.strftime("%Y-%m-%d"),
        "is_shipped_on_board": True,
        "freight_payment_term": "PRE",
        "shipping_instructions_reference": f"SI-{reference}",
    }


@pytest.fixture(scope="module")
def trade(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trade]:
    directory = tmp_path_factory.mktemp("portal-devnet")
    net = Devnet.create(directory)
    try:
        yield _walk_trade(net)
    finally:
        net.stop()


def _walk_trade(net: Devnet) -> Trade:
    run_demo(net.directory)
    documents = net.directory / "documents"
    files = {
        "bill": next(documents.glob("bill-of-lading-*.json")),
        "certificate": next(documents.glob("certificate-of-origin-*.json")),
    }
    run_id = files["bill"].name.removeprefix("bill-of-lading-").removesuffix(".json")
    url = net.url(0)
    genesis = Genesis.from_json((net.directory / "genesis.json").read_text())

    def client(organisation: str) -> Client:
        return Client(url, net.member_key(organisation), chain_id=net.chain_id)

    with Client(url, None, chain_id=net.chain_id) as public:
        ids = {
            name: str(public.verify_file(path.read_bytes())["document"])
            for name, path in files.items()
        }
    with client("bank-sg") as bank:
        payment = bank.lookup("pay", "bank-sg", f"STB-{run_id}")
    with client("customs-nl") as customs:
        decision = customs.lookup("customs", "customs-nl", f"NLC-{run_id}")
    assert payment is not None
    assert decision is not None
    ids["payment"], ids["decision"] = payment, decision

    # a certificate the chamber revokes
    files["revoked"] = documents / "certificate-revoked.json"
    files["revoked"].write_text(json.dumps({"certificate": f"RCC-R-{run_id}"}) + "\n")
    with client("chamber-nl") as chamber:
        issued = chamber.coo_issue(
            reference=f"RCC-R-{run_id}",
            document_sha256=hashlib.sha256(files["revoked"].read_bytes()).digest(),
            exporter={"name": "Delft Ceramics B.V.", "country": "NL"},
            importer={"name": "Lion City Imports Pte. Ltd.", "country": "SG"},
            country_of_export="NL",
            country_of_import="SG",
            goods=[
                {
                    "description": "Porcelain vases",
                    "hs_code": "691390",
                    "quantity": 10,
                    "unit": "NAR",
                    "origin_country": "NL",
                    "origin_criterion": "WO",
                }
            ],
            issue_date=time.strftime("%Y-%m-%d"),
            exporter_organisation="seller",
            importer_organisation="buyer",
        )
        chamber.coo_revoke(issued.id, "issued in error")
    ids["revoked"] = issued.id

    # a bill amended after a surrender for amendment; the amended one is offered to the buyer
    files["amended-from"] = documents / "bill-v1.json"
    files["amended-to"] = documents / "bill-v2.json"
    files["amended-from"].write_text(json.dumps(_bill(f"A-{run_id}"), sort_keys=True) + "\n")
    files["amended-to"].write_text(json.dumps(_bill(f"A2-{run_id}"), sort_keys=True) + "\n")
    with client("carrier") as carrier, client("seller") as seller:
        first = carrier.bl_issue(
            reference=f"OCL-A-{run_id}",
            issue_to="seller",
            to_order=True,
            document_sha256=hashlib.sha256(files["amended-from"].read_bytes()).digest(),
            bill=_bill(f"A-{run_id}"),  # type: ignore[arg-type]
        )
        seller.bl_surrender(first.id, "amendment")
        carrier.bl_surrender_accept(first.id)
        second = carrier.bl_amend(
            first.id,
            reference=f"OCL-A-{run_id}",
            document_sha256=hashlib.sha256(files["amended-to"].read_bytes()).digest(),
            bill=_bill(f"A2-{run_id}"),  # type: ignore[arg-type]
        )
        seller.bl_transfer(second.id, "buyer")
    ids["amended-from"], ids["amended-to"] = first.id, second.id
    return Trade(net=net, url=url, genesis=genesis, files=files, ids=ids)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"script errors on the page: {errors}"


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def fits_the_screen(page: Page) -> bool:
    """Nothing sticks out sideways (a phone would have to scroll)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def verdict(page: Page, kind: str, title: str) -> None:
    box = page.locator("[data-verdict]")
    expect(box).to_have_attribute("data-verdict", kind)
    expect(page.locator("#verdict-title")).to_have_text(title)


def check_file(page: Page, trade: Trade, path: Path) -> list[tuple[str, str]]:
    """Choose `path` on the home page; the (method, URL) of every request the page made."""
    requested: list[tuple[str, str]] = []
    page.on("request", lambda request: requested.append((request.method, request.url)))
    page.goto(f"{trade.url}/portal")
    page.locator("#file-check").set_input_files(path)
    page.wait_for_url(re.compile(r"/portal/verify/file/[0-9a-f]{64}$"))
    return requested


# --- verdicts --------------------------------------------------------------------------------


def test_a_genuine_file_is_hashed_in_the_browser_and_shown_genuine(
    page: Page, trade: Trade
) -> None:
    path = trade.files["certificate"]
    requested = check_file(page, trade, path)
    assert page.url == f"{trade.url}/portal/verify/file/{sha256(path)}"
    assert {method for method, _ in requested} == {"GET"}  # no body left the browser
    assert [url for _, url in requested if "/verify/" in url] == [page.url]
    verdict(page, "genuine", "Genuine and current")
    expect(page.locator("[data-issuer]")).to_contain_text("Rotterdam Chamber of Commerce")
    expect(page.locator("[data-issuer]")).to_contain_text("issuing body (chamber of commerce)")
    expect(page.locator("[data-registered]")).to_contain_text(re.compile(r"in block \d+"))
    expect(page.locator("[data-registered-sha256]")).to_have_text(sha256(path))
    # the public verdict shows no details: no reference, no linked records
    expect(page.locator("[data-reference]")).to_have_count(0)
    expect(page.locator("[data-linked]")).to_have_count(0)
    shot(page, "verdict-genuine")
    page.set_viewport_size({"width": 390, "height": 844})
    assert fits_the_screen(page)
    shot(page, "verdict-genuine-phone")


def test_an_altered_file_is_shown_altered_against_the_registered_one(
    page: Page, trade: Trade, tmp_path: Path
) -> None:
    original = trade.files["certificate"]
    altered = tmp_path / original.name
    altered.write_bytes(original.read_bytes().replace(b"2400 pieces", b"3400 pieces"))
    assert altered.read_bytes() != original.read_bytes()
    page.goto(f"{trade.url}/portal/verify/file/{sha256(original)}")  # the verification link
    page.locator("#file-compare").set_input_files(altered)
    page.wait_for_url(re.compile(r"\?file=[0-9a-f]{64}$"))
    verdict(page, "altered", "Altered")
    expect(page.locator("[data-checked-sha256]")).to_have_text(sha256(altered))
    expect(page.locator("[data-registered-sha256]")).to_have_text(sha256(original))
    expect(page.locator("main")).to_contain_text("The registered document itself is: ✓ Genuine")
    shot(page, "verdict-altered")
    # the same file compared again with the original: it matches
    page.goto(f"{trade.url}/portal/verify/file/{sha256(original)}")
    page.locator("#file-compare").set_input_files(original)
    page.wait_for_url(re.compile(r"\?file=[0-9a-f]{64}$"))
    verdict(page, "genuine", "Genuine and current")
    expect(page.locator("main")).to_contain_text("matches the registered file")


def test_a_revoked_certificate(page: Page, trade: Trade) -> None:
    check_file(page, trade, trade.files["revoked"])
    verdict(page, "revoked", "Revoked")
    expect(page.locator(".verdict__summary")).to_contain_text("revoked this certificate of origin")
    shot(page, "verdict-revoked")


def test_a_surrendered_bill_of_lading_dropped_on_the_page(page: Page, trade: Trade) -> None:
    path = trade.files["bill"]
    page.goto(f"{trade.url}/portal")
    transfer = page.evaluate_handle(
        """([bytes, name]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name));
            return transfer;
        }""",
        [list(path.read_bytes()), path.name],
    )
    page.locator("[data-drop]").first.dispatch_event("drop", {"dataTransfer": transfer})
    page.wait_for_url(f"**/portal/verify/file/{sha256(path)}")
    verdict(page, "surrendered", "Surrendered")
    expect(page.locator(".verdict__summary")).to_contain_text("surrendered to the carrier")
    expect(page.locator("[data-issuer]")).to_contain_text("Oceanic Container Lines")
    shot(page, "verdict-surrendered")


def test_a_superseded_bill_and_a_file_not_on_the_ledger(
    page: Page, trade: Trade, tmp_path: Path
) -> None:
    check_file(page, trade, trade.files["amended-from"])
    verdict(page, "superseded", "Superseded by an amendment")
    shot(page, "verdict-superseded")
    unknown = tmp_path / "invoice.pdf"
    unknown.write_bytes(b"%PDF-1.7 not registered anywhere\n")
    check_file(page, trade, unknown)
    verdict(page, "not-found", "Not on the ledger")
    expect(page.locator("[data-checked-sha256]")).to_have_text(sha256(unknown))
    shot(page, "verdict-not-on-ledger")


def test_the_qr_code_on_the_sheet_scans_to_the_verdict(page: Page, trade: Trade) -> None:
    digest = sha256(trade.files["bill"])
    page.goto(f"{trade.url}/portal/sheet/{digest}")
    link = page.locator("[data-verification-link]").inner_text()
    assert link == f"{trade.url}/portal/verify/file/{digest}"
    scanned = zxingcpp.read_barcodes(Image.open(io.BytesIO(page.locator("svg.qr").screenshot())))
    assert [code.text for code in scanned] == [link], "the QR code does not carry the link"
    shot(page, "sheet-bill")
    page.emulate_media(media="print")
    shot(page, "sheet-bill-print")
    page.emulate_media(media="screen")
    page.goto(link)  # what a phone's camera opens
    verdict(page, "surrendered", "Surrendered")
    shot(page, "verdict-qr-link")


def test_the_verify_page_is_keyboard_usable(page: Page, trade: Trade) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{trade.url}/portal")
    assert fits_the_screen(page)
    shot(page, "home-phone")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Enter")
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "file-check":
            break
    expect(page.locator("#file-check")).to_be_focused()
    page.locator("#link").fill(f"{trade.url}/portal/verify/file/{sha256(trade.files['revoked'])}")
    page.keyboard.press("Enter")
    verdict(page, "revoked", "Revoked")


def test_the_browser_sha256_fallback_agrees_with_subtlecrypto(page: Page, trade: Trade) -> None:
    page.goto(f"{trade.url}/portal")
    for size in (0, 3, 55, 56, 63, 64, 65, 1000, 70_000):
        data = bytes((i * 7 + size) % 256 for i in range(size))
        digest = page.evaluate(
            "bytes => window.tradeledgerSha256Fallback(new Uint8Array(bytes))", list(data)
        )
        assert digest == hashlib.sha256(data).hexdigest(), f"size {size}"


# --- the signed-in view ------------------------------------------------------------------------


def sign_in(page: Page, trade: Trade, organisation: str) -> None:
    """`tradeledger portal login` for the organisation's clerk key, then the link in the
    browser, confirmed."""
    result = CliRunner(
        env={"TRADELEDGER_PASSPHRASE": str(trade.net.manifest["passphrase"])}
    ).invoke(
        cli_main,
        [
            "portal",
            "login",
            "--node",
            trade.url,
            "--key",
            f"{organisation}-clerk",
            "--keystore",
            str(trade.net.directory / "keys"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    link = json.loads(result.output)["link"]
    page.goto(link)
    page.locator("[data-confirm-sign-in]").click()
    page.wait_for_url(f"{trade.url}/portal/me")


def test_customs_signed_in_sees_exactly_what_customs_may_see(page: Page, trade: Trade) -> None:
    ids = trade.ids
    sign_in(page, trade, "customs-nl")
    expect(page.locator("h1")).to_have_text("Netherlands Customs (demo)")
    listed = set(
        page.locator("[data-document]").evaluate_all("rows => rows.map(r => r.dataset.document)")
    )
    assert listed == {ids["bill"], ids["certificate"], ids["decision"]}
    expect(page.locator("[data-pending]")).to_contain_text("Nothing is waiting")
    shot(page, "customs-overview")

    page.goto(f"{trade.url}/portal/documents/{ids['bill']}")
    verdict(page, "surrendered", "Surrendered")
    steps = page.locator("[data-timeline] li")
    expect(steps).to_have_count(4)
    expect(steps.nth(0)).to_contain_text("Issued by Oceanic Container Lines (demo) to Delft")
    expect(steps.nth(1)).to_contain_text("Transferred from Delft Ceramics B.V. (demo) to Lion")
    expect(steps.nth(2)).to_contain_text("for delivery")
    expect(steps.nth(3)).to_contain_text("Surrender accepted by Oceanic Container Lines")
    expect(page.locator("[data-linked-certificates] li")).to_have_count(1)
    expect(page.locator("[data-linked-certificates]")).to_contain_text("Valid")
    expect(page.locator("[data-linked-customs] li")).to_have_count(1)
    expect(page.locator("[data-linked-customs]")).to_contain_text("clearance: released")
    expect(page.locator("[data-linked-payments]")).to_have_count(0)  # the banks' business
    assert "STB-" not in page.content()
    shot(page, "customs-bill")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download evidence bundle").click()
    bundle = json.loads(Path(download.value.path()).read_text())
    report = verify_bundle(bundle, trade.genesis, trade.files["bill"].read_bytes())
    assert report.file_matches
    assert len(report.entries) >= 4

    page.goto(f"{trade.url}/portal/documents/{ids['certificate']}")
    expect(page.locator("main")).to_contain_text("Verified by customs")
    expect(page.locator("[data-linked-bills] li")).to_have_count(1)

    for hidden in ("payment", "revoked", "amended-to"):
        answer = page.goto(f"{trade.url}/portal/documents/{ids[hidden]}")
        assert answer is not None
        assert answer.status == 403
        expect(page.locator("h1")).to_contain_text("Not visible to your organisation")
    shot(page, "customs-forbidden")
    page.goto(f"{trade.url}/portal/verify/file/{sha256(trade.files['revoked'])}")
    verdict(page, "revoked", "Revoked")  # the public verdict, and no more
    expect(page.locator("[data-not-party]")).to_be_visible()
    expect(page.locator("[data-linked]")).to_have_count(0)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{trade.url}/portal")
    page.goto(f"{trade.url}/portal/me")
    page.wait_for_url(f"{trade.url}/portal/sign-in")


def test_the_buyer_sees_the_offer_waiting_for_it(page: Page, trade: Trade) -> None:
    sign_in(page, trade, "buyer")
    offer = page.locator("[data-pending-offer]")
    expect(offer).to_have_count(1)
    expect(offer).to_contain_text(f"tradeledger bl accept {trade.ids['amended-to']}")
    page.goto(f"{trade.url}/portal")
    page.locator("#family").select_option("bl")
    page.locator("#issuer").select_option("carrier")
    page.locator("#reference").fill(
        trade.files["bill"].name.replace("bill-of-lading-", "OCL-").removesuffix(".json")
    )
    page.locator("#file-reference").set_input_files(trade.files["certificate"])  # wrong file
    expect(page.locator("[data-hash-field]")).to_have_value(sha256(trade.files["certificate"]))
    page.get_by_role("button", name="Look up").click()
    verdict(page, "altered", "Altered")
    expect(page.locator("[data-reference]")).to_contain_text("OCL-")
    shot(page, "buyer-reference-altered")


# --- the ledger, live --------------------------------------------------------------------------


def test_the_ledger_view_follows_new_blocks(page: Page, trade: Trade) -> None:
    page.goto(f"{trade.url}/portal/ledger")
    height = int(page.locator("[data-height]").inner_text())
    expect(page.locator("[data-validators] tr")).to_have_count(4)
    expect(page.locator("[data-live-status]")).to_contain_text("Live", timeout=LIVE_TIMEOUT_MS)
    tx = trade.net.bill(f"BL-LIVE-{time.time_ns()}")
    assert trade.net.submit(1, tx).status_code == 200
    committed = httpx.get(f"{trade.url}/v1/transactions/{tx.id.hex()}").json()["height"]
    page.wait_for_function(
        "h => Number(document.querySelector('[data-height]').textContent) >= h",
        arg=max(committed, height + 1),
        timeout=LIVE_TIMEOUT_MS,
    )
    expect(page.locator("[data-blocks] tr").first).not_to_have_text(str(height))
    shot(page, "ledger-live")
