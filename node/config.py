"""A node's configuration: one TOML file, validated on load; errors name the field.

    [node]
    name = "customs-nl"
    key_file = "node.key"          # hex Ed25519 seed, mode 0600; relative to this file
    genesis_file = "genesis.json"
    data_dir = "data"

    [p2p]
    listen = "127.0.0.1:26601"     # host:port; any address of this machine
    peers = [{ key = "<hex node key>", address = "10.0.0.7:26601" }]

    [api]
    listen = "127.0.0.1:8601"

    [consensus]
    empty_block_interval_ms = 1000 # propose an empty block after this long with no work
    block_interval_ms_min = 0      # with work, propose this long after the last block

Nothing assumes loopback: each organisation's node lists its own addresses and its peers'.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from ledger.crypto import PUBLIC_KEY_SIZE_BYTES, SEED_SIZE_BYTES, SigningKey


class ConfigError(ValueError):
    """The configuration is unusable; the message names the file and the field."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    host: str
    port: int

    @classmethod
    def parse(cls, text: object, field_name: str) -> Address:
        if not isinstance(text, str) or ":" not in text:
            raise ConfigError(f"{field_name}: expected 'host:port', got {text!r}")
        host, _, port_text = text.rpartition(":")
        host = host.strip("[]")
        valid_port = port_text.isascii() and port_text.isdecimal() and int(port_text) <= 65535
        if not host or not valid_port:
            raise ConfigError(
                f"{field_name}: expected 'host:port' with port 0..65535, got {text!r}"
            )
        return cls(host=host, port=int(port_text))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Peer:
    node_key: bytes
    address: Address


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeConfig:
    path: Path  # the file this was loaded from; relative paths are relative to its directory
    name: str
    key_file: Path
    genesis_file: Path
    data_dir: Path
    p2p_listen: Address
    peers: tuple[Peer, ...] = ()
    api_listen: Address = field(default_factory=lambda: Address(host="127.0.0.1", port=8600))
    empty_block_interval_ms: int = 1000
    block_interval_ms_min: int = 0

    @classmethod
    def load(cls, path: Path) -> NodeConfig:
        try:
            document = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such configuration file") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: not readable TOML: {exc}") from None
        try:
            return cls._from_document(path, document)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    @classmethod
    def _from_document(cls, path: Path, document: dict[str, Any]) -> NodeConfig:
        base = path.resolve().parent
        _known(document, "", {"node", "p2p", "api", "consensus"})
        node = _table(document, "node")
        _known(node, "node.", {"name", "key_file", "genesis_file", "data_dir"})
        p2p = _table(document, "p2p")
        _known(p2p, "p2p.", {"listen", "peers"})
        api = _table(document, "api", required=False)
        _known(api, "api.", {"listen"})
        consensus = _table(document, "consensus", required=False)
        _known(consensus, "consensus.", {"empty_block_interval_ms", "block_interval_ms_min"})
        peers = []
        raw_peers = p2p.get("peers", [])
        if not isinstance(raw_peers, list):
            raise ConfigError("p2p.peers: expected a list of {key, address}")
        for index, raw in enumerate(raw_peers):
            name = f"p2p.peers[{index}]"
            if not isinstance(raw, dict):
                raise ConfigError(f"{name}: expected {{key = ..., address = ...}}")
            _known(raw, f"{name}.", {"key", "address"})
            peers.append(
                Peer(
                    node_key=_hex(raw.get("key"), f"{name}.key", PUBLIC_KEY_SIZE_BYTES),
                    address=Address.parse(raw.get("address"), f"{name}.address"),
                )
            )
        interval = consensus.get("empty_block_interval_ms", 1000)
        if not isinstance(interval, int) or not 10 <= interval <= 600_000:
            raise ConfigError("consensus.empty_block_interval_ms: expected 10..600000")
        interval_min = consensus.get("block_interval_ms_min", 0)
        if not isinstance(interval_min, int) or not 0 <= interval_min <= interval:
            raise ConfigError(
                "consensus.block_interval_ms_min: expected 0..empty_block_interval_ms"
            )
        return cls(
            path=path,
            name=_text(node, "name", "node.name"),
            key_file=base / _text(node, "key_file", "node.key_file"),
            genesis_file=base / _text(node, "genesis_file", "node.genesis_file"),
            data_dir=base / _text(node, "data_dir", "node.data_dir"),
            p2p_listen=Address.parse(p2p.get("listen"), "p2p.listen"),
            peers=tuple(peers),
            api_listen=Address.parse(api.get("listen", "127.0.0.1:8600"), "api.listen"),
            empty_block_interval_ms=interval,
            block_interval_ms_min=interval_min,
        )

    def to_toml(self) -> str:
        base = self.path.resolve().parent
        return tomli_w.dumps(
            {
                "node": {
                    "name": self.name,
                    "key_file": _relative(self.key_file, base),
                    "genesis_file": _relative(self.genesis_file, base),
                    "data_dir": _relative(self.data_dir, base),
                },
                "p2p": {
                    "listen": str(self.p2p_listen),
                    "peers": [
                        {"key": peer.node_key.hex(), "address": str(peer.address)}
                        for peer in self.peers
                    ],
                },
                "api": {"listen": str(self.api_listen)},
                "consensus": {
                    "empty_block_interval_ms": self.empty_block_interval_ms,
                    "block_interval_ms_min": self.block_interval_ms_min,
                },
            }
        )


def load_node_key(path: Path) -> SigningKey:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the node key: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the node key must be 64 hex digits, not binary") from None
    return SigningKey(_hex(text, str(path), SEED_SIZE_BYTES))


def write_node_key(path: Path, key: SigningKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=False)
    path.write_text(key.seed.hex() + "\n")


def _table(document: dict[str, Any], name: str, *, required: bool = True) -> dict[str, Any]:
    table = document.get(name)
    if table is None and not required:
        return {}
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}]: section missing")
    return table


def _known(table: dict[str, Any], prefix: str, names: set[str]) -> None:
    unknown = sorted(set(table) - names)
    if unknown:
        raise ConfigError(
            f"{prefix}{unknown[0]}: unknown field (known: {', '.join(sorted(names))})"
        )


def _text(table: dict[str, Any], key: str, field_name: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{field_name}: required text")
    return value


def _hex(value: object, field_name: str, size: int) -> bytes:
    if not isinstance(value, str):
        raise ConfigError(f"{field_name}: expected {size * 2} hex digits")
    try:
        decoded = bytes.fromhex(value)
    except ValueError:
        raise ConfigError(f"{field_name}: not hex") from None
    if len(decoded) != size:
        raise ConfigError(f"{field_name}: expected {size} bytes, got {len(decoded)}")
    return decoded


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base))
    except ValueError:
        return str(path)
