"""Handles on running event subscriptions: :class:`Subscription` and :class:`AsyncSubscription`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any

from pipeline_engine.client._bridge import LoopThread
from pipeline_engine.events import Event

__all__ = ["AsyncEventCallback", "AsyncSubscription", "EventCallback", "Subscription"]

EventCallback = Callable[[Event], Any]
"""Called once per event, in order."""
AsyncEventCallback = Callable[[Event], Awaitable[Any] | Any]
"""Called once per event, in order; may be a coroutine function."""

Deliver = Callable[[Event], None]


class _Stopped(Exception):
    pass


class Subscription:
    """A running subscription of a synchronous client (:meth:`PipelineClient.subscribe_events`).

    The callback runs on the subscription's own thread, never on the caller's, once per event and
    in order. The subscription ends by itself after the pipeline's terminal event, when the
    callback raises, or when :meth:`stop` is called. Usable as a context manager (stops on exit).
    """

    def __init__(
        self,
        pipeline_id: str,
        callback: EventCallback,
        body: Callable[[Deliver], Coroutine[Any, Any, None]],
    ) -> None:
        self._pipeline_id = pipeline_id
        self._callback = callback
        self._lock = threading.RLock()
        self._stopped = False
        self._last_id: int | None = None
        self._count = 0
        self._runner = LoopThread(f"pipeline-events-{pipeline_id}")
        self._future = self._runner.submit(self._main(body))
        self._future.add_done_callback(lambda _f: self._runner.stop(timeout=None))

    async def _main(self, body: Callable[[Deliver], Coroutine[Any, Any, None]]) -> None:
        try:
            await body(self._deliver)
        except _Stopped:
            return

    def _deliver(self, event: Event) -> None:
        with self._lock:
            if self._stopped:
                raise _Stopped
            self._callback(event)
            self._last_id = event.id
            self._count += 1

    @property
    def pipeline_id(self) -> str:
        """The pipeline subscribed to."""
        return self._pipeline_id

    @property
    def last_event_id(self) -> int | None:
        """Id of the last event delivered to the callback."""
        return self._last_id

    @property
    def delivered(self) -> int:
        """How many events the callback has received."""
        return self._count

    @property
    def running(self) -> bool:
        """Whether the subscription is still delivering events."""
        return not self._future.done()

    def stop(self) -> None:
        """Stop delivering events. Once it returns, the callback is not called again.

        Safe to call from the callback itself, and more than once.
        """
        with self._lock:
            self._stopped = True
        self._future.cancel()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the subscription to end (terminal event, error or :meth:`stop`).

        Args:
            timeout: Seconds to wait at most (``None``: no limit).

        Returns:
            Whether it has ended.
        """
        try:
            self._future.exception(timeout)
        except concurrent.futures.CancelledError:
            pass
        except concurrent.futures.TimeoutError:
            return False
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the subscription to end and re-raise what ended it, if it was an error.

        Args:
            timeout: Seconds to wait at most (``None``: no limit).

        Raises:
            TimeoutError: It did not end in time (the builtin ``TimeoutError``).
            PipelineError: The stream failed for good (e.g. ``PipelineNotFound``).
            Exception: Whatever the callback raised.
        """
        if not self.join(timeout):
            raise TimeoutError(f"subscription to {self._pipeline_id} still running")
        error = self.exception()
        if error is not None:
            raise error

    def exception(self) -> BaseException | None:
        """What ended the subscription, if an error did (``None`` while running or after stop)."""
        if not self._future.done() or self._future.cancelled():
            return None
        return self._future.exception()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.join()

    def __repr__(self) -> str:
        state = "running" if self.running else "ended"
        return f"<Subscription {self._pipeline_id} {state} last_event_id={self._last_id}>"


class AsyncSubscription:
    """A running subscription of an async client (:meth:`AsyncPipelineClient.subscribe_events`).

    The callback (a function or a coroutine function) runs on the event loop as a task, once per
    event and in order. It ends by itself after the pipeline's terminal event, when the callback
    raises, or on :meth:`stop`. Usable as an async context manager (stops on exit).
    """

    def __init__(
        self, pipeline_id: str, callback: AsyncEventCallback, events: AsyncIterator[Event]
    ) -> None:
        self._pipeline_id = pipeline_id
        self._callback = callback
        self._last_id: int | None = None
        self._count = 0
        self._task = asyncio.get_running_loop().create_task(
            self._main(events), name=f"pipeline-events-{pipeline_id}"
        )

    async def _main(self, events: AsyncIterator[Event]) -> None:
        try:
            async for event in events:
                result = self._callback(event)
                if inspect.isawaitable(result):
                    await result
                self._last_id = event.id
                self._count += 1
        finally:
            closer = getattr(events, "aclose", None)
            if closer is not None:
                await closer()

    @property
    def pipeline_id(self) -> str:
        """The pipeline subscribed to."""
        return self._pipeline_id

    @property
    def last_event_id(self) -> int | None:
        """Id of the last event delivered to the callback."""
        return self._last_id

    @property
    def delivered(self) -> int:
        """How many events the callback has received."""
        return self._count

    @property
    def running(self) -> bool:
        """Whether the subscription is still delivering events."""
        return not self._task.done()

    def stop(self) -> None:
        """Stop delivering events (the callback is not called again). Idempotent."""
        self._task.cancel()

    async def wait(self, timeout: float | None = None) -> None:
        """Wait for the subscription to end and re-raise what ended it, if it was an error.

        Args:
            timeout: Seconds to wait at most (``None``: no limit).

        Raises:
            TimeoutError: It did not end in time (the builtin ``TimeoutError``).
            PipelineError: The stream failed for good (e.g. ``PipelineNotFound``).
            Exception: Whatever the callback raised.
        """
        done, _ = await asyncio.wait({self._task}, timeout=timeout)
        if not done:
            raise TimeoutError(f"subscription to {self._pipeline_id} still running")
        if not self._task.cancelled() and self._task.exception() is not None:
            raise self._task.exception()  # type: ignore[misc]

    def exception(self) -> BaseException | None:
        """What ended the subscription, if an error did (``None`` while running or after stop)."""
        if not self._task.done() or self._task.cancelled():
            return None
        return self._task.exception()

    async def aclose(self) -> None:
        """Stop and wait until the subscription has ended."""
        self.stop()
        await asyncio.wait({self._task})

    async def __aenter__(self) -> AsyncSubscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "running" if self.running else "ended"
        return f"<AsyncSubscription {self._pipeline_id} {state} last_event_id={self._last_id}>"
