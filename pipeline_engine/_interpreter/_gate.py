"""A first-come first-served concurrency gate whose acquire and release cost O(1).

``asyncio.Semaphore`` wakes waiters by scanning its queue (quadratic over a fan-out of 100,000
runs); this gate hands the freed slot straight to the oldest waiter. Deterministic: it only uses
futures of the running loop, so it is safe inside a Temporal workflow.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["NO_GATE", "Gate", "Slot"]

T = TypeVar("T")


class Gate:
    """At most ``limit`` holders at once; the others wait in arrival order (``async with`` holds
    a slot for the block)."""

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Await ``work()`` while holding a slot."""
        await self._acquire()
        try:
            return await work()
        finally:
            self._release()

    async def _acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release()  # the slot was handed over as we were cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot goes to this waiter as is
                return
        self._free += 1

    async def __aenter__(self) -> None:
        await self._acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._release()


class _NoGate:
    """A gate without a limit: it never waits."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


Slot = Gate | _NoGate
NO_GATE = _NoGate()
