"""Progress between a shard and its pipeline: the shard reports its stages and events since its
last report, the pipeline merges them into its own.

A shard of a thin parent (its call names a ``block``) reports its counts by state, its live
stages and a span of its events instead (:mod:`~pipeline_engine._interpreter._blocks`); the
parent keeps those, and reads the rest from the shard on demand.
"""

from __future__ import annotations

import bisect
from collections import Counter

from pipeline_engine._interpreter._blocks import LIVE
from pipeline_engine._interpreter._handoff import EventSpan, ShardProgress
from pipeline_engine._interpreter._records import Records
from pipeline_engine._interpreter._runtime import Runtime

__all__ = ["Reporter", "merge"]


class Reporter:
    """A shard's reports of its :class:`Records`."""

    def __init__(self, records: Records) -> None:
        self._records = records
        self._reported = 0  # events already reported (thin: the last id reported)
        self._everything_reported = False
        self.block: str | None = None
        """The block a thin parent keeps this shard under (set when the shard starts)."""

    def progress(self, source: str = "") -> ShardProgress | None:
        """Stages and events since the last report (every stage in the first one); ``None``
        when nothing changed. ``source``: this shard's workflow (a thin parent reads it)."""
        if self.block is not None:
            return self._thin(source)
        records = self._records
        new = records.events[self._reported :]
        if not new and self._everything_reported:
            return None
        if self._everything_reported:
            touched = {e.payload.get("stage_id") for e in new}
            stages = [records.stages[sid] for sid in touched if sid in records.stages]
        else:
            stages = list(records.stages.values())
            self._everything_reported = True
        self._reported = len(records.events)
        return ShardProgress(events=new, stages=stages)

    def _thin(self, source: str) -> ShardProgress | None:
        r = self._records
        last = r.next_id - 1
        if last == self._reported and self._everything_reported:
            return None
        self._everything_reported = True
        counts = Counter(s.state.value for s in r.stages.values())
        counts.update(r.blocks.counts())
        live = [s for s in r.stages.values() if s.state in LIVE] + r.blocks.live()
        span = self._span(source, last)
        self._reported = last
        return ShardProgress(
            block=self.block, source=source, counts=dict(counts), stages=live, span=span
        )

    def _span(self, source: str, last: int) -> EventSpan | None:
        """This shard's events after the last report, as a span the parent numbers."""
        r, after = self._records, self._reported
        if last == after:
            return None
        events = r.events[bisect.bisect_right(r.events, after, key=lambda e: e.id) :]
        spans = [s for s in r.spans if s.first_id + s.count > after + 1]
        times = [e.timestamp for e in events] + [t for s in spans for t in (s.first_at, s.last_at)]
        return EventSpan(
            count=last - after,
            source=source,
            source_first=after + 1,
            first_at=min(times),
            last_at=max(times),
        )


def merge(records: Records, runtime: Runtime, progress: ShardProgress, trace_id: str) -> None:
    """Merge a shard's report: its stages become the run's, its events join the log (thin: the
    shard's block takes its counts and live stages, its events are numbered)."""
    if records.final is not None:
        return
    if progress.block is not None:
        block = records.blocks.get(progress.block)
        if block is None:
            return
        block.report(progress)
        if progress.span is not None:
            records.add_span(progress.span)
    else:
        for rec in progress.stages:
            records.stages[rec.stage_id] = rec
        for event in progress.events:
            records.add_event(event, trace_id)
    records.refresh_state()
    runtime.notify()
