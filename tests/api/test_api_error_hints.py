"""Issue 24, finding 6: errors that say what to change (line and column of malformed JSON, the
content type to send, how to add a tenant config, and "did you mean" for steps, stages, tenants
and fields)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api._support import bearer, pipeline_config, wait_state


async def test_malformed_json_says_where(http: httpx.AsyncClient, token: Any, tenant: str) -> None:
    h = {**bearer(token(["operator"], [tenant])), "content-type": "application/json"}
    body = b'{\n  "tenant_id": "a",\n  "input": {"x": 1,}\n}'
    r = await http.post("/v1/process", content=body, headers=h)
    assert r.status_code == 422, r.text
    problem = r.json()["details"][0]
    assert problem["path"] == "$"
    assert problem["message"].startswith("malformed JSON at line 3, column 20: "), problem
    assert r.json()["message"] == problem["message"]


async def test_a_body_without_json_content_type_gets_the_header_to_send(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    h = {
        **bearer(token(["operator"], [tenant])),
        "content-type": "application/x-www-form-urlencoded",
    }
    r = await http.post("/v1/process", content=b'{"tenant_id": "a", "input": {}}', headers=h)
    assert r.status_code == 422, r.text
    assert "content-type: application/json" in r.json()["message"]


async def test_process_for_a_tenant_without_config_says_how_to_add_one_and_suggests(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    admin = bearer(token(["admin"], [tenant, tenant + "x"]))
    stored = await http.put(
        f"/v1/tenants/{tenant}/config",
        json={"pipeline_definition": {"type": "step", "name": "t_echo"}, "settings": {}},
        headers=admin,
    )
    assert stored.status_code in (200, 201), stored.text
    r = await http.post("/v1/process", json={"tenant_id": tenant + "x", "input": {}}, headers=admin)
    assert r.status_code == 404, r.text
    message = r.json()["message"]
    assert "PUT /v1/tenants/{tenant_id}/config" in message
    assert message.endswith(f"did you mean {tenant!r}?"), message
    # someone else's (or no one's) tenant: the same words, no suggestion from other tenants
    other = bearer(token(["operator"], ["elsewhere"]))
    r = await http.post("/v1/process", json={"tenant_id": tenant, "input": {}}, headers=other)
    assert r.status_code == 404 and "did you mean" not in r.json()["message"]


async def test_did_you_mean_for_steps_fields_and_stages(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    h = bearer(token(["operator"], [tenant]))
    typo = pipeline_config("typo", {"type": "step", "name": "segment_filtr"})
    r = await http.post("/v1/pipelines", json={"config": typo, "tenant_id": tenant}, headers=h)
    assert r.status_code == 422, r.text
    messages = [d["message"] for d in r.json()["details"]]
    assert "unknown step 'segment_filtr' (did you mean 'segment_filter'?)" in messages

    field = pipeline_config("field", {"type": "step", "name": "t_echo", "timout_s": 3})
    r = await http.post("/v1/pipelines", json={"config": field, "tenant_id": tenant}, headers=h)
    assert {
        "path": "$.config.definition.steps[0].timout_s",
        "message": "unknown field (did you mean 'timeout_s'?)",
    } in r.json()["details"], r.text
    r = await http.post("/v1/pipelines", json={"config": field, "tenant_idd": tenant}, headers=h)
    assert "unknown field (did you mean 'tenant_id'?)" in [
        d["message"] for d in r.json()["details"]
    ], r.text

    config = pipeline_config(
        "stages",
        {"type": "step", "name": "t_echo", "id": "segmentation"},
        {"type": "step", "name": "t_fail", "retry": {"max_attempts": 1}},
    )
    made = await http.post("/v1/pipelines", json={"config": config, "tenant_id": tenant}, headers=h)
    pid = made.json()["pipeline_id"]
    await http.post(f"/v1/pipelines/{pid}/start", headers=h)
    await wait_state(http, pid, h, "FAILED")
    r = await http.post(
        f"/v1/pipelines/{pid}/stages/segmentatio/retry", json={"reason": "x"}, headers=h
    )
    assert r.status_code == 404, r.text
    assert "has no stage 'segmentatio' (did you mean 'segmentation'?)" in r.json()["message"]
