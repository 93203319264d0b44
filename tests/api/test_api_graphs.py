"""The read-only graph routes the console draws: same roles and tenant isolation as the rest."""

from __future__ import annotations

from typing import Any

import httpx

from pipeline_engine.examples import seed_pipeline_config
from tests.api._support import bearer, pipeline_config, step

SEED_EDGES = {
    ("segmentation", "segment_filter"),
    ("segment_filter", "sahi_detection"),
    ("segment_filter", "detection"),
    ("sahi_detection", "aggregate_detections"),
    ("detection", "aggregate_detections"),
    ("aggregate_detections", "size_calculator"),
}


def _edges(graph: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["source"], e["target"]) for e in graph["edges"]}


async def test_pipeline_graph_is_its_definition_and_hidden_from_other_tenants(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    body = {"config": seed_pipeline_config(), "tenant_id": tenant, "input": {}}
    created = await http.post(
        "/v1/pipelines", json=body, headers=bearer(token(["admin"], [tenant]))
    )
    pid = created.json()["pipeline_id"]
    r = await http.get(f"/v1/pipelines/{pid}/graph", headers=bearer(token(["viewer"], [tenant])))
    assert r.status_code == 200, r.text
    graph = r.json()
    assert graph["name"] == "cultivos-abc"
    assert graph["nodes"][0]["id"] == "segmentation"
    assert _edges(graph) == SEED_EDGES
    assert graph["problems"] == []
    other = await http.get(f"/v1/pipelines/{pid}/graph", headers=bearer(token(["admin"], ["x"])))
    assert other.status_code == 404
    assert (await http.get(f"/v1/pipelines/{pid}/graph")).status_code == 401


async def test_draft_graph_puts_each_problem_on_its_node_and_collapses_wide_groups(
    http: httpx.AsyncClient, token: Any
) -> None:
    wide = {"type": "group", "steps": [step("t_add", n=i) for i in range(40)]}
    config = pipeline_config("draft", step("t_add"), step("nope"), wide, step("t_sum"))
    r = await http.post(
        "/v1/graph", json={"config": config}, headers=bearer(token(["viewer"], ["t"]))
    )
    assert r.status_code == 200, r.text
    graph = r.json()
    kinds = {n["id"]: n["kind"] for n in graph["nodes"]}
    fan_out = next(n for n in graph["nodes"] if n["kind"] == "group")
    assert len(fan_out["stages"]) == 40 and fan_out["label"] == "group of 40"
    assert kinds["nope"] == "step" and len(graph["nodes"]) == 4
    assert ("nope", fan_out["id"]) in _edges(graph) and (fan_out["id"], "t_sum") in _edges(graph)
    assert [(p["node"], p["message"]) for p in graph["problems"]] == [
        ("nope", "unknown step 'nope'")
    ]
    broken = await http.post(
        "/v1/graph",
        json={"config": {"name": "x", "definition": {"type": "what"}}},
        headers=bearer(token(["viewer"], ["t"])),
    )
    assert broken.status_code == 200
    assert broken.json()["nodes"] == [] and broken.json()["problems"]


async def test_tenant_config_graph_follows_the_tenant_rules(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    admin = bearer(token(["admin"], [tenant]))
    body = {"pipeline_definition": seed_pipeline_config()["definition"], "settings": {}}
    assert (await http.put(f"/v1/tenants/{tenant}/config", json=body, headers=admin)).is_success
    viewer = bearer(token(["viewer"], [tenant]))
    r = await http.get(f"/v1/tenants/{tenant}/config/graph", headers=viewer)
    assert r.status_code == 200, r.text
    assert _edges(r.json()) == SEED_EDGES
    hidden = await http.get(
        f"/v1/tenants/{tenant}/config/graph", headers=bearer(token(["admin"], ["x"]))
    )
    assert hidden.status_code == 404
    missing = await http.get(
        "/v1/tenants/none-here/config/graph", headers=bearer(token(["admin"], ["*"]))
    )
    assert missing.status_code == 404
