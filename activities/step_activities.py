"""One Temporal activity per registered step: the step runs with heartbeats and a typed result."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_json
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.messages import StepActivityInput, StepActivityResult, StepErrorDetails
from pipeline_engine.observability.logs import bind_log_context
from pipeline_engine.steps import StepContext, StepDefinition, StepRegistry

_log = logging.getLogger("pipeline_engine.activities")
_MIN_PULSE_S = 0.2
_MAX_PULSE_S = 10.0


class _Heartbeater:
    """Sends heartbeats from the activity's loop, whatever thread the step calls from."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._details: tuple[Any, ...] = ()

    def __call__(self, *details: Any) -> None:
        self._details = details
        if _on_loop(self._loop):
            activity.heartbeat(*details)
        else:
            self._loop.call_soon_threadsafe(lambda: activity.heartbeat(*self._details))

    async def pump(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            activity.heartbeat(*self._details)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _pulse_interval() -> float | None:
    timeout = activity.info().heartbeat_timeout
    if not timeout:
        return None
    return min(max(timeout.total_seconds() / 3, _MIN_PULSE_S), _MAX_PULSE_S)


def _check_size(step: str, result: Any, max_result_bytes: int, attempt: int) -> None:
    size = len(to_json(result))
    if size > max_result_bytes:
        raise ApplicationError(
            f"step {step!r} returned {size} bytes of JSON, over the limit of {max_result_bytes} "
            "(PIPELINE_ENGINE_PAYLOAD_MAX_BYTES; without a payload store, Temporal's own limit)",
            StepErrorDetails(attempt=attempt, type="ResultTooLarge"),
            type="ResultTooLarge",
            non_retryable=True,
        )


def _make_activity(
    definition: StepDefinition, executor: Executor | None, max_result_bytes: int
) -> Callable[..., Any]:
    async def run_step(
        raw: Any, first: Any = None, second: Any = None, third: Any = None
    ) -> StepActivityResult:
        # One to four payloads: the SDK only applies type hints when their count matches.
        info = activity.info()
        params = (
            StepActivityInput.model_validate(raw)
            .with_parts(first, second, third)
            .with_ids(info.workflow_id or "", info.activity_id)
        )
        heartbeater = _Heartbeater(asyncio.get_running_loop())
        ctx = StepContext(
            previous=params.previous,
            input=params.input,
            settings=params.settings,
            pipeline_id=params.pipeline_id,
            tenant_id=params.tenant_id,
            stage_id=params.stage_id,
            step=definition.name,
            attempt=params.attempt_offset + info.attempt,
            trace_id=params.trace_id,
            _heartbeat=heartbeater,
        )
        interval = _pulse_interval()
        pump = asyncio.create_task(heartbeater.pump(interval)) if interval else None
        labels = {"step": definition.name}
        meter = activity.metric_meter()
        queued = (
            (info.started_time - info.current_attempt_scheduled_time).total_seconds()
            if info.current_attempt_scheduled_time
            else 0.0
        )
        meter.create_histogram_float(
            "pipeline_engine_stage_queue", "Schedule-to-start time of stage attempts", "seconds"
        ).record(max(queued, 0.0), labels)
        meter.create_counter("pipeline_engine_stage_attempts", "Stage attempts started").add(
            1, labels
        )
        started = time.monotonic()
        context = bind_log_context(
            pipeline_id=params.pipeline_id,
            tenant_id=params.tenant_id,
            stage_id=params.stage_id,
            trace_id=params.trace_id,
        )
        try:
            with context:
                _log.info("stage %s attempt %d started", params.stage_id, ctx.attempt)
                try:
                    result = await definition.invoke(ctx, params.kwargs, executor=executor)
                except Exception as exc:
                    meter.create_counter(
                        "pipeline_engine_stage_failures", "Stage attempts that failed"
                    ).add(1, {**labels, "error": type(exc).__name__})
                    _log.warning(
                        "stage %s attempt %d failed: %s",
                        params.stage_id,
                        ctx.attempt,
                        type(exc).__name__,
                    )
                    raise
                finally:
                    meter.create_histogram_float(
                        "pipeline_engine_stage_duration", "Stage attempt duration", "seconds"
                    ).record(time.monotonic() - started, labels)
                _log.info("stage %s attempt %d succeeded", params.stage_id, ctx.attempt)
        except asyncio.CancelledError:
            ctx._cancelled.set()
            raise
        except ValidationError as exc:
            raise ApplicationError(
                f"invalid kwargs for step {definition.name!r}: {exc}",
                StepErrorDetails(attempt=info.attempt, type="InvalidInput"),
                type="InvalidInput",
                non_retryable=True,
            ) from None
        except Exception as exc:
            kind = type(exc).__name__
            raise ApplicationError(
                str(exc) or kind,
                StepErrorDetails(attempt=info.attempt, type=kind),
                type=kind,
            ) from exc
        finally:
            if pump is not None:
                pump.cancel()
        _check_size(definition.name, result, max_result_bytes, info.attempt)
        return StepActivityResult(result=result, attempt=info.attempt)

    run_step.__name__ = run_step.__qualname__ = f"step_{definition.name}"
    return activity.defn(name=definition.name)(run_step)


def build_step_activities(
    registry: StepRegistry, *, executor: Executor | None = None, max_result_bytes: int
) -> list[Callable[..., Any]]:
    """An activity for every step in ``registry``; sync steps run on ``executor``; a result of
    more than ``max_result_bytes`` of JSON fails its stage (``ResultTooLarge``)."""
    return [_make_activity(d, executor, max_result_bytes) for d in registry.definitions()]
