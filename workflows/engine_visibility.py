"""Lists and counts of pipelines, from Temporal visibility (search attributes)."""

from __future__ import annotations

import asyncio

from temporalio.service import RPCError, RPCStatusCode

from pipeline_engine.errors import InvalidInput, PipelineError, Problem
from pipeline_engine.pages import PipelinePage, PipelineSummary, PipelineWhere
from pipeline_engine.service import decode_page_token, invalid_page_token
from pipeline_engine.service.front import ListQuery
from pipeline_engine.states import PipelineState
from pipeline_engine.versions import DEFAULT_PIPELINE
from workflows import names
from workflows.engine_core import EngineCore

__all__ = ["NOT_CONTINUED", "EngineVisibility", "quote_value"]

NOT_CONTINUED = "ExecutionStatus != 'ContinuedAsNew'"
"""A pipeline (or batch) that continued as new has one execution per run; only its current (or
last) run is the pipeline: the earlier ones are closed as ContinuedAsNew with the search
attributes they had then (``PipelineState`` RUNNING), and would be listed and counted again."""


def _token_refused(exc: RPCError) -> PipelineError:
    return invalid_page_token(exc.message)  # a token Temporal cannot use


class EngineVisibility(EngineCore):
    """The engine's visibility reads (lists and counts)."""

    async def _list(self, query: ListQuery) -> PipelinePage:
        """Pipelines from Temporal visibility, newest first."""
        visibility = _visibility_query(query.tenant_ids, query.state, query.where)
        token = decode_page_token(query.next_page_token)
        page_size = query.page_size

        async def fetch() -> PipelinePage:
            it = self._client.list_workflows(visibility, page_size=page_size, next_page_token=token)
            await it.fetch_next_page(page_size=page_size)
            items = [
                PipelineSummary(
                    pipeline_id=w.id,
                    name=w.typed_search_attributes.get(names.SA_PIPELINE_NAME),
                    tenant_id=w.typed_search_attributes.get(names.SA_TENANT_ID),
                    state=w.typed_search_attributes.get(names.SA_PIPELINE_STATE),
                    started_at=w.start_time,
                    closed_at=w.close_time,
                    pipeline_version=w.typed_search_attributes.get(names.SA_PIPELINE_VERSION),
                )
                for w in it.current_page or []
            ]
            nxt = it.next_page_token.hex() if it.next_page_token else None
            return PipelinePage(items=items, next_page_token=nxt)

        return await self._calls(fetch, overrides={RPCStatusCode.INVALID_ARGUMENT: _token_refused})

    async def count_pipelines(
        self, *, tenant_ids: list[str] | None = None, where: PipelineWhere | None = None
    ) -> dict[str, int]:
        """How many pipelines are in each state (one visibility count per state, at once)."""
        if tenant_ids is not None and not tenant_ids:
            return {}
        filters = where or PipelineWhere()
        states = list(PipelineState)

        async def count(state: PipelineState) -> int:
            query = _visibility_query(tenant_ids, state, filters)
            return (await self._calls(lambda: self._client.count_workflows(query))).count

        # Temporal groups counts by ExecutionStatus only, not by a custom search attribute.
        found = await asyncio.gather(*(count(state) for state in states))
        return {state.value: n for state, n in zip(states, found, strict=True) if n}


def _visibility_query(
    tenant_ids: list[str] | None, state: PipelineState | None, where: PipelineWhere
) -> str:
    clauses = [f"WorkflowType = '{names.WORKFLOW_TYPE}'", NOT_CONTINUED]
    if tenant_ids is not None:
        quoted = ", ".join(quote_value(t) for t in tenant_ids)
        clauses.append(f"{names.SA_TENANT_ID.name} IN ({quoted})")
    if state is not None:
        clauses.append(f"{names.SA_PIPELINE_STATE.name} = {quote_value(state.value)}")
    if where.name_prefix:
        clauses.append(
            f"{names.SA_PIPELINE_NAME.name} STARTS_WITH {quote_value(where.name_prefix)}"
        )
    if where.started_after is not None:
        clauses.append(f"StartTime >= {quote_value(where.started_after.isoformat())}")
    if where.started_before is not None:
        clauses.append(f"StartTime < {quote_value(where.started_before.isoformat())}")
    if where.batch_id is not None:
        clauses.append(f"{names.SA_BATCH_ID.name} = {quote_value(where.batch_id)}")
    clauses.extend(_origin_clauses(tenant_ids, where))
    return " AND ".join(clauses)


def _origin_clauses(tenant_ids: list[str] | None, where: PipelineWhere) -> list[str]:
    """``pipeline=`` and ``version=``: runs of a stored pipeline carry ``PipelineVersion``, and
    its run name (``PipelineName``: the tenant id for ``default``, else the pipeline's name)."""
    version = names.SA_PIPELINE_VERSION.name
    clauses = []
    if where.version is not None:
        clauses.append(f"{version} = {int(where.version)}")
    if where.pipeline is None:
        return clauses
    if where.version is None:
        clauses.append(f"{version} >= 1")  # a stored pipeline's run, not a raw config's
    name = names.SA_PIPELINE_NAME.name
    if where.pipeline != DEFAULT_PIPELINE:
        clauses.append(f"{name} = {quote_value(where.pipeline)}")
        return clauses
    if tenant_ids is None:
        raise InvalidInput(
            "pipeline=default needs tenant_id: runs of a tenant's default pipeline are named "
            "after their tenant",
            problems=[Problem("$.tenant_id", "required with pipeline=default")],
        )
    tenant = names.SA_TENANT_ID.name
    each = [f"({tenant} = {quote_value(t)} AND {name} = {quote_value(t)})" for t in tenant_ids]
    clauses.append("(" + " OR ".join(each) + ")")
    return clauses


def quote_value(value: str) -> str:
    """``value`` as a string literal of a Temporal visibility query."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
