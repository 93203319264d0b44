"""``POST /v1/graph``: its body bounded in bytes (413) and in elements (422), each naming its
setting; the parse, validation and drawing run off the event loop, so ``/healthz`` (and every
other request) is answered while a big graph is being computed."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from api.routes import graphs
from tests.api._support import ApiServer, bearer


def _chain(n: int) -> dict[str, Any]:
    steps = [{"type": "step", "name": "t_add", "id": f"s{i}"} for i in range(n)]
    return {"name": "big", "definition": {"type": "chain", "steps": steps}}


async def test_a_graph_body_over_its_bound_is_413_naming_the_setting(
    http: httpx.AsyncClient, api_server: ApiServer, token: Any
) -> None:
    headers = bearer(token(["viewer"], ["*"]))
    bound = api_server.settings.graph_max_body_bytes
    big = {"config": {"name": "big", "definition": {"type": "step", "name": "x" * bound}}}
    refused = await http.post("/v1/graph", json=big, headers=headers)
    assert refused.status_code == 413, refused.text
    body = refused.json()
    assert body["error"] == "payload_too_large"
    assert "PIPELINE_ENGINE_GRAPH_MAX_BODY_BYTES" in body["message"]
    assert body["details"] == [
        {"max_body_bytes": bound, "setting": "PIPELINE_ENGINE_GRAPH_MAX_BODY_BYTES"}
    ]
    # the same body is no problem for a route with the general bound: it is the graph's own
    assert bound < api_server.settings.max_body_bytes


async def test_a_graph_of_too_many_elements_is_422_naming_the_setting(
    http: httpx.AsyncClient, api_server: ApiServer, token: Any
) -> None:
    headers = bearer(token(["viewer"], ["*"]))
    most = api_server.settings.graph_max_elements
    within = await http.post("/v1/graph", json={"config": _chain(most - 1)}, headers=headers)
    assert within.status_code == 200, within.text
    assert len(within.json()["nodes"]) == most - 1
    refused = await http.post("/v1/graph", json={"config": _chain(most)}, headers=headers)
    assert refused.status_code == 422, refused.text  # the chain's own element makes most + 1
    body = refused.json()
    assert "PIPELINE_ENGINE_GRAPH_MAX_ELEMENTS" in body["message"]
    assert body["details"][0]["path"] == "$.config"


async def test_healthz_is_answered_while_a_big_graph_is_computed(
    http: httpx.AsyncClient, token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The graph's drawing is held until /healthz has answered: on the event loop it would
    hold the loop too, /healthz could not answer, and the hold would run out unreleased."""
    started, release = threading.Event(), threading.Event()
    released: list[bool] = []
    draw = graphs.plan_graph

    def held_plan_graph(plan: Any, **options: Any) -> Any:
        started.set()
        released.append(release.wait(30))
        return draw(plan, **options)

    monkeypatch.setattr(graphs, "plan_graph", held_plan_graph)
    headers = bearer(token(["viewer"], ["*"]))
    big = asyncio.create_task(
        http.post("/v1/graph", json={"config": _chain(1500)}, headers=headers, timeout=120)
    )
    while not started.is_set():  # the big graph is being computed now
        assert not big.done(), big.result().text
        await asyncio.sleep(0.01)
    for _ in range(3):
        assert (await http.get("/healthz", timeout=60)).status_code == 200
    assert not big.done()  # /healthz answered while the graph is still being computed
    release.set()
    response = await big
    assert response.status_code == 200, response.text
    assert len(response.json()["nodes"]) == 1500
    assert released == [True]
