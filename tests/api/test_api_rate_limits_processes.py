"""Two API processes (``pipeline-engine api``) sharing their limits through the real Redis: one
request count per token across both, one set of stream slots; a process killed with SIGKILL
leaves no slot behind once its lease runs out."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api._limits import REDIS_URL, drop_keys, storage_settings, until_open
from tests.api._support import ID_SECRET, SECRET, ApiServer, bearer, pipeline_config, step
from workflows.dev_server import TemporalDevServer, free_port

ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 5.0
RATE = 30

pytestmark = pytest.mark.timeout(240)


@contextmanager
def _api_process(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "pipeline-engine"), "api", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _healthy(http: httpx.AsyncClient, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the API process exited"
        try:
            if (await http.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("the API process did not start")


async def test_two_api_processes_share_rates_and_stream_slots_through_redis(
    temporal_server: TemporalDevServer,
    api_server: ApiServer,
    tmp_path: Path,
    token: Any,
    tenant: str,
) -> None:
    redis_settings = storage_settings("redis")
    prefix = redis_settings["rate_limit_key_prefix"]
    env = {
        **os.environ,
        "PIPELINE_ENGINE_ENV": "prod",
        "PIPELINE_ENGINE_JWT_SECRET": SECRET,
        "PIPELINE_ENGINE_ID_SECRET": ID_SECRET,  # a production API refuses the dev id key
        "PIPELINE_ENGINE_TEMPORAL_ADDRESS": temporal_server.address,
        "PIPELINE_ENGINE_TASK_QUEUE": api_server.settings.task_queue,  # the session's worker
        "PIPELINE_ENGINE_DATABASE_URL": f"sqlite:///{tmp_path / 'tenants.db'}",
        "PIPELINE_ENGINE_PAYLOAD_STORE": "",
        "PIPELINE_ENGINE_STEP_MODULES": "tests.support.steps",
        "PIPELINE_ENGINE_LOG_LEVEL": "WARNING",
        "PIPELINE_ENGINE_RATE_LIMIT_STORAGE_URL": REDIS_URL,
        "PIPELINE_ENGINE_RATE_LIMIT_KEY_PREFIX": prefix,
        "PIPELINE_ENGINE_RATE_LIMIT_PER_TOKEN": f"{RATE}/minute",
        "PIPELINE_ENGINE_RATE_LIMIT_PER_TENANT": "",
        "PIPELINE_ENGINE_STREAMS_PER_TOKEN": "1",
        "PIPELINE_ENGINE_STREAMS_PER_TENANT": "0",
        "PIPELINE_ENGINE_STREAM_LEASE_S": str(LEASE_S),
        "PYTHONPATH": str(ROOT),
    }
    try:
        with _api_process(env) as (proc_a, url_a), _api_process(env) as (proc_b, url_b):
            async with (
                httpx.AsyncClient(base_url=url_a, timeout=30) as a,
                httpx.AsyncClient(base_url=url_b, timeout=30) as b,
            ):
                await _healthy(a, proc_a)
                await _healthy(b, proc_b)
                await _shared_rate(a, b, token, tenant)
                await _shared_streams(a, b, proc_a, token, tenant)
    finally:
        drop_keys(prefix)


async def _shared_rate(a: httpx.AsyncClient, b: httpx.AsyncClient, token: Any, tenant: str) -> None:
    headers = bearer(token(["viewer"], [tenant], sub="rate"))
    for i in range(RATE):
        http = (a, b)[i % 2]
        assert (await http.get("/v1/steps", headers=headers)).status_code == 200
    for http in (a, b):  # RATE requests through both: the next one is refused by either
        refused = await http.get("/v1/steps", headers=headers)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"] == "rate_limited"


async def _shared_streams(
    a: httpx.AsyncClient,
    b: httpx.AsyncClient,
    proc_a: subprocess.Popen[bytes],
    token: Any,
    tenant: str,
) -> None:
    operator = bearer(token(["operator"], [tenant], sub="creator"))
    body = {"config": pipeline_config("two-procs", step("t_add")), "tenant_id": tenant}
    created = await b.post("/v1/pipelines", json=body, headers=operator)
    assert created.status_code == 201, created.text
    path = f"/v1/pipelines/{created.json()['pipeline_id']}/events"
    viewer = bearer(token(["viewer"], [tenant], sub="streams"))
    # a stream held through A, closed by its client: B can open one at once after
    async with a.stream("GET", path, headers=viewer) as held:
        assert held.status_code == 200
        refused = await b.get(path, headers=viewer)
        assert refused.status_code == 429, refused.text
        assert refused.json()["details"][0]["limit"] == "streams_per_token"
    await until_open(b, path, viewer, limit="streams_per_token")
    # a stream held through A when A is killed: its slot outlives it until the lease runs out
    stream = a.stream("GET", path, headers=viewer)
    response = await stream.__aenter__()
    assert response.status_code == 200
    assert (await b.get(path, headers=viewer)).status_code == 429
    proc_a.send_signal(signal.SIGKILL)
    proc_a.wait(timeout=10)
    assert (await b.get(path, headers=viewer)).status_code == 429  # nobody released it
    tries = await until_open(b, path, viewer, limit="streams_per_token")
    assert tries > 1  # freed by its lease, a few tries later
    with contextlib.suppress(httpx.HTTPError):  # the server it streamed from is gone
        await stream.__aexit__(None, None, None)
