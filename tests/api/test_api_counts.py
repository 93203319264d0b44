"""The pipeline list's name and time filters, and the per-state counts the console shows."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api._support import bearer, pipeline_config, step, wait_state


async def _eventually(check: Any, timeout: float = 30) -> Any:
    """Visibility is eventually consistent: retry ``check`` until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.2)


async def test_counts_and_list_filter_by_name_and_start_time(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    h = bearer(token(["operator"], [tenant]))
    before = datetime.now(UTC) - timedelta(seconds=5)
    pids = {}
    for name in ("alpha-1", "alpha-2", "beta"):
        body = {"config": pipeline_config(name, step("t_add")), "tenant_id": tenant}
        pids[name] = (await http.post("/v1/pipelines", json=body, headers=h)).json()["pipeline_id"]
    await http.post(f"/v1/pipelines/{pids['alpha-1']}/start", headers=h)
    await wait_state(http, pids["alpha-1"], h, "SUCCEEDED")

    async def counts(**params: str) -> dict[str, Any]:
        r = await http.get("/v1/pipeline-counts", params={"tenant_id": tenant, **params}, headers=h)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def settled() -> dict[str, Any] | None:
        body = await counts()
        return body if body["by_state"] == {"SUCCEEDED": 1, "PENDING": 2} else None

    assert (await _eventually(settled)) == {"total": 3, "by_state": {"SUCCEEDED": 1, "PENDING": 2}}
    assert (await counts(name="alpha"))["total"] == 2
    assert (await counts(started_after=before.isoformat()))["total"] == 3
    assert (await counts(started_before=before.isoformat()))["total"] == 0
    listed = await http.get(
        "/v1/pipelines", params={"tenant_id": tenant, "name": "alpha", "page_size": 1}, headers=h
    )
    page = listed.json()
    assert [item["name"] for item in page["items"]] in (["alpha-1"], ["alpha-2"])
    rest = await http.get(
        "/v1/pipelines",
        params={
            "tenant_id": tenant,
            "name": "alpha",
            "page_size": 5,
            "page_token": page["next_page_token"],
        },
        headers=h,
    )
    assert [item["name"] for item in rest.json()["items"]] in (["alpha-1"], ["alpha-2"])
    # a page token is only good for the filters it was made for
    other = await http.get(
        "/v1/pipelines",
        params={"tenant_id": tenant, "name": "beta", "page_token": page["next_page_token"]},
        headers=h,
    )
    assert other.status_code == 422
    hidden = await http.get(
        "/v1/pipeline-counts",
        params={"tenant_id": tenant},
        headers=bearer(token(["viewer"], ["x"])),
    )
    assert hidden.status_code == 404
    mine = await http.get("/v1/pipeline-counts", headers=bearer(token(["viewer"], ["nobody"])))
    assert mine.json() == {"total": 0, "by_state": {}}
    bad = await http.get("/v1/pipeline-counts", params={"started_after": "yesterday"}, headers=h)
    assert bad.status_code == 422
