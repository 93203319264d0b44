"""``/v1/batches`` over HTTP against the real server: JSON and NDJSON bodies, reads, tenancy."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.api._support import bearer
from tests.api.conftest import TokenFactory
from tests.support.promtool import metric_value

ITEM = {"type": "step", "name": "t_batch_item", "retry": {"max_attempts": 1}}


async def _configure(http: httpx.AsyncClient, tenant: str, admin: dict[str, str]) -> None:
    r = await http.put(
        f"/v1/tenants/{tenant}/config", json={"pipeline_definition": ITEM}, headers=admin
    )
    assert r.status_code in (200, 201), r.text


async def _until_done(
    http: httpx.AsyncClient, batch_id: str, headers: dict[str, str]
) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        r = await http.get(f"/v1/batches/{batch_id}", headers=headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["state"] != "RUNNING" or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.3)


async def test_json_batch_status_list_pipelines_results_and_retry(
    http: httpx.AsyncClient, tenant: str, admin: dict[str, str], token: TokenFactory
) -> None:
    await _configure(http, tenant, admin)
    fix = f"never-{uuid.uuid4().hex[:6]}"
    inputs = [{"n": i, "fail": i == 2, "fix": fix} for i in range(6)]
    body = {"tenant_id": tenant, "inputs": inputs, "max_running": 3}
    counted = (await http.get("/metrics")).text
    r = await http.post("/v1/batches", json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["total"] == 6 and created["state"] == "RUNNING"
    batch_id = created["batch_id"]
    again = await http.post("/v1/batches", json=body, headers=admin)
    assert again.status_code == 200 and again.json()["batch_id"] == batch_id
    metrics = (await http.get("/metrics")).text
    for name, n in (
        ("pipeline_engine_batches_submitted_total", 1),  # the repeat is not counted
        ("pipeline_engine_batch_inputs_total", 6),
    ):
        assert metric_value(metrics, name) - metric_value(counted, name) == n, name

    status = await _until_done(http, batch_id, admin)
    assert status["state"] == "FAILED"
    assert status["counts"] == {"SUCCEEDED": 5, "FAILED": 1}
    assert status["tenant_id"] == tenant and status["finished_at"] is not None

    listed = (await http.get(f"/v1/batches?tenant_id={tenant}", headers=admin)).json()
    assert [b["batch_id"] for b in listed["items"]] == [batch_id]
    failed = await http.get(f"/v1/batches/{batch_id}/pipelines?state=FAILED", headers=admin)
    assert [p["index"] for p in failed.json()["items"]] == [2]

    r = await http.get(f"/v1/batches/{batch_id}/results", headers=admin)
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [line["index"] for line in lines] == list(range(6))
    assert lines[0]["result"] == {"n": 0, "double": 0} and lines[2]["state"] == "FAILED"
    assert "fails until fixed" in lines[2]["error"]["message"]

    r = await http.post(f"/v1/batches/{batch_id}/retry-failed", json={"reason": "x"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"retried_pipelines": 1, "retried_stages": 1}

    # another tenant's batch is the same 404 as none at all, byte for byte
    other = bearer(token(["admin"], ["someone-else"]))
    theirs = await http.get(f"/v1/batches/{batch_id}", headers=other)
    missing = await http.get("/v1/batches/bt-000000000000000000000000", headers=admin)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.content == missing.content
    for path in ("/pipelines", "/results"):
        assert (await http.get(f"/v1/batches/{batch_id}{path}", headers=other)).status_code == 404
    cancel = await http.post(f"/v1/batches/{batch_id}/cancel", json={}, headers=other)
    assert cancel.status_code == 404 and cancel.content == missing.content
    viewer = bearer(token(["viewer"], [tenant]))
    assert (await http.post(f"/v1/batches/{batch_id}/cancel", headers=viewer)).status_code == 403


async def test_ndjson_batch_streamed_in_chunks(
    http: httpx.AsyncClient, tenant: str, admin: dict[str, str]
) -> None:
    await _configure(http, tenant, admin)
    count = 2500  # three pages of stored inputs

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, count, 500):
            chunk = "".join(json.dumps({"n": i}) + "\n" for i in range(start, start + 500))
            yield chunk.encode()

    r = await http.post(
        f"/v1/batches?tenant_id={tenant}&max_running=20&idempotency_key=nd-1",
        content=body(),
        headers={**admin, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["total"] == count
    batch_id = r.json()["batch_id"]
    page = await http.get(f"/v1/batches/{batch_id}/pipelines?page_size=5", headers=admin)
    assert [p["index"] for p in page.json()["items"]] == [0, 1, 2, 3, 4]
    cancelled = await http.post(
        f"/v1/batches/{batch_id}/cancel", json={"reason": "t"}, headers=admin
    )
    assert cancelled.status_code == 200
    status = await _until_done(http, batch_id, admin)
    assert status["state"] == "CANCELLED" and sum(status["counts"].values()) == count


async def test_bad_batches_are_clear_422s(
    http: httpx.AsyncClient, tenant: str, admin: dict[str, str]
) -> None:
    await _configure(http, tenant, admin)
    ndjson = {**admin, "Content-Type": "application/x-ndjson"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"json": {"tenant_id": tenant, "inputs": []}}, "$.inputs"),
        ({"json": {"tenant_id": tenant, "inputs": [1], "max_running": 0}}, "$.max_running"),
        ({"json": {"tenant_id": tenant}}, "$.inputs"),
        ({"json": {"tenant_id": tenant, "inputs": [1], "bogus": 1}}, "$.bogus"),
        ({"content": b'{"tenant_id": "' + tenant.encode() + b'", "inputs": [NaN]}'}, "$.inputs[0]"),
    ]
    for kwargs, path in cases:
        r = await http.post("/v1/batches", headers=admin, **kwargs)
        assert r.status_code == 422, (kwargs, r.text)
        assert path in [p["path"] for p in r.json()["details"]], r.text
    r = await http.post(
        f"/v1/batches?tenant_id={tenant}", content=b'{"n": 1}\n{oops\n', headers=ndjson
    )
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "$[1]", r.text
    r = await http.post("/v1/batches", content=b'{"n": 1}\n', headers=ndjson)
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "query.tenant_id"
    r = await http.post(f"/v1/batches?tenant_id={tenant}", content=b"\n\n", headers=ndjson)
    assert r.status_code == 422, r.text


async def test_a_batch_runs_a_named_pipeline_version(
    http: httpx.AsyncClient, tenant: str, admin: dict[str, str]
) -> None:
    await _configure(http, tenant, admin)
    echo = {"type": "step", "name": "t_echo", "kwargs": {"tag": "v1"}}
    r = await http.put(
        f"/v1/tenants/{tenant}/pipelines/echo", json={"pipeline_definition": echo}, headers=admin
    )
    assert r.status_code == 201, r.text
    newer = {**echo, "kwargs": {"tag": "v2"}}
    r = await http.put(
        f"/v1/tenants/{tenant}/pipelines/echo", json={"pipeline_definition": newer}, headers=admin
    )
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
    body = {"tenant_id": tenant, "inputs": [{"n": 1}], "pipeline": "echo", "version": 1}
    r = await http.post("/v1/batches", json=body, headers=admin)
    assert r.status_code == 201, r.text
    batch_id = r.json()["batch_id"]
    status = await _until_done(http, batch_id, admin)
    assert status["state"] == "SUCCEEDED" and status["pipeline"] == "echo"
    lines = (await http.get(f"/v1/batches/{batch_id}/results", headers=admin)).text.splitlines()
    assert json.loads(lines[0])["result"]["tag"] == "v1"
    missing = await http.post(
        "/v1/batches", json={**body, "pipeline": "nope", "version": None}, headers=admin
    )
    assert missing.status_code == 404, missing.text
