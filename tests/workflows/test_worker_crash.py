"""A worker killed with SIGKILL mid-pipeline, then restarted: the pipeline completes and no
finished step runs again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from pipeline_engine.states import PipelineState
from tests.support.steps import calls_of
from tests.support.waiting import wait_for_state, wait_until
from workflows.dev_server import TemporalDevServer
from workflows.engine import TemporalPipelineEngine

ROOT = Path(__file__).resolve().parents[2]


def start_worker(
    server: TemporalDevServer, task_queue: str, calls_dir: Path, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PIPELINE_ENGINE_TEMPORAL_ADDRESS": server.address,
        "PIPELINE_ENGINE_TASK_QUEUE": task_queue,
        "PIPELINE_ENGINE_STEP_MODULES": "tests.support.steps",
        "PIPELINE_ENGINE_TEST_CALLS": str(calls_dir),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


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
    worker = start_worker(temporal_server, task_queue, calls_dir, log)
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
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        finished_before = {sid for sid, _, _ in calls_of(calls_dir, pid)} - {"t_sleep_sync"}
        assert finished_before == {"t_add", "t_add-2"}

        worker = start_worker(temporal_server, task_queue, calls_dir, log)
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
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
