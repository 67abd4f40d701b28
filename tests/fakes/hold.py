"""A gate the fakes use to hold requests until N are in flight at once: concurrency proven without a clock."""

from __future__ import annotations

import asyncio

# Generous: the gate exists to prove overlap on a loaded machine, never to measure speed.
DEFAULT_HOLD_TIMEOUT_S = 60.0


class HoldTimedOut(Exception):
    """Fewer requests than the gate waits for arrived before its timeout; the message says how many."""


class InFlightGate:
    """Counts requests held together; releases the whole group when the `count`-th one arrives.

    Touched only from the fake's event loop. A request that waits past the timeout raises
    `HoldTimedOut`, which the fake answers as an error naming the counts, so a test fails loudly
    instead of passing or hanging. Groups repeat: the next `count` requests form the next group.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        # `arrived` counts the group so far (for the timeout message); `waiting` those still held.
        self.arrived = 0
        self.waiting = 0
        self._release = asyncio.Event()

    async def hold(self, *, count: int, timeout_s: float) -> None:
        """Wait until `count` requests (this one included) are held together, then return."""
        if count <= 1:
            return
        release = self._release
        self.arrived += 1
        self.waiting += 1
        if self.waiting >= count:
            self.arrived = self.waiting = 0
            self._release = asyncio.Event()
            release.set()
            return
        try:
            await asyncio.wait_for(release.wait(), timeout=timeout_s)
        except TimeoutError:
            arrived = self.arrived
            self.waiting -= 1
            if self.waiting == 0:
                self.arrived = 0
            raise HoldTimedOut(
                f"held {timeout_s:g} s for {count} requests in flight together, only {arrived} arrived"
            ) from None
