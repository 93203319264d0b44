"""Separate processes for fault tests: a worker (``python worker.py``), the API, Temporal.

Each is started with its own log file and stopped or killed by pid, so tests can send the
signals a deployment would (SIGTERM on a deploy, SIGKILL on a crash).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["ROOT", "signal_and_wait", "start_api", "start_python", "start_worker"]


def start_python(args: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python <args>`` from the repository root, output appended to ``log``."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT
        )


#: The id key of the workers these tests start (random-looking: the entropy check).
WORKER_ID_SECRET = "worker-ids-Bn6cX1vQ8wZ3mK5pL0hR7tJ2sD9gF4aEyU"

#: How long a started API may take to answer ``/healthz``.
READY_S = 180


def start_worker(
    address: str, task_queue: str, *, calls_dir: Path, log: Path, drain_s: float | None = None
) -> subprocess.Popen[bytes]:
    """``python worker.py`` polling ``task_queue`` with the test steps loaded (and a payload store
    of its own next to ``log``, never the repository's ``.data``)."""
    env = {
        "PIPELINE_ENGINE_PAYLOAD_STORE": str(log.parent / "payloads"),
        "PIPELINE_ENGINE_TEMPORAL_ADDRESS": address,
        "PIPELINE_ENGINE_TASK_QUEUE": task_queue,
        "PIPELINE_ENGINE_STEP_MODULES": "tests.support.steps",
        "PIPELINE_ENGINE_TEST_CALLS": str(calls_dir),
        # a production worker refuses the dev id secret (it derives a batch's pipeline ids)
        "PIPELINE_ENGINE_ID_SECRET": WORKER_ID_SECRET,
    }
    if drain_s is not None:
        env["PIPELINE_ENGINE_WORKER_DRAIN_S"] = str(drain_s)
    return start_python(["worker.py"], env=env, log=log)


def start_api(
    env: dict[str, str], *, port: int, log: Path, wait_s: float = READY_S
) -> subprocess.Popen[bytes]:
    """``pipeline-engine api`` on 127.0.0.1:``port``; returns once ``/healthz`` answers (within
    ``wait_s``, by default ``READY_S``: a fresh process imports the whole API, 10 s or more when
    the machine is loaded)."""
    cli = Path(sys.executable).parent / "pipeline-engine"
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env, "PIPELINE_ENGINE_API_PORT": str(port)}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(cli), "api"], cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the API did not answer /healthz within {wait_s:g} s")


def signal_and_wait(
    proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM, *, timeout: float = 30
) -> tuple[int, float]:
    """Send ``sig`` to the process and wait for it to exit: (exit code, seconds it took).

    The process is killed if it outlives ``timeout`` (and the test fails on its exit code).
    """
    started = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait(timeout=10)
    return code, time.monotonic() - started
