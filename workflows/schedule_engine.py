"""Schedules over Temporal Schedules (:class:`TemporalScheduleEngine`), one per tenant and id.

A schedule's Temporal id is ``<tenant id>.<schedule id>`` (a schedule id holds no dot, so the two
read apart); its action starts a ``PipelineWorkflow`` with the tenant's config as it was when the
schedule was written, and Temporal names each run ``<schedule's id>-<scheduled time>``: the time a
run was due is part of its pipeline's identity, and Temporal records the schedule on the run
(search attributes ``TemporalScheduledById``, ``TemporalScheduledStartTime``). Every call goes
through the pipeline engine's one call wrapper.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio.client import (
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from pipeline_engine.errors import Conflict, InvalidInput, PipelineError, Problem, ScheduleNotFound
from pipeline_engine.schedules import Overlap, ScheduleDefinition, ScheduleRun, ScheduleStatus
from pipeline_engine.service import PreparedConfig, TaskPriority
from pipeline_engine.states import PipelineState
from workflows import names
from workflows.engine import TemporalPipelineEngine
from workflows.engine_commands import _priority
from workflows.engine_visibility import quote_value

__all__ = ["TemporalScheduleEngine", "temporal_schedule_id"]

_MEMO_DEFINITION = "definition"
_OVERLAP = {
    "skip": ScheduleOverlapPolicy.SKIP,
    "buffer_one": ScheduleOverlapPolicy.BUFFER_ONE,
    "allow_all": ScheduleOverlapPolicy.ALLOW_ALL,
}
_NEXT_RUNS = 5


def temporal_schedule_id(tenant_id: str, schedule_id: str) -> str:
    """The Temporal id of a tenant's schedule (``temporal schedule describe -s <it>``)."""
    return f"{tenant_id}.{schedule_id}"


def _no_schedule(exc: RPCError) -> PipelineError:
    return ScheduleNotFound("schedule not found")


def _refused_spec(exc: RPCError) -> PipelineError:
    return InvalidInput(
        "Temporal refused the schedule", problems=[Problem("$", f"refused: {exc.message}")]
    )


_MISSING = {RPCStatusCode.NOT_FOUND: _no_schedule}


class TemporalScheduleEngine:
    """Per-tenant schedules on Temporal Schedules.

    Args:
        engine: The pipeline engine (its client, task queue, workflow input and call wrapper).
    """

    def __init__(self, engine: TemporalPipelineEngine) -> None:
        self._engine = engine
        self._client = engine.client
        self._calls = engine.calls

    def _handle(self, tenant_id: str, schedule_id: str) -> ScheduleHandle:
        return self._client.get_schedule_handle(temporal_schedule_id(tenant_id, schedule_id))

    async def create_schedule(
        self,
        definition: ScheduleDefinition,
        *,
        config: PreparedConfig,
        settings: dict[str, Any] | None,
        priority: TaskPriority | None,
    ) -> tuple[ScheduleStatus, bool]:
        """Create the schedule; the same definition again answers it (``False``), another 409."""
        tenant = definition.tenant_id
        sid = temporal_schedule_id(tenant, definition.schedule_id)
        params = self._engine.workflow_input(
            config, input=definition.input, tenant_id=tenant, settings=settings, start=True
        )
        name = config.plan.config.name
        attrs: list[SearchAttributePair[Any]] = [
            SearchAttributePair(names.SA_PIPELINE_STATE, PipelineState.RUNNING.value),
            SearchAttributePair(names.SA_TENANT_ID, tenant),
            SearchAttributePair(names.SA_PIPELINE_NAME, name),
        ]
        label = repr(name)
        if config.ref is not None:  # each run knows the version it runs
            attrs.append(SearchAttributePair(names.SA_PIPELINE_VERSION, config.ref.version))
            label = f"{config.ref.name!r} v{config.ref.version}"
        action = ScheduleActionStartWorkflow(
            names.WORKFLOW_TYPE,
            params,
            id=sid,
            task_queue=self._engine.task_queue,
            typed_search_attributes=TypedSearchAttributes(attrs),
            memo={names.MEMO_PIPELINE_REF: config.ref.model_dump()} if config.ref else None,
            static_summary=f"{label} run of schedule {definition.schedule_id!r} ({tenant})",
            priority=_priority(tenant, priority),
        )
        spec = ScheduleSpec(
            cron_expressions=[definition.cron] if definition.cron else [],
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=definition.interval_s))]
            if definition.interval_s
            else [],
            time_zone_name=definition.timezone,
        )
        schedule = Schedule(
            action=action,
            spec=spec,
            policy=SchedulePolicy(overlap=_OVERLAP[definition.overlap]),
            state=ScheduleState(
                paused=definition.paused, note="created paused" if definition.paused else None
            ),
        )
        stored = definition.model_dump(mode="json")

        async def create() -> None:
            await self._client.create_schedule(
                sid,
                schedule,
                memo={_MEMO_DEFINITION: stored},
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(names.SA_TENANT_ID, tenant)]
                ),
            )

        try:
            await self._calls(
                create,
                overrides={RPCStatusCode.INVALID_ARGUMENT: _refused_spec},
                passing=(ScheduleAlreadyRunningError,),
            )
        except ScheduleAlreadyRunningError:
            existing = await self.get_schedule(tenant, definition.schedule_id)
            fields = set(ScheduleDefinition.model_fields) - {"paused"}
            if existing.model_dump(include=fields) != definition.model_dump(include=fields):
                raise Conflict(
                    f"schedule {definition.schedule_id!r} exists with another definition: "
                    "delete it first"
                ) from None
            return existing, False
        return await self.get_schedule(tenant, definition.schedule_id), True

    async def _describe(self, tenant_id: str, schedule_id: str) -> ScheduleDescription:
        handle = self._handle(tenant_id, schedule_id)
        return await self._calls(handle.describe, overrides=_MISSING)

    async def get_schedule(self, tenant_id: str, schedule_id: str) -> ScheduleStatus:
        """The schedule, its next due times and its recent runs."""
        desc = await self._describe(tenant_id, schedule_id)
        stored = await desc.memo_value(_MEMO_DEFINITION, default=None)
        if not isinstance(stored, dict) or stored.get("tenant_id") != tenant_id:
            raise ScheduleNotFound("schedule not found")
        info, state = desc.info, desc.schedule.state
        runs = [
            ScheduleRun(
                scheduled_at=r.scheduled_at,
                started_at=r.started_at,
                pipeline_id=r.action.workflow_id,
            )
            for r in info.recent_actions
            if isinstance(r.action, ScheduleActionExecutionStartWorkflow)
        ]
        return ScheduleStatus.model_validate(
            {
                **stored,
                "paused": state.paused,
                "note": state.note or None,
                "next_run_times": [] if state.paused else info.next_action_times[:_NEXT_RUNS],
                "recent_runs": runs,
                "runs": info.num_actions,
            }
        )

    async def list_schedules(self, *, tenant_ids: list[str] | None) -> list[ScheduleStatus]:
        """The schedules of these tenants (``None``: all), by tenant and id."""
        if tenant_ids is not None and not tenant_ids:
            return []
        query = None
        if tenant_ids is not None:
            query = f"{names.SA_TENANT_ID.name} IN ({', '.join(map(quote_value, tenant_ids))})"

        async def ids() -> list[str]:
            return [s.id async for s in await self._client.list_schedules(query)]

        found: list[ScheduleStatus] = []
        for sid in sorted(await self._calls(ids)):
            tenant, _, schedule_id = sid.rpartition(".")
            try:
                found.append(await self.get_schedule(tenant, schedule_id))
            except ScheduleNotFound:  # deleted meanwhile, or not one of ours
                continue
        return found

    async def delete_schedule(self, tenant_id: str, schedule_id: str) -> None:
        """Delete the schedule (the pipelines it started stay)."""
        await self.get_schedule(tenant_id, schedule_id)
        await self._calls(self._handle(tenant_id, schedule_id).delete, overrides=_MISSING)

    async def pause(self, tenant_id: str, schedule_id: str, note: str) -> ScheduleStatus:
        """No run starts until :meth:`unpause`."""
        await self.get_schedule(tenant_id, schedule_id)
        handle = self._handle(tenant_id, schedule_id)
        await self._calls(lambda: handle.pause(note=note or "paused"), overrides=_MISSING)
        return await self.get_schedule(tenant_id, schedule_id)

    async def unpause(self, tenant_id: str, schedule_id: str, note: str) -> ScheduleStatus:
        """Runs start again at their due times."""
        await self.get_schedule(tenant_id, schedule_id)
        handle = self._handle(tenant_id, schedule_id)
        await self._calls(lambda: handle.unpause(note=note or "unpaused"), overrides=_MISSING)
        return await self.get_schedule(tenant_id, schedule_id)

    async def trigger(self, tenant_id: str, schedule_id: str) -> ScheduleStatus:
        """Start a run now (the overlap policy applies)."""
        definition = await self.get_schedule(tenant_id, schedule_id)
        handle = self._handle(tenant_id, schedule_id)
        overlap = _OVERLAP[definition.overlap]
        await self._calls(lambda: handle.trigger(overlap=overlap), overrides=_MISSING)
        return await self.get_schedule(tenant_id, schedule_id)

    async def backfill(
        self, tenant_id: str, schedule_id: str, *, start: datetime, end: datetime, overlap: Overlap
    ) -> ScheduleStatus:
        """Start the runs that were due between ``start`` and ``end`` (as if it had run then)."""
        if end <= start:
            raise InvalidInput(
                "a backfill ends after it starts", problems=[Problem("$.end", "not after start")]
            )
        await self.get_schedule(tenant_id, schedule_id)
        handle = self._handle(tenant_id, schedule_id)
        window = ScheduleBackfill(start_at=start, end_at=end, overlap=_OVERLAP[overlap])
        await self._calls(lambda: handle.backfill(window), overrides=_MISSING)
        return await self.get_schedule(tenant_id, schedule_id)
