"""One step attempt, run the same way by every runtime: the Temporal activity and the in-process
runtime of the fake both call :func:`run_attempt`, so a failing step reads the same in both.

An attempt builds the step's context, invokes the step (async natively, sync in a thread), checks
the size of its result, and classifies what went wrong as :class:`AttemptFailed`: the error's
type and message as the pipeline's status shows them, and whether another attempt can help.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, Protocol

from pydantic import ValidationError
from pydantic_core import to_json

from pipeline_engine.steps._context import StepContext
from pipeline_engine.steps._registry import StepDefinition

__all__ = ["AttemptFailed", "AttemptSource", "attempt_context", "run_attempt"]


class AttemptFailed(Exception):
    """A step attempt that failed.

    Attributes:
        type: The error's type as the status shows it (the exception's class name;
            ``InvalidInput`` for kwargs the step does not take; ``ResultTooLarge``).
        message: What went wrong, in words (never empty).
        non_retryable: Another attempt cannot help (bad kwargs, a result over the limit).
        error: What the step raised (``None`` when the attempt itself refused the result).
    """

    def __init__(
        self,
        type: str,
        message: str,
        *,
        non_retryable: bool = False,
        error: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.non_retryable = non_retryable
        self.error = error


class AttemptSource(Protocol):
    """What an attempt's context is made of (a runtime's description of the stage run)."""

    @property
    def pipeline_id(self) -> str: ...
    @property
    def tenant_id(self) -> str | None: ...
    @property
    def stage_id(self) -> str: ...
    @property
    def previous(self) -> Any: ...
    @property
    def input(self) -> Any: ...
    @property
    def settings(self) -> dict[str, Any]: ...
    @property
    def trace_id(self) -> str: ...


def attempt_context(
    source: AttemptSource,
    *,
    step: str,
    attempt: int,
    heartbeat: Callable[..., None] | None = None,
) -> StepContext:
    """The context attempt ``attempt`` of ``step`` runs with (``heartbeat``: where its
    heartbeats go)."""
    ctx = StepContext(
        previous=source.previous,
        input=source.input,
        settings=source.settings,
        pipeline_id=source.pipeline_id,
        tenant_id=source.tenant_id,
        stage_id=source.stage_id,
        step=step,
        attempt=attempt,
        trace_id=source.trace_id,
    )
    if heartbeat is not None:
        ctx._heartbeat = heartbeat
    return ctx


async def run_attempt(
    definition: StepDefinition,
    ctx: StepContext,
    kwargs: dict[str, Any],
    *,
    executor: Executor | None = None,
    max_result_bytes: int | None = None,
) -> Any:
    """Run one attempt of ``definition``: its JSON result.

    Args:
        definition: The step.
        ctx: Its context (:func:`attempt_context`).
        kwargs: The step's kwargs from the config (checked against its signature).
        executor: Where a sync step runs (the loop's default when ``None``).
        max_result_bytes: The most JSON the result may take (``None``: no limit).

    Raises:
        AttemptFailed: The step raised, its kwargs do not fit it, or its result is too large.
        asyncio.CancelledError: The attempt was cancelled (``ctx.cancelled`` is then set).
    """
    try:
        result = await definition.invoke(ctx, kwargs, executor=executor)
    except asyncio.CancelledError:
        ctx._cancelled.set()
        raise
    except ValidationError as exc:
        raise AttemptFailed(
            "InvalidInput",
            f"invalid kwargs for step {definition.name!r}: {exc}",
            non_retryable=True,
            error=exc,
        ) from None
    except Exception as exc:
        kind = type(exc).__name__
        raise AttemptFailed(kind, str(exc) or kind, error=exc) from exc
    if max_result_bytes is not None:
        _check_size(definition.name, result, max_result_bytes)
    return result


def _check_size(step: str, result: Any, max_result_bytes: int) -> None:
    size = len(to_json(result))
    if size > max_result_bytes:
        raise AttemptFailed(
            "ResultTooLarge",
            f"step {step!r} returned {size} bytes of JSON, over the limit of {max_result_bytes} "
            "(PIPELINE_ENGINE_PAYLOAD_MAX_BYTES; without a payload store, Temporal's own limit)",
            non_retryable=True,
        )
