"""A Byzantine validator: a separate process that holds one validator's node key (the honest
node for that key is stopped) and speaks the real transport and consensus messages, badly.

    python -m tests.adversarial.byzantine --config NODE.toml --seed N --duration-s S
           [--modes equivocate,invalid-proposal,unknown-votes,garbage,replay]

Behaviours, all bounded in rate and count and by the duration:
- equivocate: for every (height, round) it sees, two conflicting signed prevotes and two
  conflicting precommits, to every peer (evidence must be committed; no fork);
- invalid-proposal: when it is the proposer, a signed proposal whose value is not a block,
  and a second, different one for the same round (proposal equivocation);
- unknown-votes: signed votes for block hashes no one ever proposed, this round and later;
- garbage: frames that are not consensus messages, undecodable consensus data, bogus blocks;
- replay: every consensus message it receives from the others is sent again to everyone
  (message-level duplication and delay of validly signed messages).

At exit it prints one JSON line of counters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from ledger import crypto
from ledger.codec import Value
from ledger.errors import LedgerError
from ledger.types import SignedVote, Vote, VoteKind
from network.consensus import Proposal, SignedProposal, decode_message, encode_message
from network.transport import PeerAddress, Transport, TransportConfig, TransportLimits
from node.config import NodeConfig, load_node_key
from node.main import load_genesis
from node.runtime import PEER_CODEC_LIMITS
from tests.adversarial.cluster import Cluster

MODES = ("equivocate", "invalid-proposal", "unknown-votes", "garbage", "replay")
TICK_S = 0.1
GARBAGE_PER_TICK = 3
REPLAYS_PER_TICK_MAX = 50
ROUNDS_ACTED_MAX = 10_000


class Byzantine:
    def __init__(self, config: NodeConfig, seed: int, modes: tuple[str, ...]) -> None:
        self.key = load_node_key(config.key_file)
        self.genesis = load_genesis(config.genesis_file)
        self.chain_id = self.genesis.chain_id
        self.validators = self.genesis.validators
        self.random = random.Random(seed)
        self.modes = modes
        self.stats: Counter[str] = Counter()
        self.peer_heights: dict[bytes, int] = {}
        self.rounds: dict[int, int] = {}  # height -> highest round seen
        self.proposals: dict[tuple[int, int], bytes] = {}  # (height, round) -> value hash
        self.acted: set[tuple[int, int]] = set()
        self.replay_queue: list[bytes] = []
        self.transport = Transport(
            key=self.key,
            config=TransportConfig(
                listen_host=config.p2p_listen.host,
                listen_port=config.p2p_listen.port,
                peers=tuple(
                    PeerAddress(node_key=p.node_key, host=p.address.host, port=p.address.port)
                    for p in config.peers
                ),
                limits=TransportLimits(codec=PEER_CODEC_LIMITS),
            ),
            allowed=frozenset(v.node_key for v in self.validators.validators),
            on_message=self.on_message,
        )

    # --- listening -----------------------------------------------------------------------------

    def on_message(self, peer: bytes, message: Value) -> None:
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "status" and isinstance(message.get("height"), int):
            self.peer_heights[peer] = int(str(message["height"]))
        elif kind == "consensus" and isinstance(message.get("data"), bytes):
            data = message["data"]
            assert isinstance(data, bytes)
            try:
                decoded = decode_message(data)
            except LedgerError:
                return
            self.stats["received"] += 1
            if isinstance(decoded, SignedProposal):
                p = decoded.proposal
                self.proposals[(p.height, p.round)] = p.value_hash
                self._saw(p.height, p.round)
            elif isinstance(decoded, SignedVote):
                self._saw(decoded.vote.height, decoded.vote.round)
            if "replay" in self.modes and len(self.replay_queue) < REPLAYS_PER_TICK_MAX:
                self.replay_queue.append(data)

    def _saw(self, height: int, round_: int) -> None:
        self.rounds[height] = max(self.rounds.get(height, 0), round_)

    # --- acting --------------------------------------------------------------------------------

    def height(self) -> int:
        return max(self.peer_heights.values(), default=0) + 1

    def vote(self, kind: VoteKind, height: int, round_: int, block_hash: bytes | None) -> None:
        vote = Vote(
            kind=kind,
            height=height,
            round=round_,
            block_hash=block_hash,
            timestamp_ms=time.time_ns() // 1_000_000,
            validator=self.key.public_key,
        )
        signed = SignedVote.sign(self.key, self.chain_id, vote)
        self.transport.broadcast({"type": "consensus", "data": encode_message(signed)})
        self.stats[f"sent_{kind.value}"] += 1

    def propose(self, height: int, round_: int) -> None:
        for _ in range(2):
            value = os.urandom(self.random.randint(16, 512))
            proposal = Proposal(
                height=height,
                round=round_,
                pol_round=-1,
                value=value,
                value_hash=crypto.sha256(value),
                proposer=self.key.public_key,
            )
            signed = SignedProposal.sign(self.key, self.chain_id, proposal)
            self.transport.broadcast({"type": "consensus", "data": encode_message(signed)})
            self.stats["sent_invalid_proposal"] += 1

    def tick(self) -> None:
        height = self.height()
        round_ = self.rounds.get(height, 0)
        key = (height, round_)
        if key not in self.acted and len(self.acted) < ROUNDS_ACTED_MAX and height > 1:
            self.acted.add(key)
            if "equivocate" in self.modes:
                proposed = self.proposals.get(key, os.urandom(32))
                for kind in (VoteKind.PREVOTE, VoteKind.PRECOMMIT):
                    self.vote(kind, height, round_, proposed)
                    self.vote(kind, height, round_, os.urandom(32))
            if "invalid-proposal" in self.modes and (
                self.validators.proposer(height, round_) == self.key.public_key
            ):
                self.propose(height, round_)
            if "unknown-votes" in self.modes:
                for ahead in range(1, 3):
                    self.vote(VoteKind.PRECOMMIT, height, round_ + ahead, os.urandom(32))
                self.vote(VoteKind.PREVOTE, height + 1, 0, os.urandom(32))
        if "garbage" in self.modes:
            for _ in range(GARBAGE_PER_TICK):
                frame: dict[str, Value] = self.random.choice(
                    [
                        {"type": "consensus", "data": os.urandom(self.random.randint(1, 300))},
                        {"type": "blocks", "items": [{"commit": {}, "value": b"x"}]},
                        {"type": "get_blocks", "from": 0, "count": -1},
                        {"type": "txs", "items": [os.urandom(64)]},
                        {"type": "status", "height": -5},
                        {"type": os.urandom(4).hex()},
                    ]
                )
                self.transport.broadcast(frame)
                self.stats["sent_garbage"] += 1
        for data in self.replay_queue:
            self.transport.broadcast({"type": "consensus", "data": data})
            self.stats["replayed"] += 1
        self.replay_queue.clear()

    async def run(self, duration_s: float) -> None:
        await self.transport.start()
        deadline = time.monotonic() + duration_s
        try:
            while time.monotonic() < deadline:
                self.tick()
                await asyncio.sleep(TICK_S)
        finally:
            await self.transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--duration-s", type=float, required=True)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    modes = tuple(m for m in args.modes.split(",") if m)
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}")
    byzantine = Byzantine(NodeConfig.load(args.config), args.seed, modes)
    asyncio.run(byzantine.run(min(args.duration_s, 600.0)))
    sys.stdout.write(json.dumps(dict(byzantine.stats), sort_keys=True) + "\n")


def run_process(
    cluster: Cluster, index: int, *, seed: int, duration_s: float, modes: tuple[str, ...] = MODES
) -> dict[str, int]:
    """Run the Byzantine process with node `index`'s key and config until it ends."""
    assert not cluster.running(index), "stop the honest node for this key first"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.adversarial.byzantine",
            "--config",
            str(cluster.config_path(index)),
            "--seed",
            str(seed),
            "--duration-s",
            str(duration_s),
            "--modes",
            ",".join(modes),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        out, _ = process.communicate(timeout=duration_s + 30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise
    assert process.returncode == 0, f"the Byzantine process failed (exit {process.returncode})"
    stats: dict[str, int] = json.loads(out.decode().strip().splitlines()[-1])
    return stats


if __name__ == "__main__":
    main()
