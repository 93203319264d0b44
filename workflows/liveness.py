"""Fail fast while Temporal is known to be down, instead of retrying every call for seconds.

Once a call found Temporal unreachable, the next calls are refused at once (503 with
``Retry-After``) until a short health probe, run at most every ``probe_every_s`` seconds by
whichever call comes first, finds it serving again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from pipeline_engine.errors import EngineUnavailable

__all__ = ["TemporalLiveness"]


class TemporalLiveness:
    """What the engine knows about Temporal being reachable.

    Args:
        probe: A cheap call that raises unless Temporal answers (a health check).
        probe_timeout_s: How long a probe may take.
        probe_every_s: How often, at most, a known-down Temporal is probed again.
    """

    def __init__(
        self,
        probe: Callable[[], Awaitable[object]],
        *,
        probe_timeout_s: float = 0.5,
        probe_every_s: float = 0.5,
    ) -> None:
        self._probe = probe
        self._probe_timeout_s = probe_timeout_s
        self._probe_every_s = probe_every_s
        self._down_since: float | None = None
        self._last_probe = 0.0

    @property
    def known_down(self) -> bool:
        """Whether the last thing learnt is that Temporal is unreachable."""
        return self._down_since is not None

    def mark_down(self) -> None:
        """A call found Temporal unreachable."""
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._last_probe = self._down_since

    async def gate(self) -> None:
        """Return at once while Temporal is up; while it is known down, probe or refuse.

        Raises:
            EngineUnavailable: Temporal is still unreachable.
        """
        since = self._down_since
        if since is None:
            return
        now = time.monotonic()
        if now - self._last_probe >= self._probe_every_s:
            self._last_probe = now
            try:
                await asyncio.wait_for(self._probe(), self._probe_timeout_s)
            except Exception:
                if self._down_since is None:
                    return  # another call's probe found it up while this one waited
            else:
                self._down_since = None
                return
        down_for = now - since  # what this call saw: another may have changed it since
        raise EngineUnavailable(
            f"Temporal is unreachable (for {down_for:.0f} s)", retry_after_s=self._probe_every_s
        )
