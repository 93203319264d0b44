"""The fakes' test controls: fail, hold and record step attempts; inject transport faults."""

from __future__ import annotations

import asyncio
import builtins
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline_engine._interpreter import StepCall
from pipeline_engine.errors import EngineUnavailable, PipelineError, TimeoutError
from pipeline_engine.testing._transport import Faults

__all__ = ["Controls", "ErrorSpec", "Hold", "RecordedCall"]

ErrorSpec = BaseException | type[BaseException] | str | None


@dataclass(frozen=True)
class RecordedCall:
    """One attempt of a step, as the fake engine saw it before running it.

    Attributes:
        pipeline_id: The pipeline.
        tenant_id: The pipeline's tenant.
        stage_id: The stage.
        step: The registered step name.
        attempt: Attempt number (from 1, counted across retries and ``retry_stage``).
        kwargs: The step's keyword arguments.
        previous: What the step received as ``previous``.
        input: The pipeline's input.
    """

    pipeline_id: str
    tenant_id: str | None
    stage_id: str
    step: str
    attempt: int
    kwargs: dict[str, Any]
    previous: Any
    input: Any


class Hold:
    """Keeps every attempt of a step (or stage) waiting until :meth:`release`.

    Returned by ``hold_step``. Thread-safe: release it from any thread.
    """

    def __init__(self, target: str, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop
        self._released = asyncio.Event()
        self._reached = asyncio.Event()
        self._reached_sync = threading.Event()
        self._released_flag = False
        self._count = 0

    @property
    def target(self) -> str:
        """The step name or stage id held."""
        return self._target

    @property
    def held(self) -> int:
        """How many attempts have reached the hold so far."""
        return self._count

    @property
    def released(self) -> bool:
        """Whether :meth:`release` was called."""
        return self._released_flag

    def release(self) -> None:
        """Let the held attempts (and every later one) run."""
        self._released_flag = True
        if _on_loop(self._loop):
            self._released.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._released.set)

    async def reached(self, timeout: float | None = None) -> None:
        """Wait (async) until an attempt is held.

        Args:
            timeout: Seconds to wait at most.

        Raises:
            TimeoutError: No attempt reached the hold in time.
        """
        try:
            await asyncio.wait_for(self._reached.wait(), timeout)
        except builtins.TimeoutError:
            raise TimeoutError(
                f"no attempt of {self._target!r} was held within {timeout} s"
            ) from None

    def wait_reached(self, timeout: float | None = None) -> None:
        """Block until an attempt is held (from a thread other than the engine's loop).

        Args:
            timeout: Seconds to wait at most.

        Raises:
            TimeoutError: No attempt reached the hold in time.
        """
        if not self._reached_sync.wait(timeout):
            raise TimeoutError(f"no attempt of {self._target!r} was held within {timeout} s")

    async def _hold(self) -> None:
        self._count += 1
        self._reached.set()
        self._reached_sync.set()
        await self._released.wait()

    def __repr__(self) -> str:
        return f"<Hold {self._target!r} held={self._count} released={self._released_flag}>"


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


@dataclass
class _Failure:
    target: str
    times: int | None
    error: ErrorSpec

    def exception(self) -> BaseException:
        error = self.error
        if error is None:
            return RuntimeError(f"failure of {self.target!r} injected by the fake engine")
        if isinstance(error, str):
            return RuntimeError(error)
        if isinstance(error, type):
            return error(f"failure of {self.target!r} injected by the fake engine")
        return error


class Controls:
    """The test controls both fakes share (the step attempts run on ``loop``'s thread).

    Args:
        loop: The loop the fake's pipelines run on (asked when a hold is made).
    """

    def __init__(self, loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
        self._controls_loop = loop
        self._calls: list[RecordedCall] = []
        self._failures: list[_Failure] = []
        self._holds: list[Hold] = []
        self._faults = Faults()

    # ------------------------------------------------------------------ test controls
    def fail_step(self, target: str, *, times: int | None = 1, error: ErrorSpec = None) -> None:
        """Make the next attempts of a step (by name) or a stage (by id) fail.

        Args:
            target: A step name or a stage id.
            times: How many attempts fail (``None``: every one, until :meth:`clear_controls`).
            error: The exception raised: an instance, a class, a message (a ``RuntimeError``),
                or ``None`` for a ``RuntimeError``. Its class name is the stage error's ``type``
                (so ``non_retryable_errors`` apply).
        """
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every attempt)")
        self._failures.append(_Failure(target, times, error))

    def hold_step(self, target: str) -> Hold:
        """Hold every attempt of a step (by name) or a stage (by id) until the hold is released.

        Args:
            target: A step name or a stage id.

        Returns:
            The :class:`Hold`: ``release()`` it; ``await reached()`` / ``wait_reached()`` to know
            an attempt is waiting on it.
        """
        hold = Hold(target, self._controls_loop())
        self._holds.append(hold)
        return hold

    @property
    def calls(self) -> list[RecordedCall]:
        """Every step attempt made so far, in order."""
        return list(self._calls)

    def calls_of(self, target: str, pipeline_id: str | None = None) -> list[RecordedCall]:
        """The attempts of a step (by name) or stage (by id), optionally of one pipeline."""
        return [
            c
            for c in self._calls
            if target in (c.step, c.stage_id)
            and (pipeline_id is None or c.pipeline_id == pipeline_id)
        ]

    def clear_controls(self) -> None:
        """Forget injected failures, release every hold and clear :attr:`calls`."""
        self._failures.clear()
        self.release_holds()
        self._holds.clear()
        self._calls.clear()
        self._faults.clear()

    def release_holds(self) -> None:
        """Release every hold (so running pipelines can be stopped)."""
        for hold in self._holds:
            hold.release()

    def fail_requests(
        self, error: PipelineError | None = None, *, times: int = 1, path: str | None = None
    ) -> None:
        """Answer the next requests with an error, as the REST API would (status, headers, body).

        Simulates an auth error (``AuthenticationError(...)``: 401), a transient outage (the
        default, ``EngineUnavailable`` with ``Retry-After: 1``: 503, which the client retries),
        and so on, to test retry and error paths offline.

        Args:
            error: The error answered (default: a transient ``EngineUnavailable``).
            times: How many requests get it.
            path: Only requests whose path contains this (e.g. ``"/start"``).
        """
        from api.errors import error_response

        failure = error or EngineUnavailable("unavailable (fault injected)", retry_after_s=0.0)
        self._faults.respond(error_response(failure), times=times, match=path)

    def drop_streams(self, *, after_messages: int = 1, times: int = 1) -> None:
        """Cut the next event or metric streams after ``after_messages`` messages.

        The client reconnects (resuming events after the last one received), as it would after a
        dropped connection.
        """
        self._faults.drop(after_messages=after_messages, times=times, match=None)

    async def _before_attempt(self, call: StepCall, attempt: int) -> None:
        self._calls.append(
            RecordedCall(
                pipeline_id=call.pipeline_id,
                tenant_id=call.tenant_id,
                stage_id=call.stage_id,
                step=call.step,
                attempt=attempt,
                kwargs=dict(call.kwargs),
                previous=call.previous,
                input=call.input,
            )
        )
        for hold in list(self._holds):
            if hold.target in (call.step, call.stage_id) and not hold.released:
                await hold._hold()
        for failure in self._failures:
            if failure.target in (call.step, call.stage_id):
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                raise failure.exception()
