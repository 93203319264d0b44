"""Handles on running event subscriptions: :class:`Subscription` and :class:`AsyncSubscription`."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any

from pipeline_engine.events import Event

__all__ = ["AsyncEventCallback", "AsyncSubscription", "EventCallback", "Subscription"]

EventCallback = Callable[[Event], Any]
"""Called once per event, in order."""
AsyncEventCallback = Callable[[Event], Awaitable[Any] | Any]
"""Called once per event, in order; may be a coroutine function."""


class _Delivery:
    """What both subscriptions track: the pipeline, the last event delivered, how many."""

    def __init__(self, pipeline_id: str) -> None:
        self._pipeline_id = pipeline_id
        self._last_id: int | None = None
        self._count = 0

    def _delivered(self, event: Event) -> None:
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
        raise NotImplementedError

    def __repr__(self) -> str:
        state = "running" if self.running else "ended"
        name = type(self).__name__
        return f"<{name} {self._pipeline_id} {state} last_event_id={self._last_id}>"


class Subscription(_Delivery):
    """A running subscription of a synchronous client (:meth:`PipelineClient.subscribe_events`).

    The callback runs on the subscription's own thread, never on the caller's, once per event and
    in order. The subscription ends by itself after the pipeline's terminal event, when the
    callback raises, or when :meth:`stop` is called. Usable as a context manager (stops on exit).
    """

    def __init__(self, pipeline_id: str, callback: EventCallback, events: Iterator[Event]) -> None:
        super().__init__(pipeline_id)
        self._callback = callback
        self._lock = threading.RLock()
        self._stopped = False
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._main, args=(events,), name=f"pipeline-events-{pipeline_id}", daemon=True
        )
        self._thread.start()

    def _main(self, events: Iterator[Event]) -> None:
        try:
            for event in events:
                with self._lock:
                    if self._stopped:
                        return
                    self._callback(event)
                    self._delivered(event)
        except BaseException as exc:
            self._error = exc
        finally:
            closer = getattr(events, "close", None)
            if closer is not None:
                closer()
            self._done.set()

    @property
    def running(self) -> bool:
        """Whether the subscription is still delivering events."""
        return not (self._done.is_set() or self._stopped)

    def stop(self) -> None:
        """Stop delivering events. Once it returns, the callback is not called again.

        Safe to call from the callback itself, and more than once. The thread ends at the next
        message of the stream, or when the client is closed.
        """
        with self._lock:
            self._stopped = True

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the subscription to end (terminal event, error or :meth:`stop`).

        Args:
            timeout: Seconds to wait at most (``None``: no limit).

        Returns:
            Whether it has ended.
        """
        return self._stopped or self._done.wait(timeout)

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
        if self._stopped or not self._done.is_set():
            return None
        return self._error

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


class AsyncSubscription(_Delivery):
    """A running subscription of an async client (:meth:`AsyncPipelineClient.subscribe_events`).

    The callback (a function or a coroutine function) runs on the event loop as a task, once per
    event and in order. It ends by itself after the pipeline's terminal event, when the callback
    raises, or on :meth:`stop`. Usable as an async context manager (stops on exit).
    """

    def __init__(
        self, pipeline_id: str, callback: AsyncEventCallback, events: AsyncIterator[Event]
    ) -> None:
        super().__init__(pipeline_id)
        self._callback = callback
        self._task = asyncio.get_running_loop().create_task(
            self._main(events), name=f"pipeline-events-{pipeline_id}"
        )

    async def _main(self, events: AsyncIterator[Event]) -> None:
        try:
            async for event in events:
                result = self._callback(event)
                if inspect.isawaitable(result):
                    await result
                self._delivered(event)
        finally:
            closer = getattr(events, "aclose", None)
            if closer is not None:
                await closer()

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
