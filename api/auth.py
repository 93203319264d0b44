"""Bearer tokens: minting, verification, and the authenticated caller with its roles and tenants.

Service-account tokens are HS256 JWTs (PyJWT, algorithm pinned) signed with the server's secret
or, by ``kid``, one of its rotating keys; an OIDC issuer's RS256/ES256 tokens verify against its
JWKS (:mod:`api.jwks`). Claims: ``sub`` and ``exp`` (required), ``roles`` on each of ``tenants``
(claim names configurable) and ``tenant_roles`` (roles per tenant); ``iss`` and ``aud`` when the
server requires them, and a bounded lifetime. ``operator``, ``approver`` and ``admin`` imply
``viewer``; ``admin`` implies all.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from api.jwks import ASYMMETRIC_ALGORITHMS, JwksKeys
from api.secret_policy import MIN_SECRET_LENGTH, check_secret
from api.tokens import ALGORITHM, ALL_TENANTS, Role, dev_admin_token, mint_token, plain_secret
from pipeline_engine.errors import AuthenticationError
from pipeline_engine.settings import Settings

__all__ = [
    "ALGORITHM",
    "ALL_TENANTS",
    "MIN_SECRET_LENGTH",
    "Caller",
    "Role",
    "TokenRules",
    "TokenVerifier",
    "check_secret",
    "decode_token",
    "dev_admin_token",
    "mint_token",
]

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
    tenant_roles: dict[str, list[Role]] = Field(default_factory=dict)
    exp: int


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of a request.

    Attributes:
        sub: The service account or user name.
        grants: The roles (implied ones expanded) held on each tenant (``"*"``: every tenant),
            from the token's ``roles`` on each of its ``tenants`` and its ``tenant_roles``.
    """

    sub: str
    grants: Mapping[str, frozenset[Role]]

    @classmethod
    def of(cls, sub: str, roles: Iterable[Role], tenants: Iterable[str]) -> Caller:
        """A caller holding ``roles`` on every one of ``tenants``."""
        expanded = expand_roles(roles)
        return cls(sub=sub, grants={t: expanded for t in tenants})

    @property
    def roles(self) -> frozenset[Role]:
        """Every role held on some tenant."""
        return frozenset().union(*self.grants.values()) if self.grants else frozenset()

    @property
    def tenants(self) -> tuple[str, ...]:
        """Tenants the caller holds some role on (``("*",)`` for all)."""
        return tuple(t for t, roles in self.grants.items() if roles)

    @property
    def all_tenants(self) -> bool:
        """Whether the caller may see every tenant."""
        return bool(self.grants.get(ALL_TENANTS))

    @property
    def platform_admin(self) -> bool:
        """Whether the caller is an admin of every tenant: the platform's operators.

        Only they may set what weighs on other tenants (a tenant's ``priority`` and
        ``fairness_weight``) or read ``/readyz``'s details (every tenant's config problems).
        """
        return Role.ADMIN in self.grants.get(ALL_TENANTS, frozenset())

    def has_role(self, role: Role) -> bool:
        """Whether the caller holds ``role`` (directly or implied) on some tenant."""
        return role in self.roles

    def narrowed(self, role: Role) -> Caller:
        """The caller with only the tenants it holds ``role`` on: what a route that needs
        ``role`` sees, so its tenant checks are checks of that role."""
        return Caller(sub=self.sub, grants={t: r for t, r in self.grants.items() if role in r})

    def can_access(self, tenant_id: str | None) -> bool:
        """Whether pipelines and configs of ``tenant_id`` are visible to the caller."""
        if self.all_tenants:
            return True
        return tenant_id is not None and bool(self.grants.get(tenant_id))

    def tenant_filter(self) -> list[str] | None:
        """Tenants to restrict listings to (``None`` means no restriction)."""
        return None if self.all_tenants else list(self.tenants)


def expand_roles(roles: Iterable[Role]) -> frozenset[Role]:
    """The roles with every implied role added."""
    out: set[Role] = set()
    for role in roles:
        out |= _IMPLIED[role]
    return frozenset(out)


def decode_token(token: str, secret: str | SecretStr, *, leeway_s: float = 0.0) -> Caller:
    """Verify an HS256 bearer token signed with ``secret`` and return its caller.

    Raises:
        AuthenticationError: The token is malformed, forged, of another algorithm, expired, or
            lacks a required claim.
    """
    return TokenVerifier(secret).verify(token)


@dataclass(frozen=True)
class TokenRules:
    """What every token must satisfy beyond its signature (``PIPELINE_ENGINE_JWT_*``).

    Attributes:
        issuer: Required ``iss`` (``None``: not checked).
        audience: Required in ``aud`` (``None``: not checked).
        max_ttl_s: Longest lifetime (``exp`` minus ``iat``, or minus now without ``iat``).
        roles_claim: The claim holding the role names.
        tenants_claim: The claim holding the tenant ids.
        leeway_s: Clock skew allowed on ``exp`` and ``nbf``.
    """

    issuer: str | None = None
    audience: str | None = None
    max_ttl_s: float | None = None
    roles_claim: str = "roles"
    tenants_claim: str = "tenants"
    leeway_s: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenRules:
        """The rules the settings configure."""
        return cls(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            max_ttl_s=settings.jwt_max_ttl_s,
            roles_claim=settings.jwt_roles_claim,
            tenants_claim=settings.jwt_tenants_claim,
        )


class TokenVerifier:
    """Verifies bearer tokens once each: a verified token's caller is kept until it expires.

    HS256 tokens verify with ``secret`` (no ``kid`` in the header) or with the key of their
    ``kid`` among ``keys`` (rotation: add the new key, sign with it, drop the old one when its
    tokens expired); RS256/ES256 tokens with the issuer's key of their ``kid`` from ``jwks``.
    Every token then passes ``rules`` (issuer, audience, longest lifetime).

    A client sends the same token with every request; verifying its signature and claims each
    time was a large share of a request's CPU. Only tokens that verified are kept (a bad token is
    checked, and refused, every time), keyed by a digest of the token so that the cache holds no
    credentials; an entry is dropped at the token's ``exp`` (checked on every hit), after
    ``ttl_s``, or when ``max_tokens`` newer ones pushed it out.

    Args:
        secret: The HS256 secret of tokens without ``kid``.
        keys: HS256 secrets by ``kid``.
        jwks: The OIDC issuer's keys (``None``: RS256/ES256 tokens are refused).
        rules: Issuer, audience, lifetime, claim names.
        max_tokens: How many verified tokens to keep.
        ttl_s: The longest a verified token is kept without being verified again.
        clock: Epoch seconds (tests move it).
    """

    def __init__(
        self,
        secret: str | SecretStr,
        *,
        keys: Mapping[str, str | SecretStr] | None = None,
        jwks: JwksKeys | None = None,
        rules: TokenRules | None = None,
        max_tokens: int = 4096,
        ttl_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = plain_secret(secret)
        self._keys = {kid: plain_secret(k) for kid, k in (keys or {}).items()}
        self._jwks = jwks
        self._rules = rules or TokenRules()
        self._clock = clock
        self._verified: TTLCache[bytes, tuple[Caller, int]] = TTLCache(
            maxsize=max_tokens, ttl=ttl_s, timer=time.monotonic
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        """The verifier the settings configure (keys, JWKS URL, rules)."""
        jwks = (
            JwksKeys(settings.jwt_jwks_url, refetch_s=settings.jwt_jwks_refetch_s)
            if settings.jwt_jwks_url
            else None
        )
        return cls(
            settings.jwt_secret,
            keys=settings.jwt_keys,
            jwks=jwks,
            rules=TokenRules.from_settings(settings),
        )

    def __len__(self) -> int:
        return len(self._verified)

    def _kept(self, token: str) -> tuple[bytes, Caller | None]:
        key = hashlib.sha256(token.encode()).digest()
        found = self._verified.get(key)
        if found is None:
            return key, None
        caller, exp = found
        if self._clock() < exp:
            return key, caller
        self._verified.pop(key, None)
        raise _expired()

    def verify(self, token: str) -> Caller:
        """The token's caller, for tokens whose key is at hand (HS256, or a JWKS key kept).

        Raises:
            AuthenticationError: The token does not verify, has expired, or breaks a rule.
        """
        digest, caller = self._kept(token)
        if caller is not None:
            return caller
        header = _header(token)
        key = self._key_at_hand(header)
        return self._decoded(token, digest, header["alg"], key)

    async def averify(self, token: str) -> Caller:
        """:meth:`verify`, fetching the issuer's keys first when the token's ``kid`` is new.

        Raises:
            AuthenticationError: As :meth:`verify`.
            EngineUnavailable: The issuer's keys cannot be read.
        """
        digest, caller = self._kept(token)
        if caller is not None:
            return caller
        header = _header(token)
        if header["alg"] in ASYMMETRIC_ALGORITHMS and self._jwks is not None:
            found = await self._jwks.key(header.get("kid"))
            if found is None:
                raise AuthenticationError("token names a key id the issuer does not publish")
            return self._decoded(token, digest, header["alg"], found.key)
        return self.verify(token)

    def _key_at_hand(self, header: dict[str, Any]) -> Any:
        alg, kid = header["alg"], header.get("kid")
        if alg == ALGORITHM:
            if kid is None:
                return self._secret
            if kid not in self._keys:
                raise AuthenticationError(f"token names an unknown key id {str(kid)[:64]!r}")
            return self._keys[kid]
        if alg in ASYMMETRIC_ALGORITHMS and self._jwks is not None:
            found = self._jwks.cached(kid)
            if found is None:
                raise AuthenticationError("token names a key id the issuer does not publish")
            return found.key
        raise AuthenticationError(f"token algorithm {str(alg)[:16]!r} is not accepted")

    def _decoded(self, token: str, digest: bytes, alg: str, key: Any) -> Caller:
        rules = self._rules
        required = (
            ["exp", "sub"] + (["iss"] if rules.issuer else []) + (["aud"] if rules.audience else [])
        )
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                options={"require": required, "verify_aud": rules.audience is not None},
                audience=rules.audience,
                issuer=rules.issuer,
                leeway=rules.leeway_s,
            )
        except jwt.ExpiredSignatureError:
            raise _expired() from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError(
                "token signature does not verify: it was not signed with this server's key"
            ) from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError(f"token issuer must be {rules.issuer!r}") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError(f"token audience must include {rules.audience!r}") from None
        except jwt.DecodeError:
            raise AuthenticationError(
                "token is not a well-formed JWT (header.payload.signature)"
            ) from None
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(f"invalid token: {exc}") from None
        caller, exp = self._caller(claims)
        self._verified[digest] = (caller, exp)
        return caller

    def _caller(self, claims: dict[str, Any]) -> tuple[Caller, int]:
        rules = self._rules
        claims = dict(claims)
        claims["roles"] = claims.get(rules.roles_claim) or []
        claims["tenants"] = claims.get(rules.tenants_claim) or []
        try:
            parsed = _Claims.model_validate(claims)
        except ValidationError as exc:
            problems = [
                {"path": "$." + ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors()
            ]
            raise AuthenticationError("invalid token claims", details=problems) from None
        if rules.max_ttl_s is not None:
            issued = claims.get("iat")
            start = issued if isinstance(issued, int | float) else self._clock()
            if parsed.exp - start > rules.max_ttl_s + 1:
                raise AuthenticationError(
                    f"token lives longer than {rules.max_ttl_s:.0f} s: mint a shorter one"
                )
        grants: dict[str, frozenset[Role]] = {}
        expanded = expand_roles(parsed.roles)
        for tenant in parsed.tenants:
            grants[tenant] = grants.get(tenant, frozenset()) | expanded
        for tenant, roles in parsed.tenant_roles.items():
            grants[tenant] = grants.get(tenant, frozenset()) | expand_roles(roles)
        return Caller(sub=parsed.sub, grants=grants), parsed.exp


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise AuthenticationError(
            "token is not a well-formed JWT (header.payload.signature)"
        ) from None
    if not isinstance(header.get("alg"), str):
        raise AuthenticationError("token header names no algorithm")
    return header


def _expired() -> AuthenticationError:
    return AuthenticationError("token expired: mint a new one")
