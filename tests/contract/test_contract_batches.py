"""Batches in the SDK's contract: the same calls against the fake engine and the live stack.

Submit (and its repeat), status and counts, the list, the pipelines by page and by state, the
results in input order, retry-failed and cancel, bad input: any divergence between the fake's
batches (:mod:`pipeline_engine.service.local_batches`) and the server's fails here.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pipeline_engine import Conflict, InvalidInput, PipelineState
from pipeline_engine.batches import BatchStatus
from pipeline_engine.errors import BatchNotFound
from tests.contract.conftest import AsyncEngine, Backend

pytestmark = pytest.mark.timeout(180)

ITEM = {"type": "step", "name": "t_batch_item", "retry": {"max_attempts": 1}}
WAIT_S = 120.0
T = TypeVar("T")


async def _configure(backend: Backend, **kwargs: Any) -> None:
    definition = {**ITEM, "kwargs": kwargs} if kwargs else ITEM
    await backend.engine.put_tenant_config(backend.tenant_id, {"pipeline_definition": definition})


async def _until(engine: AsyncEngine, batch_id: str, *states: str) -> BatchStatus:
    deadline = time.monotonic() + WAIT_S
    while True:
        status = await engine.get_batch(batch_id)
        if status.state in states or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.2)


async def _eventually(read: Callable[[], Awaitable[T]], ok: Callable[[T], bool]) -> T:
    """``read()`` until ``ok`` (lists come from Temporal visibility, a moment behind)."""
    deadline = time.monotonic() + WAIT_S
    while not ok(found := await read()) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return found


async def test_a_batch_counts_pages_results_and_retries_its_failed(
    backend: Backend, calls_dir: Path
) -> None:
    engine, tenant = backend.engine, backend.tenant_id
    await _configure(backend)
    fix = f"contract-{uuid.uuid4().hex[:8]}"
    inputs = [{"n": i, "fail": i == 2, "fix": fix} for i in range(6)]
    ref = await engine.submit_batch(inputs, max_running=2, idempotency_key="b1")
    assert (ref.total, ref.state) == (6, "RUNNING")
    again = await engine.submit_batch(inputs, max_running=2, idempotency_key="b1")
    assert again.batch_id == ref.batch_id  # the same key and arguments: the same batch

    status = await _until(engine, ref.batch_id, "SUCCEEDED", "FAILED", "CANCELLED")
    assert status.state == "FAILED", status
    assert status.counts == {"SUCCEEDED": 5, "FAILED": 1}
    assert (status.total, status.max_running, status.tenant_id) == (6, 2, tenant)
    assert status.pipeline == "default" and status.finished_at is not None
    assert status.cancel_reason is None

    listed = await _eventually(engine.list_batches, lambda p: p.items[0].state == "FAILED")
    assert [(b.batch_id, b.state, b.total) for b in listed.items] == [(ref.batch_id, "FAILED", 6)]

    first = await engine.list_batch_pipelines(ref.batch_id, page_size=4)
    assert [p.index for p in first.items] == [0, 1, 2, 3] and first.next_page_token
    rest = await engine.list_batch_pipelines(
        ref.batch_id, page_size=4, page_token=first.next_page_token
    )
    assert [p.index for p in rest.items] == [4, 5] and rest.next_page_token is None
    by_index = {p.index: p for p in first.items + rest.items}
    assert by_index[2].state == "FAILED" and by_index[0].state == "SUCCEEDED"
    failed = await _eventually(
        lambda: engine.list_batch_pipelines(ref.batch_id, state=PipelineState.FAILED),
        lambda p: bool(p.items),
    )
    assert [(p.index, p.pipeline_id) for p in failed.items] == [(2, by_index[2].pipeline_id)]

    lines = [line async for line in engine.batch_results(ref.batch_id)]
    assert [line.index for line in lines] == list(range(6))
    assert [line.pipeline_id for line in lines] == [by_index[i].pipeline_id for i in range(6)]
    assert lines[0].result == {"n": 0, "double": 0} and lines[0].error is None
    assert lines[2].state == "FAILED" and lines[2].result is None
    assert lines[2].error is not None and "fails until fixed" in lines[2].error["message"]

    (calls_dir / f"{fix}.fixed").touch()
    retried = await engine.retry_failed_batch(ref.batch_id, "fixed")
    assert (retried.retried_pipelines, retried.retried_stages) == (1, 1)
    status = await _until(engine, ref.batch_id, "SUCCEEDED", "FAILED")
    assert status.state == "SUCCEEDED" and status.counts == {"SUCCEEDED": 6}, status
    lines = [line async for line in engine.batch_results(ref.batch_id)]
    assert lines[2].state == "SUCCEEDED" and lines[2].result == {"n": 2, "double": 4}
    nothing = await engine.retry_failed_batch(ref.batch_id, "again")
    assert (nothing.retried_pipelines, nothing.retried_stages) == (0, 0)


async def test_a_cancelled_batch_starts_no_more_and_says_so(backend: Backend) -> None:
    engine = backend.engine
    await _configure(backend, seconds=1.0)
    inputs = [{"n": i} for i in range(10)]
    ref = await engine.submit_batch(inputs, max_running=2, idempotency_key="to-cancel")
    deadline = time.monotonic() + WAIT_S
    while (await engine.get_batch(ref.batch_id)).counts.get("RUNNING", 0) == 0:
        assert time.monotonic() < deadline, "no pipeline of the batch started"
        await asyncio.sleep(0.1)
    await engine.cancel_batch(ref.batch_id, "wrong inputs")
    status = await _until(engine, ref.batch_id, "CANCELLED", "SUCCEEDED", "FAILED")
    assert status.state == "CANCELLED", status
    assert sum(status.counts.values()) == 10
    assert status.counts.get("CANCELLED", 0) >= 6  # at most the first few ran to the end
    assert set(status.counts) <= {"CANCELLED", "SUCCEEDED"}
    lines = [line async for line in engine.batch_results(ref.batch_id)]
    assert [line.index for line in lines] == list(range(10))
    assert lines[-1].state == "CANCELLED"  # never started: CANCELLED, not PENDING
    listed = await _eventually(engine.list_batches, lambda p: p.items[0].state == "CANCELLED")
    assert [(b.batch_id, b.state) for b in listed.items] == [(ref.batch_id, "CANCELLED")]
    again = await engine.cancel_batch(ref.batch_id, "again")  # a repeat: the state
    assert again.state == "CANCELLED"


async def test_batch_refusals_are_the_same(backend: Backend) -> None:
    engine = backend.engine
    await _configure(backend)
    await engine.submit_batch([{"n": 1}], idempotency_key="k")
    with pytest.raises(Conflict):
        await engine.submit_batch([{"n": 2}], idempotency_key="k")
    with pytest.raises(InvalidInput) as info:
        await engine.submit_batch([])
    assert [p.path for p in info.value.problems] == ["$.inputs"]
    missing = "bt-000000000000000000000000"
    for call in (
        engine.get_batch(missing),
        engine.cancel_batch(missing, "x"),
        engine.retry_failed_batch(missing, "x"),
        engine.list_batch_pipelines(missing),
    ):
        with pytest.raises(BatchNotFound):
            await call
    with pytest.raises(BatchNotFound):
        _ = [line async for line in engine.batch_results(missing)]


def test_the_sync_client_runs_a_batch(backend: Backend) -> None:
    """The generated sync twin over the same backend (a thread of its own, like a script)."""
    engine = backend.sync_engine()
    with engine:
        engine.put_tenant_config(backend.tenant_id, {"pipeline_definition": ITEM})
        ref = engine.submit_batch([{"n": 3}, {"n": 4}])
        deadline = time.monotonic() + WAIT_S
        while (status := engine.get_batch(ref.batch_id)).state == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert status.state == "SUCCEEDED" and status.counts == {"SUCCEEDED": 2}
        results = [line.result for line in engine.batch_results(ref.batch_id)]
        assert results == [{"n": 3, "double": 6}, {"n": 4, "double": 8}]
