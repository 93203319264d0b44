"""Request rates and concurrent streams, per token and per tenant: 429 with ``Retry-After``.

Rates are counted by the maintained `limits` library, in this process's memory by default or in
Redis (``PIPELINE_ENGINE_RATE_LIMIT_STORAGE_URL=redis://…``) so that every API process shares
them. Concurrent SSE streams hold a *slot*: an entry with an expiry in a set per token and per
tenant (:mod:`api.stream_leases`), renewed while the stream is open and dropped when it closes; a
process that dies stops renewing, so its slots come free after ``stream_lease_s``.

A storage that fails (Redis down) lets requests through and logs it: limits guard against a
greedy tenant, they must not take the API down with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio.strategies import STRATEGIES, RateLimiter
from limits.storage import storage_from_string

from api.auth import ALL_TENANTS, Caller
from api.stream_leases import Leases, MemoryLeases, RedisLeases
from pipeline_engine.errors import RateLimited
from pipeline_engine.settings import Settings

__all__ = ["RateLimits", "StreamSlot", "check_limits", "token_key"]

log = logging.getLogger("api.rate_limits")

_STREAM_RETRY_AFTER_S = 5.0
_WARN_EVERY_S = 60.0


def token_key(token: str) -> str:
    """The key a token's counts are kept under (a digest: no token is stored)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def _tenant_key(tenant: str) -> str:
    return hashlib.sha256(tenant.encode()).hexdigest()[:32]


def storage_uri(url: str) -> str:
    """The `limits` async storage URI for ``PIPELINE_ENGINE_RATE_LIMIT_STORAGE_URL``.

    Raises:
        ValueError: Neither ``memory://`` nor a ``redis://``/``rediss://`` URL.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("memory", "redis", "rediss"):
        return f"async+{url}"
    raise ValueError(
        f"PIPELINE_ENGINE_RATE_LIMIT_STORAGE_URL must be memory:// or redis://host:port/db "
        f"(rediss:// for TLS), not {url[:80]!r}"
    )


def parse_rates(setting: str, value: str) -> tuple[RateLimitItem, ...]:
    """The rates of a setting in the `limits` notation (``""``: none).

    Raises:
        ValueError: Not in that notation, naming the setting.
    """
    if not value.strip():
        return ()
    try:
        return tuple(parse_many(value))
    except ValueError as exc:
        raise ValueError(
            f"PIPELINE_ENGINE_{setting.upper()} is not a rate such as '10/second;600/minute': "
            f"{value[:80]!r} ({exc})"
        ) from None


def check_limits(settings: Settings) -> None:
    """Refuse, at start-up, rates and a storage URL that are not valid.

    Raises:
        ValueError: Naming the setting.
    """
    storage_uri(settings.rate_limit_storage_url)
    parse_rates("rate_limit_per_token", settings.rate_limit_per_token)
    parse_rates("rate_limit_per_tenant", settings.rate_limit_per_tenant)


@dataclass(frozen=True)
class _Rule:
    """Rates applying to one kind of key."""

    scope: str  # per_token | per_tenant
    setting: str
    items: tuple[RateLimitItem, ...]


def _describe(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    per = f"{item.multiples} {unit}s" if item.multiples != 1 else f"1 {unit}"
    return f"{item.amount} per {per}"


class StreamSlot:
    """One open stream's place among the concurrent streams of its token and tenant.

    Released exactly once, whichever comes first: the end of its body (:meth:`guard`), the
    response's background task, or nothing at all (the slot is then collected and its lease
    runs out, no longer renewed).
    """

    def __init__(self, owner: RateLimits | None, keys: tuple[str, ...], member: str) -> None:
        self._owner = owner
        self.keys = keys
        self.member = member
        self.released = owner is None

    @classmethod
    def unlimited(cls) -> StreamSlot:
        """A slot that counts nowhere (no limit applies, or the storage is down)."""
        return cls(None, (), "")

    def release(self) -> None:
        """Free the slot (idempotent; synchronous, so a cancelled stream frees it too)."""
        if not self.released and self._owner is not None:
            self.released = True
            self._owner._release(self)

    async def guard(self, body: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """``body``, freeing the slot when it ends, fails or is closed (client gone)."""
        try:
            async for item in body:
                yield item
        finally:
            self.release()
            closer = getattr(body, "aclose", None)
            if closer is not None:
                with contextlib.suppress(BaseException):
                    await closer()

    async def background(self) -> None:
        """For a response's ``background``: frees the slot once the response is done."""
        self.release()


class RateLimits:
    """The request and stream limits of one API process (shared through Redis when set).

    Raises:
        ValueError: A rate or the storage URL is not valid (at construction, naming the setting).
    """

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits_enabled
        self._rules = (
            _Rule(
                "per_token",
                "rate_limit_per_token",
                parse_rates("rate_limit_per_token", settings.rate_limit_per_token),
            ),
            _Rule(
                "per_tenant",
                "rate_limit_per_tenant",
                parse_rates("rate_limit_per_tenant", settings.rate_limit_per_tenant),
            ),
        )
        uri = storage_uri(settings.rate_limit_storage_url)
        prefix = settings.rate_limit_key_prefix
        options: dict[str, Any] = {"wrap_exceptions": True}
        if not uri.startswith("async+memory"):
            options.update(implementation="redispy", key_prefix=f"{prefix}:rate")
        strategy: Any = STRATEGIES[settings.rate_limit_strategy]  # a concrete limiter class
        self._limiter: RateLimiter = strategy(storage_from_string(uri, **options))
        self.streams_per_token = settings.streams_per_token
        self.streams_per_tenant = settings.streams_per_tenant
        self.lease_s = settings.stream_lease_s
        self._leases: Leases = (
            MemoryLeases()
            if uri.startswith("async+memory")
            else RedisLeases(settings.rate_limit_storage_url, f"{prefix}:streams")
        )
        self._held: weakref.WeakSet[StreamSlot] = weakref.WeakSet()
        self._pending: set[asyncio.Task[None]] = set()
        self._warned_at = -math.inf

    # ------------------------------------------------------------------ request rates
    async def check_request(self, key: str, caller: Caller) -> None:
        """Count one request of the token of ``key`` (:func:`token_key`), and of each tenant
        it names, against the rates.

        Raises:
            RateLimited: A rate is used up; ``retry_after_s`` says when it frees.
        """
        if not self.enabled:
            return
        by_token, by_tenant = self._rules
        await self._hit(by_token, ("token", key))
        if by_tenant.items:
            for tenant in _named_tenants(caller):
                await self._hit(by_tenant, ("tenant", _tenant_key(tenant)))

    async def _hit(self, rule: _Rule, ids: tuple[str, ...]) -> None:
        for item in rule.items:
            try:
                allowed = await self._limiter.hit(item, *ids)
                if allowed:
                    continue
                stats = await self._limiter.get_window_stats(item, *ids)
            except Exception as exc:  # the storage is down: let requests through
                self._storage_failed(exc)
                return
            wait = min(max(1.0, math.ceil(stats.reset_time - time.time())), item.get_expiry())
            raise RateLimited(
                f"request rate limit {rule.scope.replace('_', ' ')} reached ({_describe(item)}, "
                f"PIPELINE_ENGINE_{rule.setting.upper()}); retry after {wait:.0f} s",
                details=[
                    {
                        "limit": rule.scope,
                        "rate": _describe(item),
                        "setting": f"PIPELINE_ENGINE_{rule.setting.upper()}",
                    }
                ],
                retry_after_s=wait,
            )

    # ------------------------------------------------------------------ concurrent streams
    async def acquire_stream(self, key: str, tenant: str | None) -> StreamSlot:
        """A slot for one more open stream of the token of ``key`` on a pipeline of ``tenant``.

        Raises:
            RateLimited: The token (or the tenant) holds as many open streams as allowed.
        """
        limits: list[tuple[str, int, str]] = []
        if self.enabled and self.streams_per_token:
            limits.append((f"token:{key}", self.streams_per_token, "per_token"))
        if self.enabled and self.streams_per_tenant and tenant is not None:
            limits.append((f"tenant:{_tenant_key(tenant)}", self.streams_per_tenant, "per_tenant"))
        member = uuid.uuid4().hex
        slot = StreamSlot(self, tuple(k for k, _, _ in limits), member)
        if not limits:
            slot.released = True  # nothing to free
            return slot
        try:
            full = await self._leases.acquire([(k, n) for k, n, _ in limits], member, self.lease_s)
        except Exception as exc:
            self._storage_failed(exc)
            slot.released = True
            return slot
        if full is not None:
            _, allowed, scope = limits[full]
            setting = f"PIPELINE_ENGINE_STREAMS_{scope.upper()}"
            raise RateLimited(
                f"concurrent stream limit {scope.replace('_', ' ')} reached ({allowed} open, "
                f"{setting}); close a stream or retry later",
                details=[{"limit": f"streams_{scope}", "streams": allowed, "setting": setting}],
                retry_after_s=_STREAM_RETRY_AFTER_S,
            )
        slot = StreamSlot(self, tuple(k for k, _, _ in limits), member)
        self._held.add(slot)
        return slot

    def _release(self, slot: StreamSlot) -> None:
        self._held.discard(slot)
        if not slot.keys:
            return
        work = self._leases.release(slot.keys, slot.member)
        if work is None:
            return
        task = asyncio.get_running_loop().create_task(self._quietly(work))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _quietly(self, work: Any) -> None:
        try:
            await work
        except Exception as exc:  # the lease runs out by itself
            self._storage_failed(exc)

    @property
    def open_streams(self) -> int:
        """Slots this process holds (open streams it counts)."""
        return len(self._held)

    async def run_heartbeat(self) -> None:
        """Renew the leases of this process's open streams, for ever (cancel to stop)."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            held = [s for s in list(self._held) if not s.released]
            if not held:
                continue
            try:
                await self._leases.renew([(s.keys, s.member) for s in held], self.lease_s)
            except Exception as exc:
                self._storage_failed(exc)

    async def aclose(self) -> None:
        """Let pending releases finish and close the storage's connections."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=2)
        await self._leases.aclose()

    def _storage_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning("rate limit storage unavailable, not limiting: %s", exc)


def _named_tenants(caller: Caller) -> Iterable[str]:
    """The tenants a token names (an all-tenant token names none: it is the platform's)."""
    return sorted(t for t in caller.tenants if t != ALL_TENANTS)
