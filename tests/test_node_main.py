from __future__ import annotations

import pytest

from node.config import ConfigError
from node.main import clock_offset_ms


def test_the_clock_offset_defaults_to_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADELEDGER_CLOCK_OFFSET_MS", raising=False)
    assert clock_offset_ms() == 0


def test_the_clock_offset_is_read_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELEDGER_CLOCK_OFFSET_MS", "-90000")
    assert clock_offset_ms() == -90_000
    monkeypatch.setenv("TRADELEDGER_CLOCK_OFFSET_MS", "soon")
    with pytest.raises(ConfigError, match="TRADELEDGER_CLOCK_OFFSET_MS"):
        clock_offset_ms()
