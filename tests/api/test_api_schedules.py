"""``/v1/schedules`` against the real Temporal server: interval runs, pause, trigger, backfill."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from temporalio.client import Client

from tests.api._support import bearer, wait_state
from tests.api.conftest import TokenFactory
from workflows.schedule_engine import temporal_schedule_id

ECHO = {"type": "step", "name": "t_echo", "kwargs": {"tag": "scheduled"}}


async def _runs(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], at_least: int
) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        body: dict[str, Any] = (await http.get(url, headers=headers)).json()
        if body["runs"] >= at_least or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.3)


async def test_interval_schedule_runs_pauses_triggers_and_backfills(
    http: httpx.AsyncClient, tenant: str, admin: dict[str, str], token: TokenFactory, client: Client
) -> None:
    r = await http.put(
        f"/v1/tenants/{tenant}/config", json={"pipeline_definition": ECHO}, headers=admin
    )
    assert r.status_code in (200, 201), r.text
    body = {"tenant_id": tenant, "schedule_id": "every-2s", "input": {"x": 1}, "interval_s": 2}
    r = await http.post("/v1/schedules", json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["overlap"] == "skip" and not created["paused"]
    assert len(created["next_run_times"]) >= 1
    assert (await http.post("/v1/schedules", json=body, headers=admin)).status_code == 200
    clash = await http.post("/v1/schedules", json={**body, "interval_s": 5}, headers=admin)
    assert clash.status_code == 409

    url = f"/v1/schedules/every-2s?tenant_id={tenant}"
    status = await _runs(http, url, admin, 1)
    run = status["recent_runs"][0]
    assert run["pipeline_id"].startswith(temporal_schedule_id(tenant, "every-2s") + "-")
    done = await wait_state(http, run["pipeline_id"], admin, "SUCCEEDED")
    assert done["state"] == "SUCCEEDED" and done["tenant_id"] == tenant
    assert done["result"]["input"] == {"x": 1}

    paused = await http.post(
        f"/v1/schedules/every-2s/pause?tenant_id={tenant}", json={"note": "hold"}, headers=admin
    )
    assert paused.json()["paused"] and paused.json()["next_run_times"] == []
    before = paused.json()["runs"]
    triggered = await http.post(f"/v1/schedules/every-2s/trigger?tenant_id={tenant}", headers=admin)
    assert triggered.status_code == 200, triggered.text
    status = await _runs(http, url, admin, before + 1)
    assert status["runs"] == before + 1  # the trigger ran while paused, nothing else did
    backfill = await http.post(
        f"/v1/schedules/every-2s/backfill?tenant_id={tenant}",
        json={"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:05Z"},
        headers=admin,
    )
    assert backfill.status_code == 200, backfill.text
    status = await _runs(http, url, admin, before + 3)
    assert status["runs"] >= before + 3, status
    ids = [run["pipeline_id"] for run in status["recent_runs"]]
    assert any("2026-01-01T00:00:0" in pid for pid in ids), ids
    unpaused = await http.post(f"/v1/schedules/every-2s/unpause?tenant_id={tenant}", headers=admin)
    assert not unpaused.json()["paused"]

    listed = (await http.get(f"/v1/schedules?tenant_id={tenant}", headers=admin)).json()
    assert [s["schedule_id"] for s in listed["items"]] == ["every-2s"]
    # visible to `temporal schedule list` by its Temporal id
    found = [s.id async for s in await client.list_schedules()]
    assert temporal_schedule_id(tenant, "every-2s") in found

    other = bearer(token(["admin"], ["someone-else"]))
    theirs = await http.get(url, headers=other)
    missing = await http.get(f"/v1/schedules/none?tenant_id={tenant}", headers=admin)
    assert theirs.status_code == missing.status_code == 404 and theirs.content == missing.content

    assert (await http.delete(url, headers=admin)).status_code == 204
    assert (await http.get(url, headers=admin)).status_code == 404


async def test_bad_schedules_are_422s(
    http: httpx.AsyncClient, tenant: str, admin: dict[str, str]
) -> None:
    await http.put(
        f"/v1/tenants/{tenant}/config", json={"pipeline_definition": ECHO}, headers=admin
    )
    base = {"tenant_id": tenant, "schedule_id": "s1"}
    for extra in (
        {},
        {"cron": "* * * * *", "interval_s": 5},
        {"cron": "0 6 * * *", "timezone": "Mars/Olympus"},
        {"interval_s": 0},
        {"cron": "not a cron"},
    ):
        r = await http.post("/v1/schedules", json={**base, **extra}, headers=admin)
        assert r.status_code == 422, (extra, r.text)
    r = await http.post(
        "/v1/schedules", json={**base, "schedule_id": "a.b", "interval_s": 5}, headers=admin
    )
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "$.schedule_id"
