"""``ScheduleEngine``: the contract of the schedule operations (``/v1/schedules``).

``workflows.schedule_engine.TemporalScheduleEngine`` implements it on Temporal Schedules; the REST
API depends on this protocol only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pipeline_engine.schedules import Overlap, ScheduleDefinition, ScheduleStatus
from pipeline_engine.service.engine import TaskPriority
from pipeline_engine.service.prepared import PreparedConfig

__all__ = ["ScheduleEngine"]


class ScheduleEngine(Protocol):
    """Schedule operations. Every method raises :mod:`pipeline_engine.errors` only."""

    async def create_schedule(
        self,
        definition: ScheduleDefinition,
        *,
        config: PreparedConfig,
        settings: dict[str, Any] | None,
        priority: TaskPriority | None,
    ) -> tuple[ScheduleStatus, bool]:
        """Create it (``True``); the same definition again answers it (``False``)."""
        ...

    async def get_schedule(self, tenant_id: str, schedule_id: str) -> ScheduleStatus:
        """The schedule (``ScheduleNotFound`` when the tenant has none of this id)."""
        ...

    async def list_schedules(self, *, tenant_ids: list[str] | None) -> list[ScheduleStatus]:
        """The schedules of these tenants (``None``: all)."""
        ...

    async def delete_schedule(self, tenant_id: str, schedule_id: str) -> None:
        """Delete it (its pipelines stay)."""
        ...

    async def pause(self, tenant_id: str, schedule_id: str, note: str) -> ScheduleStatus:
        """Pause it."""
        ...

    async def unpause(self, tenant_id: str, schedule_id: str, note: str) -> ScheduleStatus:
        """Unpause it."""
        ...

    async def trigger(self, tenant_id: str, schedule_id: str) -> ScheduleStatus:
        """Start a run now."""
        ...

    async def backfill(
        self, tenant_id: str, schedule_id: str, *, start: datetime, end: datetime, overlap: Overlap
    ) -> ScheduleStatus:
        """Start the runs that were due between ``start`` and ``end``."""
        ...
