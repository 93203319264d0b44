"""Continue-as-new: a run's whole state as a :class:`RunSnapshot`, and a new run restored from
one, going on as if it had not stopped (what already ran is not run again)."""

from __future__ import annotations

from pipeline_engine._interpreter._handoff import HeldStage, RunSnapshot
from pipeline_engine._interpreter._memo import Memo
from pipeline_engine._interpreter._records import Records
from pipeline_engine.status import ErrorInfo

__all__ = ["restore", "snapshot"]


def snapshot(records: Records, memo: Memo, runs: int) -> RunSnapshot:
    """The state of a run that had ``runs`` workflow runs, for the next one."""
    return RunSnapshot(
        events=list(records.events),
        stages=list(records.stages.values()),
        values=dict(memo.values),
        state=records.state,
        created_at=records.created_at,
        started_at=records.started_at,
        held={
            sid: HeldStage(
                error=records.stages[sid].error or ErrorInfo(type="", message=""),
                deadline=p.deadline,
            )
            for sid, p in records.parked.items()
        }
        | records.held,
        waiting={sid: w.deadline for sid, w in records.waiting.items() if not w.received}
        | records.resume_wait,
        retried=sorted(records.retried),
        inputs_done=dict(records.inputs_done),
        runs=runs + 1,
        spans=list(records.spans),
        blocks=records.blocks.states(),
    )


def restore(records: Records, memo: Memo, snap: RunSnapshot) -> int:
    """Put ``snap`` into a new run's records and memo; the workflow runs it has had."""
    records.events = list(snap.events)
    records.spans = list(snap.spans)
    ends = [e.id for e in snap.events[-1:]] + [s.first_id + s.count - 1 for s in snap.spans[-1:]]
    records.next_id = max(ends, default=0) + 1
    records.blocks.restored = {b.key: b for b in snap.blocks}
    records.stages.update((s.stage_id, s) for s in snap.stages)
    memo.values = dict(snap.values)
    records.state = snap.state
    records.created_at = snap.created_at
    records.started_at = snap.started_at
    records.started = snap.started_at is not None
    records.held = dict(snap.held)
    records.resume_wait = dict(snap.waiting)
    records.retried = set(snap.retried)
    records.inputs_done = dict(snap.inputs_done)
    return snap.runs
