"""Node configuration: a TOML round trip, paths relative to the file, errors that name the field."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from contracts.testing import seeded_key
from node.config import (
    Address,
    ConfigError,
    NodeConfig,
    Peer,
    load_node_key,
    write_node_key,
)

PEER_KEY = seeded_key("peer/1").public_key.hex()

MINIMAL = """\
[node]
name = "customs-nl"
key_file = "node.key"
genesis_file = "genesis.json"
data_dir = "data"

[p2p]
listen = "127.0.0.1:26601"
"""


def write(tmp_path: Path, text: str, name: str = "node.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def raised(call: Callable[[], object]) -> ValueError | None:
    """The ValueError (ConfigError or another) that `call` raises, or None."""
    try:
        call()
    except ValueError as exc:
        return exc
    return None


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        NodeConfig.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")  # every error names the file...
    return message.removeprefix(f"{path}: ")  # ...and then the field


# --- loading ------------------------------------------------------------------------------


def test_a_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    config = NodeConfig.load(write(tmp_path, MINIMAL))
    base = tmp_path.resolve()
    assert config.name == "customs-nl"
    assert config.key_file == base / "node.key"
    assert config.genesis_file == base / "genesis.json"
    assert config.data_dir == base / "data"
    assert config.p2p_listen == Address(host="127.0.0.1", port=26601)
    assert config.peers == ()
    assert config.api_listen == Address(host="127.0.0.1", port=8600)
    assert config.empty_block_interval_ms == 1000


def test_relative_paths_are_resolved_against_the_file_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    text = MINIMAL.replace('"node.key"', '"keys/node.key"').replace(
        '"data"', f'"{(tmp_path / "abs-data").as_posix()}"'
    )
    write(conf, text)
    monkeypatch.chdir(elsewhere)  # the working directory plays no part
    config = NodeConfig.load(Path("../conf/node.toml"))
    base = conf.resolve()
    assert config.key_file == base / "keys" / "node.key"
    assert config.genesis_file == base / "genesis.json"
    assert config.data_dir == tmp_path / "abs-data"  # absolute stays absolute


def test_a_full_configuration_round_trips_through_toml(tmp_path: Path) -> None:
    base = tmp_path.resolve()
    config = NodeConfig(
        path=base / "node.toml",
        name="bank-2",
        key_file=base / "keys" / "node.key",
        genesis_file=base / "genesis.json",
        data_dir=base.parent / f"{base.name}-data",  # outside the file's directory
        p2p_listen=Address(host="0.0.0.0", port=26602),
        peers=(
            Peer(
                node_key=seeded_key("peer/1").public_key,
                address=Address(host="10.0.0.7", port=26601),
            ),
            Peer(node_key=seeded_key("peer/2").public_key, address=Address(host="::1", port=0)),
            Peer(
                node_key=seeded_key("peer/3").public_key,
                address=Address(host="node-3.example", port=65535),
            ),
        ),
        api_listen=Address(host="192.168.1.2", port=8602),
        empty_block_interval_ms=250,
    )
    text = config.to_toml()
    assert 'key_file = "keys/node.key"' in text  # written relative to the file
    assert '"[::1]:0"' in text  # IPv6 hosts are bracketed
    config.path.write_text(text)
    loaded = NodeConfig.load(config.path)
    assert loaded == config
    assert loaded.to_toml() == text


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param("", "[node]", id="empty-file"),
        pytest.param("[p2p]" + MINIMAL.split("[p2p]")[1], "[node]", id="no-node"),
        pytest.param(
            'node = "x"\n[p2p]' + MINIMAL.split("[p2p]")[1], "[node]", id="node-not-a-table"
        ),
        pytest.param(MINIMAL.split("[p2p]")[0], "[p2p]", id="no-p2p"),
    ],
)
def test_a_missing_section_is_named(tmp_path: Path, text: str, field: str) -> None:
    assert load_error(tmp_path, text) == f"{field}: section missing"


def document(
    *, top: str = "", node: str = "", p2p: str = "", api: str = "", consensus: str = ""
) -> str:
    """MINIMAL with extra lines in each section."""
    return (
        f"{top}[node]\n"
        'name = "customs-nl"\nkey_file = "node.key"\n'
        f'genesis_file = "genesis.json"\ndata_dir = "data"\n{node}'
        f'[p2p]\nlisten = "127.0.0.1:26601"\n{p2p}'
        f'[api]\nlisten = "127.0.0.1:8601"\n{api}'
        f"[consensus]\nempty_block_interval_ms = 500\n{consensus}"
    )


def test_the_document_helper_is_valid(tmp_path: Path) -> None:
    config = NodeConfig.load(write(tmp_path, document()))
    assert config.api_listen == Address(host="127.0.0.1", port=8601)
    assert config.empty_block_interval_ms == 500


PEER = f'peers = [{{ key = "{PEER_KEY}", address = "h:1", weight = 2 }}]\n'


@pytest.mark.parametrize(
    ("extras", "field"),
    [
        pytest.param({"top": 'colour = "blue"\n'}, "colour", id="top-level"),
        pytest.param({"top": "[extra]\n"}, "extra", id="top-level-table"),
        pytest.param({"node": "port = 1\n"}, "node.port", id="in-node"),
        pytest.param({"p2p": "seeds = []\n"}, "p2p.seeds", id="in-p2p"),
        pytest.param({"api": "cors = true\n"}, "api.cors", id="in-api"),
        pytest.param({"consensus": "timeout_ms = 5\n"}, "consensus.timeout_ms", id="in-consensus"),
        pytest.param({"p2p": PEER}, "p2p.peers[0].weight", id="in-peer"),
    ],
)
def test_an_unknown_field_is_named(tmp_path: Path, extras: dict[str, str], field: str) -> None:
    message = load_error(tmp_path, document(**extras))
    assert message.startswith(f"{field}: unknown field (known: ")


@pytest.mark.parametrize(
    "listen",
    [
        pytest.param('"127.0.0.1"', id="no-port"),
        pytest.param('"127.0.0.1:"', id="empty-port"),
        pytest.param('":26601"', id="no-host"),
        pytest.param('"127.0.0.1:65536"', id="port-too-large"),
        pytest.param('"127.0.0.1:-1"', id="negative-port"),
        pytest.param('"127.0.0.1:http"', id="named-port"),
        pytest.param("26601", id="not-text"),
        pytest.param('"127.0.0.1:²"', id="superscript-digit"),
    ],
)
def test_a_bad_p2p_listen_address_is_named(tmp_path: Path, listen: str) -> None:
    text = MINIMAL.replace('listen = "127.0.0.1:26601"', f"listen = {listen}")
    path = write(tmp_path, text)
    error = raised(lambda: NodeConfig.load(path))
    if error is not None and not isinstance(error, ConfigError):
        pytest.fail(
            "BUG node/config.py:49-53 (Address.parse): the port text "
            f"{listen} passes str.isdigit() (true for superscript and other non-decimal digits) "
            f"but int() rejects it, so load raises a bare {type(error).__name__}({error}) that "
            "names neither the file nor p2p.listen (and main's `except ConfigError` misses "
            "it). Expected ConfigError 'p2p.listen: expected ...'. Fix: use "
            "port_text.isascii() and port_text.isdecimal()."
        )
    assert error is not None, f"p2p.listen = {listen} was accepted"
    assert str(error).startswith(f"{path}: p2p.listen: expected 'host:port'")


def test_a_bad_api_listen_address_is_named(tmp_path: Path) -> None:
    message = load_error(tmp_path, MINIMAL + '[api]\nlisten = "localhost"\n')
    assert message.startswith("api.listen: expected 'host:port'")


def _with_peer(key: str, address: str = "10.0.0.7:26601") -> str:
    return (
        MINIMAL
        + f'\n[[p2p.peers]]\nkey = "{PEER_KEY}"\naddress = "10.0.0.8:1"\n'
        + (f'\n[[p2p.peers]]\nkey = "{key}"\naddress = "{address}"\n')
    )


def test_a_peer_key_of_the_wrong_length_is_named(tmp_path: Path) -> None:
    message = load_error(tmp_path, _with_peer(PEER_KEY[:-2]))
    assert message == "p2p.peers[1].key: expected 32 bytes, got 31"
    message = load_error(tmp_path, _with_peer(PEER_KEY + "00"))
    assert message == "p2p.peers[1].key: expected 32 bytes, got 33"


def test_a_peer_key_that_is_not_hex_is_named(tmp_path: Path) -> None:
    message = load_error(tmp_path, _with_peer("zz" + PEER_KEY[2:]))
    assert message == "p2p.peers[1].key: not hex"


def test_other_peer_errors_are_named(tmp_path: Path) -> None:
    assert load_error(tmp_path, _with_peer(PEER_KEY, "10.0.0.7")).startswith(
        "p2p.peers[1].address: expected 'host:port'"
    )
    missing_key = MINIMAL + '[[p2p.peers]]\naddress = "10.0.0.7:1"\n'
    assert load_error(tmp_path, missing_key) == "p2p.peers[0].key: expected 64 hex digits"
    assert load_error(tmp_path, MINIMAL.replace("[p2p]", '[p2p]\npeers = "all"')).startswith(
        "p2p.peers: expected a list"
    )
    assert load_error(tmp_path, MINIMAL.replace("[p2p]", "[p2p]\npeers = [1]")).startswith(
        "p2p.peers[0]: expected"
    )


@pytest.mark.parametrize(
    "interval",
    ["9", "600001", "0", "-1000", '"1000"', "1000.0", "true"],
)
def test_a_bad_empty_block_interval_is_named(tmp_path: Path, interval: str) -> None:
    text = MINIMAL + f"[consensus]\nempty_block_interval_ms = {interval}\n"
    message = load_error(tmp_path, text)
    assert message == "consensus.empty_block_interval_ms: expected 10..600000"


@pytest.mark.parametrize("interval", [10, 600_000])
def test_the_empty_block_interval_bounds_are_inclusive(tmp_path: Path, interval: int) -> None:
    text = MINIMAL + f"[consensus]\nempty_block_interval_ms = {interval}\n"
    assert NodeConfig.load(write(tmp_path, text)).empty_block_interval_ms == interval


@pytest.mark.parametrize("field", ["name", "key_file", "genesis_file", "data_dir"])
def test_a_missing_or_empty_node_field_is_named(tmp_path: Path, field: str) -> None:
    lines = [line for line in MINIMAL.splitlines() if not line.startswith(f"{field} =")]
    assert load_error(tmp_path, "\n".join(lines)) == f"node.{field}: required text"
    empty = MINIMAL.replace(f"{field} = ", f'{field} = ""\n# ', 1)
    assert load_error(tmp_path, empty) == f"node.{field}: required text"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match="no such configuration file") as caught:
        NodeConfig.load(path)
    assert str(caught.value).startswith(str(path))


def test_invalid_toml_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[p2p\n")
    with pytest.raises(ConfigError, match="not readable TOML") as caught:
        NodeConfig.load(path)
    assert str(caught.value).startswith(str(path))


def test_a_directory_is_not_a_configuration_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not readable TOML"):
        NodeConfig.load(tmp_path)


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_bytes(MINIMAL.encode() + b"# caf\xe9 \xff\n")
    error = raised(lambda: NodeConfig.load(path))
    if isinstance(error, UnicodeDecodeError):
        pytest.fail(
            "BUG node/config.py:79-84 (NodeConfig.load): a configuration file that is not "
            f"UTF-8 raises a bare UnicodeDecodeError ({error}) instead of ConfigError naming "
            "the file: path.read_text() fails before tomllib, and UnicodeDecodeError is "
            "neither OSError nor TOMLDecodeError; node/main.py catches only ConfigError. Fix: "
            "catch UnicodeDecodeError too (or read bytes and decode inside the try)."
        )
    assert isinstance(error, ConfigError), "a non-UTF-8 file was accepted"
    assert str(error).startswith(f"{path}: not readable TOML")


# --- node keys ----------------------------------------------------------------------------


def test_write_node_key_creates_a_private_file_that_loads_back(tmp_path: Path) -> None:
    key = seeded_key("node/7")
    path = tmp_path / "keys" / "node.key"  # the directory is created
    write_node_key(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == key.seed.hex() + "\n"
    assert load_node_key(path).public_key == key.public_key


def test_write_node_key_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    write_node_key(path, seeded_key("node/7"))
    with pytest.raises(FileExistsError):
        write_node_key(path, seeded_key("node/8"))
    assert load_node_key(path).public_key == seeded_key("node/7").public_key


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("", "expected 32 bytes, got 0", id="empty"),
        pytest.param("ab" * 31, "expected 32 bytes, got 31", id="short"),
        pytest.param("ab" * 33, "expected 32 bytes, got 33", id="long"),
        pytest.param("xy" * 32, "not hex", id="not-hex"),
    ],
)
def test_load_node_key_refuses_a_malformed_file(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "node.key"
    path.write_text(content + "\n")
    with pytest.raises(ConfigError) as caught:
        load_node_key(path)
    assert str(caught.value) == f"{path}: {expected}"


def test_load_node_key_names_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.key"
    with pytest.raises(ConfigError, match="cannot read the node key") as caught:
        load_node_key(path)
    assert str(caught.value).startswith(str(path))


def test_load_node_key_names_a_raw_binary_seed(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    path.write_bytes(b"\xff" * 32)  # a raw 32-byte seed, not its hex
    error = raised(lambda: load_node_key(path))
    if isinstance(error, UnicodeDecodeError):
        pytest.fail(
            "BUG node/config.py:155-160 (load_node_key): a key file holding a raw binary seed "
            f"(not UTF-8) raises a bare UnicodeDecodeError ({error}) instead of ConfigError "
            "naming the file: only OSError is caught around path.read_text(). Fix: catch "
            "UnicodeDecodeError as well."
        )
    assert isinstance(error, ConfigError), "a binary key file was accepted"
    assert str(error).startswith(str(path))
