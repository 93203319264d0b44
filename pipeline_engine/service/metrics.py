"""``MetricPoint``s of a pipeline, computed from its status (and queue times, where known)."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline_engine.events import MetricPoint
from pipeline_engine.states import StageState
from pipeline_engine.status import PipelineStatus

__all__ = ["elapsed_point", "metric_points"]

_FINISHED = frozenset(
    {StageState.SUCCEEDED, StageState.FAILED, StageState.SKIPPED, StageState.CANCELLED}
)


def elapsed_point(status: PipelineStatus, now: datetime) -> MetricPoint:
    """``elapsed_s`` of the pipeline: since it started (or was created), until it finished."""
    begin = status.started_at or status.created_at or now
    end = status.finished_at or now
    return MetricPoint(
        pipeline_id=status.pipeline_id,
        name="elapsed_s",
        value=max(0.0, (end - begin).total_seconds()),
        timestamp=now,
        labels={"state": status.state.value},
    )


def metric_points(
    status: PipelineStatus,
    *,
    queue_times: dict[str, float] | None = None,
    stage_id: str | None = None,
    now: datetime | None = None,
) -> list[MetricPoint]:
    """The pipeline's metrics now.

    Per stage: ``attempts``, ``duration_s`` (once scheduled; running stages count up to now) and
    ``queue_time_s`` (when known). Per pipeline: ``progress`` (fraction of stages finished) and
    ``elapsed_s``. With ``stage_id`` only that stage's points are given.
    """
    at = now or datetime.now(UTC)
    queue = queue_times or {}
    points: list[MetricPoint] = []
    for stage in status.stages:
        if stage_id is not None and stage.stage_id != stage_id:
            continue
        labels = {"step": stage.step, "state": stage.state.value}

        values: list[tuple[str, float]] = [("attempts", float(stage.attempts))]
        if stage.scheduled_at is not None:
            end = stage.finished_at if stage.state in _FINISHED and stage.finished_at else at
            values.append(("duration_s", max(0.0, (end - stage.scheduled_at).total_seconds())))
        if stage.stage_id in queue:
            values.append(("queue_time_s", queue[stage.stage_id]))
        points += [
            MetricPoint(
                pipeline_id=status.pipeline_id,
                stage_id=stage.stage_id,
                name=name,
                value=value,
                timestamp=at,
                labels=labels,
            )
            for name, value in values
        ]
    if stage_id is None:
        total = len(status.stages)
        done = sum(1 for s in status.stages if s.state in _FINISHED)
        points.append(
            MetricPoint(
                pipeline_id=status.pipeline_id,
                name="progress",
                value=done / total if total else (1.0 if status.state.is_terminal else 0.0),
                timestamp=at,
                labels={"state": status.state.value},
            )
        )
        points.append(elapsed_point(status, at))
    return points
