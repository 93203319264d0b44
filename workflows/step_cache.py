"""The step cache in the payload store: where entries live, how they are found, written and swept.

An entry is one object, ``_cache/<tenant>/<key>/<created ms>-<expires ms>.json`` (the tenant
percent-encoded, ``_none`` without one): the tenant is part of the path as well as of the key
(:func:`pipeline_engine._step_cache.cache_key`), so no lookup can reach another tenant's entry.
Both times are in the name, so a lookup lists one key's folder and reads one object, and the
sweep deletes what expired from the listing alone, without reading any object. The payload
retention sweep leaves the ``_cache`` folder alone (it is not a workflow's).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pipeline_engine._step_cache import (
    CacheAnswer,
    CacheEntry,
    CacheRequest,
    cache_key,
    fresh,
    new_entry,
)
from workflows.payload_store import PayloadMissing, PayloadStore

__all__ = ["CACHE_FOLDER", "Lookup", "lookup", "sweep_step_cache", "write"]

CACHE_FOLDER = "_cache"
"""Top folder of the step cache in the payload store (no namespace begins with ``_``)."""
_NO_TENANT = "_none"
_DELETE_CHUNK = 1000
SWEEP_MAX_DELETES = 10_000
"""Entries one sweep deletes at most (the next sweep goes on): a sweep stays short."""

_log = logging.getLogger("pipeline_engine.step_cache")


@dataclass(frozen=True)
class Lookup:
    """A lookup's answer and why it missed: ``absent``, ``expired`` (only stale entries) or
    ``unavailable`` (the store failed; the stage runs and nothing is written)."""

    answer: CacheAnswer
    miss: str | None = None


def key_folder(tenant_id: str | None, key: str) -> str:
    """The folder of one key's entries."""
    tenant = quote(tenant_id, safe="-_.~") if tenant_id else _NO_TENANT
    return f"{CACHE_FOLDER}/{tenant}/{key}"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _times(path: str) -> tuple[int, int] | None:
    """(created, expires) in ms from an entry's name; ``None`` for anything else."""
    name = path.rsplit("/", 1)[-1].removesuffix(".json")
    created, _, expires = name.partition("-")
    if not (created.isdigit() and expires.isdigit()):
        return None
    return int(created), int(expires)


async def _entries(store: PayloadStore, folder: str) -> list[tuple[int, str]]:
    """(created ms, path) of the entries of ``folder``, newest first."""
    found = []
    async for batch in store.list_paths(folder):
        for path in batch:
            times = _times(path)
            if times is not None:
                found.append((times[0], path))
    return sorted(found, reverse=True)


async def lookup(
    store: PayloadStore, request: CacheRequest, version: str | None, now: datetime
) -> Lookup:
    """The newest entry of ``request``'s key younger than its ``ttl_s``, if there is one."""
    key = cache_key(request, version)
    try:
        entries = await _entries(store, key_folder(request.tenant_id, key))
        for created_ms, path in entries:
            created = datetime.fromtimestamp(created_ms / 1000, UTC)
            if not fresh(created, request.ttl_s, now):
                break  # newest first: the rest are older still
            try:
                entry = CacheEntry.model_validate_json(await store.get(path))
            except PayloadMissing:
                continue  # swept meanwhile
            answer = CacheAnswer(
                key=key, hit=True, result=entry.result, from_pipeline_id=entry.pipeline_id
            )
            return Lookup(answer)
    except Exception as exc:  # an unreachable store never fails the stage: it runs
        _log.warning("step cache lookup of %s failed: %s", request.stage_id, exc)
        return Lookup(CacheAnswer(), miss="unavailable")
    return Lookup(CacheAnswer(key=key), miss="expired" if entries else "absent")


async def write(
    store: PayloadStore, request: CacheRequest, version: str | None, result: Any, now: datetime
) -> bool:
    """Keep ``result`` under ``request``'s key, and drop that key's older entries; whether it
    was kept (a failure is logged, never raised)."""
    key = cache_key(request, version)
    folder = key_folder(request.tenant_id, key)
    entry = new_entry(request, version, result, now)
    path = f"{folder}/{_ms(entry.created_at)}-{_ms(entry.expires_at)}.json"
    try:
        await store.put(path, entry.model_dump_json().encode())
        older = [p for _, p in await _entries(store, folder) if p != path]
        if older:
            await store.delete_paths(older)
    except Exception as exc:
        _log.warning("step cache write of %s failed: %s", request.stage_id, exc)
        return False
    return True


async def sweep_step_cache(
    store: PayloadStore, *, now: datetime | None = None, max_deletes: int = SWEEP_MAX_DELETES
) -> int:
    """Delete entries whose writer's ``ttl_s`` is over (at most ``max_deletes``); how many.

    Reads the listing only (times are in the names), in the store's pages, so memory stays
    bounded however many entries there are; idempotent, so several workers may sweep at once."""
    cutoff = _ms(now or datetime.now(UTC))
    deleted = 0
    pending: list[str] = []
    async for batch in store.list_paths(CACHE_FOLDER):
        for path in batch:
            times = _times(path)
            if times is None or times[1] > cutoff:
                continue
            pending.append(path)
            if len(pending) >= _DELETE_CHUNK or deleted + len(pending) >= max_deletes:
                await store.delete_paths(pending)
                deleted, pending = deleted + len(pending), []
                if deleted >= max_deletes:
                    return deleted
    if pending:
        await store.delete_paths(pending)
        deleted += len(pending)
    return deleted
