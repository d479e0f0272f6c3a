from __future__ import annotations

import json
from pathlib import Path

import nacl.pwhash
import pytest
from click.testing import CliRunner

from client.cli import main
from client.keystore import KeystoreError, create_key_file, list_keys, read_key_info, unlock
from ledger.crypto import SigningKey

OPS, MEM = nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN


def test_round_trip_and_nothing_in_the_clear(tmp_path: Path) -> None:
    key = SigningKey(bytes(range(32)))
    info = create_key_file(
        tmp_path, "clerk", "customs-nl", "correct horse", key=key, opslimit=OPS, memlimit=MEM
    )
    text = info.path.read_text()
    assert key.seed.hex() not in text
    assert info.path.stat().st_mode & 0o077 == 0
    assert unlock(info.path, "correct horse").public_key == key.public_key
    assert read_key_info(info.path).organisation == "customs-nl"
    assert [k.name for k in list_keys(tmp_path)] == ["clerk"]


def test_wrong_passphrase_and_altered_file_are_refused(tmp_path: Path) -> None:
    info = create_key_file(tmp_path, "clerk", "bank-a", "correct horse", opslimit=OPS, memlimit=MEM)
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        unlock(info.path, "wrong horse!")
    document = json.loads(info.path.read_text())
    document["ciphertext"] = document["ciphertext"][:-2] + "00"
    info.path.write_text(json.dumps(document))
    with pytest.raises(KeystoreError, match=r"wrong passphrase|altered"):
        unlock(info.path, "correct horse")


def test_refuses_overwrite_bad_names_and_short_passphrases(tmp_path: Path) -> None:
    create_key_file(tmp_path, "clerk", "bank-a", "correct horse", opslimit=OPS, memlimit=MEM)
    with pytest.raises(KeystoreError, match="exists"):
        create_key_file(tmp_path, "clerk", "bank-a", "correct horse", opslimit=OPS, memlimit=MEM)
    with pytest.raises(KeystoreError, match="key name"):
        create_key_file(tmp_path, "../evil", "bank-a", "correct horse", opslimit=OPS, memlimit=MEM)
    with pytest.raises(KeystoreError, match="too short"):
        create_key_file(tmp_path, "other", "bank-a", "short", opslimit=OPS, memlimit=MEM)


def test_cli_keys_new_list_show(tmp_path: Path) -> None:
    runner = CliRunner()
    store = str(tmp_path / "keys")
    new = runner.invoke(
        main,
        ["keys", "new", "clerk", "--organisation", "customs-nl", "--keystore", store],
        input="correct horse\ncorrect horse\n",
    )
    assert new.exit_code == 0, new.output
    listed = runner.invoke(main, ["keys", "list", "--keystore", store, "--json"])
    assert listed.exit_code == 0, listed.output
    entries = json.loads(listed.output)
    assert [e["name"] for e in entries] == ["clerk"]
    shown = runner.invoke(main, ["keys", "show", "clerk", "--keystore", store])
    assert entries[0]["public_key"] in shown.output
    missing = runner.invoke(main, ["keys", "show", "nobody", "--keystore", store])
    assert missing.exit_code == 1
    assert "no such key" in missing.output
