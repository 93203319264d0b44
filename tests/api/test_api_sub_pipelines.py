"""Sub-pipelines (``type: pipeline``) over REST on the real server and Temporal: references checked
when written and pinned when a run is created, the child read through the same routes (tenant
ownership kept), its failure the stage's (a retry redrives it), cancel reaching it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from tests.api._support import bearer, wait_state
from tests.support.steps import calls_of


def st(name: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, "kwargs": kwargs}


def sub(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "pipeline", "name": name, **extra}


async def put(http: httpx.AsyncClient, headers: dict[str, str], tenant: str, name: str,
              definition: Any) -> httpx.Response:  # fmt: skip
    return await http.put(
        f"/v1/tenants/{tenant}/pipelines/{name}",
        json={"pipeline_definition": definition},
        headers=headers,
    )


async def test_references_are_checked_when_written(
    http: httpx.AsyncClient, admin: dict[str, str], tenant: str
) -> None:
    assert (await put(http, admin, tenant, "leaf", st("t_add"))).status_code == 201
    r = await put(http, admin, tenant, "a", {"type": "chain", "steps": [st("t_add"), sub("nope")]})
    assert r.status_code == 422, r.text
    assert r.json()["details"] == [
        {"path": "$.pipeline_definition.steps[1].name", "message": "unknown pipeline 'nope'"}
    ]
    r = await put(http, admin, tenant, "a", sub("leaf", version=9))
    assert r.status_code == 422
    assert r.json()["details"] == [
        {"path": "$.pipeline_definition.version", "message": "pipeline 'leaf' has no version 9"}
    ]
    assert (await put(http, admin, tenant, "a", sub("b0"))).status_code == 422
    assert (await put(http, admin, tenant, "b", st("t_add"))).status_code == 201
    assert (await put(http, admin, tenant, "a", sub("b"))).status_code == 201  # a@1 -> b
    r = await put(http, admin, tenant, "b", sub("a"))  # b (new) -> a@1 -> b: a cycle
    assert r.status_code == 422
    assert r.json()["details"] == [
        {
            "path": "$.pipeline_definition.name",
            "message": "a cycle of sub-pipelines: b -> a@1 -> b",
        }
    ]
    assert (await put(http, admin, tenant, "a", sub("a"))).status_code == 422  # itself
    # a pinned older version of the same name is another document: allowed
    assert (await put(http, admin, tenant, "b", sub("b", version=1))).status_code == 201
    assert (await http.delete(f"/v1/tenants/{tenant}/pipelines/leaf", headers=admin)).is_success
    r = await put(http, admin, tenant, "c", sub("leaf"))
    assert r.json()["details"][0]["message"] == "pipeline 'leaf' is archived"


async def test_the_tenant_config_route_checks_references_as_the_default_pipeline(
    http: httpx.AsyncClient, admin: dict[str, str], tenant: str
) -> None:
    url = f"/v1/tenants/{tenant}/config"
    r = await http.put(url, json={"pipeline_definition": sub("nope")}, headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["details"] == [
        {"path": "$.pipeline_definition.name", "message": "unknown pipeline 'nope'"}
    ]
    assert (await http.get(url, headers=admin)).status_code == 404  # nothing half-written
    r = await http.put(url, json={"pipeline_definition": st("t_add")}, headers=admin)
    assert r.is_success, r.text
    assert (await put(http, admin, tenant, "sizing", sub("default"))).status_code == 201
    # default (new) -> sizing@1 -> default: refused like a cycle written through its own route
    r = await http.put(url, json={"pipeline_definition": sub("sizing")}, headers=admin)
    assert r.status_code == 422, r.text
    assert "a cycle of sub-pipelines" in r.json()["details"][0]["message"]


async def test_a_sub_pipeline_runs_as_a_child_pinned_when_created(
    http: httpx.AsyncClient, admin: dict[str, str], token: Any, tenant: str
) -> None:
    await put(http, admin, tenant, "sizing", {"type": "chain", "steps": [st("t_add", n=1)]})
    crate = {"type": "chain", "steps": [st("t_add", n=2), sub("sizing"), st("t_add", n=10)]}
    assert (await put(http, admin, tenant, "crate", crate)).status_code == 201
    r = await http.post(
        "/v1/process", json={"tenant_id": tenant, "pipeline": "crate"}, headers=admin
    )
    assert r.status_code == 201, r.text
    pid = r.json()["pipeline_id"]
    # a version written after the run was created changes nothing in it
    await put(http, admin, tenant, "sizing", {"type": "chain", "steps": [st("t_add", n=100)]})
    done = await wait_state(http, pid, admin, "SUCCEEDED", "FAILED", timeout=60)
    assert done["state"] == "SUCCEEDED", done
    assert done["result"] == 13  # 2, then sizing v1 (its input 2 as its first previous): 3
    stage = next(s for s in done["stages"] if s["stage_id"] == "sizing")
    assert stage["kind"] == "pipeline" and stage["child_pipeline_id"] == f"{pid}.sizing"
    child_id = stage["child_pipeline_id"]
    child = (await http.get(f"/v1/pipelines/{child_id}", headers=admin)).json()
    assert (child["state"], child["tenant_id"], child["result"]) == ("SUCCEEDED", tenant, 3)
    history = (await http.get(f"/v1/pipelines/{child_id}/history", headers=admin)).json()
    assert history[0]["type"] == "pipeline.created"
    events = (await http.get(f"/v1/pipelines/{pid}/history", headers=admin)).json()
    assert [e["type"] for e in events if e["payload"].get("stage_id") == "sizing"] == [
        "stage.scheduled",
        "stage.succeeded",
    ]
    stranger = bearer(token(["viewer"], [f"{tenant}-other"]))
    assert (await http.get(f"/v1/pipelines/{child_id}", headers=stranger)).status_code == 404


async def test_a_failed_child_fails_the_stage_and_a_retry_redrives_it(
    http: httpx.AsyncClient, admin: dict[str, str], tenant: str, calls_dir: Path
) -> None:
    await put(http, admin, tenant, "sizing", {"type": "chain", "steps": [
        st("t_add", n=2), st("t_double", fail_on=4)]})  # fmt: skip
    continuing = sub("sizing", id="lenient", on_failure="continue")
    crate = {"type": "chain", "steps": [st("t_add", n=2), {"type": "group", "steps": [
        sub("sizing"), {"type": "chain", "steps": [continuing]}]}]}  # fmt: skip
    assert (await put(http, admin, tenant, "crate", crate)).status_code == 201
    r = await http.post(
        "/v1/process", json={"tenant_id": tenant, "pipeline": "crate"}, headers=admin
    )
    pid = r.json()["pipeline_id"]
    failed = await wait_state(http, pid, admin, "FAILED", timeout=60)
    stage = next(s for s in failed["stages"] if s["stage_id"] == "sizing")
    assert stage["state"] == "FAILED" and stage["error"]["type"] == "SubPipelineFailed"
    assert f"({pid}.sizing) failed at stage t_double: ValueError" in stage["error"]["message"]
    child = await wait_state(http, f"{pid}.sizing", admin, "FAILED", timeout=30)
    assert child["error"]["type"] == "ValueError"
    lenient = next(s for s in failed["stages"] if s["stage_id"] == "lenient")
    assert (lenient["state"], lenient["child_pipeline_id"]) == ("FAILED", f"{pid}.lenient")
    (calls_dir / f"{pid}.sizing+2.fixed").touch()  # the child's rerun
    r = await http.post(f"/v1/pipelines/{pid}/retry", json={"reason": "fixed"}, headers=admin)
    assert r.status_code == 200, r.text
    done = await wait_state(http, pid, admin, "SUCCEEDED", timeout=60)
    assert done["result"] == [8, None]  # 2 + 2, doubled; the lenient one continued
    stage = next(s for s in done["stages"] if s["stage_id"] == "sizing")
    assert stage["child_pipeline_id"] == f"{pid}.sizing+2"
    child = (await http.get(f"/v1/pipelines/{pid}.sizing+2", headers=admin)).json()
    assert (child["state"], child["result"]) == ("SUCCEEDED", 8)  # its rerun
    first = (await http.get(f"/v1/pipelines/{pid}.sizing", headers=admin)).json()
    assert first["state"] == "FAILED"  # the failed run stays readable
    # a redrive: the rerun reused what the failed run had finished (t_add), ran only t_double
    assert [c[0] for c in calls_of(calls_dir, f"{pid}.sizing+2")] == ["t_double"]
    reused = next(s for s in child["stages"] if s["stage_id"] == "t_add")
    assert (reused["state"], reused["attempts"], reused["result"]) == ("SUCCEEDED", 0, 4)


async def test_cancelling_the_parent_cancels_the_child(
    http: httpx.AsyncClient, admin: dict[str, str], tenant: str, calls_dir: Path
) -> None:
    await put(http, admin, tenant, "slow", st("t_sleep", seconds=60))
    await put(http, admin, tenant, "crate", {"type": "chain", "steps": [sub("slow")]})
    r = await http.post(
        "/v1/process", json={"tenant_id": tenant, "pipeline": "crate"}, headers=admin
    )
    pid = r.json()["pipeline_id"]
    # read the child once its step runs (an id read before its workflow exists is kept as
    # unknown by the API's owner cache)
    for _ in range(300):
        if (calls_dir / f"{pid}.slow.calls").exists():
            break
        await asyncio.sleep(0.1)
    await wait_state(http, f"{pid}.slow", admin, "RUNNING", timeout=30)
    r = await http.post(f"/v1/pipelines/{pid}/cancel", json={"reason": "enough"}, headers=admin)
    assert r.status_code == 200, r.text
    parent = await wait_state(http, pid, admin, "CANCELLED", timeout=30)
    assert next(s for s in parent["stages"] if s["stage_id"] == "slow")["state"] == "CANCELLED"
    child = await wait_state(http, f"{pid}.slow", admin, "CANCELLED", timeout=30)
    assert child["state"] == "CANCELLED"


async def test_a_batch_runs_its_pipelines_sub_pipelines(
    http: httpx.AsyncClient, admin: dict[str, str], tenant: str
) -> None:
    await put(http, admin, tenant, "sizing", st("t_add", n=1))
    await put(
        http, admin, tenant, "crate", {"type": "chain", "steps": [sub("sizing"), st("t_add")]}
    )
    body = {"tenant_id": tenant, "inputs": [{"n": 1}, {"n": 2}], "pipeline": "crate"}
    r = await http.post("/v1/batches", json=body, headers=admin)
    assert r.status_code == 201, r.text
    batch_id = r.json()["batch_id"]
    for _ in range(300):
        batch = (await http.get(f"/v1/batches/{batch_id}", headers=admin)).json()
        if batch["state"] != "RUNNING":
            break
        await asyncio.sleep(0.3)
    assert batch["state"] == "SUCCEEDED", batch
    lines = (await http.get(f"/v1/batches/{batch_id}/results", headers=admin)).text.splitlines()
    assert [json.loads(line)["result"] for line in lines] == [2, 2]  # the pinned child ran
