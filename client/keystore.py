"""Member keys encrypted at rest: Argon2id derives a key from the passphrase, SecretBox
(XSalsa20-Poly1305) encrypts the 32-byte Ed25519 seed.

A key file is JSON, readable without the passphrase for everything but the seed:

    {"format": "tradeledger-key/1", "name": "...", "organisation": "...",
     "public_key": "<hex>", "kdf": {"algorithm": "argon2id", "opslimit": N,
     "memlimit": N, "salt": "<hex>"}, "ciphertext": "<hex>"}

A wrong passphrase and a damaged file both raise `KeystoreError` with a message that says
which; nothing is ever written in the clear.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from ledger.crypto import SEED_SIZE_BYTES, SigningKey

FORMAT = "tradeledger-key/1"
KEY_FILE_SUFFIX = ".key.json"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Interactive limits: about 0.1 s and 64 MiB per unlock on this class of machine.
OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
PASSPHRASE_LENGTH_MIN = 8


class KeystoreError(Exception):
    """A key file cannot be created, read or unlocked; the message says what to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyInfo:
    name: str
    organisation: str
    public_key: bytes
    path: Path


def create_key_file(
    directory: Path,
    name: str,
    organisation: str,
    passphrase: str,
    *,
    key: SigningKey | None = None,
    opslimit: int = OPSLIMIT,
    memlimit: int = MEMLIMIT,
) -> KeyInfo:
    """Write a new encrypted key file; refuse to overwrite one of the same name."""
    if not NAME_PATTERN.match(name):
        raise KeystoreError(f"key name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    if len(passphrase) < PASSPHRASE_LENGTH_MIN:
        raise KeystoreError(
            f"passphrase too short: use at least {PASSPHRASE_LENGTH_MIN} characters"
        )
    key = key or SigningKey.generate()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{name}{KEY_FILE_SUFFIX}"
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    box = nacl.secret.SecretBox(_derive(passphrase, salt, opslimit, memlimit))
    document = {
        "format": FORMAT,
        "name": name,
        "organisation": organisation,
        "public_key": key.public_key.hex(),
        "kdf": {
            "algorithm": "argon2id",
            "opslimit": opslimit,
            "memlimit": memlimit,
            "salt": salt.hex(),
        },
        "ciphertext": bytes(box.encrypt(key.seed)).hex(),
    }
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeystoreError(f"{path} exists: choose another name or remove it first") from None
    with os.fdopen(descriptor, "w") as file:
        json.dump(document, file, indent=2)
        file.write("\n")
    return KeyInfo(name=name, organisation=organisation, public_key=key.public_key, path=path)


def read_key_info(path: Path) -> KeyInfo:
    document = _load(path)
    return KeyInfo(
        name=str(document["name"]),
        organisation=str(document["organisation"]),
        public_key=bytes.fromhex(str(document["public_key"])),
        path=path,
    )


def unlock(path: Path, passphrase: str) -> SigningKey:
    """The signing key in `path`; KeystoreError if the passphrase is wrong or the file damaged."""
    document = _load(path)
    kdf = document["kdf"]
    assert isinstance(kdf, dict)
    try:
        salt = bytes.fromhex(kdf["salt"])
        ciphertext = bytes.fromhex(str(document["ciphertext"]))
        box = nacl.secret.SecretBox(
            _derive(passphrase, salt, int(kdf["opslimit"]), int(kdf["memlimit"]))
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise KeystoreError(f"{path}: damaged key file ({exc})") from None
    try:
        seed = box.decrypt(ciphertext)
    except nacl.exceptions.CryptoError:
        raise KeystoreError(f"{path}: wrong passphrase (or the file was altered)") from None
    if len(seed) != SEED_SIZE_BYTES:
        raise KeystoreError(f"{path}: damaged key file (seed of {len(seed)} bytes)")
    key = SigningKey(seed)
    if key.public_key.hex() != document["public_key"]:
        raise KeystoreError(f"{path}: the public key does not match the encrypted seed")
    return key


def list_keys(directory: Path) -> list[KeyInfo]:
    if not directory.is_dir():
        return []
    return [read_key_info(path) for path in sorted(directory.glob(f"*{KEY_FILE_SUFFIX}"))]


def _derive(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    derived: bytes = nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE,
        passphrase.encode("utf-8"),
        salt,
        opslimit=opslimit,
        memlimit=memlimit,
    )
    return derived


def _load(path: Path) -> dict[str, object]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeystoreError(f"{path}: no such key file") from None
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"{path}: not a readable key file ({exc})") from None
    required = {"format", "name", "organisation", "public_key", "kdf", "ciphertext"}
    if not isinstance(document, dict) or not required <= set(document):
        raise KeystoreError(f"{path}: not a tradeledger key file")
    if document["format"] != FORMAT:
        raise KeystoreError(f"{path}: unsupported key file format {document['format']!r}")
    if not isinstance(document["kdf"], dict) or document["kdf"].get("algorithm") != "argon2id":
        raise KeystoreError(f"{path}: unsupported key derivation")
    return document
