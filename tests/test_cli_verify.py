"""`tradeledger verify` offline, on genuine and tampered bundle files (no node anywhere)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from client.cli import main
from tests.chain import ChainBuilder
from tests.test_bundle_verify import FILE, OTHER_FILE, Fixture, build_bundle


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return build_bundle(tmp_path_factory.mktemp("cli-bundle") / "db", ChainBuilder())


@pytest.fixture
def files(tmp_path: Path, genuine: Fixture) -> dict[str, Path]:
    paths = {
        "bundle": tmp_path / "bundle.json",
        "genesis": tmp_path / "genesis.json",
        "document": tmp_path / "bill.pdf",
        "other": tmp_path / "forged.pdf",
        "tampered": tmp_path / "tampered.json",
        "old": tmp_path / "old-format.json",
    }
    paths["bundle"].write_text(json.dumps(genuine.bundle))
    paths["genesis"].write_text(genuine.genesis.to_json())
    paths["document"].write_bytes(FILE)
    paths["other"].write_bytes(OTHER_FILE)
    tampered: dict[str, Any] = copy.deepcopy(genuine.bundle)
    assert tampered["entries"][1]["code"] == "ok"
    tampered["entries"][1]["code"] = "sender_not_holder"
    paths["tampered"].write_text(json.dumps(tampered))
    old: dict[str, Any] = copy.deepcopy(genuine.bundle)
    old["format"] = "tradeledger-bundle/1"
    paths["old"].write_text(json.dumps(old))
    return paths


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_a_genuine_bundle_verifies(files: dict[str, Path], genuine: Fixture) -> None:
    result = run(
        "verify", files["bundle"], "--genesis", files["genesis"], "--file", files["document"]
    )
    assert result.exit_code == 0, result.output
    assert f"VERIFIED document {genuine.document_id}" in result.stdout
    assert "matches the registered document" in result.stdout
    assert "bl.transfer" in result.stdout


def test_json_output_parses(files: dict[str, Path], genuine: Fixture) -> None:
    result = run(
        "verify",
        files["bundle"],
        "--genesis",
        files["genesis"],
        "--file",
        files["document"],
        "--json",
    )
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["file_matches"] is True
    assert report["document_id"] == genuine.document_id
    assert [e["kind"] for e in report["entries"]] == ["bl.issue", "bl.transfer", "bl.accept"]


def test_a_tampered_bundle_is_refused(files: dict[str, Path]) -> None:
    result = run("verify", files["tampered"], "--genesis", files["genesis"])
    assert result.exit_code == 1
    assert "NOT VERIFIED entries[1].code_proof: code 'sender_not_holder'" in result.stderr
    assert "VERIFIED document" not in result.stdout
    as_json = run("verify", files["tampered"], "--genesis", files["genesis"], "--json")
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert report["problems"][0]["field"] == "entries[1].code_proof"
    assert report["problems"][0]["entry"] == 1


def test_a_bundle_of_an_old_format_is_refused_by_name(files: dict[str, Path]) -> None:
    result = run("verify", files["old"], "--genesis", files["genesis"], "--file", files["document"])
    assert result.exit_code == 1
    assert "NOT VERIFIED format: 'tradeledger-bundle/1' is no longer accepted" in result.stderr


def test_a_forged_file_is_refused(files: dict[str, Path]) -> None:
    result = run("verify", files["bundle"], "--genesis", files["genesis"], "--file", files["other"])
    assert result.exit_code == 1
    assert "DOES NOT MATCH" in result.stdout
    assert "NOT VERIFIED file:" in result.stderr


def test_the_genesis_is_read_from_the_environment(files: dict[str, Path]) -> None:
    result = CliRunner(env={"TRADELEDGER_GENESIS": str(files["genesis"])}).invoke(
        main, ["verify", str(files["bundle"])]
    )
    assert result.exit_code == 0, result.output


def test_a_bundle_without_a_genesis_is_a_usage_error(files: dict[str, Path]) -> None:
    result = run("verify", files["bundle"])
    assert result.exit_code == 2
    assert "pass --genesis FILE" in one_error_line(result)


def test_a_document_file_needs_a_node(files: dict[str, Path]) -> None:
    result = run("verify", files["document"])
    assert result.exit_code == 2
    assert "pass --node URL" in one_error_line(result)
    result = run("verify", files["document"], "--file", files["other"])
    assert result.exit_code == 2
    assert "--file goes with a bundle" in one_error_line(result)


def test_a_broken_genesis_file_is_one_line(files: dict[str, Path]) -> None:
    files["genesis"].write_text("{}")
    result = run("verify", files["bundle"], "--genesis", files["genesis"])
    assert result.exit_code == 1
    assert "--genesis: " in one_error_line(result)
    as_json = run("verify", files["bundle"], "--genesis", files["genesis"], "--json")
    assert json.loads(as_json.stdout)["error"] == "invalid_argument"


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = run("verify", tmp_path / "nowhere.json")
    assert result.exit_code == 2
    assert "does not exist" in one_error_line(result)
