"""SSE over a real socket: events to the terminal one, resume, latency; metric points."""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import datetime
from typing import Any

import httpx

from tests.api._support import bearer, pipeline_config, read_sse, step, wait_state


async def _create(http: httpx.AsyncClient, h: dict[str, str], tenant: str, *steps: Any) -> str:
    body = {"config": pipeline_config("stream", *steps), "tenant_id": tenant}
    r = await http.post("/v1/pipelines", json=body, headers=h)
    assert r.status_code == 201, r.text
    return str(r.json()["pipeline_id"])


async def test_events_stream_live_until_terminal(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    h = bearer(token(["operator"], [tenant]))
    pid = await _create(
        http, h, tenant, step("t_sleep", seconds=0.3), step("t_add"), step("t_sleep", seconds=0.3)
    )
    received: list[tuple[float, dict[str, Any]]] = []

    async def listen() -> None:
        async with http.stream("GET", f"/v1/pipelines/{pid}/events", headers=h) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            current: dict[str, Any] = {}
            async for line in r.aiter_lines():
                if line == "":
                    if "data" in current:
                        received.append((time.time(), current))
                    current = {}
                elif not line.startswith(":"):
                    k, _, v = line.partition(": ")
                    current[k] = v

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.3)  # the stream is open on a PENDING pipeline: it waits
    assert not listener.done()
    await http.post(f"/v1/pipelines/{pid}/start", headers=h)
    await asyncio.wait_for(listener, 30)  # ends by itself after the terminal event
    types = [m["event"] for _, m in received]
    assert types[0] == "pipeline.created"
    assert types[-1] == "pipeline.succeeded"
    assert "stage.succeeded" in types
    ids = [int(m["id"]) for _, m in received]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # latency: from the event's (workflow) time to its arrival here
    import json

    lags = []
    for at, m in received[2:]:
        ts = datetime.fromisoformat(json.loads(m["data"])["timestamp"]).timestamp()
        lags.append(at - ts)
    print(
        f"SSE event lag: median {statistics.median(lags) * 1000:.0f} ms, "
        f"max {max(lags) * 1000:.0f} ms over {len(lags)} events"
    )
    assert statistics.median(lags) < 0.5


async def test_events_resume_and_finished_streams(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    h = bearer(token(["operator"], [tenant]))
    pid = await _create(http, h, tenant, step("t_add"))
    await http.post(f"/v1/pipelines/{pid}/start", headers=h)
    await wait_state(http, pid, h, "SUCCEEDED")
    async with http.stream("GET", f"/v1/pipelines/{pid}/events", headers=h) as r:
        everything = await read_sse(r)
    assert everything[-1]["event"] == "pipeline.succeeded"
    assert [m["data"]["id"] for m in everything] == [int(m["id"]) for m in everything]
    cut = everything[1]["data"]["id"]
    async with http.stream(
        "GET", f"/v1/pipelines/{pid}/events", headers={**h, "Last-Event-ID": str(cut)}
    ) as r:
        rest = await read_sse(r)
    assert [m["data"]["id"] for m in rest] == [m["data"]["id"] for m in everything[2:]]
    async with http.stream("GET", f"/v1/pipelines/{pid}/events?after_id={cut}", headers=h) as r:
        assert [m["data"]["id"] for m in await read_sse(r)] == [m["data"]["id"] for m in rest]
    r = await http.get(f"/v1/pipelines/{pid}/events", headers={**h, "Last-Event-ID": "x"})
    assert r.status_code == 422


async def test_failed_and_cancelled_streams_end(
    http: httpx.AsyncClient, token: Any, tenant: str
) -> None:
    h = bearer(token(["operator"], [tenant]))
    failing = {"type": "step", "name": "t_fail", "retry": {"max_attempts": 1}}
    pid = await _create(http, h, tenant, failing)
    await http.post(f"/v1/pipelines/{pid}/start", headers=h)
    async with http.stream("GET", f"/v1/pipelines/{pid}/events", headers=h) as r:
        messages = await asyncio.wait_for(read_sse(r), 30)
    assert messages[-1]["event"] == "pipeline.failed"

    pid = await _create(http, h, tenant, step("t_sleep", seconds=30))
    await http.post(f"/v1/pipelines/{pid}/start", headers=h)

    async def cancel_soon() -> None:
        await asyncio.sleep(0.5)
        await http.post(f"/v1/pipelines/{pid}/cancel", json={"reason": "bye"}, headers=h)

    canceller = asyncio.create_task(cancel_soon())
    async with http.stream("GET", f"/v1/pipelines/{pid}/events", headers=h) as r:
        messages = await asyncio.wait_for(read_sse(r), 30)
    await canceller
    assert messages[-1]["event"] == "pipeline.cancelled"


async def test_metrics_stream(http: httpx.AsyncClient, token: Any, tenant: str) -> None:
    h = bearer(token(["operator"], [tenant]))
    pid = await _create(http, h, tenant, step("t_sleep", seconds=1.5), step("t_add"))
    await http.post(f"/v1/pipelines/{pid}/start", headers=h)
    async with http.stream("GET", f"/v1/pipelines/{pid}/metrics", headers=h) as r:
        assert r.status_code == 200
        points = [m["data"] for m in await asyncio.wait_for(read_sse(r), 30)]
    names = {(p["stage_id"], p["name"]) for p in points}
    assert {
        ("t_sleep", "duration_s"),
        ("t_sleep", "attempts"),
        ("t_add", "attempts"),
        (None, "progress"),
        (None, "elapsed_s"),
    } <= names
    progress = [p["value"] for p in points if p["name"] == "progress"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    final_duration = [
        p["value"] for p in points if p["stage_id"] == "t_sleep" and p["name"] == "duration_s"
    ][-1]
    assert 1.4 < final_duration < 10
    assert any(p["name"] == "queue_time_s" and p["value"] >= 0 for p in points)
    elapsed = [p["value"] for p in points if p["name"] == "elapsed_s"]
    assert len(elapsed) >= 2  # ticks while the long stage runs
    # one stage only
    async with http.stream("GET", f"/v1/pipelines/{pid}/metrics?stage_id=t_add", headers=h) as r:
        only = [m["data"] for m in await read_sse(r)]
    assert only and {p["stage_id"] for p in only} == {"t_add"}
    r = await http.get(f"/v1/pipelines/{pid}/metrics?stage_id=nope", headers=h)
    assert r.status_code == 404
