"""Waiting for pipelines in tests: poll the engine until a state, with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus
from workflows.engine import TemporalPipelineEngine

ENDED = (PipelineState.SUCCEEDED, PipelineState.FAILED, PipelineState.CANCELLED)


async def wait_until(
    probe: Callable[[], Awaitable[bool]], *, timeout: float = 30.0, interval: float = 0.05
) -> None:
    """Poll ``probe`` until it returns True; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await probe():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def wait_for_state(
    engine: TemporalPipelineEngine,
    pipeline_id: str,
    *states: PipelineState,
    timeout: float = 30.0,
) -> PipelineStatus:
    """The pipeline's status once it is in one of ``states`` (default: any ending state).

    Only a whole status counts: one with ``note`` (a worker too busy to answer the status query
    in time on a loaded machine, so only Temporal's records) is read again.
    """
    wanted = states or ENDED
    seen: list[PipelineStatus] = []

    async def probe() -> bool:
        seen.append(await engine.get_pipeline(pipeline_id))
        return seen[-1].state in wanted and seen[-1].note is None

    try:
        await wait_until(probe, timeout=timeout)
    except AssertionError:
        last = seen[-1] if seen else None
        raise AssertionError(
            f"{pipeline_id} never reached {[s.value for s in wanted]}; last: "
            f"{last.model_dump_json(indent=1) if last else None}"
        ) from None
    return seen[-1]
