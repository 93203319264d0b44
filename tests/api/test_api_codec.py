"""The Temporal Web UI's codec endpoint: authenticated, tenant-scoped, CORS for the UI's origin."""

from __future__ import annotations

from typing import Any

import httpx
from google.protobuf import json_format
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.api.common.v1 import Payload
from temporalio.api.sdk.v1.external_storage_pb2 import ExternalStorageReference
from temporalio.client import Client

from pipeline_engine.observability import configure_tracing
from tests.api._support import bearer, pipeline_config, step
from tests.api.conftest import UI_ORIGIN
from workflows.payload_refs import DRIVER_NAME, referenced_workflow

_REFERENCE_TYPE = ExternalStorageReference.DESCRIPTOR.full_name.encode()

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


def _crafted(claim: dict[str, str]) -> dict[str, Any]:
    """A payload-store reference with ``claim`` as its claim data, as the Web UI would post it."""
    ref = ExternalStorageReference(driver_name=DRIVER_NAME, claim_data=claim)
    payload = Payload(
        metadata={"encoding": b"json/protobuf", "messageType": _REFERENCE_TYPE},
        data=json_format.MessageToJson(ref).encode(),
    )
    return json_format.MessageToDict(payload)


async def test_crafted_references_are_422_naming_what_is_wrong(
    http: httpx.AsyncClient, client: Client, token: Any, tenant: str
) -> None:
    """Issue 19: crafted references gave 500s; each is now a 422 naming the payload and why."""
    admin = bearer(token(["admin"], [tenant]))
    pid, reference = await _stored_input(http, client, admin, tenant)
    good = json_format.ParseDict(reference, Payload())
    real = ExternalStorageReference()
    json_format.Parse(good.data, real)
    key, digest = real.claim_data["key"], real.claim_data["sha256"]
    other = "pl-" + "0" * 24
    shapes = {
        "traversal": {"key": f"default/{pid}/../{other}/{digest}", "sha256": digest},
        "absolute": {"key": "/etc/passwd", "sha256": digest},
        "dot segments": {"key": f"default/../{pid}/{digest}", "sha256": digest},
        "no digest": {"key": key},
        "digest not hex": {"key": key, "sha256": "zz"},
        "key not its digest": {"key": f"default/{pid}/{'1' * 64}", "sha256": digest},
        "empty key": {"key": "", "sha256": digest},
        "nul byte": {"key": f"default/{pid}\x00/{digest}", "sha256": digest},
        "too deep": {"key": f"default/{pid}/x/{digest}", "sha256": digest},
        "other namespace": {"key": f"elsewhere/{pid}/{digest}", "sha256": digest},
        "long": {"key": "a/" * 5000 + digest, "sha256": digest},
    }
    viewer = bearer(token(["viewer"], [tenant]))
    everyone = bearer(token(["viewer"], ["*"]))
    for name, claim in shapes.items():
        for headers in (viewer, everyone):
            r = await http.post(
                "/v1/codec/decode", json={"payloads": [reference, _crafted(claim)]}, headers=headers
            )
            assert r.status_code == 422, (name, r.status_code, r.text)
            (problem,) = r.json()["details"]
            assert problem["path"] == "$.payloads[1]", (name, problem)
            assert "reference" in problem["message"], (name, problem)
    # the genuine one still decodes; a well-formed one of another pipeline stays a reference
    r = await http.post("/v1/codec/decode", json={"payloads": [reference]}, headers=viewer)
    assert (
        r.status_code == 200
        and BIG.encode() in json_format.ParseDict(r.json()["payloads"][0], Payload()).data
    )
    foreign = _crafted({"key": f"default/{other}/{digest}", "sha256": digest})
    r = await http.post("/v1/codec/decode", json={"payloads": [foreign]}, headers=viewer)
    assert r.status_code == 200 and r.json()["payloads"] == [foreign]


async def test_the_path_token_stays_out_of_traces(
    http: httpx.AsyncClient, client: Client, token: Any, tenant: str
) -> None:
    exporter = InMemorySpanExporter()
    configure_tracing(None, service_name="api-codec-test", exporter=exporter)
    viewer = token(["viewer"], [tenant])
    r = await http.post(f"/v1/codec/t/{viewer}/decode", json={"payloads": []})
    assert r.status_code == 200
    spans = [s for s in exporter.get_finished_spans() if "codec" in s.name]
    assert spans, [s.name for s in exporter.get_finished_spans()]
    request = next(s for s in spans if s.kind.name == "SERVER")
    assert request.attributes is not None
    assert request.attributes.get("url.path") == "/v1/codec/t/[redacted]/decode"
    for span in spans:
        assert viewer not in span.name
        for value in (span.attributes or {}).values():
            assert viewer not in str(value), span.name
