"""Where large payloads live: a directory or an S3-compatible bucket, both through ``obstore``.

Objects are kept in one folder per workflow (``<namespace>/<workflow id>/<sha256>``), so the
retention sweep can drop a whole pipeline's payloads at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, unquote

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import LocalStore, S3Store

from pipeline_engine.settings import Settings

__all__ = [
    "UNSCOPED",
    "Folder",
    "PayloadMissing",
    "PayloadStore",
    "PayloadStoreUnavailable",
    "S3Options",
    "folder_path",
    "open_payload_store",
    "store_from_settings",
]

_SAFE = "-_.~"
UNSCOPED = "_unscoped"
"""Folder (namespace and workflow id) of payloads stored outside any workflow's context."""


class PayloadMissing(LookupError):
    """A referenced payload is not in the store (deleted by retention, or another store)."""


class PayloadStoreUnavailable(RuntimeError):
    """The store cannot be reached (no such bucket or directory, wrong credentials, no network)."""


@dataclass(frozen=True, kw_only=True)
class S3Options:
    """How to reach an S3-compatible server; unset fields fall back to the ``AWS_*`` chain."""

    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None


@dataclass(frozen=True)
class Folder:
    """The payloads of one workflow."""

    namespace: str
    workflow_id: str


def folder_path(namespace: str, workflow_id: str) -> str:
    """The folder of one workflow's payloads (ids percent-encoded, so any id is one segment)."""
    return f"{quote(namespace, safe=_SAFE)}/{quote(workflow_id, safe=_SAFE)}"


class PayloadStore:
    """Put, get and delete payload blobs by key; list and drop whole workflow folders."""

    def __init__(self, store: LocalStore | S3Store, *, location: str) -> None:
        self._store = store
        self.location = location
        #: Called with the operation (``check``, ``put``, ``exists``, ``get``; the step cache's
        #: ``list`` and ``delete``) each time the store fails one: the worker and the API count
        #: them (``pipeline_engine_payload_store_errors``).
        self.on_error: Callable[[str], None] | None = None

    async def check(self) -> None:
        """Raise :class:`PayloadStoreUnavailable`, naming the store, unless it can be listed."""
        try:
            await obstore.list_with_delimiter_async(self._store)
        except Exception as exc:
            raise self._unavailable(exc, "check") from None

    def _unavailable(self, exc: Exception, operation: str) -> PayloadStoreUnavailable:
        if self.on_error is not None:
            with contextlib.suppress(Exception):  # counting never hides the store's error
                self.on_error(operation)
        return PayloadStoreUnavailable(
            f"payload store {self.location} is unreachable: {exc}".splitlines()[0]
        )

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` at ``key`` (overwrites; keys are content hashes, so that is a no-op)."""
        try:
            await obstore.put_async(self._store, key, data)
        except Exception as exc:
            raise self._unavailable(exc, "put") from None

    async def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        try:
            await obstore.head_async(self._store, key)
        except (NotFoundError, FileNotFoundError):
            return False
        except Exception as exc:
            raise self._unavailable(exc, "exists") from None
        return True

    async def get(self, key: str) -> bytes:
        """The bytes at ``key``; :class:`PayloadMissing` when there are none."""
        try:
            result = await obstore.get_async(self._store, key)
            return bytes(await result.bytes_async())
        except (NotFoundError, FileNotFoundError):
            raise PayloadMissing(f"payload {key!r} is not in the store {self.location}") from None
        except Exception as exc:
            raise self._unavailable(exc, "get") from None

    async def folders(self) -> list[Folder]:
        """Every workflow folder in the store."""
        out: list[Folder] = []
        namespaces = await obstore.list_with_delimiter_async(self._store)
        for ns_prefix in namespaces["common_prefixes"]:
            listing = await obstore.list_with_delimiter_async(self._store, ns_prefix)
            for prefix in listing["common_prefixes"]:
                ns, _, wid = prefix.rstrip("/").partition("/")
                out.append(Folder(unquote(ns), unquote(wid)))
        return out

    async def newest_in(self, folder: Folder) -> datetime | None:
        """When the newest object of ``folder`` was written (``None`` if it is empty)."""
        newest: datetime | None = None
        prefix = folder_path(folder.namespace, folder.workflow_id)
        async for batch in obstore.list(self._store, prefix):
            for meta in batch:
                if newest is None or meta["last_modified"] > newest:
                    newest = meta["last_modified"]
        return newest

    async def list_paths(self, prefix: str) -> AsyncIterator[list[str]]:
        """The paths of the objects under ``prefix``, a page at a time (the step cache's)."""
        try:
            async for batch in obstore.list(self._store, prefix):
                yield [meta["path"] for meta in batch]
        except Exception as exc:
            raise self._unavailable(exc, "list") from None

    async def delete_paths(self, paths: list[str]) -> None:
        """Delete the objects at ``paths`` (those already gone are no error)."""
        if not paths:
            return
        try:
            await obstore.delete_async(self._store, paths)
        except (NotFoundError, FileNotFoundError):  # a directory store: one by one
            for path in paths:
                with contextlib.suppress(NotFoundError, FileNotFoundError):
                    await obstore.delete_async(self._store, path)
        except Exception as exc:
            raise self._unavailable(exc, "delete") from None

    async def delete_folder(self, folder: Folder) -> int:
        """Delete every object of ``folder``; returns how many there were."""
        prefix = folder_path(folder.namespace, folder.workflow_id)
        paths: list[str] = []
        async for batch in obstore.list(self._store, prefix):
            paths.extend(meta["path"] for meta in batch)
        if paths:
            await obstore.delete_async(self._store, paths)
        return len(paths)


def open_payload_store(location: str, *, s3: S3Options | None = None) -> PayloadStore:
    """A store at ``location``: ``s3://bucket/prefix`` or a directory (created if missing)."""
    if location.startswith("s3://"):
        opts = s3 or S3Options()
        config: dict[str, str] = {}
        if opts.endpoint:
            config["endpoint"] = opts.endpoint
        if opts.region:
            config["region"] = opts.region
        if opts.access_key_id:
            config["access_key_id"] = opts.access_key_id
        if opts.secret_access_key:
            config["secret_access_key"] = opts.secret_access_key
        allow_http = bool(opts.endpoint and opts.endpoint.startswith("http://"))
        store = S3Store.from_url(
            location,
            config=config,  # type: ignore[arg-type]
            client_options={"allow_http": allow_http},
        )
        return PayloadStore(store, location=location)
    path = Path(location.removeprefix("file://")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return PayloadStore(LocalStore(path, automatic_cleanup=True), location=str(path))


def store_from_settings(settings: Settings) -> PayloadStore | None:
    """The store the settings name (``None`` when ``payload_store`` is empty)."""
    if not settings.payload_store:
        return None
    return open_payload_store(
        settings.payload_store,
        s3=S3Options(
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=(
                settings.s3_secret_access_key.get_secret_value()
                if settings.s3_secret_access_key is not None
                else None
            ),
        ),
    )
