"""Issue 24, finding 1: a plain ``temporal server start-dev`` (no search attributes registered),
as a cluster of one's own starts.

``/readyz`` is not ready and names the missing attributes in one line, ``/v1/process`` answers a
documented 503 that says how to fix it (never a 500), ``pipeline-engine setup`` registers them,
and then the same request runs; an API allowed to register them does so on its first check.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.auth import mint_token
from pipeline_engine._ids import IdRule
from pipeline_engine.steps import StepRegistry
from tests.api._support import SECRET, bearer, make_settings, start_uvicorn, wait_state
from workflows.dev_server import TemporalDevServer, free_port
from workflows.names import SEARCH_ATTRIBUTES
from workflows.search_attributes import describe, missing_search_attributes, type_name
from workflows.worker_factory import build_worker, connect

ROOT = Path(__file__).parents[2]


@pytest.fixture
def bare_temporal(tmp_path: Path) -> Iterator[TemporalDevServer]:
    server = TemporalDevServer(
        port=free_port(), ui_port=None, log_file=tmp_path / "t.log", search_attributes=False
    )
    server.start()
    yield server
    server.stop()


async def _api(
    temporal: TemporalDevServer, tmp_path: Path, registry: StepRegistry, *, register: bool
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        temporal,
        f"sqlite:///{tmp_path / 'tenants.db'}",
        register_search_attributes=register,
    )
    client = await connect(temporal.address)
    worker = build_worker(
        client,
        task_queue=settings.task_queue,
        registry=registry,
        ids=IdRule.from_settings(settings),
    )
    async with worker:
        port = free_port()
        server, task = await start_uvicorn(create_app(settings, registry=registry), port)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as h:
                yield h
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 15)


def _admin() -> dict[str, str]:
    return bearer(mint_token(SECRET, sub="t", roles=["admin"], tenants=["*"], ttl_s=600))


async def _configure(http: httpx.AsyncClient, tenant: str) -> None:
    definition = {"type": "chain", "steps": [{"type": "step", "name": "segmentation"}]}
    put = await http.put(
        f"/v1/tenants/{tenant}/config",
        json={"pipeline_definition": definition, "settings": {}},
        headers=_admin(),
    )
    assert put.status_code in (200, 201), put.text


def _setup(temporal: TemporalDevServer) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline_engine.cli", "setup"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PIPELINE_ENGINE_TEMPORAL_ADDRESS": temporal.address},
        check=False,
    )


async def test_bare_cluster_readyz_names_missing_and_setup_fixes_it(
    bare_temporal: TemporalDevServer, tmp_path: Path, registry: StepRegistry
) -> None:
    async for http in _api(bare_temporal, tmp_path, registry, register=False):
        ready = await http.get("/readyz", headers=_admin())  # the errors: a platform admin's
        assert ready.status_code == 503, ready.text
        error = ready.json()["checks"]["temporal"]["error"]
        assert "\n" not in error
        assert describe(SEARCH_ATTRIBUTES) in error and "pipeline-engine setup" in error

        tenant = f"t-{uuid.uuid4().hex[:8]}"
        await _configure(http, tenant)
        run = await http.post(
            "/v1/process", json={"tenant_id": tenant, "input": {}}, headers=_admin()
        )
        assert run.status_code == 503, run.text  # documented, with Retry-After: not a 500
        assert run.headers["retry-after"]
        body: dict[str, Any] = run.json()
        assert body["error"] == "unavailable"
        assert "lacks the search attributes" in body["message"]
        assert "pipeline-engine setup" in body["message"]

        done = _setup(bare_temporal)
        assert done.returncode == 0, done.stderr
        for key in SEARCH_ATTRIBUTES:
            assert f"{key.name} ({type_name(key)}): registered" in done.stdout
        again = _setup(bare_temporal)
        assert again.returncode == 0 and "already there" in again.stdout, again.stderr

        assert (await http.get("/readyz")).status_code == 200
        run = await http.post(
            "/v1/process", json={"tenant_id": tenant, "input": {}}, headers=_admin()
        )
        assert run.status_code == 201, run.text
        done_state = await wait_state(http, run.json()["pipeline_id"], _admin(), "SUCCEEDED")
        assert done_state["state"] == "SUCCEEDED"


async def test_api_allowed_to_register_does_so_on_its_first_check(
    bare_temporal: TemporalDevServer, tmp_path: Path, registry: StepRegistry
) -> None:
    client = await connect(bare_temporal.address)
    assert await missing_search_attributes(client) == list(SEARCH_ATTRIBUTES)
    async for http in _api(bare_temporal, tmp_path, registry, register=True):
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
    assert await missing_search_attributes(client) == []


async def test_worker_not_allowed_to_register_says_which_are_missing(
    bare_temporal: TemporalDevServer, caplog: pytest.LogCaptureFixture
) -> None:
    from pipeline_engine.cli._setup import check_search_attributes
    from pipeline_engine.settings import Settings

    client = await connect(bare_temporal.address)
    settings = Settings(register_search_attributes=False)
    with caplog.at_level("ERROR", logger="pipeline_engine.worker"):
        await check_search_attributes(client, settings, who="worker")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "pipeline_engine.worker"]
    assert describe(SEARCH_ATTRIBUTES) in line and "pipeline-engine setup" in line
    assert await missing_search_attributes(client) == list(SEARCH_ATTRIBUTES)
    with caplog.at_level("ERROR", logger="pipeline_engine.worker"):  # allowed: it registers
        await check_search_attributes(client, Settings(), who="worker")
    assert await missing_search_attributes(client) == []
