"""What the benchmarks read from the machine: percentiles, a process's CPU time and memory
from /proc, bytes on disk, the Ed25519 verify ceiling, and py-spy's collapsed stacks."""

from __future__ import annotations

import math
import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nacl.signing

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PAGE_SIZE_BYTES = os.sysconf("SC_PAGE_SIZE")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in 0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(values_ms: Sequence[float]) -> dict[str, float]:
    return {
        "count": len(values_ms),
        "p50_ms": percentile(values_ms, 0.50),
        "p95_ms": percentile(values_ms, 0.95),
        "p99_ms": percentile(values_ms, 0.99),
        "max_ms": max(values_ms) if values_ms else math.nan,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads) from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # after the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat: what every
    process on this shared machine used, ours and others'."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    total = user + nice + system + idle + iowait + irq + softirq + steal
    return (total - idle - iowait) / CLOCK_TICKS_PER_S, total / CLOCK_TICKS_PER_S


def git_revision(directory: Path) -> str:
    """The checked-out commit, with "+dirty" if the work tree has changes (read-only git)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        status = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if status else "")


def rss_bytes(pid: int) -> int:
    """Resident set size of process `pid` from /proc/<pid>/statm."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE_BYTES


def rss_anon_bytes(pid: int) -> int:
    """The anonymous part of the resident set (the heap: Python objects, LevelDB's caches),
    without file pages mapped in (LevelDB reads its tables through mmap; those pages are the
    page cache, counted in RSS while mapped and given back under memory pressure)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"/proc/{pid}/status has no RssAnon line")


def disk_bytes(path: Path) -> int:
    """Bytes allocated on disk under `path` (what `du` counts: st_blocks * 512)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                continue  # LevelDB removed it meanwhile (compaction)
    return total


def ed25519_verify_ceiling(seconds: float = 2.0) -> dict[str, float]:
    """Ed25519 verifies/s with pynacl on 1 and 2 threads (cffi releases the GIL)."""
    key = nacl.signing.SigningKey(bytes(range(32)))
    message = bytes(300)  # about one transaction's signed bytes
    signed = key.sign(message)
    verify_key = key.verify_key

    def verify_for(deadline: float) -> int:
        count = 0
        while time.perf_counter() < deadline:
            for _ in range(200):
                verify_key.verify(signed)
            count += 200
        return count

    one = verify_for(time.perf_counter() + seconds) / seconds
    with ThreadPoolExecutor(2) as pool:
        deadline = time.perf_counter() + seconds
        two = sum(pool.map(verify_for, [deadline, deadline])) / seconds
    return {"verify_per_s_1_thread": one, "verify_per_s_2_threads": two}


PROJECT_PACKAGES = ("ledger/", "contracts/", "network/", "node/", "client/")
_LINE = re.compile(r":\d+\)$")


def top_frames(collapsed: Path, count: int = 25) -> dict[str, list[tuple[str, float]]]:
    """From py-spy's `--format raw` (collapsed stacks "frame;frame;... samples"): functions
    (line numbers dropped) with the most samples on top of the stack (self), and the
    project's functions with the most samples anywhere in the stack (inclusive, without the
    process entry point), as fractions of all samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, samples_text = line.rpartition(" ")
        if not stack or not samples_text.isdigit():
            continue
        samples = int(samples_text)
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")]
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            if (
                any(package in frame for package in PROJECT_PACKAGES)
                and "node/main.py" not in frame
            ):
                inclusive[frame] += samples
    if total == 0:
        return {"self": [], "inclusive": [], "samples": []}
    return {
        "self": [(frame, n / total) for frame, n in own.most_common(count)],
        "inclusive": [(frame, n / total) for frame, n in inclusive.most_common(count)],
        "samples": [("all", float(total))],
    }
