"""SIGTERM to a worker mid-step (a deploy, ``docker stop``): the worker stops taking work, lets
the running steps finish and reports their results, then exits; nothing runs twice."""

from __future__ import annotations

import signal
from pathlib import Path

from temporalio.client import Client

from pipeline_engine.states import PipelineState
from pipeline_engine.steps import StepRegistry
from tests.support.processes import signal_and_wait, start_worker
from tests.support.steps import calls_of, done_of
from tests.support.waiting import wait_for_state, wait_until
from workflows.dev_server import TemporalDevServer
from workflows.engine import TemporalPipelineEngine

STEP_S = 3.0


async def test_sigterm_mid_step_drains_sync_and_async_steps(
    client: Client,
    temporal_server: TemporalDevServer,
    task_queue: str,
    registry: StepRegistry,
    calls_dir: Path,
    tmp_path: Path,
) -> None:
    engine = TemporalPipelineEngine(client, task_queue=task_queue, registry=registry)
    log = tmp_path / "worker.log"
    worker = start_worker(
        temporal_server.address, task_queue, calls_dir=calls_dir, log=log, drain_s=20
    )
    try:
        config = {
            "name": "drain",
            "defaults": {"heartbeat_timeout_s": 5, "retry": {"initial_interval_s": 0.2}},
            "definition": {
                "type": "chain",
                "steps": [
                    {
                        "type": "group",
                        "steps": [
                            {"type": "step", "name": "t_work", "kwargs": {"seconds": STEP_S}},
                            {
                                "type": "step",
                                "name": "t_work_async",
                                "kwargs": {"seconds": STEP_S},
                            },
                        ],
                    },
                    {"type": "step", "name": "t_add"},
                ],
            },
        }
        pid = (await engine.create_pipeline(config, start=True)).pipeline_id

        async def both_running() -> bool:
            return {s for s, _, _ in calls_of(calls_dir, pid)} == {"t_work", "t_work_async"}

        await wait_until(both_running, timeout=60)
        code, took = signal_and_wait(worker, signal.SIGTERM, timeout=40)
        assert code == 0, log.read_text()[-3000:]
        assert took < 20, took  # it waited for the steps, not for the whole drain period
        print(f"SIGTERM mid-step: the worker exited {took:.1f} s later, both steps done")
        assert sorted(done_of(calls_dir, pid)) == ["t_work", "t_work_async"]
        ran = [s for s, _, _ in calls_of(calls_dir, pid)]
        assert "t_add" not in ran  # a draining worker takes no new step

        worker = start_worker(temporal_server.address, task_queue, calls_dir=calls_dir, log=log)
        status = await wait_for_state(engine, pid, timeout=90)
        assert status.state is PipelineState.SUCCEEDED, log.read_text()[-3000:]
        assert sorted(done_of(calls_dir, pid)) == ["t_work", "t_work_async"]  # exactly once each
        ran = [s for s, _, _ in calls_of(calls_dir, pid)]
        assert sorted(ran) == ["t_add", "t_work", "t_work_async"]
        assert status.stage("t_work").attempts == status.stage("t_work_async").attempts == 1
    finally:
        signal_and_wait(worker, signal.SIGTERM, timeout=30)
