"""Every run knows its origin: ``pipeline_ref {name, version, digest}`` in its status and its
``pipeline.created`` event, on the real server and Temporal (issue 20)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import httpx

from tests.api._support import bearer, pipeline_config, step, wait_state


def tree(tag: str) -> dict[str, Any]:
    return {"type": "chain", "steps": [step("t_echo", tag=tag)]}


async def _created_payload(http: httpx.AsyncClient, pid: str, headers: dict[str, str]) -> Any:
    events = (await http.get(f"/v1/pipelines/{pid}/history", headers=headers)).json()
    assert events[0]["type"] == "pipeline.created"
    return events[0]["payload"]


async def test_status_and_created_event_name_the_version_run(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    admin = bearer(token(["admin"], [tenant], sub="ana"))
    base = f"/v1/tenants/{tenant}/pipelines"
    versions = []
    for tag in ("one", "two"):
        r = await http.put(f"{base}/crates", json={"pipeline_definition": tree(tag)}, headers=admin)
        assert r.status_code == 201, r.text
        versions.append(r.json())
    r = await http.post(
        "/v1/process",
        json={"tenant_id": tenant, "pipeline": "crates", "version": 1, "input": {"n": 1}},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    pid = r.json()["pipeline_id"]
    done = await wait_state(http, pid, admin, "SUCCEEDED")
    one = {"name": "crates", "version": 1, "digest": versions[0]["digest"]}
    assert done["result"]["tag"] == "one" and done["pipeline_ref"] == one
    assert (await _created_payload(http, pid, admin))["pipeline_ref"] == one
    r = await http.post(
        "/v1/process", json={"tenant_id": tenant, "pipeline": "crates"}, headers=admin
    )
    latest = await wait_state(http, r.json()["pipeline_id"], admin, "SUCCEEDED")
    two = {"name": "crates", "version": 2, "digest": versions[1]["digest"]}
    assert latest["pipeline_ref"] == two
    # the tenant config is the pipeline named default
    r = await http.put(
        f"/v1/tenants/{tenant}/config", json={"pipeline_definition": tree("seed")}, headers=admin
    )
    assert r.status_code == 200, r.text
    r = await http.post("/v1/process", json={"tenant_id": tenant}, headers=admin)
    seed = await wait_state(http, r.json()["pipeline_id"], admin, "SUCCEEDED")
    assert seed["pipeline_ref"]["name"] == "default" and seed["pipeline_ref"]["version"] == 1
    # a raw config has no origin
    raw = pipeline_config(f"raw-{tenant}", step("t_echo", tag="raw"))
    r = await http.post("/v1/pipelines", json={"config": raw, "tenant_id": tenant}, headers=admin)
    assert r.status_code == 201, r.text
    status = (await http.get(f"/v1/pipelines/{r.json()['pipeline_id']}", headers=admin)).json()
    assert "pipeline_ref" in status and status["pipeline_ref"] is None
    created = await _created_payload(http, r.json()["pipeline_id"], admin)
    assert created["name"] == f"raw-{tenant}" and "pipeline_ref" not in created  # None: left out


def _v1() -> dict[str, Any]:
    flaky = {**step("t_flaky", fail_times=1), "id": "flaky", "retry": {"max_attempts": 1}}
    return {
        "type": "chain",
        "steps": [
            {"type": "input", "id": "approve", "schema": {"type": "object"}},
            {**step("t_echo", tag="one"), "id": "echo"},
            flaky,
            {**flaky, "id": "flaky-again"},
        ],
    }


async def test_a_version_written_mid_run_changes_nothing_in_the_running_one(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    admin = bearer(token(["admin"], [tenant], sub="ana"))
    base = f"/v1/tenants/{tenant}/pipelines"
    r = await http.put(f"{base}/crates", json={"pipeline_definition": _v1()}, headers=admin)
    assert r.status_code == 201, r.text
    one = {"name": "crates", "version": 1, "digest": r.json()["digest"]}
    r = await http.post(
        "/v1/process", json={"tenant_id": tenant, "pipeline": "crates", "input": {}}, headers=admin
    )
    pid = r.json()["pipeline_id"]
    waiting = await wait_state(http, pid, admin, "WAITING_INPUT")
    assert waiting["state"] == "WAITING_INPUT" and waiting["pipeline_ref"] == one
    # a new version, and the alias live on it, while the run waits
    r = await http.put(f"{base}/crates", json={"pipeline_definition": tree("two")}, headers=admin)
    assert r.status_code == 201 and r.json()["version"] == 2
    r = await http.put(f"{base}/crates/aliases/live", json={"version": 2}, headers=admin)
    assert r.status_code == 200, r.text
    r = await http.post(f"/v1/pipelines/{pid}/input", json={"payload": {"ok": True}}, headers=admin)
    assert r.status_code == 200, r.text
    held = await wait_state(http, pid, admin, "FAILED")
    assert held["state"] == "FAILED" and held["error"]["stage_id"] == "flaky"  # v1's own step
    assert held["pipeline_ref"] == one
    r = await http.post(f"/v1/pipelines/{pid}/stages/flaky/retry", json={}, headers=admin)
    assert r.status_code == 200, r.text
    for _ in range(300):  # the retried stage succeeds, the next one fails and is held
        again = (await http.get(f"/v1/pipelines/{pid}", headers=admin)).json()
        if again["state"] == "FAILED" and again["error"]["stage_id"] == "flaky-again":
            break
        await asyncio.sleep(0.1)
    assert again["error"]["stage_id"] == "flaky-again" and again["pipeline_ref"] == one
    r = await http.post(f"/v1/pipelines/{pid}/retry", json={}, headers=admin)  # retry_failed
    assert r.status_code == 200, r.text
    done = await wait_state(http, pid, admin, "SUCCEEDED")
    assert done["state"] == "SUCCEEDED" and done["pipeline_ref"] == one
    stages = {s["stage_id"]: s for s in done["stages"]}
    assert set(stages) == {"approve", "echo", "flaky", "flaky-again"}
    assert stages["echo"]["result"]["tag"] == "one"
    # new runs take the new version; the list finds each by version
    r = await http.post(
        "/v1/process", json={"tenant_id": tenant, "pipeline": "crates", "input": {}}, headers=admin
    )
    two = await wait_state(http, r.json()["pipeline_id"], admin, "SUCCEEDED")
    assert two["pipeline_ref"]["version"] == 2 and two["result"]["tag"] == "two"
    for version, expected in ((1, [pid]), (2, [two["pipeline_id"]])):
        rows = await _listed(http, admin, pipeline="crates", version=version)
        assert [p["pipeline_id"] for p in rows] == expected
        assert [p["pipeline_version"] for p in rows] == [version]


async def _listed(http: httpx.AsyncClient, headers: dict[str, str], **query: Any) -> list[Any]:
    """The list's rows once visibility shows every pipeline's last state (it lags a little)."""
    rows: list[Any] = []
    for _ in range(100):
        r = await http.get("/v1/pipelines", params=query, headers=headers)
        assert r.status_code == 200, r.text
        rows = r.json()["items"]
        if rows and all(p["state"] == "SUCCEEDED" for p in rows):
            return rows
        await asyncio.sleep(0.1)
    return rows


async def test_batches_schedules_and_triggers_pass_the_version_they_run(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    admin = bearer(token(["admin"], [tenant], sub="ana"))
    base = f"/v1/tenants/{tenant}/pipelines"
    digests = []
    for tag in ("one", "two"):
        r = await http.put(f"{base}/survey", json={"pipeline_definition": tree(tag)}, headers=admin)
        assert r.status_code == 201, r.text
        digests.append(r.json()["digest"])
    one = {"name": "survey", "version": 1, "digest": digests[0]}
    two = {"name": "survey", "version": 2, "digest": digests[1]}
    # a batch of version 1
    body = {"tenant_id": tenant, "pipeline": "survey", "version": 1, "inputs": [{"n": 0}, {"n": 1}]}
    r = await http.post("/v1/batches", json=body, headers=admin)
    assert r.status_code == 201, r.text
    batch_id = r.json()["batch_id"]
    members: list[Any] = []
    for _ in range(300):
        page = await http.get(f"/v1/batches/{batch_id}/pipelines", headers=admin)
        members = page.json()["items"]
        if len(members) == 2 and all(m["state"] == "SUCCEEDED" for m in members):
            break
        await asyncio.sleep(0.1)
    for member in members:
        done = await wait_state(http, member["pipeline_id"], admin, "SUCCEEDED")
        assert done["pipeline_ref"] == one and done["result"]["tag"] == "one"
    # a schedule (triggered now) of the latest version
    body = {"tenant_id": tenant, "schedule_id": "nightly", "pipeline": "survey", "input": {}}
    r = await http.post("/v1/schedules", json={**body, "interval_s": 3600}, headers=admin)
    assert r.status_code == 201, r.text
    r = await http.post(f"/v1/schedules/nightly/trigger?tenant_id={tenant}", headers=admin)
    assert r.status_code in (200, 202, 204), r.text
    scheduled: list[Any] = []
    for _ in range(300):
        rows = await http.get(
            "/v1/pipelines", params={"tenant_id": tenant, "version": 2}, headers=admin
        )
        scheduled = rows.json()["items"]
        if scheduled:
            break
        await asyncio.sleep(0.1)
    assert len(scheduled) == 1, scheduled
    done = await wait_state(http, scheduled[0]["pipeline_id"], admin, "SUCCEEDED")
    assert done["pipeline_ref"] == two
    # a webhook trigger of the latest version
    r = await http.put(
        f"/v1/tenants/{tenant}/triggers/hook", json={"pipeline": "survey"}, headers=admin
    )
    assert r.status_code == 201, r.text
    secret, payload = r.json()["secret"], b'{"n": 7}'
    signature = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    r = await http.post(
        f"/v1/triggers/{tenant}/hook",
        content=payload,
        headers={
            "X-Pipeline-Signature": f"sha256={signature}",
            "X-Delivery-Id": "d-1",
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 202, r.text
    done = await wait_state(http, r.json()["pipeline_id"], admin, "SUCCEEDED")
    assert done["pipeline_ref"] == two


async def test_bad_origin_filters_are_422s(
    http: httpx.AsyncClient, admin: dict[str, str], tenant: str
) -> None:
    for query in ({"version": 0}, {"version": "x"}, {"pipeline": "no spaces"}):
        r = await http.get("/v1/pipelines", params=query, headers=admin)
        assert r.status_code == 422, (query, r.text)
    everyone = await http.get("/v1/pipelines", params={"pipeline": "default"}, headers=admin)
    assert everyone.status_code == 422 and "tenant_id" in everyone.json()["message"]
    counts = await http.get("/v1/pipeline-counts", params={"pipeline": "default"}, headers=admin)
    assert counts.status_code == 422
    mine = await http.get(
        "/v1/pipelines", params={"pipeline": "default", "tenant_id": tenant}, headers=admin
    )
    assert mine.status_code == 200 and mine.json()["items"] == []
