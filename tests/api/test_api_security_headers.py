"""Security headers on the console, the docs and the API (issue 19); the browser tests in
tests/api/console check that the console, Swagger UI and ReDoc still work under the policy."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from tests.api._support import bearer


@pytest.mark.parametrize(
    "path", ["/ui", "/ui/static/console.js", "/docs", "/redoc", "/openapi.json", "/v1/steps",
             "/v1/pipelines/pl-nope", "/healthz"],
)  # fmt: skip
async def test_every_response_carries_the_headers(
    http: httpx.AsyncClient, admin: dict[str, str], path: str
) -> None:
    r = await http.get(path, headers=admin)
    assert r.status_code in (200, 404), (path, r.status_code)
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src is not None and "'unsafe-inline'" not in script_src.group(1)


async def test_errors_and_unauthenticated_answers_carry_them_too(http: httpx.AsyncClient) -> None:
    for r in (
        await http.get("/v1/pipelines"),
        await http.get("/v1/pipelines", headers=bearer("junk")),
        await http.get("/no/such/page"),
    ):
        assert r.status_code in (401, 404)
        assert r.headers["x-frame-options"] == "DENY"
        assert "content-security-policy" in r.headers


async def test_docs_allow_only_their_own_inline_script(http: httpx.AsyncClient) -> None:
    r = await http.get("/docs")
    inline = re.findall(r"<script>(.*?)</script>", r.text, re.S)
    assert inline, "Swagger UI starts with an inline script"
    csp = r.headers["content-security-policy"]
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "'unsafe-inline'" not in re.search(r"script-src ([^;]*)", csp).group(1)  # type: ignore[union-attr]
