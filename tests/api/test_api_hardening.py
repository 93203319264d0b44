"""Issue #19: what one tenant could do to the others through the REST API, each now refused."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from api.app import create_app
from pipeline_engine.steps import StepRegistry
from tests.api._support import ApiServer, bearer, make_settings, pipeline_config, start_uvicorn
from tests.api._support import step as step_element
from workflows.dev_server import TemporalDevServer, free_port

EVIL = "^(a+)+$"
CHAIN = {"type": "chain", "steps": [{"type": "step", "name": "t_add", "kwargs": {"n": 1}}]}


def _h(token: Any, tenant: str, *roles: str) -> dict[str, str]:
    return bearer(token(list(roles), [tenant]))


# ----------------------------------------------------------------------------- ReDoS
async def test_evil_pattern_payload_is_refused_fast_and_others_stay_fast(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": EVIL}}}
    wait = {"type": "input", "id": "ask", "schema": schema}
    h = _h(token, tenant, "operator", "approver")
    body = {"config": pipeline_config("redos", wait), "tenant_id": tenant}
    r = await http.post("/v1/pipelines", json=body, headers=h)
    assert r.status_code == 201, r.text
    pid = r.json()["pipeline_id"]
    assert (await http.post(f"/v1/pipelines/{pid}/start", headers=h)).status_code == 200
    for _ in range(100):
        status = (await http.get(f"/v1/pipelines/{pid}", headers=h)).json()
        if status["state"] == "WAITING_INPUT":
            break
        await asyncio.sleep(0.1)
    assert status["state"] == "WAITING_INPUT"

    other = f"{tenant}-other"
    oh = _h(token, other, "operator")
    created = await http.post(
        "/v1/pipelines",
        json={"config": pipeline_config("calm", step_element("t_add", n=1)), "tenant_id": other},
        headers=oh,
    )
    other_pid = created.json()["pipeline_id"]

    payload = {"s": "a" * 200_000 + "!"}
    started = time.perf_counter()
    submit, read = await asyncio.gather(
        http.post(f"/v1/pipelines/{pid}/input", json={"payload": payload}, headers=h),
        http.get(f"/v1/pipelines/{other_pid}", headers=oh),
    )
    elapsed = time.perf_counter() - started
    assert submit.status_code == 422, submit.text
    assert [d["path"] for d in submit.json()["details"]] == ["$.payload.s"]
    assert read.status_code == 200 and read.json()["state"] == "PENDING"
    assert elapsed < 2.0, elapsed
    ok = await http.post(f"/v1/pipelines/{pid}/input", json={"payload": {"s": "aaa"}}, headers=h)
    assert ok.status_code == 200, ok.text


async def test_a_backtracking_pattern_is_refused_at_creation(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    wait = {"type": "input", "schema": {"type": "string", "pattern": r"^(\w+)\1$"}}
    body = {"config": pipeline_config("backref", wait), "tenant_id": tenant}
    r = await http.post("/v1/pipelines", json=body, headers=_h(token, tenant, "operator"))
    assert r.status_code == 422
    [problem] = r.json()["details"]
    assert problem["path"] == "$.config.definition.steps[0].schema"
    assert "RE2" in problem["message"]


# ----------------------------------------------------------------------------- priority
async def test_only_a_platform_admin_sets_priority_and_fairness(
    http: httpx.AsyncClient, token: Any, tenant: str, admin: dict[str, str]
) -> None:
    url = f"/v1/tenants/{tenant}/config"
    tenant_admin = _h(token, tenant, "admin")
    for field, value in (("priority", 1), ("fairness_weight", 1000)):
        r = await http.put(
            url, json={"pipeline_definition": CHAIN, field: value}, headers=tenant_admin
        )
        assert r.status_code == 403, r.text
        assert r.json()["details"][0]["path"] == f"$.{field}"
    assert (await http.get(url, headers=tenant_admin)).status_code == 404  # nothing written

    r = await http.put(
        url,
        json={"pipeline_definition": CHAIN, "priority": 4, "fairness_weight": 0.5},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    # the tenant's admin edits its pipeline: the platform's numbers stay, sent or not
    r = await http.put(url, json={"pipeline_definition": CHAIN}, headers=tenant_admin)
    assert r.status_code == 200, r.text
    assert (r.json()["priority"], r.json()["fairness_weight"]) == (4, 0.5)
    same = {"pipeline_definition": CHAIN, "priority": 4, "fairness_weight": 0.5}
    assert (await http.put(url, json=same, headers=tenant_admin)).status_code == 200
    r = await http.put(url, json={**same, "priority": 3}, headers=tenant_admin)
    assert r.status_code == 403


# ----------------------------------------------------------------------------- query params
@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("name=%00", "query.name"),
        ("state=RUNNING&name=a%1Fb", "query.name"),
        ("x%7F=1", "query.'x\\x7f'"),
        ("page_token=%C2%85", "query.page_token"),
    ],
)
async def test_control_characters_in_query_params_are_422(
    http: httpx.AsyncClient, token: Any, tenant: str, query: str, path: str
) -> None:
    r = await http.get(f"/v1/pipelines?{query}", headers=_h(token, tenant, "viewer"))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_input"
    assert [d["path"] for d in r.json()["details"]] == [path]


# ----------------------------------------------------------------------------- readyz
async def test_readyz_names_no_tenant_without_a_platform_admin(
    http: httpx.AsyncClient, token: Any, admin: dict[str, str]
) -> None:
    for headers in ({}, _h(token, "some-tenant", "admin"), {"Authorization": "Bearer junk"}):
        r = await http.get("/readyz", headers=headers)
        assert r.status_code == 200, r.text
        assert r.json() == {
            "status": "ready",
            "checks": {name: {"ok": True} for name in ("temporal", "database", "tenant_configs")},
        }
    detailed = (await http.get("/readyz", headers=admin)).json()["checks"]["tenant_configs"]
    assert {"valid", "invalid", "loaded"} <= set(detailed)


# ----------------------------------------------------------------------------- oracles
@pytest.fixture
async def workerless_api(
    temporal_server: TemporalDevServer, registry: StepRegistry, api_db_url: str
) -> Any:
    """An API whose task queue no worker polls: a status query of a running pipeline stalls."""
    settings = make_settings(temporal_server, api_db_url, status_query_timeout_s=3.0)
    app = create_app(settings, registry=registry)
    port = free_port()
    server, task = await start_uvicorn(app, port)
    try:
        yield ApiServer(f"http://127.0.0.1:{port}", settings, app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def test_ownership_is_checked_before_the_status_read(
    workerless_api: ApiServer, token: Any, tenant: str
) -> None:
    async with httpx.AsyncClient(base_url=workerless_api.base_url, timeout=30) as c:
        body = {"config": pipeline_config("slow", step_element("t_add", n=1)), "tenant_id": tenant}
        r = await c.post("/v1/pipelines", json=body, headers=_h(token, tenant, "operator"))
        assert r.status_code == 201, r.text
        pid = r.json()["pipeline_id"]
        stranger = _h(token, f"{tenant}-x", "admin")
        timings = {}
        for name, target in (("theirs", pid), ("none", "pl-" + uuid.uuid4().hex[:24])):
            started = time.perf_counter()
            for path in ("", "/history", "/events"):
                got = await c.get(f"/v1/pipelines/{target}{path}", headers=stranger)
                assert got.status_code == 404, (path, got.text)
            timings[name] = time.perf_counter() - started
        assert timings["theirs"] < 1.0, timings


# ----------------------------------------------------------------------------- bounds
async def test_history_pages_and_codec_batches_are_bounded(
    http: httpx.AsyncClient, admin: dict[str, str], tenant: str
) -> None:
    body = {"config": pipeline_config("bounds", step_element("t_add", n=1)), "tenant_id": tenant}
    pid = (await http.post("/v1/pipelines", json=body, headers=admin)).json()["pipeline_id"]
    r = await http.get(f"/v1/pipelines/{pid}/history", params={"limit": 10**9}, headers=admin)
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "query.limit"
    payload = {"metadata": {"encoding": "YmluYXJ5L251bGw="}, "data": ""}
    r = await http.post("/v1/codec/decode", json={"payloads": [payload] * 2000}, headers=admin)
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "$.payloads"
    r = await http.post("/v1/codec/decode", json={"payloads": [payload] * 200}, headers=admin)
    assert r.status_code == 200, r.text
