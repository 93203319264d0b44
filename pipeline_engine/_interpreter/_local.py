"""A runtime that runs steps in this process: the engine of the fake, and of fast tests.

Each attempt is :func:`pipeline_engine.steps._attempt.run_attempt`, the one the Temporal activity
runs, so a failing step reads the same here and on Temporal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from pipeline_engine._interpreter._children import SubPipelineCall, not_resolved
from pipeline_engine._interpreter._handoff import ShardCall, ShardResult
from pipeline_engine._interpreter._runtime import StepCall, StepFailed, StepOutcome
from pipeline_engine._step_cache import CacheAnswer, CacheRequest, MemoryStepCache
from pipeline_engine.dsl import RetryPolicy
from pipeline_engine.states import PipelineState
from pipeline_engine.status import ErrorInfo
from pipeline_engine.steps import StepRegistry
from pipeline_engine.steps._attempt import AttemptFailed, attempt_context, run_attempt

__all__ = ["LocalRuntime", "backoff_delay", "error_info"]

BeforeAttempt = Callable[[StepCall, int], Awaitable[None]]
Children = Callable[[SubPipelineCall], Awaitable[Any]]


def backoff_delay(policy: RetryPolicy, attempt: int) -> float:
    """Wait before attempt ``attempt + 1`` (Temporal's formula: max interval defaults to 100x)."""
    cap = policy.max_interval_s or policy.initial_interval_s * 100
    return float(min(policy.initial_interval_s * policy.backoff ** (attempt - 1), cap))


def error_info(exc: BaseException) -> ErrorInfo:
    """The wire form of an exception raised by a step."""
    return ErrorInfo(type=type(exc).__name__, message=str(exc) or type(exc).__name__)


class LocalRuntime:
    """Runs steps in-process with the same retry and timeout rules as the Temporal activities.

    Args:
        registry: Where steps are looked up.
        executor: Thread pool for sync steps (the loop's default when ``None``).
        time_scale: Multiplies retry back-off waits (``0`` retries at once; handy in tests).
        before_attempt: Awaited before every attempt with the call and attempt number; may raise
            to fail the attempt, or wait to hold it.
        on_state: Called with each new pipeline state.
        max_result_bytes: A result over this much JSON fails its stage (``ResultTooLarge``),
            as in the activity (``None``: no limit).
        cache: The step cache (share one between runs to reuse results across pipelines;
            default: one of this runtime's own).
        children: Runs a sub-pipeline's child (an engine's); without it such a stage fails
            (``SubPipelineNotResolved``).
    """

    def __init__(
        self,
        registry: StepRegistry,
        *,
        executor: Executor | None = None,
        time_scale: float = 1.0,
        before_attempt: BeforeAttempt | None = None,
        on_state: Callable[[PipelineState], None] | None = None,
        max_result_bytes: int | None = None,
        cache: MemoryStepCache | None = None,
        children: Children | None = None,
    ) -> None:
        self._registry = registry
        self._cache = cache if cache is not None else MemoryStepCache()
        self._executor = executor
        self._time_scale = time_scale
        self._before_attempt = before_attempt
        self._on_state = on_state
        self._max_result_bytes = max_result_bytes
        self._waiters: list[asyncio.Future[None]] = []
        self._children = children

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def run_step(self, call: StepCall) -> StepOutcome:
        attempts = 0
        while True:
            attempts += 1
            attempt = call.attempt_offset + attempts
            try:
                result = await asyncio.wait_for(self._attempt(call, attempt), call.timeout_s)
                return StepOutcome(result=result, attempts=attempts)
            except asyncio.CancelledError:
                raise
            except AttemptFailed as failed:
                error = ErrorInfo(type=failed.type, message=failed.message)
                fatal = failed.non_retryable
            except TimeoutError as exc:
                error = error_info(exc)
                if not str(exc):
                    error = ErrorInfo(
                        type="TimeoutError",
                        message=f"attempt did not finish within {call.timeout_s:g} s",
                    )
                fatal = False
            except Exception as exc:  # raised by before_attempt
                error, fatal = error_info(exc), False
            fatal = fatal or error.type in call.retry.non_retryable_errors
            if fatal or attempts >= call.retry.max_attempts:
                raise StepFailed(error, attempts)
            await asyncio.sleep(backoff_delay(call.retry, attempts) * self._time_scale)

    async def _attempt(self, call: StepCall, attempt: int) -> Any:
        if self._before_attempt is not None:
            await self._before_attempt(call, attempt)
        ctx = attempt_context(call, step=call.step, attempt=attempt)
        return await run_attempt(
            self._registry.get(call.step),
            ctx,
            call.kwargs,
            executor=self._executor,
            max_result_bytes=self._max_result_bytes,
        )

    async def wait_condition(
        self, predicate: Callable[[], bool], *, timeout: float | None, summary: str | None = None
    ) -> bool:
        async def wait() -> None:
            while not predicate():
                fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._waiters.append(fut)
                await fut

        try:
            await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            return predicate()
        return True

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def state_changed(self, state: PipelineState) -> None:
        self.notify()
        if self._on_state is not None:
            self._on_state(state)

    shard_width: int | None = None
    """In one process there is no history to keep small: fan-outs never run in shards."""
    shards_in_flight = 1

    async def run_shard(self, call: ShardCall) -> ShardResult:
        raise NotImplementedError("an in-process run never shards a fan-out")

    async def run_sub_pipeline(self, call: SubPipelineCall) -> Any:
        if self._children is None:
            raise StepFailed(not_resolved(call), 1)
        return await self._children(call)

    def patched(self, patch_id: str) -> bool:
        return True

    async def cache_lookup(self, request: CacheRequest) -> CacheAnswer:
        return self._cache.lookup(self._registry, request, self.now())

    async def cache_write(self, request: CacheRequest, result: Any) -> None:
        self._cache.write(self._registry, request, result, self.now())
