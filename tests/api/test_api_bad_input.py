"""Nothing a client sends gives a 500: limits, garbage bodies, wrong types; 503 without Temporal."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from pipeline_engine.settings import DEV_JWT_SECRET, Settings
from pipeline_engine.steps import StepRegistry
from tests.api._support import SECRET, ApiServer, bearer, make_settings, pipeline_config, step

MIB = 1024 * 1024


@pytest.fixture
def op(token: Any, tenant: str) -> dict[str, str]:
    return bearer(token(["admin"], [tenant]))


async def test_body_over_limit_is_413_by_content_length(
    http: httpx.AsyncClient, op: dict[str, str], tenant: str
) -> None:
    big = b'{"tenant_id": "' + tenant.encode() + b'", "input": "' + b"x" * (2 * MIB) + b'"}'
    r = await http.post(
        "/v1/process", content=big, headers={**op, "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"
    just_under = b'{"tenant_id": "' + tenant.encode() + b'", "input": "' + b"x" * (MIB) + b'"}'
    r = await http.post(
        "/v1/process", content=just_under, headers={**op, "Content-Type": "application/json"}
    )
    assert r.status_code == 404  # parsed: the tenant has no config


async def test_body_over_limit_is_413_when_chunked(
    api_server: ApiServer, op: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"tenant_id": "x", "input": "'
        for _ in range(40):
            yield b"y" * (64 * 1024)
        yield b'"}'

    async with httpx.AsyncClient(base_url=api_server.base_url) as c:
        r = await c.post(
            "/v1/process", content=chunks(), headers={**op, "Content-Type": "application/json"}
        )
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "payload_too_large"


def _raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and b"payload_too_large" in data:
                break
    return data


async def test_lying_content_length_and_raw_chunks(
    api_server: ApiServer, op: dict[str, str]
) -> None:
    port = int(api_server.base_url.rsplit(":", 1)[1])
    auth = op["Authorization"].encode()
    head = (
        b"POST /v1/process HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + auth
        + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    body = b""
    for _ in range(3):
        chunk = b"z" * MIB
        body += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    data = await asyncio.to_thread(_raw_request, port, head + body + b"0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 413"), data[:200]


GARBAGE: list[tuple[str, bytes]] = [
    ("not json", b"{nope"),
    ("truncated", b'{"tenant_id": "a"'),
    ("array", b"[1, 2, 3]"),
    ("string", b'"hello"'),
    ("null", b"null"),
    ("number", b"42"),
    ("empty", b""),
    ("binary", bytes(range(256))),
    ("bad utf8", b'{"tenant_id": "\xff\xfe"}'),
    ("deep", b"[" * 5000 + b"]" * 5000),
    ("huge int", b'{"tenant_id": "a", "input": ' + b"9" * 5000 + b"}"),
    ("nan", b'{"tenant_id": "a", "input": NaN}'),
]


@pytest.mark.parametrize(("label", "payload"), GARBAGE, ids=[g[0] for g in GARBAGE])
async def test_garbage_bodies_are_422(
    http: httpx.AsyncClient, op: dict[str, str], label: str, payload: bytes
) -> None:
    for path in ("/v1/process", "/v1/pipelines", "/v1/tenants/t1/config"):
        method = "PUT" if "tenants" in path else "POST"
        r = await http.request(
            method, path, content=payload, headers={**op, "Content-Type": "application/json"}
        )
        assert r.status_code in (404, 422), (label, path, r.status_code, r.text[:300])
        body = r.json()
        assert set(body) == {"error", "message", "details"}
        if r.status_code == 422:
            assert body["details"], body


async def test_wrong_types_and_unknown_fields_are_listed(
    http: httpx.AsyncClient, op: dict[str, str], tenant: str
) -> None:
    r = await http.post(
        "/v1/pipelines",
        json={"config": "nope", "tenant_id": 5, "colour": "red", "idempotency_key": ""},
        headers=op,
    )
    assert r.status_code == 422
    paths = {d["path"] for d in r.json()["details"]}
    assert {"$.config", "$.tenant_id", "$.colour", "$.idempotency_key"} <= paths, paths
    r = await http.post("/v1/pipelines", json={"tenant_id": tenant}, headers=op)
    assert {"path": "$.config", "message": "required field missing"} in r.json()["details"]
    r = await http.post("/v1/pipelines/x/input", json={"payload": 1}, headers=op)
    assert r.status_code in (404, 422)
    r = await http.get("/v1/pipelines", params={"page_size": "lots"}, headers=op)
    assert r.status_code == 422
    assert r.json()["details"][0]["path"] == "query.page_size"


async def test_other_content_types_and_methods(http: httpx.AsyncClient, op: dict[str, str]) -> None:
    r = await http.post(
        "/v1/process",
        content=b"tenant_id=a",
        headers={**op, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 422, r.text
    r = await http.post(
        "/v1/process", content=b'{"tenant_id": "a"}', headers={**op, "Content-Type": "text/plain"}
    )
    assert r.status_code in (404, 415, 422), r.text
    r = await http.delete("/v1/pipelines", headers=op)
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    r = await http.get("/v1/nothing-here", headers=op)
    assert r.status_code == 404 and set(r.json()) == {"error", "message", "details"}


async def test_temporal_unreachable_is_503(
    tmp_path: Path, registry: StepRegistry, token: Any
) -> None:
    settings = make_settings(None, f"sqlite:///{tmp_path / 't.db'}")
    app = create_app(settings, registry=registry)
    h = bearer(token(["admin"], ["*"]))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            for method, path, body in [
                ("GET", "/v1/pipelines/pl-x", None),
                ("GET", "/v1/pipelines", None),
                (
                    "POST",
                    "/v1/pipelines",
                    {"config": pipeline_config("x", step("t_add")), "tenant_id": "a"},
                ),
            ]:
                r = await c.request(method, path, json=body, headers=h)
                assert r.status_code == 503, (path, r.text)
                assert int(r.headers["retry-after"]) >= 1
                assert r.json()["error"] == "unavailable"
            ready = await c.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["temporal"]["ok"] is False
            assert ready.json()["checks"]["database"]["ok"] is True
            assert (await c.get("/healthz")).status_code == 200


def test_refuses_weak_secrets_outside_dev(tmp_path: Path, registry: StepRegistry) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    for secret in (DEV_JWT_SECRET, "short"):
        with pytest.raises(RuntimeError, match="JWT_SECRET"):
            create_app(
                Settings(env="prod", jwt_secret=secret, id_secret=SECRET[::-1], database_url=url),
                registry=registry,
            )
    create_app(Settings(env="dev", jwt_secret=DEV_JWT_SECRET, database_url=url), registry=registry)


async def test_ops_endpoints(http: httpx.AsyncClient, op: dict[str, str]) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert all(checks[name]["ok"] for name in ("temporal", "database", "tenant_configs"))
    await http.get("/v1/steps", headers=op)
    await http.get("/v1/steps")
    await http.get("/v1/pipelines/pl-nope", headers=op)
    metrics = (await http.get("/metrics")).text
    lines = metrics.splitlines()
    assert any(
        line.startswith("http_server_request_duration_seconds_bucket")
        and 'http_route="/v1/steps"' in line
        and 'http_response_status_code="401"' in line
        for line in lines
    )
    assert any(
        'http_route="/v1/pipelines/{pipeline_id}"' in line
        and 'http_response_status_code="404"' in line
        for line in lines
    )
    assert "pl-nope" not in metrics
    assert "pipeline_engine_tenant_configs" in metrics


async def test_openapi_schema_and_steps(http: httpx.AsyncClient, op: dict[str, str]) -> None:
    spec = (await http.get("/openapi.json")).json()
    ids = sorted(o["operationId"] for p in spec["paths"].values() for o in p.values())
    assert ids == sorted(
        [
            "create_pipeline",
            "list_pipelines",
            "start_pipeline",
            "submit_batch",
            "list_batches",
            "get_batch",
            "list_batch_pipelines",
            "cancel_batch",
            "retry_failed_batch",
            "retry_failed",
            "get_batch_results",
            "create_schedule",
            "list_schedules",
            "get_schedule",
            "delete_schedule",
            "pause_schedule",
            "unpause_schedule",
            "trigger_schedule",
            "backfill_schedule",
            "put_trigger",
            "rotate_trigger",
            "deliver_trigger",
            "get_pipeline",
            "get_pipeline_result",
            "get_stage_result",
            "codec_decode",
            "codec_encode",
            "get_history",
            "cancel_pipeline",
            "retry_stage",
            "submit_input",
            "stream_events",
            "stream_metrics",
            "process",
            "get_tenant_config",
            "put_tenant_config",
            "delete_tenant_config",
            "put_pipeline_version",
            "list_named_pipelines",
            "get_pipeline_version",
            "list_pipeline_versions",
            "diff_pipeline_versions",
            "rollback_pipeline",
            "put_pipeline_alias",
            "archive_pipeline",
            "get_tenant_audit",
            "list_steps",
            "get_pipeline_config_schema",
            "get_pipeline_graph",
            "get_tenant_config_graph",
            "draw_config",
            "count_pipelines",
            "healthz",
            "readyz",
            "prometheus_metrics",
        ]
    )
    schema = (await http.get("/v1/schema/pipeline-config")).json()
    assert schema["title"] == "PipelineConfig" and "definition" in schema["properties"]
    steps = (await http.get("/v1/steps", headers=op)).json()
    by_name = {s["name"]: s for s in steps}
    assert {"segmentation", "aggregate_detections", "t_add"} <= set(by_name)
    assert by_name["t_add"]["parameters"]["properties"]["n"]["type"] == "integer"
    assert by_name["t_sleep"]["is_async"] is True


MALFORMED_QUERIES = [
    ("/v1/pipelines", "page_token", "abcd"),
    ("/v1/pipelines", "page_token", "0" * 64),
    ("/v1/pipelines", "page_token", "zz"),
    ("/v1/pipelines", "page_token", "abc"),
    ("/v1/pipelines", "page_size", "0"),
    ("/v1/pipelines", "page_size", "lots"),
    ("/v1/pipelines", "state", "BORED"),
    ("/v1/pipelines", "tenant_id", "t" * 200),
    ("/v1/pipelines/{pid}/history", "since", "yesterday"),
    ("/v1/pipelines/{pid}/history", "after_id", "-1"),
    ("/v1/pipelines/{pid}/history", "after_id", "1e3"),
    ("/v1/pipelines/{pid}/events", "after_id", "x"),
    ("/v1/pipelines/{pid}/metrics", "stage_id", "s" * 300),
    ("/v1/tenants/{tenant}/config", "version", "-2"),
]


@pytest.mark.parametrize(
    ("path", "name", "value"),
    MALFORMED_QUERIES,
    ids=[f"{n}={v[:8]}" for _, n, v in MALFORMED_QUERIES],
)
async def test_malformed_query_parameters_are_422_naming_them(
    http: httpx.AsyncClient,
    op: dict[str, str],
    tenant: str,
    path: str,
    name: str,
    value: str,
) -> None:
    body = {"config": pipeline_config("q", step("t_add")), "tenant_id": tenant}
    pid = (await http.post("/v1/pipelines", json=body, headers=op)).json()["pipeline_id"]
    url = path.format(pid=pid, tenant=tenant)
    method = "DELETE" if "tenants" in path else "GET"
    r = await http.request(method, url, params={name: value}, headers=op)
    assert r.status_code == 422, (name, value, r.status_code, r.text[:300])
    assert f"query.{name}" in {d["path"] for d in r.json()["details"]}, r.text


async def test_non_finite_numbers_are_refused_with_their_paths(
    http: httpx.AsyncClient, op: dict[str, str], tenant: str
) -> None:
    """NaN and Infinity (which Python's JSON reads) never reach Temporal, where they'd be null."""
    headers = {**op, "Content-Type": "application/json"}
    bad_kwargs = (
        '{"name": "n", "definition": {"type": "step", "name": "t_add", "kwargs": {"n": NaN}}}'
    )
    good = json.dumps(pipeline_config("n", step("t_add")))
    cases = [
        (
            "POST",
            "/v1/pipelines",
            f'{{"config": {bad_kwargs}, "tenant_id": "{tenant}"}}',
            ["$.config.definition.kwargs.n"],
        ),
        (
            "POST",
            "/v1/pipelines",
            f'{{"config": {good}, "tenant_id": "{tenant}", "input": {{"a": [1, -Infinity]}}}}',
            ["$.input.a[1]"],
        ),
        (
            "PUT",
            f"/v1/tenants/{tenant}/config",
            '{"pipeline_definition": {"type": "step", "name": "t_add"}, "settings": {"k": NaN}}',
            ["$.settings.k"],
        ),
        (
            "PUT",
            f"/v1/tenants/{tenant}/config",
            '{"pipeline_definition": {"type": "step", "name": "t_add", "timeout_s": Infinity}}',
            ["$.pipeline_definition.timeout_s"],
        ),
    ]
    for method, path, content, expected in cases:
        r = await http.request(method, path, content=content, headers=headers)
        assert r.status_code == 422, (path, r.text)
        paths = [d["path"] for d in r.json()["details"]]
        assert set(expected) <= set(paths), (content, paths)
