"""Status reads of running pipelines: shared in-flight queries, short-lived answers, forgotten by
every command and by every change a stream sees; never another tenant's (see tests/api).

Temporal calls are counted by a client interceptor (``status`` queries per workflow id), not by
timing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
)

from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import PipelineStatus, StagePage
from pipeline_engine.steps import StepRegistry
from tests.support.waiting import wait_for_state
from workflows import names
from workflows.engine import TemporalPipelineEngine
from workflows.status_cache import Read, StatusCache
from workflows.worker_factory import build_worker

APPROVAL = {"type": "input", "id": "approval", "schema": {"type": "object"}}


class _Counting(OutboundInterceptor):
    def __init__(self, nxt: OutboundInterceptor, seen: Counter[str]) -> None:
        super().__init__(nxt)
        self._seen = seen

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        # the engine asks for status_parts since the thin fan-out (status of older workflows)
        if input.query in (names.QUERY_STATUS, names.QUERY_STATUS_PARTS):
            self._seen[input.id] += 1
        return await super().query_workflow(input)


class StatusQueries(Interceptor):
    """Counts the status queries (``status`` or ``status_parts``) sent through a client, per
    pipeline."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Counting(next, self.seen)


@dataclass
class Counted:
    """Engines over one counting client (the session's connection), and a worker."""

    client: Client
    queries: StatusQueries
    task_queue: str
    registry: StepRegistry
    tenant: str

    def engine(self, status_cache_s: float) -> TemporalPipelineEngine:
        return TemporalPipelineEngine(
            self.client,
            task_queue=self.task_queue,
            registry=self.registry,
            status_cache_s=status_cache_s,
        )


@pytest.fixture
async def counted(
    client: Client, task_queue: str, registry: StepRegistry
) -> AsyncIterator[Counted]:
    queries = StatusQueries()
    counting = Client(**{**client.config(), "interceptors": [queries]})
    # a tenant of its own: pipelines of one fairness key in several tests' worker queues in a row
    # stall on the dev server (a later workflow task is never dispatched)
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, task_queue=task_queue, registry=registry):
        yield Counted(counting, queries, task_queue, registry, tenant)


async def waiting_for_input(
    engine: TemporalPipelineEngine, tenant: str, *then: dict[str, Any]
) -> str:
    """A started pipeline that waits for input (it stays so: no timing in the tests)."""
    created = await engine.create_pipeline(
        {"name": "wait", "definition": {"type": "chain", "steps": [APPROVAL, *then]}},
        tenant_id=tenant,
        start=True,
    )
    await wait_for_state(engine, created.pipeline_id, PipelineState.WAITING_INPUT)
    return created.pipeline_id


# ---------------------------------------------------------------- on the real server


async def test_concurrent_reads_share_one_query(counted: Counted) -> None:
    engine = counted.engine(status_cache_s=0)  # nothing kept: the sharing alone
    pid = await waiting_for_input(engine, counted.tenant)
    seen = counted.queries.seen
    before = seen[pid]
    answers = await asyncio.gather(*(engine.get_pipeline(pid) for _ in range(20)))
    assert seen[pid] == before + 1
    assert {a.state for a in answers} == {PipelineState.WAITING_INPUT}
    assert all(a.tenant_id == counted.tenant for a in answers)
    # another page is another query; each page's readers share theirs
    failed = StagePage(state=StageState.FAILED)
    pages = await asyncio.gather(*(engine.get_pipeline(pid, page=p) for p in [None, failed] * 10))
    assert seen[pid] == before + 3
    assert {len(a.stages) for a in pages[1::2]} == {0} and len(pages[0].stages) == 1


async def test_nothing_is_kept_with_0(counted: Counted) -> None:
    engine = counted.engine(status_cache_s=0)
    pid = await waiting_for_input(engine, counted.tenant)
    before = counted.queries.seen[pid]
    for _ in range(3):
        assert (await engine.get_pipeline(pid)).state is PipelineState.WAITING_INPUT
    assert counted.queries.seen[pid] == before + 3


async def test_answers_are_kept_per_page_until_they_expire(counted: Counted) -> None:
    engine = counted.engine(status_cache_s=1.0)
    pid = await waiting_for_input(engine, counted.tenant)
    seen = counted.queries.seen
    first = await engine.get_pipeline(pid)
    n = seen[pid]
    assert await engine.get_pipeline(pid) is first
    assert await engine.get_pipeline(pid, page=StagePage()) is first  # the default page
    assert seen[pid] == n
    other = await engine.get_pipeline(pid, page=StagePage(limit=1))
    assert seen[pid] == n + 1 and await engine.get_pipeline(pid, page=StagePage(limit=1)) is other
    await asyncio.sleep(1.2)
    again = await engine.get_pipeline(pid)
    assert seen[pid] == n + 2 and again is not first
    assert again.state is PipelineState.WAITING_INPUT and again.tenant_id == counted.tenant


async def test_every_command_is_seen_by_the_next_read(counted: Counted) -> None:
    """Kept for a minute, yet a command through the same engine is never missing from the next
    read; another engine (another API process) stands for the world moving on without it."""
    engine = counted.engine(status_cache_s=60)
    other = counted.engine(status_cache_s=0)
    seen = counted.queries.seen
    created = await engine.create_pipeline(
        {
            "name": "cmds",
            "definition": {
                "type": "chain",
                "steps": [
                    {
                        "type": "step",
                        "name": "t_flaky",
                        "kwargs": {"fail_times": 1},
                        "retry": {"max_attempts": 1},
                    },
                    APPROVAL,
                    {"type": "step", "name": "t_add"},
                ],
            },
        },
        tenant_id=counted.tenant,
    )
    pid = created.pipeline_id

    async def read_after(command: Any, of: str = pid) -> PipelineStatus:
        await engine.get_pipeline(of)  # kept
        n = seen[of]
        assert (await engine.get_pipeline(of)) and seen[of] == n
        await command
        status = await engine.get_pipeline(of)
        assert seen[of] > n, "the command's caller was answered from before it"
        return status

    assert (await engine.get_pipeline(pid)).state is PipelineState.PENDING
    started = await read_after(engine.start_pipeline(pid))
    assert started.state is not PipelineState.PENDING

    await wait_for_state(other, pid, PipelineState.FAILED)
    retried = await read_after(engine.retry_stage(pid, "t_flaky", "fixed"))
    assert retried.state in (PipelineState.RUNNING, PipelineState.WAITING_INPUT)
    assert retried.stage("t_flaky").state in (StageState.RUNNING, StageState.SUCCEEDED)

    await wait_for_state(other, pid, PipelineState.WAITING_INPUT)
    answered = await read_after(engine.submit_input(pid, {"approved": True}, "ana"))
    assert answered.state in (PipelineState.RUNNING, PipelineState.SUCCEEDED)
    assert answered.stage("approval").state is StageState.SUCCEEDED

    waiting = await waiting_for_input(other, counted.tenant)
    cancelled = await read_after(engine.cancel_pipeline(waiting, "no longer needed"), waiting)
    assert cancelled.state is PipelineState.CANCELLED


async def test_a_command_elsewhere_shows_within_the_ttl_or_on_a_stream_change(
    counted: Counted,
) -> None:
    engine = counted.engine(status_cache_s=60)
    other = counted.engine(status_cache_s=0)
    pid = await waiting_for_input(other, counted.tenant, {"type": "step", "name": "t_add"})
    assert (await engine.get_pipeline(pid)).state is PipelineState.WAITING_INPUT
    await other.submit_input(pid, {"approved": True}, "ana")
    await wait_for_state(other, pid)
    # not told: still the kept answer (another API process within its STATUS_CACHE_S) ...
    assert (await engine.get_pipeline(pid)).state is PipelineState.WAITING_INPUT
    # ... until a stream of this engine sees the pipeline change: then never older than that
    async with asyncio.timeout(30):
        async for change in engine.watch_changes(pid):
            if change.closed:
                break
    assert (await engine.get_pipeline(pid)).state is PipelineState.SUCCEEDED


async def test_a_history_read_that_saw_events_is_followed_by_a_fresh_status(
    counted: Counted,
) -> None:
    """A client following the events (`pipeline-engine run --follow`, the console) reads the
    status once it saw the pipeline end: never the answer kept from before."""
    engine = counted.engine(status_cache_s=60)
    other = counted.engine(status_cache_s=0)
    pid = await waiting_for_input(other, counted.tenant, {"type": "step", "name": "t_add"})
    assert (await engine.get_pipeline(pid)).state is PipelineState.WAITING_INPUT
    await other.submit_input(pid, {"approved": True}, "ana")
    await wait_for_state(other, pid)
    events = await engine.get_history(pid)
    assert events[-1].type == "pipeline.succeeded"
    assert (await engine.get_pipeline(pid)).state is PipelineState.SUCCEEDED


async def test_history_is_never_kept(counted: Counted) -> None:
    engine = counted.engine(status_cache_s=60)
    other = counted.engine(status_cache_s=0)
    pid = await waiting_for_input(other, counted.tenant, {"type": "step", "name": "t_add"})
    before = [e.type for e in await engine.get_history(pid)]
    await other.submit_input(pid, {"approved": True}, "ana")
    await wait_for_state(other, pid)
    after = [e.type for e in await engine.get_history(pid)]
    assert "pipeline.succeeded" in after and "pipeline.succeeded" not in before


# ---------------------------------------------------------------- the cache alone


def _status(pid: str = "p", state: PipelineState = PipelineState.RUNNING) -> PipelineStatus:
    return PipelineStatus(pipeline_id=pid, name="n", tenant_id="acme", state=state)


async def settle() -> None:
    """Let the tasks started so far run up to their first wait."""
    for _ in range(5):
        await asyncio.sleep(0)


class Reads:
    """A fetch that counts its calls and answers when told."""

    def __init__(self, read: Read | None = None) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.read = read or Read(_status())
        self.error: Exception | None = None

    async def __call__(self) -> Read:
        self.calls += 1
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.read


async def test_a_read_in_flight_during_a_command_is_neither_shared_nor_kept() -> None:
    cache = StatusCache(ttl_s=60)
    fetch = Reads()
    early = asyncio.ensure_future(cache.read("p", StagePage(), fetch))
    await settle()
    cache.forget("p")  # a command happened meanwhile
    fresh = Reads(Read(_status(state=PipelineState.CANCELLED)))
    late = asyncio.ensure_future(cache.read("p", StagePage(), fresh))
    await settle()
    assert (fetch.calls, fresh.calls) == (1, 1)
    fetch.gate.set()
    fresh.gate.set()
    assert (await early).state is PipelineState.RUNNING
    assert (await late).state is PipelineState.CANCELLED
    kept = await cache.read("p", StagePage(), Reads())  # answered without a call
    assert kept.state is PipelineState.CANCELLED


async def test_errors_reach_every_sharer_and_are_not_kept() -> None:
    cache = StatusCache(ttl_s=60)
    fetch = Reads()
    fetch.error = RuntimeError("boom")
    readers = [asyncio.ensure_future(cache.read("p", StagePage(), fetch)) for _ in range(3)]
    await settle()
    fetch.gate.set()
    results = await asyncio.gather(*readers, return_exceptions=True)
    assert fetch.calls == 1 and all(isinstance(r, RuntimeError) for r in results)
    retry = Reads()
    retry.gate.set()
    await cache.read("p", StagePage(), retry)
    assert retry.calls == 1


async def test_a_caller_going_away_does_not_cancel_the_shared_read() -> None:
    cache = StatusCache(ttl_s=60)
    fetch = Reads()
    first = asyncio.ensure_future(cache.read("p", StagePage(), fetch))
    second = asyncio.ensure_future(cache.read("p", StagePage(), fetch))
    await settle()
    first.cancel()
    await settle()
    fetch.gate.set()
    assert (await second).state is PipelineState.RUNNING
    assert first.cancelled() and fetch.calls == 1


async def test_ended_pipelines_are_kept_whole_even_with_0_and_paged_per_read() -> None:
    now = [0.0]
    cache = StatusCache(ttl_s=0, clock=lambda: now[0])
    stages = [{"stage_id": f"s{i}", "step": "t_add", "state": "SUCCEEDED"} for i in range(3)]
    whole = PipelineStatus.model_validate(
        {**_status(state=PipelineState.SUCCEEDED).model_dump(), "stages": stages}
    )
    fetch = Reads(Read(whole, ended=True))
    fetch.gate.set()
    assert len((await cache.read("p", StagePage(limit=2), fetch)).stages) == 2
    assert [s.stage_id for s in (await cache.read("p", StagePage(offset=2), fetch)).stages] == [
        "s2"
    ]
    assert fetch.calls == 1
    now[0] += 61
    await cache.read("p", StagePage(), fetch)
    assert fetch.calls == 2


async def test_the_cache_is_bounded_and_expires() -> None:
    now = [0.0]
    cache = StatusCache(ttl_s=0.5, max_pipelines=2, clock=lambda: now[0])
    fetch = Reads()
    fetch.gate.set()
    for pid in ("a", "b", "c"):  # "a" is pushed out by "c"
        await cache.read(pid, StagePage(), fetch)
    assert fetch.calls == 3
    await cache.read("c", StagePage(), fetch)
    assert fetch.calls == 3
    await cache.read("a", StagePage(), fetch)
    assert fetch.calls == 4
    now[0] += 0.5
    await cache.read("a", StagePage(), fetch)
    assert fetch.calls == 5
    with pytest.raises(ValueError):
        StatusCache(ttl_s=-1)
