"""Where the shared outside test material lives: `shared/` sits beside the checkout."""

from __future__ import annotations

from pathlib import Path

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
