"""Pipeline routes end to end: create (idempotent), start, status, history, cancel, retry, input."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.api._support import bearer, pipeline_config, step, wait_state


def _headers(token: Any, tenant: str, *roles: str) -> dict[str, str]:
    return bearer(token(list(roles) or ["admin"], [tenant]))


async def test_create_is_idempotent_and_key_reuse_conflicts(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    h = _headers(token, tenant, "operator")
    body = {
        "config": pipeline_config("idem", step("t_add", n=2)),
        "tenant_id": tenant,
        "input": 1,
        "idempotency_key": "k1",
    }
    first = await http.post("/v1/pipelines", json=body, headers=h)
    assert first.status_code == 201, first.text
    assert first.json()["state"] == "PENDING"
    again = await http.post("/v1/pipelines", json=body, headers=h)
    assert again.status_code == 200
    assert again.json()["pipeline_id"] == first.json()["pipeline_id"]
    other = await http.post("/v1/pipelines", json={**body, "input": 2}, headers=h)
    assert other.status_code == 409, other.text
    assert other.json()["error"] == "conflict"
    # without a key: same arguments, same id; other input, other id
    nokey = {k: v for k, v in body.items() if k != "idempotency_key"}
    a = await http.post("/v1/pipelines", json=nokey, headers=h)
    b = await http.post("/v1/pipelines", json=nokey, headers=h)
    c = await http.post("/v1/pipelines", json={**nokey, "input": 5}, headers=h)
    assert (a.status_code, b.status_code, c.status_code) == (201, 200, 201)
    assert a.json()["pipeline_id"] == b.json()["pipeline_id"] != c.json()["pipeline_id"]


async def test_lifecycle_start_status_history(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    h = _headers(token, tenant, "operator")
    body = {
        "config": pipeline_config("life", step("t_add", n=2), step("t_add", n=3)),
        "tenant_id": tenant,
        "input": None,
    }
    pid = (await http.post("/v1/pipelines", json=body, headers=h)).json()["pipeline_id"]
    r = await http.post(f"/v1/pipelines/{pid}/start", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["pipeline_id"] == pid
    assert r.json()["state"] in ("RUNNING", "SUCCEEDED")
    status = await wait_state(http, pid, h, "SUCCEEDED", "FAILED")
    assert status["state"] == "SUCCEEDED"
    assert status["result"] == 5
    assert [s["stage_id"] for s in status["stages"]] == ["t_add", "t_add-2"]
    again = await http.post(f"/v1/pipelines/{pid}/start", headers=h)
    assert again.json()["state"] == "SUCCEEDED"
    history = (await http.get(f"/v1/pipelines/{pid}/history", headers=h)).json()
    types = [e["type"] for e in history]
    assert types[0] == "pipeline.created" and types[-1] == "pipeline.succeeded"
    ids = [e["id"] for e in history]
    assert ids == sorted(ids)
    after = (await http.get(f"/v1/pipelines/{pid}/history?after_id={ids[2]}", headers=h)).json()
    assert [e["id"] for e in after] == ids[3:]
    since = history[-1]["timestamp"]
    tail = await http.get(f"/v1/pipelines/{pid}/history", params={"since": since}, headers=h)
    assert tail.status_code == 200
    assert tail.json() and all(e["timestamp"] >= since for e in tail.json())
    naive = await http.get(
        f"/v1/pipelines/{pid}/history", params={"since": "2000-01-01T00:00:00"}, headers=h
    )
    assert naive.status_code == 200 and len(naive.json()) == len(history)
    bad = await http.get(f"/v1/pipelines/{pid}/history?since=yesterday", headers=h)
    assert bad.status_code == 422


async def test_cancel_and_cancel_again(http: httpx.AsyncClient, token: Any, tenant: str) -> None:
    h = _headers(token, tenant, "operator")
    body = {"config": pipeline_config("cancel", step("t_sleep", seconds=30)), "tenant_id": tenant}
    pid = (await http.post("/v1/pipelines", json=body, headers=h)).json()["pipeline_id"]
    await http.post(f"/v1/pipelines/{pid}/start", headers=h)
    r = await http.post(f"/v1/pipelines/{pid}/cancel", json={"reason": "test"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "CANCELLED"
    r = await http.post(f"/v1/pipelines/{pid}/cancel", json={"reason": "again"}, headers=h)
    assert r.json()["state"] == "CANCELLED"


async def test_cancel_of_a_finished_pipeline_is_409(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    h = _headers(token, tenant, "operator")
    body = {"config": pipeline_config("done", step("t_add")), "tenant_id": tenant}
    pid = (await http.post("/v1/pipelines", json=body, headers=h)).json()["pipeline_id"]
    await http.post(f"/v1/pipelines/{pid}/start", headers=h)
    await wait_state(http, pid, h, "SUCCEEDED")
    r = await http.post(f"/v1/pipelines/{pid}/cancel", json={"reason": "late"}, headers=h)
    assert r.status_code == 409
    assert r.json()["error"] == "invalid_state"


async def test_retry_a_failed_stage(http: httpx.AsyncClient, token: Any, tenant: str) -> None:
    h = _headers(token, tenant, "operator")
    stage = {
        "type": "step",
        "name": "t_flaky",
        "kwargs": {"fail_times": 1},
        "retry": {"max_attempts": 1},
    }
    body = {"config": pipeline_config("retry", stage), "tenant_id": tenant}
    pid = (await http.post("/v1/pipelines", json=body, headers=h)).json()["pipeline_id"]
    await http.post(f"/v1/pipelines/{pid}/start", headers=h)
    failed = await wait_state(http, pid, h, "FAILED", "SUCCEEDED")
    assert failed["state"] == "FAILED"
    missing = await http.post(f"/v1/pipelines/{pid}/stages/nope/retry", json={}, headers=h)
    assert missing.status_code == 404, missing.text
    r = await http.post(
        f"/v1/pipelines/{pid}/stages/t_flaky/retry", json={"reason": "x"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "RUNNING"
    assert (await wait_state(http, pid, h, "SUCCEEDED"))["state"] == "SUCCEEDED"


async def test_human_input(http: httpx.AsyncClient, token: Any, tenant: str) -> None:
    op = _headers(token, tenant, "operator")
    approver = _headers(token, tenant, "approver")
    wait = {
        "type": "input",
        "id": "approve",
        "prompt": "ok?",
        "schema": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}},
    }
    body = {"config": pipeline_config("input", wait, step("t_echo")), "tenant_id": tenant}
    pid = (await http.post("/v1/pipelines", json=body, headers=op)).json()["pipeline_id"]
    await http.post(f"/v1/pipelines/{pid}/start", headers=op)
    status = await wait_state(http, pid, op, "WAITING_INPUT")
    assert status["waiting_inputs"][0]["stage_id"] == "approve"
    assert status["waiting_inputs"][0]["schema"]["required"] == ["ok"]
    bad = await http.post(
        f"/v1/pipelines/{pid}/input",
        json={"payload": {"ok": "yes"}, "responder": "ana"},
        headers=approver,
    )
    assert bad.status_code == 422, bad.text
    denied = await http.post(
        f"/v1/pipelines/{pid}/input", json={"payload": {"ok": True}, "responder": "op"}, headers=op
    )
    assert denied.status_code == 403
    ana = bearer(token(["approver"], [tenant], sub="ana@example.com"))
    r = await http.post(
        f"/v1/pipelines/{pid}/input",
        json={"payload": {"ok": True}, "responder": "root"},  # a body cannot claim to be root
        headers=ana,
    )
    assert r.status_code == 200, r.text
    done = await wait_state(http, pid, op, "SUCCEEDED")
    assert done["result"]["previous"] == {"ok": True}
    # who answered comes from the token; the body's responder is only a display name
    stage = next(s for s in done["stages"] if s["stage_id"] == "approve")
    assert stage["actor"] == "ana@example.com"
    events = (await http.get(f"/v1/pipelines/{pid}/history", headers=op)).json()
    [received] = [e["payload"] for e in events if e["type"] == "pipeline.input_received"]
    assert received["responder"] == "ana@example.com" and received["display_name"] == "root"


async def test_a_status_kept_for_its_tenant_is_404_for_another(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    """Running pipelines' statuses are kept for a moment (PIPELINE_ENGINE_STATUS_CACHE_S), by
    pipeline: the caller's tenants are checked on every read, kept or not."""
    owner = _headers(token, tenant, "operator")
    wait = {"type": "input", "id": "approve", "schema": {"type": "object"}}
    body = {"config": pipeline_config("kept", wait), "tenant_id": tenant}
    pid = (await http.post("/v1/pipelines", json=body, headers=owner)).json()["pipeline_id"]
    await http.post(f"/v1/pipelines/{pid}/start", headers=owner)
    await wait_state(http, pid, owner, "WAITING_INPUT")
    stranger = _headers(token, f"tn-{uuid.uuid4().hex[:10]}", "admin")
    for _ in range(3):  # the owner's read keeps it; the stranger's comes right after
        mine = await http.get(f"/v1/pipelines/{pid}", headers=owner)
        theirs = await http.get(f"/v1/pipelines/{pid}", headers=stranger)
        missing = await http.get(f"/v1/pipelines/pl-{'0' * (len(pid) - 3)}", headers=stranger)
        assert mine.status_code == 200 and mine.json()["tenant_id"] == tenant
        assert theirs.status_code == missing.status_code == 404, theirs.text
        assert theirs.content == missing.content
    cancelled = await http.post(f"/v1/pipelines/{pid}/cancel", json={"reason": "x"}, headers=owner)
    assert cancelled.status_code == 200, cancelled.text
    # read-your-writes: the next read through the same process shows the command
    assert (await http.get(f"/v1/pipelines/{pid}", headers=owner)).json()["state"] == "CANCELLED"


async def test_actor_of_retry_and_cancel_is_the_caller(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    ops = bearer(token(["operator"], [tenant], sub="ops-bot"))
    failing = {**step("t_flaky", fail_times=1), "retry": {"max_attempts": 1}}
    body = {"config": pipeline_config("actors", failing), "tenant_id": tenant}
    pid = (await http.post("/v1/pipelines", json=body, headers=ops)).json()["pipeline_id"]
    await http.post(f"/v1/pipelines/{pid}/start", headers=ops)
    held = await wait_state(http, pid, ops, "FAILED")
    assert held["error"]["stage_id"] == "t_flaky" and held["retryable_until"]
    r = await http.post(f"/v1/pipelines/{pid}/stages/t_flaky/retry", json={}, headers=ops)
    assert r.status_code == 200, r.text
    done = await wait_state(http, pid, ops, "SUCCEEDED")
    assert next(s for s in done["stages"] if s["stage_id"] == "t_flaky")["actor"] == "ops-bot"

    sleeper = {"config": pipeline_config("actors", step("t_sleep", seconds=30)),
               "tenant_id": tenant}  # fmt: skip
    pid = (await http.post("/v1/pipelines", json=sleeper, headers=ops)).json()["pipeline_id"]
    r = await http.post(f"/v1/pipelines/{pid}/cancel", json={"reason": "wrong"}, headers=ops)
    assert r.status_code == 200, r.text
    status = (await http.get(f"/v1/pipelines/{pid}", headers=ops)).json()
    assert status["state"] == "CANCELLED" and status["cancelled_by"] == "ops-bot"
    events = (await http.get(f"/v1/pipelines/{pid}/history", headers=ops)).json()
    kinds = {e["type"]: e["payload"] for e in events}
    assert kinds["pipeline.cancel_requested"]["actor"] == "ops-bot"


async def test_invalid_config_lists_problems(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    h = _headers(token, tenant, "operator")
    config = pipeline_config(
        "bad",
        step("no_such_step"),
        {"type": "step", "name": "t_add", "kwargs": {"n": "x"}, "colour": 1},
    )
    r = await http.post("/v1/pipelines", json={"config": config, "tenant_id": tenant}, headers=h)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_config"
    paths = {d["path"] for d in body["details"]}
    assert "$.config.definition.steps[0].name" in paths, paths
    assert "$.config.definition.steps[1].colour" in paths, paths
    assert "no_such_step" in body["message"]


async def test_list_is_filtered_and_paged(http: httpx.AsyncClient, token: Any, tenant: str) -> None:
    other = f"{tenant}-other"
    h = bearer(token(["operator"], [tenant, other]))
    mine = set()
    for i in range(3):
        body = {"config": pipeline_config("list", step("t_add")), "tenant_id": tenant, "input": i}
        mine.add((await http.post("/v1/pipelines", json=body, headers=h)).json()["pipeline_id"])
    body = {"config": pipeline_config("list", step("t_add")), "tenant_id": other}
    theirs = (await http.post("/v1/pipelines", json=body, headers=h)).json()["pipeline_id"]
    only_mine = bearer(token(["viewer"], [tenant]))
    seen: list[str] = []
    token_: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"page_size": 2}
        if token_:
            params["page_token"] = token_
        r = await http.get("/v1/pipelines", params=params, headers=only_mine)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        assert all(i["tenant_id"] == tenant for i in page["items"])
        seen += [i["pipeline_id"] for i in page["items"]]
        token_ = page["next_page_token"]
        if not token_:
            break
    assert set(seen) == mine and len(seen) == 3
    assert theirs not in seen
    r = await http.get("/v1/pipelines", params={"tenant_id": other}, headers=h)
    assert [i["pipeline_id"] for i in r.json()["items"]] == [theirs]
    item = r.json()["items"][0]
    assert item["name"] == "list" and item["state"] == "PENDING"
    r = await http.get("/v1/pipelines", params={"state": "RUNNING", "tenant_id": tenant}, headers=h)
    assert r.json()["items"] == []
    for bad in ({"state": "BOGUS"}, {"page_size": 0}, {"page_token": "zz"}, {"page_token": "abc"}):
        r = await http.get("/v1/pipelines", params=bad, headers=h)
        assert r.status_code == 422, (bad, r.text)


async def test_ids_that_cannot_exist_are_404(http: httpx.AsyncClient, token: Any) -> None:
    h = bearer(token(["admin"], ["*"]))
    for pid in ["x" * 300, "nope", "%00abc", "a b", uuid.uuid4().hex]:
        r = await http.get(f"/v1/pipelines/{pid}", headers=h)
        assert r.status_code == 404, (pid, r.status_code, r.text)


async def test_parallel_creates_are_one_pipeline(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    h = _headers(token, tenant, "operator")
    body = {
        "config": pipeline_config("race", step("t_add")),
        "tenant_id": tenant,
        "idempotency_key": "race",
    }
    rs = await asyncio.gather(*(http.post("/v1/pipelines", json=body, headers=h) for _ in range(5)))
    assert sorted(r.status_code for r in rs) == [200, 200, 200, 200, 201]
    assert len({r.json()["pipeline_id"] for r in rs}) == 1
