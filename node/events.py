"""A bounded publish/subscribe hub for committed blocks and their contract events.

The node publishes one `BlockEvents` per persisted block, on its event loop, and never
waits: each subscriber has a queue of at most `queue_max` blocks, and a subscriber whose
queue is full is dropped (it learns so on its next `get`, and the API tells its client with
a final ``dropped`` event). At most `subscribers_max` subscribe at once; `subscribe` refuses
more (`HubFull`). Filtering by what a subscriber may see is the API's business, not the hub's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from contracts.context import Event

SUBSCRIBERS_MAX = 64  # concurrent event streams (server-sent events) per node
SUBSCRIBER_QUEUE_BLOCKS_MAX = 256  # blocks a subscriber may fall behind before it is dropped


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockEvents:
    """A persisted block's public facts and the events its transactions produced."""

    height: int
    hash: bytes
    time_ms: int
    tx_count: int
    events: tuple[Event, ...]


class HubFull(Exception):
    """`subscribers_max` subscribers are already listening."""


class SubscriptionDropped(Exception):
    """The subscriber fell `queue_max` blocks behind (or the hub closed) and was dropped."""


class Subscription:
    """One subscriber's queue. `await get(timeout_s)`; `close()` when done (idempotent)."""

    def __init__(self, hub: EventHub, queue_max: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[BlockEvents] = asyncio.Queue(maxsize=queue_max)
        self.dropped = False
        self.reason = ""

    async def get(self, timeout_s: float) -> BlockEvents | None:
        """The next block, None if none came within `timeout_s`; SubscriptionDropped if the
        subscriber was dropped."""
        if self.dropped:
            raise SubscriptionDropped(self.reason)
        try:
            async with asyncio.timeout(timeout_s):
                return await self._queue.get()
        except TimeoutError:
            if self.dropped:
                raise SubscriptionDropped(self.reason) from None
            return None

    def offer(self, item: BlockEvents) -> bool:
        """Queue `item` without waiting; False (and dropped) if the queue is full."""
        if self.dropped:
            return False
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.drop(f"fell more than {self._queue.maxsize} blocks behind")
            return False
        return True

    def drop(self, reason: str) -> None:
        self.dropped = True
        self.reason = reason
        self._hub.unsubscribe(self)

    def close(self) -> None:
        self._hub.unsubscribe(self)


class EventHub:
    def __init__(
        self,
        subscribers_max: int = SUBSCRIBERS_MAX,
        queue_max: int = SUBSCRIBER_QUEUE_BLOCKS_MAX,
    ) -> None:
        if subscribers_max < 1 or queue_max < 1:
            raise ValueError("EventHub limits must be >= 1")
        self.subscribers_max = subscribers_max
        self.queue_max = queue_max
        self._subscribers: list[Subscription] = []
        self.dropped_total = 0
        self.published_total = 0

    def __len__(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> Subscription:
        if len(self._subscribers) >= self.subscribers_max:
            raise HubFull(f"{self.subscribers_max} event streams are open; retry later")
        subscription = Subscription(self, self.queue_max)
        self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    def publish(self, item: BlockEvents) -> None:
        """Offer `item` to every subscriber; never blocks. Slow subscribers are dropped."""
        self.published_total += 1
        for subscription in list(self._subscribers):
            if not subscription.offer(item):
                self.dropped_total += 1

    def close(self) -> None:
        """Drop every subscriber (the node is stopping)."""
        for subscription in list(self._subscribers):
            subscription.drop("the node is stopping")


__all__ = [
    "SUBSCRIBERS_MAX",
    "SUBSCRIBER_QUEUE_BLOCKS_MAX",
    "BlockEvents",
    "EventHub",
    "HubFull",
    "Subscription",
    "SubscriptionDropped",
]
