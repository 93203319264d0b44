"""Running coroutines at once, all or none: one fails (or the caller is cancelled), the others are
cancelled and waited for."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["gather_tasks", "run_all"]


async def gather_tasks(tasks: list[asyncio.Task[Any]]) -> list[Any]:
    """Gather; if one fails (or this is cancelled), cancel the others and wait for them."""
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def run_all(coros: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Run ``coros`` at once as tasks (see :func:`gather_tasks`): their results in order."""
    return await gather_tasks([asyncio.create_task(c) for c in coros])
