"""A step returning 10 MB through the real stack: the status stays small, the result a GET away."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api._support import bearer, pipeline_config, step, wait_state

MB = 1024 * 1024


async def test_a_10_mb_step_result_is_served_by_reference(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    h = bearer(token(["admin"], [tenant]))
    body = {
        "config": pipeline_config("big", step("t_blob", size=10 * MB), step("t_measure")),
        "input": {"note": "n" * 50_000},
        "tenant_id": tenant,
    }
    pid = (await http.post("/v1/pipelines", json=body, headers=h)).json()["pipeline_id"]
    assert (await http.post(f"/v1/pipelines/{pid}/start", headers=h)).status_code == 200
    status = await wait_state(http, pid, h, "SUCCEEDED", "FAILED", timeout=120)
    assert status["state"] == "SUCCEEDED", status

    r = await http.get(f"/v1/pipelines/{pid}", headers=h)
    assert len(r.content) < 20_000
    blob = r.json()["stages"][0]
    ref = blob["result"]
    assert ref["$ref"] == f"/v1/pipelines/{pid}/stages/t_blob/result"
    assert ref["size_bytes"] > 10 * MB
    assert r.json()["result"]["previous_size"] == 10 * MB  # small: inline

    whole = await http.get(ref["$ref"], headers=h)
    assert whole.status_code == 200
    assert whole.json()["size"] == 10 * MB and len(whole.json()["blob"]) == 10 * MB
    final = await http.get(f"/v1/pipelines/{pid}/result", headers=h)
    assert final.json() == r.json()["result"]


async def test_result_routes_check_tenant_and_stage(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    h = bearer(token(["admin"], [tenant]))
    body = {"config": pipeline_config("small", step("t_blob", size=3)), "tenant_id": tenant}
    pid = (await http.post("/v1/pipelines", json=body, headers=h)).json()["pipeline_id"]
    r = await http.get(f"/v1/pipelines/{pid}/stages/nope/result", headers=h)
    assert r.status_code == 404 and r.json()["error"] == "stage_not_found"
    stranger = bearer(token(["viewer"], ["other-tenant"]))
    assert (await http.get(f"/v1/pipelines/{pid}/result", headers=stranger)).status_code == 404
    assert (await http.get(f"/v1/pipelines/{pid}/result")).status_code == 401
    assert (await http.get(f"/v1/pipelines/{pid}/result", headers=h)).json() is None


async def test_a_large_last_stage_is_listed_in_the_status(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    """Issue 19: with a 2 MB result on the last stage, ``stages`` listed only the first one."""
    h = bearer(token(["admin"], [tenant]))
    body = {
        "config": pipeline_config("big-last", step("t_noop"), step("t_blob", size=2 * MB)),
        "tenant_id": tenant,
    }
    pid = (await http.post("/v1/pipelines", json=body, headers=h)).json()["pipeline_id"]
    assert (await http.post(f"/v1/pipelines/{pid}/start", headers=h)).status_code == 200
    status = await wait_state(http, pid, h, "SUCCEEDED", "FAILED", timeout=120)
    assert status["state"] == "SUCCEEDED", status
    assert status["stages_total"] == 2
    assert [s["stage_id"] for s in status["stages"]] == ["t_noop", "t_blob"]
    last = status["stages"][1]
    assert last["state"] == "SUCCEEDED"
    assert last["result"]["$ref"] == f"/v1/pipelines/{pid}/stages/t_blob/result"
    assert status["result"]["$ref"] == f"/v1/pipelines/{pid}/result"
    whole = await http.get(last["result"]["$ref"], headers=h)
    assert whole.status_code == 200 and whole.json()["size"] == 2 * MB
