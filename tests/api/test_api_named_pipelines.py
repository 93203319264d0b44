"""Named pipelines over REST: versions, history, diff, rollback, aliases, archive,
audit, and ``/v1/process`` choosing the version; on the real server and Temporal."""

from __future__ import annotations

from typing import Any

import httpx
import jsonpatch

from tests.api._support import bearer, step, wait_state


def tree(tag: str) -> dict[str, Any]:
    return {"type": "chain", "steps": [step("t_echo", tag=tag)]}


async def test_versions_history_diff_rollback_and_audit(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    admin = bearer(token(["admin"], [tenant], sub="ana"))
    viewer = bearer(token(["viewer"], [tenant]))
    base = f"/v1/tenants/{tenant}/pipelines"
    r = await http.put(f"{base}/crates", json={"pipeline_definition": tree("a")}, headers=admin)
    assert r.status_code == 201, r.text
    v1 = r.json()
    assert set(v1) == {
        "tenant_id",
        "name",
        "version",
        "digest",
        "schema_version",
        "created_at",
        "created_by",
        "message",
    }
    assert (v1["version"], v1["created_by"], v1["schema_version"]) == (1, "ana", "1")
    assert r.headers["etag"] == '"1"'
    same = await http.put(f"{base}/crates", json={"pipeline_definition": tree("a")}, headers=admin)
    assert same.status_code == 200 and same.json() == v1
    lost = await http.put(
        f"{base}/crates",
        json={"pipeline_definition": tree("b")},
        headers={**admin, "If-Match": '"0"'},
    )
    assert lost.status_code == 409 and lost.json()["error"] == "conflict"
    r = await http.put(
        f"{base}/crates",
        json={"pipeline_definition": tree("b"), "message": "tag b"},
        headers={**admin, "If-Match": '"1"'},
    )
    assert r.status_code == 201 and r.json()["version"] == 2 and r.json()["message"] == "tag b"
    config = {"schema_version": "1", "name": "ignored", "definition": tree("c")}
    r = await http.put(f"{base}/crates", json={"config": config}, headers=admin)
    assert r.status_code == 201 and r.json()["version"] == 3
    for tag in ("x", "y", "z"):
        r = await http.put(f"{base}/survey", json={"pipeline_definition": tree(tag)}, headers=admin)
        assert r.status_code == 201
    # reads
    latest = (await http.get(f"{base}/crates", headers=viewer)).json()
    assert latest["version"] == 3 and latest["config"] == config
    assert "pipeline_definition" not in latest
    first = (await http.get(f"{base}/crates?version=1", headers=viewer)).json()
    assert first["pipeline_definition"] == tree("a") and "config" not in first
    listed = (await http.get(base, headers=viewer)).json()
    assert [(p["name"], p["latest_version"]) for p in listed["items"]] == [
        ("crates", 3),
        ("survey", 3),
    ]
    page = (await http.get(f"{base}/survey/versions?page_size=2", headers=viewer)).json()
    assert [v["version"] for v in page["items"]] == [3, 2] and page["next_page_token"]
    rest = (
        await http.get(
            f"{base}/survey/versions?page_size=2&page_token={page['next_page_token']}",
            headers=viewer,
        )
    ).json()
    assert [v["version"] for v in rest["items"]] == [1] and rest["next_page_token"] is None
    # diff: an RFC 6902 patch that turns one document into the other
    patch = (await http.get(f"{base}/survey/diff?from=1&to=3", headers=viewer)).json()
    assert patch == [{"op": "replace", "path": "/steps/0/kwargs/tag", "value": "z"}]
    x = (await http.get(f"{base}/survey?version=1", headers=viewer)).json()["pipeline_definition"]
    assert jsonpatch.apply_patch(x, patch) == tree("z")
    # rollback: a new version with the digest of the one it copies
    r = await http.post(f"{base}/survey/rollback", json={"to": 1}, headers=admin)
    assert r.status_code == 201 and r.json()["version"] == 4
    assert (
        r.json()["digest"]
        == (await http.get(f"{base}/survey?version=1", headers=viewer)).json()["digest"]
    )
    # errors name what is wrong
    bad = await http.put(
        f"{base}/crates",
        json={"pipeline_definition": {"type": "chain", "steps": [step("nope")]}},
        headers=admin,
    )
    assert bad.status_code == 422
    assert bad.json()["details"][0]["path"] == "$.pipeline_definition.steps[0].name"
    bad = await http.put(
        f"{base}/crates",
        json={"config": {"schema_version": "1", "definition": {"type": "loop"}}},
        headers=admin,
    )
    assert bad.status_code == 422 and bad.json()["details"][0]["path"].startswith("$.config")
    both = await http.put(
        f"{base}/crates", json={"config": config, "pipeline_definition": tree("a")}, headers=admin
    )
    assert both.status_code == 422
    assert (await http.get(f"{base}/crates?version=9", headers=viewer)).status_code == 404
    assert (await http.get(f"{base}/nothing", headers=viewer)).json()["error"] == (
        "definition_not_found"
    )
    forbidden = await http.put(
        f"{base}/crates", json={"pipeline_definition": tree("q")}, headers=viewer
    )
    assert forbidden.status_code == 403
    other = bearer(token(["admin"], ["someone-else"]))
    assert (await http.get(f"{base}/crates", headers=other)).status_code == 404
    # the audit log: every change, newest first, admins only, never editable
    audit = (await http.get(f"/v1/tenants/{tenant}/audit", headers=admin)).json()
    assert [(a["action"], a["pipeline"], a["version"]) for a in audit["items"]][:2] == [
        ("pipeline.rolled_back", "survey", 4),
        ("pipeline.version_created", "survey", 3),
    ]
    assert {a["actor"] for a in audit["items"]} == {"ana"}
    assert len(audit["items"]) == 7 and audit["next_page_token"] is None
    assert (await http.get(f"/v1/tenants/{tenant}/audit", headers=viewer)).status_code == 403
    for method in ("PUT", "POST", "DELETE", "PATCH"):
        r = await http.request(method, f"/v1/tenants/{tenant}/audit", headers=admin)
        assert r.status_code == 405


async def _run(http: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    r = await http.post("/v1/process", json=body, headers=headers)
    assert r.status_code in (200, 201), r.text
    done = await wait_state(http, r.json()["pipeline_id"], headers, "SUCCEEDED")
    assert done["state"] == "SUCCEEDED", done
    return done


async def test_process_picks_version_alias_canary_and_refuses_archived(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    admin = bearer(token(["admin"], [tenant], sub="ana"))
    base = f"/v1/tenants/{tenant}/pipelines"
    r = await http.put(
        f"/v1/tenants/{tenant}/config",
        json={"pipeline_definition": tree("seed"), "settings": {"k": 1}},
        headers=admin,
    )
    assert r.status_code == 200
    for tag in ("one", "two"):
        r = await http.put(f"{base}/crates", json={"pipeline_definition": tree(tag)}, headers=admin)
        assert r.status_code == 201
    seed = await _run(http, admin, tenant_id=tenant, input={"n": 0})
    assert seed["result"]["tag"] == "seed" and seed["name"] == tenant
    latest = await _run(http, admin, tenant_id=tenant, pipeline="crates", input={"n": 0})
    assert latest["result"]["tag"] == "two" and latest["result"]["settings"] == {"k": 1}
    assert latest["name"] == "crates"
    pinned = await _run(http, admin, tenant_id=tenant, pipeline="crates", version=1, input={})
    assert pinned["result"]["tag"] == "one"
    # live (with a 10 % canary): each input always on the same side
    r = await http.put(
        f"{base}/crates/aliases/live",
        json={"version": 1, "canary_version": 2, "canary_percent": 10},
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["canary_percent"] == 10
    tags = []
    for n in range(30):
        done = await _run(http, admin, tenant_id=tenant, pipeline="crates", input={"n": n})
        tags.append(done["result"]["tag"])
    assert set(tags) <= {"one", "two"} and tags.count("one") >= 20
    again = await _run(http, admin, tenant_id=tenant, pipeline="crates", input={"n": 3})
    assert again["result"]["tag"] == tags[3]
    wrong = await http.post(
        "/v1/process",
        json={"tenant_id": tenant, "pipeline": "crates", "version": 1, "alias": "live"},
        headers=admin,
    )
    assert wrong.status_code == 422
    missing = await http.post(
        "/v1/process",
        json={"tenant_id": tenant, "pipeline": "crates", "alias": "beta"},
        headers=admin,
    )
    assert missing.status_code == 404
    unknown = await http.post(
        "/v1/process", json={"tenant_id": tenant, "pipeline": "nope"}, headers=admin
    )
    assert unknown.status_code == 404 and unknown.json()["error"] == "definition_not_found"
    bad_alias = await http.put(f"{base}/crates/aliases/live", json={"version": 9}, headers=admin)
    assert bad_alias.status_code == 422 and bad_alias.json()["details"][0]["path"] == "$.version"
    # archive: readable, not runnable
    assert (await http.delete(f"{base}/crates", headers=admin)).status_code == 204
    refused = await http.post(
        "/v1/process", json={"tenant_id": tenant, "pipeline": "crates"}, headers=admin
    )
    assert refused.status_code == 409
    assert (await http.get(f"{base}/crates?version=2", headers=admin)).status_code == 200
    audit = (await http.get(f"/v1/tenants/{tenant}/audit", headers=admin)).json()["items"]
    assert [a["action"] for a in audit][:2] == ["pipeline.archived", "pipeline.alias_set"]
    assert audit[-1]["action"] == "tenant_config.written" and audit[-1]["pipeline"] == "default"


async def test_schema_of_each_version(http: httpx.AsyncClient) -> None:
    current = await http.get("/v1/schema/pipeline-config")
    one = await http.get("/v1/schema/pipeline-config?version=1")
    assert one.status_code == 200 and one.json() == current.json()
    unknown = await http.get("/v1/schema/pipeline-config?version=9")
    assert unknown.status_code == 422 and "known: '1'" in unknown.json()["details"][0]["message"]
