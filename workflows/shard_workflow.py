"""``PipelineShard``: a slice of a wide fan-out, run by the same interpreter as its pipeline.

The pipeline's workflow (or a shard above it) starts one per slice, so that no workflow has more
than a bounded number of members in flight and each history stays small. The shard reports its
stages and events to its parent every few seconds and once more before it ends, so the pipeline
shows them as its own; a member that fails for good comes back in the result, and the pipeline
holds it there (its retry runs in the pipeline's workflow).
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pipeline_engine._interpreter import PipelineRun, ShardProgress, ShardResult
    from pipeline_engine._interpreter._handoff import (
        HistoryParts,
        HistoryPartsQuery,
        PartsQuery,
        StatusParts,
    )
    from pipeline_engine.dsl import (
        GroupPlan,
        Hooks,
        PipelineConfig,
        Plan,
        StagePlan,
        node_from_wire,
        stages_of,
    )
    from pipeline_engine.dsl._cel import preload as _preload_cel
    from workflows import names
    from workflows.children import Children
    from workflows.messages import ShardWorkflowInput
    from workflows.runtime import TemporalRuntime

_preload_cel()  # CEL is imported with the workflow, never inside a workflow task


def _plan(params: ShardWorkflowInput) -> Plan:
    """A plan holding the shard's members: their stages get records, their steps' caps gates."""
    config = PipelineConfig.model_construct(
        name=params.name,
        defaults=params.defaults,
        hooks=Hooks(),
        timeout_s=None,
        failure_hold_s=params.failure_hold_s,
        definition=None,
        stages=None,
    )
    call = params.call
    if call.template is not None:
        inner, nested = stages_of(node_from_wire(call.template))
        return Plan(config, GroupPlan((), None, "$"), (), templates=(*inner, *nested))
    members = tuple(node_from_wire(m) for m in call.members or [])
    known: list[StagePlan] = []
    templates: list[StagePlan] = []
    for member in members:
        s, t = stages_of(member)
        known.extend(s)
        templates.extend(t)
    return Plan(config, GroupPlan(members, None, "$"), tuple(known), templates=tuple(templates))


@workflow.defn(name=names.SHARD_WORKFLOW_TYPE)
class PipelineShardWorkflow:
    """Runs its slice of members; reports progress to the workflow that started it."""

    @workflow.init
    def __init__(self, params: ShardWorkflowInput) -> None:
        self._over = False
        limits = params.limits
        self._runtime = TemporalRuntime(
            tenant_id=params.tenant_id,
            trace_id=params.trace_id,
            history_bound=(limits.max_history_events, limits.max_history_bytes),
            shard_width=limits.shard_width,
            shards_in_flight=limits.shards_in_flight,
            shard_input=lambda call: params.model_copy(update={"call": call}),
            is_shard=True,
            children=Children.of(params, limits),
            features=limits.features,
        )
        self._run = PipelineRun(
            plan=_plan(params),
            pipeline_id=params.pipeline_id,
            tenant_id=params.tenant_id,
            input=params.input,
            settings=params.settings,
            trace_id=params.trace_id,
            runtime=self._runtime,
            max_in_flight=limits.max_in_flight,
            max_result_bytes=limits.max_result_bytes,
            inline_result_bytes=limits.inline_result_bytes,
            shard=True,
        )
        parent = workflow.info().parent
        self._parent = (
            workflow.get_external_workflow_handle(parent.workflow_id, run_id=parent.run_id)
            if parent is not None
            else None
        )

    @workflow.run
    async def run(self, params: ShardWorkflowInput) -> ShardResult:
        reporter = asyncio.create_task(self._report_every(params.limits.progress_every_s))
        try:
            return await self._run.run_shard(params.call)
        finally:
            # Never cut a report short (what it carried would be lost): let it finish, then
            # give the last word before the parent sees the result.
            self._over = True
            await reporter
            await self._report()

    async def _report_every(self, seconds: float) -> None:
        while not self._over:
            try:
                await workflow.wait_condition(lambda: self._over, timeout=seconds)
            except TimeoutError:
                await self._report()

    async def _report(self) -> None:
        progress = self._run.progress(workflow.info().workflow_id)
        if progress is not None and self._parent is not None:
            await self._parent.signal(names.SIGNAL_SHARD_PROGRESS, progress)

    @workflow.signal(name=names.SIGNAL_SHARD_PROGRESS)
    def shard_progress(self, progress: ShardProgress) -> None:
        """A shard of this shard reports: its stages become this one's (reported on up)."""
        self._run.apply_progress(progress)

    @workflow.query(name=names.QUERY_STATUS_PARTS)
    def status_parts(self, query: PartsQuery | None = None) -> StatusParts:
        """A page of this shard's stages (its thin parent leaves them to it)."""
        return self._run.status_parts(query or PartsQuery())

    @workflow.query(name=names.QUERY_HISTORY_PARTS)
    def history_parts(self, query: HistoryPartsQuery | None = None) -> HistoryParts:
        """A page of this shard's events (its thin parent numbers them, keeps them not)."""
        return self._run.history_parts(query or HistoryPartsQuery())
