"""Counted slots with an expiry (leases): how concurrent streams are limited across processes.

A slot is a member of a set per key (a token, a tenant) with the time it expires. Taking one
first drops the expired members, then adds the new one to every key if none is full, in one step
(a Lua script on Redis, using the server's clock so processes need not agree on time). Holders
renew their slots while they stream; a slot whose holder died expires.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

__all__ = ["Leases", "MemoryLeases", "RedisLeases"]


class Leases(Protocol):
    """Where slots are kept."""

    async def acquire(
        self, limits: Sequence[tuple[str, int]], member: str, ttl_s: float
    ) -> int | None:
        """Add ``member`` to every key unless one holds its limit; the index of the full one."""
        ...

    async def renew(self, held: Sequence[tuple[Sequence[str], str]], ttl_s: float) -> None:
        """Push the expiry of each held (keys, member) slot to ``ttl_s`` from now."""
        ...

    def release(self, keys: Sequence[str], member: str) -> Awaitable[None] | None:
        """Drop ``member`` from ``keys``: done at once, or the work to await."""
        ...

    async def aclose(self) -> None:
        """Close connections."""
        ...


class MemoryLeases:
    """Slots in this process (``memory://``): one API process, or tests."""

    def __init__(self) -> None:
        self._slots: dict[str, dict[str, float]] = {}

    async def acquire(
        self, limits: Sequence[tuple[str, int]], member: str, ttl_s: float
    ) -> int | None:
        """See :class:`Leases`."""
        now = time.monotonic()
        for index, (key, limit) in enumerate(limits):
            slots = self._slots.get(key, {})
            for gone in [m for m, exp in slots.items() if exp <= now]:
                del slots[gone]
            if len(slots) >= limit:
                return index
        for key, _ in limits:
            self._slots.setdefault(key, {})[member] = now + ttl_s
        return None

    async def renew(self, held: Sequence[tuple[Sequence[str], str]], ttl_s: float) -> None:
        """See :class:`Leases`."""
        until = time.monotonic() + ttl_s
        for keys, member in held:
            for key in keys:
                slots = self._slots.get(key)
                if slots is not None and member in slots:
                    slots[member] = until

    def release(self, keys: Sequence[str], member: str) -> None:
        """See :class:`Leases`."""
        for key in keys:
            slots = self._slots.get(key)
            if slots is not None:
                slots.pop(member, None)
                if not slots:
                    del self._slots[key]

    async def aclose(self) -> None:
        """Nothing to close."""


_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_ACQUIRE = (
    _NOW_MS
    + """
local ttl = tonumber(ARGV[1])
local member = ARGV[2]
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then
    return i
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, member)
  redis.call('PEXPIRE', key, ttl)
end
return 0
"""
)

_RENEW = (
    _NOW_MS
    + """
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + ttl, ARGV[1 + i])
  redis.call('PEXPIRE', key, ttl)
end
return 0
"""
)
"""``XX``: a slot released meanwhile is not brought back."""


class RedisLeases:
    """Slots in Redis (sorted sets scored by expiry), shared by every API process."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio as aioredis  # the server extra; only with a Redis storage

        self._client: Any = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._prefix = prefix
        self._acquire = self._client.register_script(_ACQUIRE)
        self._renew = self._client.register_script(_RENEW)

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def acquire(
        self, limits: Sequence[tuple[str, int]], member: str, ttl_s: float
    ) -> int | None:
        """See :class:`Leases`."""
        keys = [self._key(k) for k, _ in limits]
        args: list[str | int] = [int(ttl_s * 1000), member, *(n for _, n in limits)]
        full = int(await self._acquire(keys=keys, args=args))
        return full - 1 if full else None

    async def renew(self, held: Sequence[tuple[Sequence[str], str]], ttl_s: float) -> None:
        """See :class:`Leases`."""
        keys = [self._key(k) for ks, _ in held for k in ks]
        members = [m for ks, m in held for _ in ks]
        if keys:
            await self._renew(keys=keys, args=[int(ttl_s * 1000), *members])

    def release(self, keys: Sequence[str], member: str) -> Awaitable[None]:
        """See :class:`Leases`."""
        return self._zrem([self._key(k) for k in keys], member)

    async def _zrem(self, keys: list[str], member: str) -> None:
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.zrem(key, member)
        await pipe.execute()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
