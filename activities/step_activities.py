"""One Temporal activity per registered step: the step runs with heartbeats and a typed result.

The attempt itself is :func:`pipeline_engine.steps._attempt.run_attempt`, the same the in-process
runtime runs; its metrics and logs are :func:`activities.attempt_observer.observed_attempt`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.attempt_observer import observed_attempt
from activities.messages import StepActivityInput, StepActivityResult, StepErrorDetails
from pipeline_engine.steps import StepDefinition, StepRegistry
from pipeline_engine.steps._attempt import AttemptFailed, attempt_context, run_attempt

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
        attempt = params.attempt_offset + info.attempt
        ctx = attempt_context(params, step=definition.name, attempt=attempt, heartbeat=heartbeater)
        interval = _pulse_interval()
        pump = asyncio.create_task(heartbeater.pump(interval)) if interval else None
        try:
            with observed_attempt(definition.name, params, attempt):
                result = await run_attempt(
                    definition,
                    ctx,
                    params.kwargs,
                    executor=executor,
                    max_result_bytes=max_result_bytes,
                )
        except AttemptFailed as failed:
            raise ApplicationError(
                failed.message,
                StepErrorDetails(attempt=info.attempt, type=failed.type),
                type=failed.type,
                non_retryable=failed.non_retryable,
            ) from failed.__cause__
        finally:
            if pump is not None:
                pump.cancel()
        return StepActivityResult(result=result, attempt=info.attempt)

    run_step.__name__ = run_step.__qualname__ = f"step_{definition.name}"
    return activity.defn(name=definition.name)(run_step)


def build_step_activities(
    registry: StepRegistry, *, executor: Executor | None = None, max_result_bytes: int
) -> list[Callable[..., Any]]:
    """An activity for every step in ``registry``; sync steps run on ``executor``; a result of
    more than ``max_result_bytes`` of JSON fails its stage (``ResultTooLarge``)."""
    return [_make_activity(d, executor, max_result_bytes) for d in registry.definitions()]
