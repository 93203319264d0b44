"""A worker killed with SIGKILL mid-pipeline, then restarted: the pipeline completes and no
finished step runs again."""

from __future__ import annotations

import signal
from pathlib import Path

from pipeline_engine.states import PipelineState
from tests.support.processes import signal_and_wait, start_worker
from tests.support.steps import calls_of
from tests.support.waiting import wait_for_state, wait_until
from workflows.dev_server import TemporalDevServer
from workflows.engine import TemporalPipelineEngine


async def test_sigkill_worker_mid_pipeline(
    client,
    temporal_server: TemporalDevServer,
    task_queue: str,
    registry,
    calls_dir: Path,
    tmp_path: Path,
) -> None:
    engine = TemporalPipelineEngine(client, task_queue=task_queue, registry=registry)
    log = tmp_path / "worker.log"
    worker = start_worker(temporal_server.address, task_queue, calls_dir=calls_dir, log=log)
    try:
        created = await engine.create_pipeline(
            {
                "name": "crash",
                "defaults": {"heartbeat_timeout_s": 2, "retry": {"initial_interval_s": 0.2}},
                "definition": {
                    "type": "chain",
                    "steps": [
                        {"type": "step", "name": "t_add", "kwargs": {"n": 1}},
                        {
                            "type": "group",
                            "steps": [
                                {"type": "step", "name": "t_add", "kwargs": {"n": 2}},
                                {"type": "step", "name": "t_sleep_sync", "kwargs": {"seconds": 3}},
                            ],
                        },
                        {"type": "step", "name": "t_echo"},
                    ],
                },
            },
            start=True,
        )
        pid = created.pipeline_id

        async def sleeping() -> bool:
            return any(sid == "t_sleep_sync" for sid, _, _ in calls_of(calls_dir, pid))

        await wait_until(sleeping, timeout=60)
        signal_and_wait(worker, signal.SIGKILL, timeout=10)
        finished_before = {sid for sid, _, _ in calls_of(calls_dir, pid)} - {"t_sleep_sync"}
        assert finished_before == {"t_add", "t_add-2"}

        worker = start_worker(temporal_server.address, task_queue, calls_dir=calls_dir, log=log)
        status = await wait_for_state(engine, pid, timeout=90)
        assert status.state is PipelineState.SUCCEEDED, log.read_text()[-3000:]
        runs: dict[str, int] = {}
        for sid, _, _ in calls_of(calls_dir, pid):
            runs[sid] = runs.get(sid, 0) + 1
        assert runs["t_add"] == 1 and runs["t_add-2"] == 1 and runs["t_echo"] == 1
        assert runs["t_sleep_sync"] == 2  # the attempt cut short by the kill, then its retry
        assert status.stage("t_sleep_sync").attempts == 2
        assert status.result["previous"] == [3, 3]
    finally:
        signal_and_wait(worker, signal.SIGTERM, timeout=10)
