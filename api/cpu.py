"""CPU-heavy work of a request (parsing, validating and drawing configs) off the event loop:
the graph routes, and the validation of a tenant config or a named pipeline's version.

A large config takes the event loop's CPU for seconds: every other request of the process, and
``/healthz``, would wait. Such work runs in a worker thread instead, at most
``PIPELINE_ENGINE_CPU_THREADS`` at once per process (more requests wait their turn, without
holding the loop), and the loop goes on answering meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

__all__ = ["count_elements", "off_loop"]

T = TypeVar("T")


async def off_loop(limiter: CapacityLimiter, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a worker thread, one of ``limiter``'s."""
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=limiter)


def count_elements(document: Any, most: int) -> int:
    """The JSON objects with a ``type`` in ``document`` (its DSL elements), counting stopped
    past ``most``: a bound checked before any parsing, in time linear in the document."""
    found = 0
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            found += "type" in value
            if found > most:
                return found
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return found
