"""Tenant configs through the API: PUT/GET/DELETE, validation, versions, cache, /process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from temporalio.client import Client

from api.app import create_app
from api.tenants.table import pipeline, pipeline_version, tenant_config
from pipeline_engine.steps import StepRegistry
from tests.api._support import ApiServer, bearer, make_settings, step, wait_state
from workflows.dev_server import TemporalDevServer

CHAIN = {"type": "chain", "steps": [step("t_echo", tag="a")]}


async def test_put_get_delete_with_versions(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    admin = bearer(token(["admin"], [tenant]))
    url = f"/v1/tenants/{tenant}/config"
    assert (await http.get(url, headers=admin)).status_code == 404
    r = await http.put(
        url,
        json={"tenant_id": tenant, "pipeline_definition": CHAIN, "settings": {"k": 1}},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["version"] == 1 and first["settings"] == {"k": 1}
    assert first["pipeline_definition"] == CHAIN
    assert r.headers["etag"] == '"1"'
    got = (await http.get(url, headers=bearer(token(["viewer"], [tenant])))).json()
    assert got == first
    # optimistic concurrency: body version, then If-Match
    stale = await http.put(url, json={"pipeline_definition": CHAIN, "version": 7}, headers=admin)
    assert stale.status_code == 409 and stale.json()["error"] == "conflict"
    ok = await http.put(url, json={"pipeline_definition": CHAIN, "version": 1}, headers=admin)
    assert ok.status_code == 200 and ok.json()["version"] == 2
    assert ok.json()["settings"] == {}
    stale = await http.put(
        url, json={"pipeline_definition": CHAIN}, headers={**admin, "If-Match": '"1"'}
    )
    assert stale.status_code == 409
    ok = await http.put(
        url, json={"pipeline_definition": CHAIN}, headers={**admin, "If-Match": '"2"'}
    )
    assert ok.json()["version"] == 3
    create_only = await http.put(
        url, json={"pipeline_definition": CHAIN, "version": 0}, headers=admin
    )
    assert create_only.status_code == 409
    mismatch = await http.put(
        url, json={"tenant_id": "other", "pipeline_definition": CHAIN}, headers=admin
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["details"][0]["path"] == "$.tenant_id"
    assert (await http.delete(f"{url}?version=1", headers=admin)).status_code == 409
    assert (await http.delete(url, headers=admin)).status_code == 204
    assert (await http.get(url, headers=admin)).status_code == 404
    assert (await http.delete(url, headers=admin)).status_code == 404
    gone = await http.post("/v1/process", json={"tenant_id": tenant}, headers=admin)
    assert gone.status_code == 404 and gone.json()["error"] == "tenant_not_found"


async def test_put_validates_like_pipeline_creation(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    admin = bearer(token(["admin"], [tenant]))
    url = f"/v1/tenants/{tenant}/config"
    definition = {
        "type": "chain",
        "steps": [
            {"type": "step", "name": "segmentacion"},
            {
                "type": "chord",
                "group": {"type": "group", "steps": [step("t_add", n="many")]},
                "callback": {"type": "step", "name": "nope"},
            },
        ],
    }
    r = await http.put(url, json={"pipeline_definition": definition}, headers=admin)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_config"
    assert "segmentacion" in body["message"] and "nope" in body["message"]
    paths = {d["path"]: d["message"] for d in body["details"]}
    assert "unknown step 'segmentacion'" in paths["$.pipeline_definition.steps[0].name"]
    assert "$.pipeline_definition.steps[1].callback.name" in paths
    assert "$.pipeline_definition.steps[1].group.steps[0].kwargs.n" in paths
    for bad in ([1, 2], "chain", None):
        r = await http.put(url, json={"pipeline_definition": bad}, headers=admin)
        assert r.status_code == 422, (bad, r.text)
    r = await http.put(url, json={"pipeline_definition": CHAIN, "settings": [1]}, headers=admin)
    assert r.status_code == 422
    r = await http.put(url, json={"pipeline_definition": CHAIN, "extra": 1}, headers=admin)
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "$.extra"
    assert (await http.get(url, headers=admin)).status_code == 404  # nothing was stored
    r = await http.put(
        "/v1/tenants/bad%20id!/config", json={"pipeline_definition": CHAIN}, headers=admin
    )
    assert r.status_code == 422


async def test_process_gives_settings_to_every_step(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    admin = bearer(token(["admin"], [tenant]))
    definition = {
        "type": "chain",
        "steps": [
            step("t_echo", tag="first"),
            {"type": "group", "steps": [step("t_echo", tag="g1"), step("t_echo", tag="g2")]},
        ],
    }
    settings = {"species": ["tomate"], "threshold": 0.5}
    r = await http.put(
        f"/v1/tenants/{tenant}/config",
        json={"pipeline_definition": definition, "settings": settings},
        headers=admin,
    )
    assert r.status_code == 200
    op = bearer(token(["operator"], [tenant]))
    r = await http.post(
        "/v1/process",
        json={"tenant_id": tenant, "input": {"img": 1}, "idempotency_key": "p1"},
        headers=op,
    )
    assert r.status_code == 201, r.text
    pid = r.json()["pipeline_id"]
    again = await http.post(
        "/v1/process",
        json={"tenant_id": tenant, "input": {"img": 1}, "idempotency_key": "p1"},
        headers=op,
    )
    assert again.status_code == 200 and again.json()["pipeline_id"] == pid
    status = await wait_state(http, pid, op, "SUCCEEDED", "FAILED")
    assert status["state"] == "SUCCEEDED"
    echoes = [s["result"] for s in status["stages"]]
    assert len(echoes) == 3
    assert all(e["settings"] == settings for e in echoes)
    assert all(e["input"] == {"img": 1} and e["tenant_id"] == tenant for e in echoes)
    denied = await http.post(
        "/v1/process", json={"tenant_id": tenant}, headers=bearer(token(["viewer"], [tenant]))
    )
    assert denied.status_code == 403


async def _priority_of(client: Client, pipeline_id: str) -> tuple[int, str, float]:
    info = (await client.get_workflow_handle(pipeline_id).describe()).raw_description
    p = info.workflow_execution_info.priority
    return p.priority_key, p.fairness_key, p.fairness_weight


async def test_tenant_priority_goes_on_its_workflows_and_their_steps(
    http: httpx.AsyncClient, token: Any, tenant: str, client: Client
) -> None:
    admin = bearer(token(["admin"], ["*"]))  # a platform admin: only they set priorities
    url = f"/v1/tenants/{tenant}/config"
    definition = {"type": "chain", "steps": [step("t_add")]}
    body = {"pipeline_definition": definition, "priority": 1, "fairness_weight": 2.5}
    r = await http.put(url, json=body, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["priority"] == 1 and r.json()["fairness_weight"] == 2.5
    got = (await http.get(url, headers=admin)).json()
    assert got["priority"] == 1 and got["fairness_weight"] == 2.5
    r = await http.post("/v1/process", json={"tenant_id": tenant, "input": {}}, headers=admin)
    assert r.status_code == 201, r.text
    pid = r.json()["pipeline_id"]
    assert await _priority_of(client, pid) == (1, tenant, 2.5)
    # its activities inherit it in matching (their own info shows only what a workflow sets
    # explicitly: nothing), as the fairness test shows for the fairness key
    status = await wait_state(http, pid, admin, "SUCCEEDED", "FAILED")
    assert status["state"] == "SUCCEEDED", status
    # any pipeline of the tenant runs at its priority, not only /v1/process's
    r = await http.post(
        "/v1/pipelines",
        json={"config": {"name": "any", "definition": definition}, "tenant_id": tenant},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert await _priority_of(client, r.json()["pipeline_id"]) == (1, tenant, 2.5)
    # a PUT without them unsets them (it replaces the config): the server's defaults again
    r = await http.put(url, json={"pipeline_definition": definition}, headers=admin)
    assert r.json()["priority"] is None and r.json()["fairness_weight"] is None
    r = await http.post("/v1/process", json={"tenant_id": tenant, "input": {"n": 2}}, headers=admin)
    assert await _priority_of(client, r.json()["pipeline_id"]) == (0, tenant, 0.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", 0),
        ("priority", 6),
        ("priority", 1.5),
        ("priority", "2"),
        ("priority", True),
        ("fairness_weight", 0),
        ("fairness_weight", -1.0),
        ("fairness_weight", 1e9),
        ("fairness_weight", "heavy"),
    ],
)
async def test_bad_priority_or_weight_is_a_422_naming_the_field(
    http: httpx.AsyncClient, token: Any, tenant: str, field: str, value: Any
) -> None:
    admin = bearer(token(["admin"], [tenant]))
    url = f"/v1/tenants/{tenant}/config"
    r = await http.put(url, json={"pipeline_definition": CHAIN, field: value}, headers=admin)
    assert r.status_code == 422, r.text
    assert [d["path"] for d in r.json()["details"]] == [f"$.{field}"]
    assert (await http.get(url, headers=admin)).status_code == 404


async def test_non_finite_weight_is_a_422(http: httpx.AsyncClient, token: Any, tenant: str) -> None:
    admin = bearer(token(["admin"], [tenant]))
    body = b'{"pipeline_definition": {"type": "step", "name": "t_add"}, "fairness_weight": NaN}'
    r = await http.put(
        f"/v1/tenants/{tenant}/config",
        content=body,
        headers={**admin, "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert "$.fairness_weight" in [d["path"] for d in r.json()["details"]]


async def _sql(engine: sa.Engine, *stmts: Any) -> None:
    def run() -> None:
        with engine.begin() as conn:
            for stmt in stmts:
                conn.execute(stmt)

    await asyncio.to_thread(run)


async def test_invalid_row_is_reported_not_served(
    http: httpx.AsyncClient, token: Any, tenant: str, api_server: ApiServer
) -> None:
    """A row written behind the API's back that does not validate: /readyz lists it, others run."""
    admin = bearer(token(["admin"], ["*"]))
    good = f"{tenant}-good"
    r = await http.put(
        f"/v1/tenants/{good}/config", json={"pipeline_definition": CHAIN}, headers=admin
    )
    assert r.status_code == 200
    engine = sa.create_engine(api_server.settings.database_url)
    bad_tree = {"type": "chain", "steps": [{"type": "step", "name": "vanished_step"}]}
    now = datetime.now(UTC)
    await _sql(
        engine,
        sa.insert(tenant_config).values(tenant_id=tenant, settings={}, version=1, updated_at=now),
        sa.insert(pipeline).values(
            tenant_id=tenant, name="default", latest_version=1, updated_at=now
        ),
        sa.insert(pipeline_version).values(
            tenant_id=tenant,
            name="default",
            version=1,
            field="pipeline_definition",
            document=bad_tree,
            schema_version="1",
            digest="0" * 64,
            created_at=now,
        ),
    )
    engine.dispose()
    deadline = time.monotonic() + 5
    while True:
        ready = (await http.get("/readyz", headers=admin)).json()  # details: platform admin
        if tenant in ready["checks"]["tenant_configs"]["invalid"] or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    invalid = ready["checks"]["tenant_configs"]["invalid"]
    assert tenant in invalid
    assert "vanished_step" in invalid[tenant]["problems"][0]["message"]
    assert ready["status"] == "ready"
    r = await http.post("/v1/process", json={"tenant_id": tenant}, headers=admin)
    assert r.status_code == 422 and r.json()["error"] == "invalid_config"
    assert (await http.get(f"/v1/tenants/{tenant}/config", headers=admin)).status_code == 200
    r = await http.post("/v1/process", json={"tenant_id": good}, headers=admin)
    assert r.status_code == 201
    # fixing it through the API serves it again
    r = await http.put(
        f"/v1/tenants/{tenant}/config",
        json={"pipeline_definition": CHAIN, "version": 1},
        headers=admin,
    )
    assert r.status_code == 200
    r = await http.post("/v1/process", json={"tenant_id": tenant}, headers=admin)
    assert r.status_code == 201


@pytest.fixture
async def replica(
    temporal_server: TemporalDevServer, registry: StepRegistry, api_server: ApiServer
) -> AsyncIterator[httpx.AsyncClient]:
    """A second API process over the same database (in-process ASGI, its own lifespan)."""
    settings = make_settings(
        temporal_server,
        api_server.settings.database_url,
        task_queue=api_server.settings.task_queue,
        config_refresh_s=0.2,
    )
    app = create_app(settings, registry=registry)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://replica") as c:
            yield c


async def test_second_replica_sees_changes(
    http: httpx.AsyncClient, replica: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    admin = bearer(token(["admin"], [tenant]))
    r = await replica.post("/v1/process", json={"tenant_id": tenant}, headers=admin)
    assert r.status_code == 404
    await http.put(
        f"/v1/tenants/{tenant}/config",
        json={"pipeline_definition": CHAIN, "settings": {"v": 1}},
        headers=admin,
    )
    start = time.monotonic()
    while (
        await replica.post("/v1/process", json={"tenant_id": tenant, "input": 1}, headers=admin)
    ).status_code == 404:
        assert time.monotonic() - start < 3, "replica never saw the new config"
        await asyncio.sleep(0.05)
    seen_after = time.monotonic() - start
    await http.delete(f"/v1/tenants/{tenant}/config", headers=admin)
    start = time.monotonic()
    while (
        await replica.post("/v1/process", json={"tenant_id": tenant, "input": 2}, headers=admin)
    ).status_code != 404:
        assert time.monotonic() - start < 3, "replica kept serving a deleted config"
        await asyncio.sleep(0.05)
    print(
        f"replica saw the PUT after {seen_after:.2f}s and the DELETE after "
        f"{time.monotonic() - start:.2f}s (refresh every 0.2s)"
    )
