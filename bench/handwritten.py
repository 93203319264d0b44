"""The baseline: a hand-written Temporal workflow running the same shapes as the DSL pipelines.

Activity options mirror what the DSL gives a step by default (``pipeline_engine/dsl``): a 3600 s
start-to-close timeout, a 60 s heartbeat timeout, and 3 attempts with a 1 s initial interval and a
backoff of 2. Payloads go through the same pydantic data converter (the client's).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

WORKFLOW_TYPE = "HandwrittenBench"

START_TO_CLOSE = timedelta(seconds=3600)
HEARTBEAT = timedelta(seconds=60)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_attempts=3
)


class BenchInput(BaseModel):
    shape: Literal["chain", "group"]
    size: int


class NoopInput(BaseModel):
    index: int


@activity.defn(name="bench_noop")
async def noop(params: NoopInput) -> None:
    """Does nothing."""
    return None


@workflow.defn(name=WORKFLOW_TYPE)
class HandwrittenBench:
    """``size`` no-op activities, one after the other (chain) or all at once (group)."""

    @workflow.run
    async def run(self, params: BenchInput) -> int:
        if params.shape == "chain":
            for i in range(params.size):
                await self._noop(i)
        else:
            await asyncio.gather(*(self._noop(i) for i in range(params.size)))
        return params.size

    async def _noop(self, index: int) -> None:
        await workflow.execute_activity(
            noop,
            NoopInput(index=index),
            start_to_close_timeout=START_TO_CLOSE,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
