"""Every run knows its origin: ``pipeline_ref {name, version, digest}`` in its status and its
``pipeline.created`` event, on the real server and Temporal (issue 20)."""

from __future__ import annotations

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
