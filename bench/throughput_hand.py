"""The hand-written Temporal floor of ``bench.throughput``: one workflow per seed-shaped pipeline.

Runs as its own process (so its CPU and memory are measured apart from the project's worker): a
worker for the hand-written workflow and a driver on the same client, so starts are eager (the
first workflow task runs in this process without a round trip through the matching service) and
activities are dispatched eagerly. ``python -m bench.throughput_hand ADDRESS QUEUE`` reads lines
``seed N MODE`` (``MODE`` = ``activity`` or ``local``) on stdin, starts N workflows of the seed's
shape (step, step, a chord of two steps and a callback, step) at once from 16 tasks, waits for
every result, and answers each line with one JSON object: ``wall_s``, ``submit_s`` and the
latencies (start call to result) of every workflow, in seconds.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

SUBMITTERS = 16
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
TIMEOUT = timedelta(seconds=60)


class SeedInput(BaseModel):
    mode: Literal["activity", "local"]


@activity.defn(name="hand_noop")
async def hand_noop(previous: object = None) -> None:
    """Does nothing."""
    return None


@workflow.defn(name="HandwrittenSeed")
class HandwrittenSeed:
    """The seed's shape: two steps, a chord (two steps in parallel, then a callback), a step."""

    @workflow.run
    async def run(self, params: SeedInput) -> int:
        await self._step(params)
        await self._step(params)
        await asyncio.gather(self._step(params), self._step(params))
        await self._step(params)
        await self._step(params)
        return 6

    async def _step(self, params: SeedInput) -> None:
        if params.mode == "local":
            await workflow.execute_local_activity(
                hand_noop, None, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
            )
        else:
            await workflow.execute_activity(
                hand_noop, None, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
            )


async def run_seed(
    client: Client, queue: str, n: int, mode: Literal["activity", "local"]
) -> dict[str, object]:
    pending: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        pending.put_nowait(i)
    latencies: list[float] = []
    waits: list[asyncio.Task[None]] = []
    prefix = f"hand-{uuid.uuid4().hex[:8]}"

    async def wait(handle: WorkflowHandle[Any, int], began: float) -> None:
        await handle.result()
        latencies.append(time.perf_counter() - began)

    async def submit() -> None:
        while not pending.empty():
            i = pending.get_nowait()
            began = time.perf_counter()
            handle = await client.start_workflow(
                HandwrittenSeed.run,
                SeedInput(mode=mode),
                id=f"{prefix}-{i}",
                task_queue=queue,
                request_eager_start=True,
            )
            waits.append(asyncio.create_task(wait(handle, began)))

    began = time.perf_counter()
    await asyncio.gather(*(submit() for _ in range(SUBMITTERS)))
    submitted = time.perf_counter() - began
    await asyncio.gather(*waits)
    wall = time.perf_counter() - began
    return {"wall_s": wall, "submit_s": submitted, "latencies": latencies}


async def main(address: str, queue: str) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[HandwrittenSeed],
        activities=[hand_noop],
        max_concurrent_workflow_tasks=100,
        max_concurrent_activities=200,
        workflow_runner=UnsandboxedWorkflowRunner(),  # as the project's workflows run
    )
    async with worker:
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            _, size, mode = line.split()
            assert mode in ("activity", "local"), mode
            result = await run_seed(client, queue, int(size), mode)  # type: ignore[arg-type]
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
