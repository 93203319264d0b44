"""The auth policy is the route's own: a body the API cannot read is answered 401 to a caller the
route would not authenticate (header or path token alike), 422 to one it would, and routes that
need no token (the schema) never ask for one."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api._support import bearer

GARBAGE = b"{nope"
JSON = {"Content-Type": "application/json"}


async def test_a_bad_body_is_422_once_the_header_token_authenticates(
    http: httpx.AsyncClient, token: Any
) -> None:
    good = bearer(token(["operator"], ["*"]))
    r = await http.post("/v1/process", content=GARBAGE, headers={**good, **JSON})
    assert r.status_code == 422, r.text
    r = await http.post("/v1/process", content=GARBAGE, headers=JSON)
    assert r.status_code == 401 and r.json()["message"] == "missing bearer token", r.text


async def test_a_path_token_route_authenticates_with_its_path_token(
    http: httpx.AsyncClient, token: Any
) -> None:
    viewer = token(["viewer"], ["*"])
    r = await http.post(f"/v1/codec/t/{viewer}/decode", content=GARBAGE, headers=JSON)
    assert r.status_code == 422, r.text
    r = await http.post("/v1/codec/t/forged.token.here/decode", content=GARBAGE, headers=JSON)
    assert r.status_code == 401, r.text


async def test_the_schema_needs_no_token(http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/schema/pipeline-config")
    assert r.status_code == 200 and r.json()["type"] == "object"
