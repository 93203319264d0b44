"""The issue's done-when: PUT the seed's cultivos-abc config, POST /v1/process, SUCCEEDED."""

from __future__ import annotations

import json
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
    body = {"tenant_id": "cultivos-abc", "input": {}}
    r = await http.post("/v1/process", json=body, headers=admin)
    assert r.status_code in (200, 201), r.text
    pid = r.json()["pipeline_id"]
    status = await wait_state(http, pid, admin, "SUCCEEDED", "FAILED", timeout=60)
    assert status["state"] == "SUCCEEDED", status
    agg = next(s for s in status["stages"] if s["step"] == "aggregate_detections")
    assert set(agg["result"]["counts"]) >= {"tomate", "lechuga"}
    assert status["tenant_id"] == "cultivos-abc"
