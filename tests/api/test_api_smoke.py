"""The issue's done-when: PUT the seed's cultivos-abc config, POST /v1/process, SUCCEEDED."""

from __future__ import annotations

import json
import statistics
import time
from importlib import resources

import httpx

from tests.api._support import wait_state


async def test_cultivos_abc_runs_with_its_settings(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    doc = json.loads(
        resources.files("pipeline_engine.examples").joinpath("cultivos-abc.json").read_text()
    )
    r = await http.put(f"/v1/tenants/{doc['tenant_id']}/config", json=doc, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["version"] >= 1
    assert r.json()["pipeline_definition"] == doc["pipeline_definition"]
    started = time.monotonic()
    body = {"tenant_id": "cultivos-abc", "input": {}}
    r = await http.post("/v1/process", json=body, headers=admin)
    assert r.status_code in (200, 201), r.text
    pid = r.json()["pipeline_id"]
    status = await wait_state(http, pid, admin, "SUCCEEDED", "FAILED", timeout=60)
    elapsed = time.monotonic() - started
    assert status["state"] == "SUCCEEDED", status
    assert status["tenant_id"] == "cultivos-abc"
    assert [s["step"] for s in status["stages"]] == [
        "segmentation",
        "segment_filter",
        "sahi_detection",
        "detection",
        "aggregate_detections",
        "size_calculator",
    ]
    # the tenant's settings reached the steps: aggregate_detections counts exactly its species
    agg = next(s for s in status["stages"] if s["step"] == "aggregate_detections")
    assert set(agg["result"]["counts"]) == {"tomate", "lechuga"}
    assert status["result"]["summary"]["count"] == sum(agg["result"]["counts"].values())
    timings = []
    for _ in range(20):
        t0 = time.perf_counter()
        assert (await http.get(f"/v1/pipelines/{pid}", headers=admin)).status_code == 200
        timings.append(time.perf_counter() - t0)
    print(
        f"cultivos-abc via /v1/process: SUCCEEDED in {elapsed:.2f}s; GET status "
        f"p50 {statistics.median(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms"
    )
