"""Fault mixes: what the simulator injects in a run. Probabilities are the simulator's own
business (floats are fine here: nothing of this is hashed, signed or voted on)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Behaviour(enum.Enum):
    """What a Byzantine validator does (it runs the real core underneath, except SILENT)."""

    EQUIVOCATE = "equivocate"  # two versions of each vote/proposal, to two groups of peers
    UNKNOWN_BLOCKS = "unknown-blocks"  # votes for hashes of values nobody has
    SILENT = "silent"  # sends nothing, ever


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultMix:
    name: str
    validator_count: int = 4
    byzantine: tuple[Behaviour, ...] = ()
    drop_probability: float = 0.0
    duplicate_probability: float = 0.0
    delay_ms_min: int = 1
    delay_ms_max: int = 30
    partition_count_max: int = 0  # partitions started during the fault phase
    asymmetric_links: bool = False  # a partition blocks one direction of some links only
    crash_count_max: int = 0  # scheduled crashes of honest replicas in the fault phase
    crash_on_persist_probability: float = 0.0  # crash during or right after a WAL append
    clock_skew_ms_max: int = 0
    fault_phase_ms: int = 2_500  # faults start at random times in this phase
    heights: int = 10  # ...which ends early once an honest replica decided this many
    liveness_ms_max: int = 60_000  # after healing, every honest replica decides within this
    lose_wal_on_crash: bool = False  # amnesia: a crashed replica restarts without its WAL
    expect_violations: bool = False  # a mix outside what the protocol tolerates

    def __post_init__(self) -> None:
        assert self.validator_count >= 1
        assert 0 <= self.delay_ms_min <= self.delay_ms_max
        assert self.heights >= 1


MIXES: dict[str, FaultMix] = {
    mix.name: mix
    for mix in (
        FaultMix(name="clean"),
        FaultMix(
            name="lossy",
            drop_probability=0.2,
            duplicate_probability=0.1,
            delay_ms_max=150,
            clock_skew_ms_max=50,
        ),
        FaultMix(name="partition", partition_count_max=3, drop_probability=0.05, delay_ms_max=80),
        FaultMix(
            name="asymmetric",
            partition_count_max=3,
            asymmetric_links=True,
            drop_probability=0.05,
            delay_ms_max=80,
        ),
        FaultMix(
            name="crash",
            crash_count_max=3,
            crash_on_persist_probability=0.05,
            drop_probability=0.05,
            delay_ms_max=60,
        ),
        FaultMix(
            name="equivocate",
            byzantine=(Behaviour.EQUIVOCATE,),
            drop_probability=0.05,
            duplicate_probability=0.05,
        ),
        FaultMix(
            name="unknown-blocks",
            byzantine=(Behaviour.UNKNOWN_BLOCKS,),
            drop_probability=0.1,
            delay_ms_max=60,
        ),
        FaultMix(name="silent", byzantine=(Behaviour.SILENT,), drop_probability=0.1),
        FaultMix(
            name="chaos",
            byzantine=(Behaviour.EQUIVOCATE,),
            drop_probability=0.1,
            duplicate_probability=0.05,
            delay_ms_max=120,
            partition_count_max=2,
            asymmetric_links=True,
            crash_count_max=2,
            crash_on_persist_probability=0.03,
            clock_skew_ms_max=100,
        ),
        FaultMix(
            name="seven",
            validator_count=7,
            byzantine=(Behaviour.EQUIVOCATE, Behaviour.UNKNOWN_BLOCKS),
            drop_probability=0.1,
            delay_ms_max=80,
            partition_count_max=2,
            crash_count_max=2,
            crash_on_persist_probability=0.02,
        ),
        FaultMix(
            name="overload",  # f+1 = 2 of 4 Byzantine: safety is NOT guaranteed
            byzantine=(Behaviour.EQUIVOCATE, Behaviour.EQUIVOCATE),
            expect_violations=True,
        ),
        FaultMix(
            name="amnesia",  # restarts without the WAL: signing is NOT crash-safe any more
            crash_count_max=4,
            crash_on_persist_probability=0.1,
            drop_probability=0.05,
            lose_wal_on_crash=True,
            expect_violations=True,
        ),
    )
}

DEFAULT_MIXES: tuple[str, ...] = tuple(n for n, m in MIXES.items() if not m.expect_violations)
