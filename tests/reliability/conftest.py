"""A stack of separate processes for the fault tests: Temporal, the API and a worker, each started
and killed by its pid, with a tenant, a token and HTTP helpers. Started once; every test leaves
it running (it restarts what it killed)."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import mint_token
from tests.support.processes import signal_and_wait, start_api, start_worker
from workflows.dev_server import TemporalDevServer, free_port

SECRET = "reliability-secret-Tn6wQ1vK8xB3mZ7pL0hR4cJ9sF2dG5aY"  # random-looking: the entropy check


@dataclass
class Stack:
    """Temporal, the API and a worker as separate processes."""

    temporal: TemporalDevServer
    api_url: str
    headers: dict[str, str]
    task_queue: str
    tenant: str
    calls_dir: Path
    logs: Path
    api: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes] | None = None
    timings: dict[str, list[float]] = field(default_factory=dict)

    def start_worker(self) -> None:
        """Start a worker process and return once it polls (its log says so)."""
        log = self.logs / "worker.log"
        seen = log.read_text().count("worker polling") if log.exists() else 0
        self.worker = start_worker(
            self.temporal.address, self.task_queue, calls_dir=self.calls_dir, log=log, drain_s=5
        )
        deadline = time.monotonic() + 60
        while log.read_text().count("worker polling") == seen:
            assert self.worker.poll() is None and time.monotonic() < deadline, self.log_tail()
            time.sleep(0.1)

    def kill_worker(self) -> None:
        if self.worker is not None:
            signal_and_wait(self.worker, signal.SIGKILL)
            self.worker = None

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, float]:
        """One API call: the response and the seconds it took."""
        started = time.monotonic()
        r = httpx.request(method, self.api_url + path, headers=self.headers, timeout=60, **kwargs)
        return r, time.monotonic() - started

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(self.logs.glob("*.log"))
        )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, calls_dir: Path) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("reliability")
    temporal = TemporalDevServer(
        port=free_port(), ui_port=None, db_file=logs / "temporal.db", log_file=logs / "temporal.log"
    )
    temporal.start()
    task_queue = f"rel-{uuid.uuid4().hex[:10]}"
    port = free_port()
    env = {
        "PIPELINE_ENGINE_ENV": "prod",
        "PIPELINE_ENGINE_JWT_SECRET": SECRET,
        "PIPELINE_ENGINE_ID_SECRET": SECRET[::-1],
        "PIPELINE_ENGINE_TEMPORAL_ADDRESS": temporal.address,
        "PIPELINE_ENGINE_TASK_QUEUE": task_queue,
        "PIPELINE_ENGINE_DATABASE_URL": f"sqlite:///{logs / 'tenants.db'}",
        "PIPELINE_ENGINE_STEP_MODULES": "tests.support.steps",
        "PIPELINE_ENGINE_STATUS_QUERY_TIMEOUT_S": "2",
        "PIPELINE_ENGINE_COMMAND_TIMEOUT_S": "3",
    }
    api = start_api(env, port=port, log=logs / "api.log")
    tenant = f"rel-{uuid.uuid4().hex[:8]}"
    token = mint_token(SECRET, sub="reliability", roles=["admin"], tenants=[tenant])
    stack = Stack(
        temporal=temporal,
        api_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}"},
        task_queue=task_queue,
        tenant=tenant,
        calls_dir=calls_dir,
        logs=logs,
        api=api,
    )
    stack.start_worker()
    try:
        yield stack
    finally:
        if stack.worker is not None:
            signal_and_wait(stack.worker, signal.SIGTERM, timeout=15)
        signal_and_wait(api, signal.SIGTERM, timeout=15)
        temporal.stop()
