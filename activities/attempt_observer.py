"""What a step activity's attempt reports besides its result: metrics and log lines.

Kept out of the activity itself (:mod:`activities.step_activities`) so that how an attempt is
counted and printed is one small wrapper: the queue, attempts, failures and duration instruments
on the worker's Temporal meter, and one log line when an attempt starts, fails and succeeds, with
the pipeline's ids bound to every line (``bind_log_context``). A failed attempt's line is
written in one place, :func:`_log_failed`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import activity

from activities.messages import StepActivityInput
from pipeline_engine.observability.logs import bind_log_context
from pipeline_engine.steps._attempt import AttemptFailed

__all__ = ["observed_attempt"]

_log = logging.getLogger("pipeline_engine.activities")


def _log_failed(stage_id: str, attempt: int, failed: AttemptFailed) -> None:
    """The one line a failed attempt prints."""
    _log.warning("stage %s attempt %d failed: %s", stage_id, attempt, _kind(failed))


def _kind(failed: AttemptFailed) -> str:
    return type(failed.error).__name__ if failed.error is not None else failed.type


@contextmanager
def observed_attempt(step: str, params: StepActivityInput, attempt: int) -> Iterator[None]:
    """Count, time and log the attempt run inside (it raises :class:`AttemptFailed` to fail)."""
    info = activity.info()
    labels = {"step": step}
    meter = activity.metric_meter()
    scheduled = info.current_attempt_scheduled_time
    queued = (info.started_time - scheduled).total_seconds() if scheduled else 0.0
    meter.create_histogram_float(
        "pipeline_engine_stage_queue", "Schedule-to-start time of stage attempts", "seconds"
    ).record(max(queued, 0.0), labels)
    meter.create_counter("pipeline_engine_stage_attempts", "Stage attempts started").add(1, labels)
    started = time.monotonic()
    with bind_log_context(
        pipeline_id=params.pipeline_id,
        tenant_id=params.tenant_id,
        stage_id=params.stage_id,
        trace_id=params.trace_id,
    ):
        _log.info("stage %s attempt %d started", params.stage_id, attempt)
        try:
            yield
        except AttemptFailed as failed:
            meter.create_counter(
                "pipeline_engine_stage_failures", "Stage attempts that failed"
            ).add(1, {**labels, "error": _kind(failed)})
            _log_failed(params.stage_id, attempt, failed)
            raise
        finally:
            meter.create_histogram_float(
                "pipeline_engine_stage_duration", "Stage attempt duration", "seconds"
            ).record(time.monotonic() - started, labels)
        _log.info("stage %s attempt %d succeeded", params.stage_id, attempt)
