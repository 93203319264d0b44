"""Bearer tokens: minting, verification, and the authenticated caller with its roles and tenants.

Tokens are HS256 JWTs (PyJWT, algorithm pinned) with the claims ``sub``, ``roles``, ``tenants``
and ``exp`` (required). ``operator``, ``approver`` and ``admin`` imply ``viewer``; ``admin``
implies all.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt
from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline_engine.errors import AuthenticationError
from pipeline_engine.settings import DEV_JWT_SECRET, Settings

__all__ = [
    "ALGORITHM",
    "ALL_TENANTS",
    "MIN_SECRET_LENGTH",
    "Caller",
    "Role",
    "TokenVerifier",
    "check_secret",
    "decode_token",
    "dev_admin_token",
    "mint_token",
]

ALGORITHM = "HS256"
ALL_TENANTS = "*"
MIN_SECRET_LENGTH = 32


class Role(StrEnum):
    """What a caller may do."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"


_IMPLIED: dict[Role, frozenset[Role]] = {
    Role.VIEWER: frozenset({Role.VIEWER}),
    Role.OPERATOR: frozenset({Role.OPERATOR, Role.VIEWER}),
    Role.APPROVER: frozenset({Role.APPROVER, Role.VIEWER}),
    Role.ADMIN: frozenset(Role),
}


class _Claims(BaseModel):
    model_config = ConfigDict(extra="allow")

    sub: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(default_factory=list)
    tenants: list[str] = Field(default_factory=list)
    exp: int


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of a request.

    Attributes:
        sub: The service account or user name.
        roles: Granted roles, with the implied ones expanded.
        tenants: Tenants the caller may see (``("*",)`` for all).
    """

    sub: str
    roles: frozenset[Role]
    tenants: tuple[str, ...]

    @property
    def all_tenants(self) -> bool:
        """Whether the caller may see every tenant."""
        return ALL_TENANTS in self.tenants

    @property
    def platform_admin(self) -> bool:
        """Whether the caller is an admin of every tenant: the platform's operators.

        Only they may set what weighs on other tenants (a tenant's ``priority`` and
        ``fairness_weight``) or read ``/readyz``'s details (every tenant's config problems).
        """
        return self.all_tenants and Role.ADMIN in self.roles

    def has_role(self, role: Role) -> bool:
        """Whether the caller holds ``role`` (directly or implied)."""
        return role in self.roles

    def can_access(self, tenant_id: str | None) -> bool:
        """Whether pipelines and configs of ``tenant_id`` are visible to the caller."""
        if self.all_tenants:
            return True
        return tenant_id is not None and tenant_id in self.tenants

    def tenant_filter(self) -> list[str] | None:
        """Tenants to restrict listings to (``None`` means no restriction)."""
        return None if self.all_tenants else list(self.tenants)


def expand_roles(roles: Iterable[Role]) -> frozenset[Role]:
    """The roles with every implied role added."""
    out: set[Role] = set()
    for role in roles:
        out |= _IMPLIED[role]
    return frozenset(out)


def mint_token(
    secret: str,
    *,
    sub: str,
    roles: Iterable[str],
    tenants: Iterable[str],
    ttl_s: float = 3600.0,
    now: float | None = None,
) -> str:
    """A signed bearer token for a service account.

    Args:
        secret: The HS256 secret (``settings.jwt_secret``).
        sub: Subject (account name).
        roles: Role names (``viewer``, ``operator``, ``approver``, ``admin``).
        tenants: Tenant ids, or ``["*"]`` for all.
        ttl_s: Lifetime in seconds.
        now: Issue time (epoch seconds); the current time by default.

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
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(token: str, secret: str, *, leeway_s: float = 0.0) -> Caller:
    """Verify a bearer token and return its caller.

    Raises:
        AuthenticationError: The token is malformed, forged, of another algorithm, expired, or
            lacks a required claim.
    """
    return _decode(token, secret, leeway_s=leeway_s)[0]


def _decode(token: str, secret: str, *, leeway_s: float) -> tuple[Caller, int]:
    """The token's caller and expiry (epoch seconds), once its signature and claims verify."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub"]},
            leeway=leeway_s,
        )
    except jwt.ExpiredSignatureError:
        raise _expired() from None
    except jwt.InvalidSignatureError:
        raise AuthenticationError(
            "token signature does not verify: it was not signed with this server's secret"
        ) from None
    except jwt.DecodeError:
        raise AuthenticationError(
            "token is not a well-formed JWT (header.payload.signature)"
        ) from None
    except jwt.InvalidTokenError as exc:
        raise AuthenticationError(f"invalid token: {exc}") from None
    try:
        parsed = _Claims.model_validate(claims)
    except ValidationError as exc:
        problems = [
            {"path": "$." + ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()
        ]
        raise AuthenticationError("invalid token claims", details=problems) from None
    caller = Caller(sub=parsed.sub, roles=expand_roles(parsed.roles), tenants=tuple(parsed.tenants))
    return caller, parsed.exp


class TokenVerifier:
    """Verifies bearer tokens once each: a verified token's caller is kept until it expires.

    A client sends the same token with every request; verifying its signature and claims each
    time was a large share of a request's CPU. Only tokens that verified are kept (a bad token is
    checked, and refused, every time), keyed by a digest of the token so that the cache holds no
    credentials; an entry is dropped at the token's ``exp`` (checked on every hit, so an expired
    token is refused exactly as :func:`decode_token` refuses it), after ``ttl_s``, or when
    ``max_tokens`` newer ones pushed it out.

    Args:
        secret: The HS256 secret.
        max_tokens: How many verified tokens to keep.
        ttl_s: The longest a verified token is kept without being verified again.
        clock: Epoch seconds (tests move it).
    """

    def __init__(
        self,
        secret: str,
        *,
        max_tokens: int = 4096,
        ttl_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._clock = clock
        self._verified: TTLCache[bytes, tuple[Caller, int]] = TTLCache(
            maxsize=max_tokens, ttl=ttl_s, timer=time.monotonic
        )

    def __len__(self) -> int:
        return len(self._verified)

    def verify(self, token: str) -> Caller:
        """The token's caller (see :func:`decode_token`).

        Raises:
            AuthenticationError: The token does not verify or has expired.
        """
        key = hashlib.sha256(token.encode()).digest()
        found = self._verified.get(key)
        if found is not None:
            caller, exp = found
            if self._clock() < exp:
                return caller
            self._verified.pop(key, None)
            raise _expired()
        caller, exp = _decode(token, self._secret, leeway_s=0.0)
        self._verified[key] = (caller, exp)
        return caller


def _expired() -> AuthenticationError:
    return AuthenticationError("token expired: mint a new one")


def check_secret(settings: Settings) -> None:
    """Refuse a default or short JWT secret outside dev.

    Raises:
        RuntimeError: ``env`` is not ``dev`` and the secret is the default or too short.
    """
    if settings.env == "dev":
        return
    secret = settings.jwt_secret
    if secret == DEV_JWT_SECRET or len(secret) < MIN_SECRET_LENGTH:
        raise RuntimeError(
            "PIPELINE_ENGINE_JWT_SECRET must be set to a secret of at least "
            f"{MIN_SECRET_LENGTH} characters (not the dev default) outside dev"
        )


def dev_admin_token(settings: Settings, *, ttl_s: float = 7 * 86400) -> str:
    """The admin token (every tenant) the dev stack prints at start."""
    return mint_token(
        settings.jwt_secret, sub="dev-admin", roles=[Role.ADMIN], tenants=[ALL_TENANTS], ttl_s=ttl_s
    )
