"""The worker's volume metrics move on the real server: a schedule's runs (counted where they
start, by schedule, not the pipelines nobody scheduled) and the batches that ended, by state."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from pipeline_engine.schedules import ScheduleDefinition
from pipeline_engine.service import PreparedConfig
from pipeline_engine.service.batches import BatchRequest
from pipeline_engine.states import PipelineState
from pipeline_engine.steps import StepRegistry
from tests.support.promtool import assert_documented, metric_value
from tests.support.waiting import wait_for_state, wait_until
from workflows.batch_engine import TemporalBatchEngine
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.payload_refs import store_of
from workflows.schedule_engine import TemporalScheduleEngine
from workflows.worker_factory import build_worker, connect

ECHO = {"name": "echo", "definition": {"type": "step", "name": "t_echo"}}
RUNS = "pipeline_engine_schedule_runs_total"
ENDED = "pipeline_engine_batches_ended_total"


async def test_schedule_runs_and_ended_batches_are_counted(
    temporal_server: TemporalDevServer, registry: StepRegistry
) -> None:
    port = free_port()
    client = await connect(temporal_server.address, metrics_port=port)
    queue = f"volume-metrics-{uuid.uuid4().hex[:8]}"
    tenant = f"tn-{uuid.uuid4().hex[:8]}"
    schedule_id = f"hourly-{uuid.uuid4().hex[:6]}"

    async def page() -> str:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"http://127.0.0.1:{port}/metrics")).text

    async with build_worker(client, task_queue=queue, registry=registry):
        engine = TemporalPipelineEngine(client, task_queue=queue, registry=registry)
        config = PreparedConfig.of(ECHO, registry=registry)
        direct = await engine.create_pipeline(config, tenant_id=tenant, start=True)
        assert (await wait_for_state(engine, direct.pipeline_id)).state is PipelineState.SUCCEEDED

        schedules = TemporalScheduleEngine(engine)
        definition = ScheduleDefinition(
            tenant_id=tenant, schedule_id=schedule_id, input={"x": 1}, interval_s=3600,
            paused=True,
        )  # fmt: skip
        await schedules.create_schedule(definition, config=config, settings=None, priority=None)
        try:

            async def runs_counted(n: int) -> bool:
                return metric_value(await page(), RUNS, schedule=schedule_id) >= n

            # a run's id is the schedule's and its due time to the second: a second trigger in
            # the same second names the first run and, while that still runs, starts nothing
            await schedules.trigger(tenant, schedule_id)
            await wait_until(lambda: runs_counted(1), timeout=60, interval=0.5)
            await asyncio.sleep(1.1)  # the first run started: its due second has passed
            await schedules.trigger(tenant, schedule_id)
            await wait_until(lambda: runs_counted(2), timeout=60, interval=0.5)
        finally:
            await schedules.delete_schedule(tenant, schedule_id)

        batches = TemporalBatchEngine(engine, store_of(client.data_converter))
        request = BatchRequest(tenant_id=tenant, pipeline="default", config=config, max_running=2)
        before = metric_value(await page(), ENDED, state="SUCCEEDED")
        submitted = await batches.submit_batch(request, [{"n": 1}, {"n": 2}])

        async def batch_ended() -> bool:
            return metric_value(await page(), ENDED, state="SUCCEEDED") > before

        try:
            await wait_until(batch_ended, timeout=60, interval=0.5)
        except AssertionError:  # say what the batch was doing
            status = await batches.get_batch(submitted.batch.batch_id)
            raise AssertionError(f"batch not counted as ended: {status!r}") from None
        text = await page()
    # the two triggered runs, once each; the pipeline created directly is no schedule's run
    assert metric_value(text, RUNS, schedule=schedule_id) == 2
    assert metric_value(text, RUNS) == 2
    assert metric_value(text, ENDED, state="SUCCEEDED") == before + 1
    assert tenant not in text  # no tenant label unless asked
    assert_documented(text, prefixes=("pipeline_engine_",))
