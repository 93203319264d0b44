"""What an engine remembers of status reads: shared in-flight reads and short-lived answers.

Reading a running pipeline is a ``status`` query that a worker answers (~10 ms); at a hundred reads
a second they queue behind each other. So, within one process:

- concurrent reads of the same pipeline and stage page share one in-flight read (single flight);
- an ended pipeline's complete status is kept for 60 s (it no longer changes; every page is cut
  from it), any other answer for ``ttl_s`` per stage page (``0``: not kept);
- :meth:`StatusCache.forget` drops what is kept of a pipeline and detaches its in-flight reads
  (their answers are then neither shared with later reads nor kept). The engine calls it around
  every command and on every change a stream sees, so a caller never reads an answer older than
  its own command.

Answers are kept by pipeline id and page, never by caller: the caller checks the status's tenant
against its own on every read, kept or not (``api/deps.py``). Other processes are not told: there
an answer is at most ``ttl_s`` old (``docs/operations.md``, "The API's processes").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cachetools import TLRUCache

from pipeline_engine.states import StageState
from pipeline_engine.status import PipelineStatus, StagePage

__all__ = ["FINAL_TTL_S", "Read", "StatusCache"]

FINAL_TTL_S = 60.0
"""How long an ended pipeline's complete status is kept."""
_MAX_PIPELINES = 10_000
_MAX_PAGES = 8  # stage pages kept per running pipeline; further pages are read every time

_PageKey = tuple[int, int, StageState | None]


@dataclass(frozen=True)
class Read:
    """What one read of a pipeline found.

    Attributes:
        status: The answer for the page asked for, or, when ``ended``, the complete status.
        ended: ``status`` is an ended pipeline's complete status (every stage): it no longer
            changes, and every page is cut from it.
    """

    status: PipelineStatus
    ended: bool = False

    def page(self, page: StagePage) -> PipelineStatus:
        """The answer for ``page``."""
        return self.status.paged(page) if self.ended else self.status


@dataclass
class _Kept:
    expires: float
    ended: PipelineStatus | None = None
    pages: dict[_PageKey, PipelineStatus] = field(default_factory=dict)


@dataclass
class _Flight:
    task: asyncio.Future[Read]
    current: bool = True  # False once forgotten: its answer is then not kept


class StatusCache:
    """Single flight and short-lived answers for the status reads of one engine.

    Args:
        ttl_s: How long an answer that may still change is kept (``0``: not kept; concurrent
            reads still share one in-flight read).
        max_pipelines: At most this many pipelines are kept (least recently used go first).
        clock: Monotonic seconds.
    """

    def __init__(
        self,
        *,
        ttl_s: float,
        max_pipelines: int = _MAX_PIPELINES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s < 0:
            raise ValueError("ttl_s must be >= 0")
        self._ttl_s = ttl_s
        self._clock = clock
        self._kept: TLRUCache[str, _Kept] = TLRUCache(
            maxsize=max_pipelines, ttu=lambda _pid, kept, _now: kept.expires, timer=clock
        )
        self._flights: dict[str, dict[_PageKey, _Flight]] = {}

    async def read(
        self, pipeline_id: str, page: StagePage, fetch: Callable[[], Awaitable[Read]]
    ) -> PipelineStatus:
        """The status of ``pipeline_id`` for ``page``: kept, or shared with a read in flight,
        or read by ``fetch``.

        ``fetch`` runs as a task of its own: a caller that goes away (a client disconnecting)
        does not cancel the read the others wait for. Its errors reach every caller sharing it
        and are never kept.
        """
        key = (page.offset, page.limit, page.state)
        kept = self._kept.get(pipeline_id)
        if kept is not None:
            if kept.ended is not None:
                return kept.ended.paged(page)
            hit = kept.pages.get(key)
            if hit is not None:
                return hit
        flights = self._flights.setdefault(pipeline_id, {})
        flight = flights.get(key)
        if flight is None:
            flight = flights[key] = _Flight(asyncio.ensure_future(fetch()))
            flight.task.add_done_callback(lambda _: self._landed(pipeline_id, key, flight))
        return (await asyncio.shield(flight.task)).page(page)

    def forget(self, pipeline_id: str) -> None:
        """Drop what is kept of ``pipeline_id``; reads in flight go on for those waiting on
        them, but later reads start their own and their answers are not kept."""
        self._kept.pop(pipeline_id, None)
        for flight in self._flights.pop(pipeline_id, {}).values():
            flight.current = False

    def _landed(self, pipeline_id: str, key: _PageKey, flight: _Flight) -> None:
        flights = self._flights.get(pipeline_id)
        if flights is not None and flights.get(key) is flight:
            del flights[key]
            if not flights:
                del self._flights[pipeline_id]
        if flight.task.cancelled() or flight.task.exception() is not None or not flight.current:
            return
        self._keep(pipeline_id, key, flight.task.result())

    def _keep(self, pipeline_id: str, key: _PageKey, read: Read) -> None:
        now = self._clock()
        if read.ended:
            self._kept[pipeline_id] = _Kept(now + FINAL_TTL_S, ended=read.status)
            return
        if self._ttl_s <= 0:
            return
        kept = self._kept.get(pipeline_id)
        if kept is None:  # the pages read next join this entry, and expire with it
            self._kept[pipeline_id] = _Kept(now + self._ttl_s, pages={key: read.status})
        elif kept.ended is None and len(kept.pages) < _MAX_PAGES:
            kept.pages[key] = read.status
