"""Issue 20's "Done when", end to end on the real API and Temporal: a tenant pushes three
versions of two pipelines, reads their history and diffs, rolls back, sends 10 % of runs to a
canary version, and finds those runs by version through REST and ``temporal workflow list``."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import httpx
import jsonpatch

from api.tenants.aliases import canary_bucket
from tests.api._support import bearer, step, wait_state
from workflows.dev_server import TemporalDevServer, temporal_cli


def tree(tag: str) -> dict[str, Any]:
    return {"type": "chain", "steps": [step("t_echo", tag=tag)]}


def _temporal_list(server: TemporalDevServer, query: str) -> set[str]:
    """Workflow ids ``temporal workflow list --query QUERY`` prints (the CLI of the venv)."""
    args = ["workflow", "list", "--address", server.address, "--query", query, "-o", "json"]
    out = subprocess.run(
        [temporal_cli(), *args, "--limit", "1000"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    rows = json.loads(out) if out.strip().startswith("[") else [json.loads(x) for x in out.split()]
    return {row["execution"]["workflowId"] for row in rows}


async def _settled(probe: Any, expected: set[str]) -> set[str]:
    """What ``probe()`` lists once it lists ``expected`` (visibility lags behind a little)."""
    found: set[str] = set()
    for _ in range(150):
        found = await probe()
        if found == expected:
            break
        await asyncio.sleep(0.2)
    return found


async def test_push_history_diff_rollback_canary_and_find_runs_by_version(
    http: httpx.AsyncClient, token: Any, tenant: str, temporal_server: TemporalDevServer
) -> None:
    admin = bearer(token(["admin"], [tenant], sub="ana"))
    base = f"/v1/tenants/{tenant}/pipelines"
    digests: dict[tuple[str, int], str] = {}
    for name in ("crates", "survey"):
        for version in (1, 2, 3):
            r = await http.put(
                f"{base}/{name}",
                json={"pipeline_definition": tree(f"{name}-{version}"), "message": f"v{version}"},
                headers=admin,
            )
            assert r.status_code == 201 and r.json()["version"] == version, r.text
            digests[name, version] = r.json()["digest"]
    # history and diffs
    history = (await http.get(f"{base}/crates/versions", headers=admin)).json()
    assert [(v["version"], v["message"], v["created_by"]) for v in history["items"]] == [
        (3, "v3", "ana"),
        (2, "v2", "ana"),
        (1, "v1", "ana"),
    ]
    patch = (await http.get(f"{base}/survey/diff?from=1&to=3", headers=admin)).json()
    assert jsonpatch.apply_patch(tree("survey-1"), patch) == tree("survey-3")
    # roll back crates to version 1: version 4, version 1's digest
    r = await http.post(f"{base}/crates/rollback", json={"to": 1}, headers=admin)
    assert r.status_code == 201 and r.json()["version"] == 4, r.text
    assert r.json()["digest"] == digests["crates", 1]
    # live: version 4, with 10 % of the inputs on the canary version 2
    r = await http.put(
        f"{base}/crates/aliases/live",
        json={"version": 4, "canary_version": 2, "canary_percent": 10},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    # run until three inputs went to the canary; the server's choice is the hash's
    runs: dict[int, str] = {}
    expected: dict[int, int] = {}
    n = 0
    while sum(v == 2 for v in expected.values()) < 3:
        expected[n] = 2 if canary_bucket(tenant, "crates", "live", {"n": n}) < 10 else 4
        r = await http.post(
            "/v1/process",
            json={"tenant_id": tenant, "pipeline": "crates", "input": {"n": n}},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        runs[n] = r.json()["pipeline_id"]
        n += 1
        assert n < 300, "the canary's share is far from 10 %"
    versions: dict[int, int] = {}
    for i, pid in runs.items():
        done = await wait_state(http, pid, admin, "SUCCEEDED", timeout=120)
        assert done["state"] == "SUCCEEDED", done
        versions[i] = done["pipeline_ref"]["version"]
        assert done["pipeline_ref"]["digest"] == digests["crates", 1 if versions[i] == 4 else 2]
        assert done["result"]["tag"] == ("crates-2" if versions[i] == 2 else "crates-1")
    assert versions == expected and set(versions.values()) == {2, 4}
    # a repeat goes the same way: the same pipeline, and with a new key the same version
    canary = next(i for i, v in versions.items() if v == 2)
    stable = next(i for i, v in versions.items() if v == 4)
    for i in (canary, stable):
        body = {"tenant_id": tenant, "pipeline": "crates", "input": {"n": i}}
        again = await http.post("/v1/process", json=body, headers=admin)
        assert again.status_code == 200 and again.json()["pipeline_id"] == runs[i]
        keyed = await http.post(
            "/v1/process", json={**body, "idempotency_key": f"again-{i}"}, headers=admin
        )
        assert keyed.status_code == 201 and keyed.json()["pipeline_id"] != runs[i]
        other = await wait_state(http, keyed.json()["pipeline_id"], admin, "SUCCEEDED")
        assert other["pipeline_ref"]["version"] == versions[i]
        runs[-1 - i] = keyed.json()["pipeline_id"]
        versions[-1 - i] = versions[i]
    # and survey's latest, for a run of another pipeline
    r = await http.post(
        "/v1/process", json={"tenant_id": tenant, "pipeline": "survey"}, headers=admin
    )
    survey = await wait_state(http, r.json()["pipeline_id"], admin, "SUCCEEDED")
    assert survey["pipeline_ref"] == {
        "name": "survey",
        "version": 3,
        "digest": digests["survey", 3],
    }

    # find the canary's runs by version: REST
    on_canary = {pid for i, pid in runs.items() if versions[i] == 2}

    async def rest(**query: Any) -> set[str]:
        r = await http.get("/v1/pipelines", params={**query, "page_size": 500}, headers=admin)
        assert r.status_code == 200, r.text
        return {p["pipeline_id"] for p in r.json()["items"]}

    assert await _settled(lambda: rest(pipeline="crates", version=2), on_canary) == on_canary
    assert await rest(pipeline="crates") == set(runs.values())
    assert await rest(pipeline="survey", version=3) == {survey["pipeline_id"]}
    assert await rest(pipeline="survey", version=2) == set()
    counts = await http.get(
        "/v1/pipeline-counts", params={"pipeline": "crates", "version": 2}, headers=admin
    )
    assert counts.json()["total"] == len(on_canary)

    # ... and with the temporal CLI, by the search attribute
    async def cli(query: str) -> set[str]:
        return await asyncio.to_thread(_temporal_list, temporal_server, query)

    scoped = f"PipelineVersion=2 AND TenantId='{tenant}'"
    assert await _settled(lambda: cli(scoped), on_canary) == on_canary
    assert on_canary <= await cli("PipelineVersion=2")
    crates_v4 = f"PipelineName='crates' AND PipelineVersion=4 AND TenantId='{tenant}'"
    assert await cli(crates_v4) == {pid for i, pid in runs.items() if versions[i] == 4}
