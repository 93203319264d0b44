"""The signing keys of an OIDC issuer, read from its JWKS document and kept.

Keys are fetched at the first token that needs one, kept for ``cache_s``, and fetched again when
a token names a ``kid`` not among them (the issuer rotated its keys), at most once per
``refetch_s`` however many such tokens arrive: a flood of made-up ``kid`` values costs the issuer
one request per ``refetch_s``. Fetching is async (httpx), off the request's critical path for
every token whose key is known.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from pipeline_engine.errors import EngineUnavailable

__all__ = ["ASYMMETRIC_ALGORITHMS", "JwksKeys"]

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
"""The algorithms an issuer's tokens may use."""


class JwksKeys:
    """The keys of one JWKS URL, by ``kid``.

    Args:
        url: The issuer's JWKS document (``jwks_uri``).
        refetch_s: At most one fetch per this many seconds for an unknown ``kid``.
        cache_s: Keys older than this are fetched again at the next token that needs one.
        timeout_s: How long one fetch may take.
        clock: Monotonic seconds (tests move it).
    """

    def __init__(
        self,
        url: str,
        *,
        refetch_s: float = 30.0,
        cache_s: float = 3600.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._refetch_s = refetch_s
        self._cache_s = cache_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0
        """How many times the document was fetched (for tests and metrics)."""

    def cached(self, kid: str | None) -> jwt.PyJWK | None:
        """The key of ``kid`` if it is kept (no fetch)."""
        return self._keys.get(kid or "")

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._cache_s

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._refetch_s

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        """The key of ``kid``, fetching the document when it is stale or lacks ``kid``.

        Raises:
            EngineUnavailable: The document cannot be read (the issuer is down).
        """
        found = self.cached(kid)
        if found is not None and not self._stale():
            return found
        async with self._lock:  # concurrent tokens share one fetch
            found = self.cached(kid)
            if found is not None and not self._stale():
                return found
            if self._stale() or self._may_refetch():
                try:
                    await self._fetch()
                except EngineUnavailable:
                    if found is None:
                        raise
                    return found  # the issuer is down: the key kept still verifies
            return self.cached(kid)

    async def _fetch(self) -> None:
        self._fetched_at = self._clock()  # a failed fetch also waits refetch_s for the next
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as http:
                response = await http.get(self.url)
                response.raise_for_status()
                document: Any = response.json()
            keys = jwt.PyJWKSet.from_dict(document).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            raise EngineUnavailable(
                f"the identity provider's keys cannot be read ({type(exc).__name__})",
                retry_after_s=self._refetch_s,
            ) from None
        self._keys = {k.key_id: k for k in keys if k.key_id}
