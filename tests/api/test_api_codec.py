"""The Temporal Web UI's codec endpoint: authenticated, tenant-scoped, CORS for the UI's origin."""

from __future__ import annotations

from typing import Any

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from tests.api._support import bearer, pipeline_config, step
from tests.api.conftest import UI_ORIGIN
from workflows.payload_refs import referenced_workflow

BIG = "q" * 100_000


async def _stored_input(http: httpx.AsyncClient, client: Client, headers: Any, tenant: str) -> Any:
    """A pipeline whose input went to the store; returns (pipeline id, its input's reference)."""
    body = {
        "config": pipeline_config("codec", step("t_blob", size=10)),
        "input": {"big": BIG},
        "tenant_id": tenant,
    }
    created = await http.post("/v1/pipelines", json=body, headers=headers)
    assert created.status_code == 201, created.text
    pid = created.json()["pipeline_id"]
    history = await client.get_workflow_handle(pid).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    (reference,) = started.input.payloads
    assert referenced_workflow(reference) == ("default", pid)
    return pid, json_format.MessageToDict(reference)


async def test_decode_needs_a_token(http: httpx.AsyncClient) -> None:
    for path in ("/v1/codec/decode", "/v1/codec/encode", "/v1/codec/t/not-a-jwt/decode"):
        r = await http.post(path, json={"payloads": []})
        assert r.status_code == 401, (path, r.text)
        assert r.json()["error"] == "unauthenticated"


async def test_decode_shows_the_stored_payload_to_its_tenant_only(
    http: httpx.AsyncClient, client: Client, token: Any, tenant: str
) -> None:
    admin = bearer(token(["admin"], [tenant]))
    _, reference = await _stored_input(http, client, admin, tenant)

    viewer = token(["viewer"], [tenant])
    for path, headers in (
        ("/v1/codec/decode", bearer(viewer)),
        (f"/v1/codec/t/{viewer}/decode", {}),
    ):
        r = await http.post(path, json={"payloads": [reference]}, headers=headers)
        assert r.status_code == 200, r.text
        (decoded,) = r.json()["payloads"]
        payload = json_format.ParseDict(decoded, Payload())
        assert payload.metadata["encoding"] == b"json/plain"
        assert BIG.encode() in payload.data

    stranger = bearer(token(["viewer"], ["someone-else"]))
    r = await http.post("/v1/codec/decode", json={"payloads": [reference]}, headers=stranger)
    assert r.status_code == 200 and r.json()["payloads"] == [reference]


async def test_encode_is_the_identity_and_bad_payloads_are_422(
    http: httpx.AsyncClient, token: Any
) -> None:
    h = bearer(token(["viewer"], ["*"]))
    plain = json_format.MessageToDict(Payload(metadata={"encoding": b"json/plain"}, data=b"1"))
    r = await http.post("/v1/codec/encode", json={"payloads": [plain]}, headers=h)
    assert r.status_code == 200 and r.json()["payloads"] == [plain]
    r = await http.post("/v1/codec/decode", json={"payloads": [{"data": 5}]}, headers=h)
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "$.payloads[0]"


async def test_cors_lets_the_web_ui_call_the_codec(http: httpx.AsyncClient) -> None:
    r = await http.options(
        "/v1/codec/decode",
        headers={
            "Origin": UI_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == UI_ORIGIN
    r = await http.options(
        "/v1/codec/decode",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in r.headers
