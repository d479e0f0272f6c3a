"""The deterministic consensus simulator: n real replicas, simulated network, time and disks.

    result = Simulator(seed=7, mix="chaos").run()
    assert result.ok, result.describe()      # describe() ends with the replay command

`python -m network.sim --seeds N --seed-start S [--mix NAME|all]` runs many seeds.
"""

from network.sim.app import SimApplication, SimBlock, VerificationCache
from network.sim.memory_wal import MemoryWal
from network.sim.mixes import DEFAULT_MIXES, MIXES, Behaviour, FaultMix
from network.sim.simulator import RunResult, Simulator, replay_command, run_seed

__all__ = [
    "DEFAULT_MIXES",
    "MIXES",
    "Behaviour",
    "FaultMix",
    "MemoryWal",
    "RunResult",
    "SimApplication",
    "SimBlock",
    "Simulator",
    "VerificationCache",
    "replay_command",
    "run_seed",
]
