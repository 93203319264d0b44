"""What the interpreter needs from whoever runs it: the Temporal workflow or the fake engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pipeline_engine._interpreter._handoff import ShardCall, ShardResult
from pipeline_engine._step_cache import CacheAnswer, CacheRequest
from pipeline_engine.dsl import RetryPolicy
from pipeline_engine.states import PipelineState
from pipeline_engine.status import ErrorInfo

if TYPE_CHECKING:
    from pipeline_engine._interpreter._children import SubPipelineCall

__all__ = ["Runtime", "StepCall", "StepFailed", "StepOutcome", "utc_minute"]


def utc_minute(moment: datetime) -> str:
    """A moment as operators read it in a UI: UTC, to the minute."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class StepCall:
    """One stage run handed to the runtime (which owns retries within it)."""

    pipeline_id: str
    tenant_id: str | None
    stage_id: str
    step: str
    kwargs: dict[str, Any]
    previous: Any
    input: Any
    settings: dict[str, Any]
    trace_id: str
    attempt_offset: int
    retry: RetryPolicy
    timeout_s: float
    heartbeat_timeout_s: float
    task_queue: str | None
    local: bool = False


@dataclass(frozen=True)
class StepOutcome:
    """A stage run that succeeded, after ``attempts`` attempts."""

    result: Any
    attempts: int


class StepFailed(Exception):
    """A stage run that failed for good (retries exhausted, non-retryable error, timeout).

    ``ends_pipeline``: nothing can help (a limit of the runtime was reached): the pipeline fails
    for good at once, without ``on_failure``, a hold or a retry.
    """

    def __init__(self, error: ErrorInfo, attempts: int, *, ends_pipeline: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.attempts = attempts
        self.ends_pipeline = ends_pipeline


class Runtime(Protocol):
    """The primitives the interpreter runs on. All must be deterministic under Temporal."""

    def now(self) -> datetime:
        """Current time (workflow time under Temporal)."""
        ...

    async def run_step(self, call: StepCall) -> StepOutcome:
        """Run a stage with its retry policy; raise :class:`StepFailed` when it fails for good."""
        ...

    async def wait_condition(
        self, predicate: Callable[[], bool], *, timeout: float | None, summary: str | None = None
    ) -> bool:
        """Wait until ``predicate()``; False if ``timeout`` seconds pass first.

        ``summary`` names the wait where a UI can show it (the Temporal timer's summary).
        """
        ...

    def notify(self) -> None:
        """Something a waiting predicate reads, or the event log, may have changed."""
        ...

    def state_changed(self, state: PipelineState) -> None:
        """The pipeline state changed (search attributes, metrics)."""
        ...

    @property
    def shard_width(self) -> int | None:
        """Fan-outs wider than this run in shards (:meth:`run_shard`); ``None``: never."""
        ...

    @property
    def shards_in_flight(self) -> int:
        """How many shards of one fan-out run at once."""
        ...

    async def run_shard(self, call: ShardCall) -> ShardResult:
        """Run a slice of a fan-out elsewhere (another workflow) and wait for its outcome."""
        ...

    async def run_sub_pipeline(self, call: SubPipelineCall) -> Any:
        """Run a child pipeline and wait for it: its result; :class:`StepFailed` when it failed
        (or was cancelled on its own). Cancelling the caller cancels the child."""
        ...

    def patched(self, patch_id: str) -> bool:
        """Whether this run takes a changed code path (``workflow.patched``; else always)."""
        ...

    async def cache_lookup(self, request: CacheRequest) -> CacheAnswer:
        """The step cache's key for ``request`` and its fresh entry, if any (recorded: a
        replay gets the same answer). Never raises for an unreachable cache: a miss."""
        ...

    async def cache_write(self, request: CacheRequest, result: Any) -> None:
        """Keep a step's ``result`` under ``request``'s key; a failure is logged, not raised."""
        ...
