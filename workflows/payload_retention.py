"""Retention of stored payloads: a worker's periodic sweep drops the folders of ended pipelines
(and, in the same loop, the step cache's expired entries:
:func:`workflows.step_cache.sweep_step_cache`).

A folder goes once its workflow closed more than ``retention_s`` ago. A folder whose workflow
Temporal no longer knows (its own retention dropped it, or it never started) goes once its newest
payload is older than ``retention_s`` too, so a pipeline whose input was stored a moment before its
workflow started is never swept. Open workflows (running, waiting for input, held in FAILED) keep
their payloads however old they are. Sweeps are idempotent: several workers may run them at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from pipeline_engine.settings import Settings
from workflows.names import SHARD_ID_SEPARATOR
from workflows.payload_store import UNSCOPED, Folder, PayloadStore
from workflows.step_cache import CACHE_FOLDER, sweep_step_cache

__all__ = ["SweepReport", "run_payload_sweeper", "start_payload_sweeper", "sweep_payloads"]

_log = logging.getLogger("pipeline_engine.payloads")


@dataclass
class SweepReport:
    """What one sweep did."""

    kept: int = 0
    deleted_folders: int = 0
    deleted_payloads: int = 0


async def _ended_at(client: Client, folder: Folder) -> datetime | None:
    """When the folder's pipeline closed; ``None`` while it is open; ``datetime.min`` if gone.

    A shard's folder (``<pipeline id>~…``) goes with its pipeline: the pipeline's history refers
    to what its shards reported, and it may end long after them (held in FAILED)."""
    pipeline_id = folder.workflow_id.split(SHARD_ID_SEPARATOR, 1)[0]
    try:
        described = await client.get_workflow_handle(pipeline_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return datetime.min.replace(tzinfo=UTC)
        raise
    return described.close_time


async def _expired(store: PayloadStore, client: Client, folder: Folder, cutoff: datetime) -> bool:
    if folder.namespace == CACHE_FOLDER:
        return False  # the step cache's entries: swept by their own TTL (sweep_step_cache)
    if folder.namespace == UNSCOPED:
        ended: datetime | None = datetime.min.replace(tzinfo=UTC)  # no workflow: age alone
    elif folder.namespace != client.namespace:
        return False  # another namespace's worker owns it
    else:
        ended = await _ended_at(client, folder)
    if ended is None or ended > cutoff:
        return False
    newest = await store.newest_in(folder)
    return newest is None or newest <= cutoff


async def sweep_payloads(
    store: PayloadStore, client: Client, *, retention_s: float, now: datetime | None = None
) -> SweepReport:
    """Delete the payloads of pipelines that ended more than ``retention_s`` before ``now``."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=retention_s)
    report = SweepReport()
    for folder in await store.folders():
        if await _expired(store, client, folder, cutoff):
            report.deleted_payloads += await store.delete_folder(folder)
            report.deleted_folders += 1
        else:
            report.kept += 1
    return report


async def run_payload_sweeper(
    store: PayloadStore, client: Client, *, retention_s: float, interval_s: float
) -> None:
    """Sweep every ``interval_s`` seconds until cancelled; a failed sweep is logged and retried."""
    while True:
        try:
            report = await sweep_payloads(store, client, retention_s=retention_s)
            if report.deleted_folders:
                _log.info(
                    "payload sweep deleted %d payloads of %d ended pipelines",
                    report.deleted_payloads,
                    report.deleted_folders,
                )
        except Exception as exc:  # the store or Temporal is down: try again next time
            _log.warning("payload sweep failed: %s", exc)
        try:
            expired = await sweep_step_cache(store)
            if expired:
                _log.info("step cache sweep deleted %d expired entries", expired)
        except Exception as exc:
            _log.warning("step cache sweep failed: %s", exc)
        await asyncio.sleep(interval_s)


def start_payload_sweeper(
    store: PayloadStore | None, client: Client, settings: Settings
) -> asyncio.Task[None] | None:
    """The worker's sweeper task, on the settings' retention and interval (none without a store)."""
    if store is None:
        return None
    return asyncio.create_task(
        run_payload_sweeper(
            store,
            client,
            retention_s=settings.payload_retention_s,
            interval_s=settings.payload_sweep_interval_s,
        )
    )
