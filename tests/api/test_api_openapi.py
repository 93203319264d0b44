"""The OpenAPI document is written for users: an example for every body, every error status a
route can answer declared (409 on the routes that change something), no internal references; the
JSON Schema route is public, as the docs say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTECTED_ERRORS = {"401", "403", "404", "413", "422", "503", "504"}
CHANGING = {
    "create_pipeline",
    "start_pipeline",
    "cancel_pipeline",
    "retry_stage",
    "retry_failed",
    "submit_input",
    "process",
    "put_tenant_config",
    "delete_tenant_config",
    "submit_batch",
    "cancel_batch",
    "retry_failed_batch",
    "create_schedule",
    "delete_schedule",
    "pause_schedule",
    "unpause_schedule",
    "trigger_schedule",
    "backfill_schedule",
    "put_pipeline_version",
    "rollback_pipeline",
    "put_trigger",
    "rotate_trigger",
}


@pytest.fixture(scope="module")
async def spec(http: httpx.AsyncClient) -> dict[str, Any]:
    answer = await http.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for option in schema.get("anyOf", []):
        if "$ref" in option:
            return resolve(spec, option)
    return schema


def test_every_request_body_has_an_example(spec: dict[str, Any]) -> None:
    bodies = 0
    for path, method, op in operations(spec):
        if "requestBody" not in op:
            continue
        bodies += 1
        schema = resolve(spec, op["requestBody"]["content"]["application/json"]["schema"])
        fields = schema.get("properties", {}).values()  # an embedded body: its fields' examples
        assert schema.get("examples") or (fields and all("examples" in f for f in fields)), (
            f"{method.upper()} {path}: no example"
        )
    assert bodies >= 6


def test_every_error_status_is_declared_with_an_example(spec: dict[str, Any]) -> None:
    for path, method, op in operations(spec):
        if not path.startswith("/v1/") or op.get("security") is None:
            continue
        declared = set(op["responses"])
        assert declared >= PROTECTED_ERRORS, f"{method.upper()} {path}: {sorted(declared)}"
        assert ("409" in declared) is (op["operationId"] in CHANGING), f"{method.upper()} {path}"
        for status in (s for s in declared if not s.startswith("2")):
            content = op["responses"][status].get("content", {}).get("application/json", {})
            assert content.get("example", {}).get("error"), f"{method.upper()} {path} {status}"


def test_descriptions_are_written_for_users(spec: dict[str, Any]) -> None:
    text = str(spec)
    assert "DESIGN" not in text and "§" not in text
    assert "Bearer" in spec["info"]["description"]
    for path, method, op in operations(spec):
        assert op.get("description") or op.get("summary"), f"{method.upper()} {path}"


async def test_the_json_schema_route_is_public_as_documented(
    http: httpx.AsyncClient, spec: dict[str, Any]
) -> None:
    answer = await http.get("/v1/schema/pipeline-config")
    assert answer.status_code == 200 and answer.json()["type"] == "object"
    op = spec["paths"]["/v1/schema/pipeline-config"]["get"]
    assert "security" not in op
    assert "except" in (ROOT / "README.md").read_text().split("## REST", 1)[1][:600]
    assert "schema/pipeline-config" in spec["info"]["description"]
    security = (ROOT / "docs" / "security.md").read_text()
    assert "except\n  `GET /v1/schema/pipeline-config`" in security
