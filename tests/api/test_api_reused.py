"""Issue 24, finding 2: a repeat that reuses a pipeline says so (REST, SDK, CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

import tests.support.steps  # noqa: F401  (registers the t_* steps)
from pipeline_engine import PipelineCreated, PipelineState, pipeline, step
from pipeline_engine.testing import AsyncFakePipelineEngine
from tests.api._support import bearer, wait_state
from tests.api.conftest import TokenFactory
from tests.support.live_stack import LiveStack

ROOT = Path(__file__).parents[2]


async def test_process_and_create_answer_reused_on_a_repeat(
    http: httpx.AsyncClient, token: TokenFactory, tenant: str
) -> None:
    admin = bearer(token(["admin"], [tenant]))
    put = await http.put(
        f"/v1/tenants/{tenant}/config",
        json={"pipeline_definition": {"type": "step", "name": "t_echo"}, "settings": {}},
        headers=admin,
    )
    assert put.status_code in (200, 201), put.text
    body = {"tenant_id": tenant, "input": {}}
    first = await http.post("/v1/process", json=body, headers=admin)
    assert first.status_code == 201, first.text
    assert first.json()["reused"] is False
    pid = first.json()["pipeline_id"]
    await wait_state(http, pid, admin, "SUCCEEDED")
    again = await http.post("/v1/process", json=body, headers=admin)
    assert again.status_code == 200, again.text
    assert again.json() == {"pipeline_id": pid, "state": "SUCCEEDED", "reused": True}
    fresh = await http.post("/v1/process", json={**body, "idempotency_key": "run-2"}, headers=admin)
    assert fresh.status_code == 201 and fresh.json()["pipeline_id"] != pid

    config = {"schema_version": "1", "name": "r", "definition": {"type": "step", "name": "t_echo"}}
    create = {"config": config, "input": {"a": 1}, "tenant_id": tenant}
    made = await http.post("/v1/pipelines", json=create, headers=admin)
    assert made.status_code == 201 and made.json()["reused"] is False, made.text
    repeat = await http.post("/v1/pipelines", json=create, headers=admin)
    assert repeat.status_code == 200, repeat.text
    assert repeat.json()["reused"] is True
    assert repeat.json()["pipeline_id"] == made.json()["pipeline_id"]


async def test_sdk_returns_the_flag_and_create_pipeline_still_returns_the_id() -> None:
    config = pipeline("sdk-reused", step("t_echo"))
    async with AsyncFakePipelineEngine(tenant_id="acme") as engine:
        first = await engine.create_pipeline_detailed(config, input={"n": 1})
        assert isinstance(first, PipelineCreated)
        assert first.reused is False and first.state is PipelineState.PENDING
        again = await engine.create_pipeline_detailed(config, input={"n": 1})
        assert again.reused is True and again.pipeline_id == first.pipeline_id
        pid = await engine.create_pipeline(config, input={"n": 1})  # the plain form: the id
        assert pid == first.pipeline_id and isinstance(pid, str)

        await engine.put_tenant_config(
            "acme", {"pipeline_definition": {"type": "step", "name": "t_echo"}, "settings": {}}
        )
        ran = await engine.process_detailed("acme", {"x": 1})
        assert ran.reused is False and ran.state is PipelineState.RUNNING
        await engine.wait_for(ran.pipeline_id, timeout=10)
        repeat = await engine.process_detailed("acme", {"x": 1})
        assert repeat.reused is True and repeat.state is PipelineState.SUCCEEDED
        assert await engine.process("acme", {"x": 1}) == ran.pipeline_id


def test_cli_run_with_the_same_key_says_reused(
    live_stack: LiveStack, tmp_path: Path, tenant: str
) -> None:
    definition = {"type": "step", "name": "t_echo"}
    stored = httpx.put(
        f"{live_stack.base_url}/v1/tenants/{tenant}/config",
        json={"pipeline_definition": definition, "settings": {}},
        headers=bearer(live_stack.token),
        timeout=30,
    )
    assert stored.status_code in (200, 201), stored.text
    config = tmp_path / "p.json"
    config.write_text(json.dumps({"schema_version": "1", "name": "r", "definition": definition}))
    env = {"PIPELINE_ENGINE_URL": live_stack.base_url, "PIPELINE_ENGINE_TOKEN": live_stack.token}
    args = ["run", str(config), "--json", "--idempotency-key", tmp_path.name, "--tenant", tenant]

    def run() -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-m", "pipeline_engine.cli", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            check=False,
            env={**os.environ, **env},
        )
        assert done.returncode == 0, done.stderr
        answer: dict[str, object] = json.loads(done.stdout)
        return answer

    assert run()["reused"] is False
    assert run()["reused"] is True
