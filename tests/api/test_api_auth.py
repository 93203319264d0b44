"""Every role against every route; cross-tenant access is 404; forged, alg=none, expired are 401."""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from tests.api._support import SECRET, bearer, pipeline_config, step, wait_state

ROLES = ["viewer", "operator", "approver", "admin"]
ALLOWED = {
    "viewer": {"viewer", "operator", "approver", "admin"},
    "operator": {"operator", "admin"},
    "approver": {"approver", "admin"},
    "admin": {"admin"},
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    need: str
    body: Any = None


@dataclass
class World:
    tenant: str
    pid: str
    routes: list[Route]


@pytest.fixture(scope="module")
async def world(http: httpx.AsyncClient, token: Any) -> World:
    """A tenant with a config and one finished pipeline (so every stream ends at once)."""
    tenant = f"auth-{uuid.uuid4().hex[:8]}"
    admin = bearer(token(["admin"], [tenant]))
    definition = {"type": "chain", "steps": [step("t_add", n=1)]}
    r = await http.put(
        f"/v1/tenants/{tenant}/config", json={"pipeline_definition": definition}, headers=admin
    )
    assert r.status_code == 200, r.text
    r = await http.post("/v1/process", json={"tenant_id": tenant, "input": 1}, headers=admin)
    assert r.status_code == 201, r.text
    pid = r.json()["pipeline_id"]
    assert (await wait_state(http, pid, admin, "SUCCEEDED"))["state"] == "SUCCEEDED"
    p = f"/v1/pipelines/{pid}"
    routes = [
        Route(
            "POST",
            "/v1/pipelines",
            "operator",
            {"config": pipeline_config("m", step("t_add")), "tenant_id": tenant},
        ),
        Route("GET", "/v1/pipelines", "viewer"),
        Route("GET", p, "viewer"),
        Route("POST", f"{p}/start", "operator"),
        Route("GET", f"{p}/history", "viewer"),
        Route("POST", f"{p}/cancel", "operator", {"reason": "matrix"}),
        Route("POST", f"{p}/stages/t_add/retry", "operator", {"reason": "matrix"}),
        Route("POST", f"{p}/input", "approver", {"payload": {}, "responder": "matrix"}),
        Route("GET", f"{p}/events", "viewer"),
        Route("GET", f"{p}/metrics", "viewer"),
        Route("GET", f"/v1/tenants/{tenant}/config", "viewer"),
        Route("PUT", f"/v1/tenants/{tenant}/config", "admin", {"pipeline_definition": definition}),
        Route("DELETE", f"/v1/tenants/{tenant}/config?version=999999", "admin"),
        Route("POST", "/v1/process", "operator", {"tenant_id": tenant, "input": 1}),
        Route("GET", "/v1/steps", "viewer"),
    ]
    return World(tenant, pid, routes)


async def call(http: httpx.AsyncClient, route: Route, headers: dict[str, str]) -> httpx.Response:
    return await http.request(route.method, route.path, json=route.body, headers=headers)


async def test_every_role_against_every_route(
    http: httpx.AsyncClient, token: Any, world: World
) -> None:
    failures = []
    for role in ROLES:
        headers = bearer(token([role], [world.tenant]))
        for route in world.routes:
            r = await call(http, route, headers)
            allowed = role in ALLOWED[route.need]
            ok = r.status_code not in (401, 403, 404) if allowed else r.status_code == 403
            if not ok or r.status_code >= 500:
                failures.append((role, route.method, route.path, r.status_code, r.text[:200]))
            if not allowed:
                assert r.json()["error"] == "permission_denied"
    assert not failures, failures


async def test_no_token_is_401_everywhere(http: httpx.AsyncClient, world: World) -> None:
    for route in world.routes:
        r = await call(http, route, {})
        assert r.status_code == 401, (route, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["error"] == "unauthenticated"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _bad_tokens(tenant: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": "x", "roles": ["admin"], "tenants": [tenant], "exp": now + 600}
    return {
        "forged": jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256"),
        "alg_none": _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + ".",
        "alg_none_signed": jwt.encode(claims, None, algorithm="none"),
        "hs512": jwt.encode(claims, SECRET, algorithm="HS512"),
        "expired": jwt.encode({**claims, "exp": now - 5}, SECRET, algorithm="HS256"),
        "no_exp": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, SECRET),
        "no_sub": jwt.encode({k: v for k, v in claims.items() if k != "sub"}, SECRET),
        "bad_role": jwt.encode({**claims, "roles": ["root"]}, SECRET, algorithm="HS256"),
        "garbage": "not.a.jwt",
        "tampered": jwt.encode(claims, SECRET, algorithm="HS256")[:-4] + "AAAA",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "forged",
        "alg_none",
        "alg_none_signed",
        "hs512",
        "expired",
        "no_exp",
        "no_sub",
        "bad_role",
        "garbage",
        "tampered",
    ],
)
async def test_bad_tokens_are_401(http: httpx.AsyncClient, world: World, kind: str) -> None:
    tok = _bad_tokens(world.tenant)[kind]
    for route in world.routes[:4]:
        r = await call(http, route, bearer(tok))
        assert r.status_code == 401, (kind, route, r.text)
        assert "Bearer" in r.headers["www-authenticate"]


async def test_garbage_from_strangers_is_401_not_422(http: httpx.AsyncClient) -> None:
    for body in (b"{nope", b'{"tenant_id": "\xff"}'):
        for headers in ({}, bearer("forged.token.here")):
            r = await http.post(
                "/v1/process", content=body, headers={**headers, "Content-Type": "application/json"}
            )
            assert r.status_code == 401, (body, headers, r.text)


async def test_basic_auth_scheme_is_401(http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/steps", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401


async def test_other_tenants_see_nothing(http: httpx.AsyncClient, token: Any, world: World) -> None:
    """An admin of another tenant gets 404 for the pipeline and the tenant, never 403."""
    stranger = bearer(token(["admin"], ["someone-else"]))
    for route in world.routes:
        r = await call(http, route, stranger)
        if route.path in ("/v1/pipelines", "/v1/steps") and route.method == "GET":
            assert r.status_code == 200, r.text
            if route.path == "/v1/pipelines":
                assert world.pid not in {i["pipeline_id"] for i in r.json()["items"]}
            continue
        assert r.status_code == 404, (route, r.status_code, r.text)
        assert r.json()["error"] in ("pipeline_not_found", "tenant_not_found")
    r = await http.get(f"/v1/pipelines?tenant_id={world.tenant}", headers=stranger)
    assert r.status_code == 404


def _missing_twin(path: str, world: World, stranger_tenant: str) -> str:
    """The same route for a pipeline or tenant that does not exist (ids of the same length)."""
    fake_pid = "pl-" + "0" * (len(world.pid) - 3)
    return path.replace(world.pid, fake_pid).replace(world.tenant, stranger_tenant)


async def test_not_yours_and_not_there_answer_byte_for_byte_alike(
    http: httpx.AsyncClient, token: Any, world: World
) -> None:
    """No existence oracle: another tenant's pipeline (or tenant) and one that does not exist give
    the same 404, byte for byte, on every route that names one."""
    mine = f"auth-{uuid.uuid4().hex[:8]}"  # the stranger's own tenant: it has no config
    stranger = bearer(token(["admin"], [mine]))
    compared = 0
    for route in world.routes:
        if world.pid not in route.path and world.tenant not in route.path:
            continue
        if route.method == "PUT":  # writing one's own tenant config is allowed, not a 404
            continue
        theirs = await call(http, route, stranger)
        twin = Route(route.method, _missing_twin(route.path, world, mine), route.need, route.body)
        missing = await call(http, twin, stranger)
        assert theirs.status_code == missing.status_code == 404, (route, theirs.text, missing.text)
        assert theirs.content == missing.content, (route, theirs.text, missing.text)
        assert theirs.headers["content-type"] == missing.headers["content-type"]
        compared += 1
    assert compared == 10
    theirs = await http.post("/v1/process", json={"tenant_id": world.tenant}, headers=stranger)
    missing = await http.post("/v1/process", json={"tenant_id": mine}, headers=stranger)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.content == missing.content, (theirs.text, missing.text)
    too_long = await http.get("/v1/pipelines/" + "p" * 300, headers=stranger)
    theirs = await http.get(f"/v1/pipelines/{world.pid}", headers=stranger)
    assert too_long.content == theirs.content
    body = theirs.json()
    assert body == {"error": "pipeline_not_found", "message": "pipeline not found", "details": []}
    assert world.pid not in theirs.text


async def test_not_yours_and_not_there_take_the_same_time(
    http: httpx.AsyncClient, token: Any, world: World
) -> None:
    """Both 404s cost one Temporal describe; their medians differ by noise only (alternated)."""
    stranger = bearer(token(["admin"], ["someone-else"]))
    paths = {
        "theirs": f"/v1/pipelines/{world.pid}",
        "missing": f"/v1/pipelines/pl-{'0' * (len(world.pid) - 3)}",
    }
    times: dict[str, list[float]] = {"theirs": [], "missing": []}
    for i in range(16):
        for label in sorted(paths, reverse=bool(i % 2)):
            started = time.perf_counter()
            r = await http.get(paths[label], headers=stranger)
            times[label].append(time.perf_counter() - started)
            assert r.status_code == 404
    theirs, missing = (statistics.median(times[k]) for k in ("theirs", "missing"))
    assert abs(theirs - missing) <= 0.5 * max(theirs, missing) + 0.02, (theirs, missing)


async def test_tenant_header_cannot_claim_ownership(
    http: httpx.AsyncClient, token: Any, world: World
) -> None:
    stranger = bearer(token(["admin"], ["someone-else"]))
    r = await http.get(
        f"/v1/pipelines/{world.pid}", headers={**stranger, "X-Tenant-Id": world.tenant}
    )
    assert r.status_code == 404


async def test_wildcard_tenant_sees_everything(
    http: httpx.AsyncClient, token: Any, world: World
) -> None:
    r = await http.get(f"/v1/pipelines/{world.pid}", headers=bearer(token(["viewer"], ["*"])))
    assert r.status_code == 200
    assert r.json()["tenant_id"] == world.tenant


# ---------------------------------------------------------------- verified once per token


def test_a_token_is_verified_once_and_refused_from_its_expiry() -> None:
    from api.auth import TokenVerifier, mint_token
    from pipeline_engine.errors import AuthenticationError

    now = [time.time()]
    verifier = TokenVerifier(SECRET, max_tokens=2, clock=lambda: now[0])
    token = mint_token(SECRET, sub="a", roles=["operator"], tenants=["t"], ttl_s=60, now=now[0])
    first = verifier.verify(token)
    assert first.sub == "a" and first.tenants == ("t",) and len(verifier) == 1
    with pytest.MonkeyPatch.context() as mp:  # a hit does not verify the signature again
        mp.setattr(jwt, "decode", lambda *a, **k: pytest.fail("verified twice"))
        assert verifier.verify(token) is first
    now[0] += 60  # exp reached: refused as PyJWT refuses it, and forgotten
    with pytest.raises(AuthenticationError, match="token expired"):
        verifier.verify(token)
    assert len(verifier) == 0


def test_bad_tokens_are_not_kept_and_the_cache_is_bounded() -> None:
    from api.auth import TokenVerifier, mint_token
    from pipeline_engine.errors import AuthenticationError

    verifier = TokenVerifier(SECRET, max_tokens=2)
    forged = mint_token("another-secret-" + "y" * 40, sub="x", roles=["admin"], tenants=["*"])
    for _ in range(2):
        with pytest.raises(AuthenticationError, match="signature"):
            verifier.verify(forged)
    assert len(verifier) == 0
    for i in range(5):
        verifier.verify(mint_token(SECRET, sub=f"s{i}", roles=["viewer"], tenants=["t"]))
    assert len(verifier) == 2


async def test_a_cached_token_is_refused_once_expired(
    http: httpx.AsyncClient, token: Any, world: World
) -> None:
    short = bearer(token(["viewer"], [world.tenant], ttl_s=2))
    assert (await http.get(f"/v1/pipelines/{world.pid}", headers=short)).status_code == 200
    await asyncio.sleep(2.1)  # exp is in whole seconds: at most 2 s from now
    r = await http.get(f"/v1/pipelines/{world.pid}", headers=short)
    assert r.status_code == 401 and "expired" in r.json()["message"]
