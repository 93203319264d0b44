"""Progress between a shard and its pipeline: the shard reports its stages and events since its
last report, the pipeline merges them into its own."""

from __future__ import annotations

from pipeline_engine._interpreter._handoff import ShardProgress
from pipeline_engine._interpreter._records import Records
from pipeline_engine._interpreter._runtime import Runtime

__all__ = ["Reporter", "merge"]


class Reporter:
    """A shard's reports of its :class:`Records`."""

    def __init__(self, records: Records) -> None:
        self._records = records
        self._reported = 0  # events already reported
        self._everything_reported = False

    def progress(self) -> ShardProgress | None:
        """Stages and events since the last report (every stage in the first one); ``None``
        when nothing changed."""
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


def merge(records: Records, runtime: Runtime, progress: ShardProgress, trace_id: str) -> None:
    """Merge a shard's report: its stages become the run's, its events join the log."""
    if records.final is not None:
        return
    for rec in progress.stages:
        records.stages[rec.stage_id] = rec
    for event in progress.events:
        records.events.append(
            event.model_copy(update={"id": len(records.events) + 1, "trace_id": trace_id})
        )
    records.refresh_state()
    runtime.notify()
