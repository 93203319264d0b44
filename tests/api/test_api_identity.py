"""Real identity (issue 19, DESIGN §11): an OIDC issuer's JWKS served over HTTP by the test, key
rotation, issuer/audience, the longest lifetime, per-tenant roles, HS256 keys by kid, secrets."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from api.app import create_app
from api.auth import TokenRules, TokenVerifier, mint_token
from api.jwks import JwksKeys
from api.page_tokens import page_token_key
from api.secret_policy import check_secret
from pipeline_engine.errors import AuthenticationError
from pipeline_engine.settings import DEV_JWT_SECRET, Settings
from pipeline_engine.steps import StepRegistry
from tests.api._support import SECRET, bearer, make_settings, start_uvicorn
from workflows.dev_server import TemporalDevServer, free_port

ISSUER = "https://issuer.test"
AUDIENCE = "pipeline-engine"
STRONG = "Zq8vN1xK4mB7pT0wL3hR6cJ9sF2dG5aYeU"


class Issuer:
    """An OIDC issuer's JWKS document over HTTP on 127.0.0.1, whose keys the test rotates."""

    def __init__(self) -> None:
        self.private: dict[str, Any] = {}
        self.published: list[str] = []
        self.hits = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.hits += 1
                body = json.dumps(issuer.document()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_key(self, kid: str, kind: str = "RS256") -> None:
        key: Any = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if kind == "RS256"
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.private[kid] = (kind, key)
        self.published.append(kid)

    def retire(self, kid: str) -> None:
        self.published.remove(kid)

    def document(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            kind, key = self.private[kid]
            algo = jwt.algorithms.RSAAlgorithm if kind == "RS256" else jwt.algorithms.ECAlgorithm
            jwk = json.loads(algo.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": kind, "use": "sig"})
        return {"keys": keys}

    def token(self, kid: str, *, ttl_s: int = 600, **claims: Any) -> str:
        kind, key = self.private[kid]
        now = int(time.time())
        body = {"sub": "ana@idp", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl_s}
        body.update(claims)
        return jwt.encode(body, key, algorithm=kind, headers={"kid": kid})


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    it = Issuer()
    it.add_key("k1")
    try:
        yield it
    finally:
        it.server.shutdown()
        it.server.server_close()


def _verifier(issuer: Issuer, clock: list[float]) -> TokenVerifier:
    keys = JwksKeys(issuer.url, refetch_s=30.0, clock=lambda: clock[0])
    rules = TokenRules(issuer=ISSUER, audience=AUDIENCE, max_ttl_s=86400)
    return TokenVerifier(SECRET, jwks=keys, rules=rules)


async def test_jwks_tokens_verify_and_a_rotation_is_followed(issuer: Issuer) -> None:
    clock = [1000.0]
    verifier = _verifier(issuer, clock)
    caller = await verifier.averify(
        issuer.token("k1", tenant_roles={"tenant-a": ["admin"], "tenant-b": ["viewer"]})
    )
    assert caller.sub == "ana@idp" and issuer.hits == 1
    assert caller.narrowed(_role("admin")).tenants == ("tenant-a",)
    assert set(caller.narrowed(_role("viewer")).tenants) == {"tenant-a", "tenant-b"}

    issuer.add_key("k2", "ES256")  # the issuer rotates: a new key, the old one retired
    issuer.retire("k1")
    clock[0] += 31
    caller = await verifier.averify(issuer.token("k2", roles=["viewer"], tenants=["t"]))
    assert caller.tenants == ("t",) and issuer.hits == 2  # one fetch for the new kid
    # kept keys verify without a fetch (k1 was kept from before the rotation)
    await verifier.averify(issuer.token("k2", sub="other", roles=["viewer"], tenants=["t"]))
    assert issuer.hits == 2


async def test_unknown_kids_refetch_at_most_once_per_30_s(issuer: Issuer) -> None:
    clock = [1000.0]
    verifier = _verifier(issuer, clock)
    await verifier.averify(issuer.token("k1", roles=["viewer"], tenants=["t"]))
    issuer.add_key("ghost")
    forged = [issuer.token("ghost", sub=f"s{i}", roles=["viewer"], tenants=["t"]) for i in range(5)]
    issuer.retire("ghost")
    clock[0] += 31
    for token in forged:
        with pytest.raises(AuthenticationError, match="key id"):
            await verifier.averify(token)
    assert issuer.hits == 2  # one refetch for the whole flood
    clock[0] += 31
    with pytest.raises(AuthenticationError):
        await verifier.averify(forged[0])
    assert issuer.hits == 3


async def test_issuer_audience_and_lifetime_are_enforced(issuer: Issuer) -> None:
    verifier = _verifier(issuer, [time.monotonic()])
    for claims, message in (
        ({"iss": "https://evil"}, "issuer"),
        ({"aud": "someone-else"}, "audience"),
        ({"ttl_s": 100 * 365 * 86400}, "longer than"),
    ):
        with pytest.raises(AuthenticationError, match=message):
            await verifier.averify(issuer.token("k1", roles=["viewer"], tenants=["t"], **claims))
    # HS256 service tokens too: without iss/aud refused, with them (as `token` mints) accepted
    with pytest.raises(AuthenticationError, match="iss"):
        verifier.verify(mint_token(SECRET, sub="svc", roles=["viewer"], tenants=["t"]))
    good = mint_token(
        SECRET, sub="svc", roles=["viewer"], tenants=["t"], issuer=ISSUER, audience=AUDIENCE
    )
    assert verifier.verify(good).sub == "svc"
    no_iat = jwt.encode(
        {"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 10**9}, SECRET
    )
    with pytest.raises(AuthenticationError, match="longer than"):
        verifier.verify(no_iat)


def test_hs256_keys_by_kid_rotate() -> None:
    old, new = STRONG + "old", STRONG + "new"
    verifier = TokenVerifier(SECRET, keys={"2025": old, "2026": new})
    assert verifier.verify(mint_token(new, sub="a", roles=["viewer"], tenants=["t"], kid="2026"))
    assert verifier.verify(mint_token(old, sub="b", roles=["viewer"], tenants=["t"], kid="2025"))
    with pytest.raises(AuthenticationError, match="signature"):
        verifier.verify(mint_token(old, sub="c", roles=["viewer"], tenants=["t"], kid="2026"))
    with pytest.raises(AuthenticationError, match="unknown key id"):
        verifier.verify(mint_token(new, sub="d", roles=["viewer"], tenants=["t"], kid="1999"))
    with pytest.raises(AuthenticationError, match="algorithm"):  # no JWKS: RS256 not accepted
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        verifier.verify(jwt.encode({"sub": "e", "exp": int(time.time()) + 60}, key, "RS256"))


def test_secrets_are_hidden_and_weak_ones_refused_in_production() -> None:
    settings = Settings(
        jwt_secret=STRONG,
        jwt_keys={"k": STRONG + "2"},
        s3_secret_access_key="s3",
        id_secret=STRONG[::-1],
    )
    assert STRONG not in repr(settings) and "s3'" not in repr(settings)
    assert STRONG[::-1] not in repr(settings)
    check_secret(settings.model_copy(update={"env": "prod"}))
    for weak in (" " * 40, "password" * 5, DEV_JWT_SECRET, "shh"):
        with pytest.raises(RuntimeError, match="JWT_SECRET") as err:
            check_secret(Settings(env="prod", jwt_secret=weak, id_secret=STRONG[::-1]))
        assert weak not in str(err.value)
    strong = {"env": "prod", "jwt_secret": STRONG, "id_secret": STRONG[::-1]}
    with pytest.raises(RuntimeError, match=r"JWT_KEYS\['k'\]"):
        check_secret(Settings(**strong, jwt_keys={"k": " " * 40}))
    with pytest.raises(RuntimeError, match="PAGE_TOKEN_SECRET"):
        check_secret(Settings(**strong, page_token_secret="x" * 40))


def test_page_tokens_have_a_key_of_their_own() -> None:
    derived = page_token_key(Settings(jwt_secret=STRONG))
    assert derived != STRONG and STRONG not in derived
    assert page_token_key(Settings(jwt_secret=STRONG, page_token_secret=STRONG + "p")) == (
        STRONG + "p"
    )


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_ENGINE_")}
    return subprocess.run(
        [sys.executable, "-m", "pipeline_engine.cli", "token", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
        check=False,
    )


def test_token_command_refuses_the_dev_default_and_writes_iss_aud() -> None:
    base = ("--sub", "ci", "--role", "viewer", "--tenant", "acme")
    refused = _cli(*base)
    assert refused.returncode == 2 and "--dev-secret" in refused.stderr, refused.stderr
    assert refused.stdout == ""
    assert _cli(*base, "--dev-secret").returncode == 0
    done = _cli(
        *base,
        PIPELINE_ENGINE_JWT_SECRET=STRONG,
        PIPELINE_ENGINE_JWT_ISSUER=ISSUER,
        PIPELINE_ENGINE_JWT_AUDIENCE=AUDIENCE,
    )
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), STRONG, algorithms=["HS256"], audience=AUDIENCE)
    assert claims["iss"] == ISSUER and claims["tenants"] == ["acme"]
    rotated = _cli(
        *base,
        PIPELINE_ENGINE_JWT_SECRET=STRONG,
        PIPELINE_ENGINE_JWT_KEYS=json.dumps({"2026": STRONG + "n"}),
        PIPELINE_ENGINE_JWT_SIGNING_KID="2026",
    )
    assert jwt.get_unverified_header(rotated.stdout.strip())["kid"] == "2026", rotated.stderr
    too_long = _cli(*base, "--dev-secret", "--ttl", str(400 * 86400))
    assert too_long.returncode == 2 and "longest lifetime" in too_long.stderr


def _role(name: str) -> Any:
    from api.auth import Role

    return Role(name)


# ----------------------------------------------------------------------------- over HTTP
async def test_the_api_accepts_the_issuers_tokens_with_per_tenant_roles(
    issuer: Issuer, temporal_server: TemporalDevServer, registry: StepRegistry, api_db_url: str
) -> None:
    settings = make_settings(
        temporal_server,
        api_db_url,
        jwt_jwks_url=issuer.url,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
    )
    app = create_app(settings, registry=registry)
    port = free_port()
    server, task = await start_uvicorn(app, port)
    chain = {"type": "chain", "steps": [{"type": "step", "name": "t_add", "kwargs": {"n": 1}}]}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            mixed = bearer(
                issuer.token("k1", tenant_roles={"oidc-a": ["admin"], "oidc-b": ["viewer"]})
            )
            put = await c.put(
                "/v1/tenants/oidc-a/config", json={"pipeline_definition": chain}, headers=mixed
            )
            assert put.status_code == 200, put.text
            # a viewer of b only: b's config cannot be written (404 as for any other tenant)
            put = await c.put(
                "/v1/tenants/oidc-b/config", json={"pipeline_definition": chain}, headers=mixed
            )
            assert put.status_code == 404, put.text
            assert (await c.get("/v1/tenants/oidc-b/config", headers=mixed)).status_code == 404
            evil = bearer(issuer.token("k1", iss="https://evil", roles=["admin"], tenants=["*"]))
            r = await c.get("/v1/steps", headers=evil)
            assert r.status_code == 401 and "issuer" in r.json()["message"]
            plain = bearer(mint_token(SECRET, sub="svc", roles=["admin"], tenants=["*"]))
            assert (await c.get("/v1/steps", headers=plain)).status_code == 401  # no iss/aud
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
