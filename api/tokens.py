"""Minting bearer tokens: the roles, the HS256 service-account token, and the two tokens the dev
stack makes (the admin token it prints and the Web UI's codec token).

Light on purpose (PyJWT and pydantic's ``SecretStr`` only): ``pipeline-engine dev`` mints the
Web UI's codec token before it launches the Temporal server, and importing the verifying side
(:mod:`api.auth`: JWKS over httpx, FastAPI) first would delay that launch by seconds on a fresh
install. Verification lives in :mod:`api.auth`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import jwt
from pydantic import SecretStr

if TYPE_CHECKING:
    from pipeline_engine.settings import Settings

__all__ = [
    "ALGORITHM",
    "ALL_TENANTS",
    "UI_TOKEN_TTL_S",
    "Role",
    "dev_admin_token",
    "every_tenant_token",
    "mint_token",
    "plain_secret",
    "ui_codec_endpoint",
]

ALGORITHM = "HS256"
ALL_TENANTS = "*"


class Role(StrEnum):
    """What a caller may do."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"


#: Lifetime of the Web UI's codec token (the dev stack mints a new one at every start).
UI_TOKEN_TTL_S = 30 * 86400


def plain_secret(secret: str | SecretStr) -> str:
    """The secret's text, whether given plain or as a ``SecretStr``."""
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


def mint_token(
    secret: str | SecretStr,
    *,
    sub: str,
    roles: Iterable[str],
    tenants: Iterable[str],
    ttl_s: float = 3600.0,
    now: float | None = None,
    kid: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    tenant_roles: Mapping[str, Iterable[str]] | None = None,
) -> str:
    """A signed bearer token for a service account.

    Args:
        secret: The HS256 secret (``settings.jwt_secret``, or the key of ``kid``).
        sub: Subject (account name).
        roles: Role names (``viewer``, ``operator``, ``approver``, ``admin``).
        tenants: Tenant ids, or ``["*"]`` for all.
        ttl_s: Lifetime in seconds.
        now: Issue time (epoch seconds); the current time by default.
        kid: The key id put in the header (a key of ``settings.jwt_keys``).
        issuer: The ``iss`` claim (``settings.jwt_issuer`` when the server requires one).
        audience: The ``aud`` claim (``settings.jwt_audience``).
        tenant_roles: Roles per tenant, beside ``roles`` on ``tenants``.

    Raises:
        ValueError: An unknown role name.
    """
    role_list = [Role(r).value for r in roles]
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "roles": role_list,
        "tenants": list(tenants),
        "iat": issued,
        "exp": issued + int(ttl_s),
    }
    if tenant_roles:
        claims["tenant_roles"] = {t: [Role(r).value for r in rs] for t, rs in tenant_roles.items()}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, plain_secret(secret), algorithm=ALGORITHM, headers=headers)


def every_tenant_token(settings: Settings, *, sub: str, role: Role, ttl_s: float) -> str:
    """A token of ``role`` on every tenant, signed with the server's secret and carrying the
    issuer and audience it requires (the dev stack's admin token, the Web UI's codec token)."""
    return mint_token(
        settings.jwt_secret,
        sub=sub,
        roles=[role],
        tenants=[ALL_TENANTS],
        ttl_s=ttl_s,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


def dev_admin_token(settings: Settings, *, ttl_s: float = 7 * 86400) -> str:
    """The admin token (every tenant) the dev stack prints at start."""
    return every_tenant_token(settings, sub="dev-admin", role=Role.ADMIN, ttl_s=ttl_s)


def ui_codec_endpoint(api_url: str, settings: Settings) -> str:
    """The codec endpoint to give the Temporal Web UI: a 30-day viewer token of every tenant in
    its path (the UI sends no bearer token without its own OIDC login)."""
    token = every_tenant_token(
        settings, sub="temporal-web-ui", role=Role.VIEWER, ttl_s=UI_TOKEN_TTL_S
    )
    return f"{api_url}/v1/codec/t/{token}"
