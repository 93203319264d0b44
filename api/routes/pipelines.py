"""``/v1/pipelines``: create, start, read, history, cancel, retry a stage, submit input, list."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.deps import (
    ApprovablePipeline,
    CacheDep,
    CallerDep,
    EngineDep,
    MetricsDep,
    OperablePipeline,
    Operator,
    PipelinesDep,
    RegistryDep,
    SettingsDep,
    ViewablePipeline,
    ViewablePipelineStatus,
    ViewableStatusReader,
    Viewer,
    WhereDep,
    check_tenant,
    listed_tenants,
)
from api.errors import CONFLICT_RESPONSES, ERROR_RESPONSES
from api.page_tokens import open_page_token, page_token_key, seal_page_token
from api.result_refs import filled_page, find_stage
from api.schemas import (
    CancelBody,
    CreatePipelineBody,
    InputBody,
    PipelineRef,
    RetryBody,
)
from api.tenants.references import pin_references
from pipeline_engine._suggest import no_stage
from pipeline_engine.dsl import PipelineConfig, parse_config
from pipeline_engine.errors import InvalidConfig, InvalidInput, Problem, StageNotFound
from pipeline_engine.events import Event
from pipeline_engine.input_schema import payload_problems
from pipeline_engine.pages import PipelinePage
from pipeline_engine.service import PreparedConfig
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus, StagePage

MAX_HISTORY_PAGE = 10_000
"""Largest ``limit`` of a history page (``history?limit=10**9`` was accepted)."""

router = APIRouter(prefix="/pipelines", tags=["pipelines"], responses=ERROR_RESPONSES)


def _config_of(document: dict[str, Any], registry: RegistryDep, root: str) -> PipelineConfig:
    try:
        return parse_config(document, registry=registry).config
    except InvalidConfig as exc:
        problems = [Problem(root + p.path[1:], p.message) for p in exc.problems]
        raise InvalidConfig(exc.message, problems=problems) from None


@router.post(
    "",
    operation_id="create_pipeline",
    status_code=201,
    response_model=PipelineRef,
    responses={
        200: {
            "model": PipelineRef,
            "description": "Already created with these arguments: nothing new, `reused: true`",
        },
        **CONFLICT_RESPONSES,
    },
)
async def create_pipeline(
    body: CreatePipelineBody,
    caller: Operator,
    engine: EngineDep,
    registry: RegistryDep,
    cache: CacheDep,
    pipelines: PipelinesDep,
    metrics: MetricsDep,
    response: Response,
) -> PipelineRef:
    """Create a pipeline in PENDING; the same arguments give the same id (200 on a repeat).

    It runs at its tenant's priority when the tenant has a config that sets one. Its
    sub-pipelines (``type: pipeline``) are the tenant's pipelines, pinned now.
    """
    check_tenant(caller, body.tenant_id)
    config = PreparedConfig.of(_config_of(body.config, registry, "$.config"), registry=registry)
    config = await pin_references(pipelines, cache, body.tenant_id, config, name=config.config.name)
    created = await engine.create_pipeline(
        config,
        input=body.input,
        tenant_id=body.tenant_id,
        idempotency_key=body.idempotency_key,
        priority=cache.priority_of(body.tenant_id),
    )
    if created.created:
        metrics.pipeline_created(route="create_pipeline", tenant_id=body.tenant_id)
    else:
        response.status_code = 200
    return PipelineRef(
        pipeline_id=created.pipeline_id, state=created.state.value, reused=not created.created
    )


_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "model": PipelineRef,
        "description": "No worker applied it in time: Temporal recorded it and the pipeline "
        "applies it when a worker polls again (state: the current one)",
    }
}


@router.post(
    "/{pipeline_id}/start",
    operation_id="start_pipeline",
    response_model=PipelineRef,
    responses={**_ACCEPTED, **CONFLICT_RESPONSES},
)
async def start_pipeline(
    pipeline_id: OperablePipeline, caller: CallerDep, engine: EngineDep, response: Response
) -> PipelineRef:
    """Start a PENDING pipeline; repeated calls return the current state."""
    state = await engine.start_pipeline(pipeline_id, actor=caller.sub)
    if state is PipelineState.PENDING:
        response.status_code = 202
    return PipelineRef(pipeline_id=pipeline_id, state=state.value)


@router.get("/{pipeline_id}", operation_id="get_pipeline", response_model=PipelineStatus)
async def get_pipeline(reader: ViewableStatusReader, settings: SettingsDep) -> PipelineStatus:
    """Everything about the pipeline: state, stage counts by state, a page of its stages
    (``stage_offset``, ``stage_limit``, ``stage_state``; ``stages_total`` says how many match),
    waiting inputs, result or error.

    Results of ``PIPELINE_ENGINE_PAYLOAD_THRESHOLD_BYTES`` or more come as
    ``{"$ref": "<path>", "size_bytes": N}``: GET that path for the whole value.
    """
    return await filled_page(reader.read, reader.page, limit=settings.payload_threshold_bytes)


@router.get("/{pipeline_id}/result", operation_id="get_pipeline_result")
async def get_pipeline_result(status: ViewablePipelineStatus) -> Any:
    """The pipeline's whole result (``null`` until it succeeded)."""
    return status.result


@router.get("/{pipeline_id}/stages/{stage_id}/result", operation_id="get_stage_result")
async def get_stage_result(pipeline_id: ViewablePipeline, engine: EngineDep, stage_id: str) -> Any:
    """A stage's whole result (``null`` until it succeeded)."""

    async def read(page: StagePage) -> PipelineStatus:
        return await engine.get_pipeline(pipeline_id, page=page)

    first, found = await find_stage(read, stage_id)
    if found is None:
        known = [stage.stage_id for stage in first.stages]
        raise StageNotFound(no_stage(stage_id, known, pipeline_id=pipeline_id))
    return found.result


@router.get("/{pipeline_id}/history", operation_id="get_history", response_model=list[Event])
async def get_history(
    pipeline_id: ViewablePipeline,
    engine: EngineDep,
    since: Annotated[datetime | None, Query(description="Events at or after (ISO 8601).")] = None,
    after_id: Annotated[int | None, Query(ge=0, description="Only events after this id.")] = None,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_HISTORY_PAGE,
            description="At most this many events (page on with after_id).",
        ),
    ] = None,
) -> list[Event]:
    """The pipeline's events, in order (a ``since`` without a time zone is read as UTC)."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return await engine.get_history(pipeline_id, since=since, after_id=after_id, limit=limit)


@router.post(
    "/{pipeline_id}/cancel",
    operation_id="cancel_pipeline",
    response_model=PipelineRef,
    responses={**_ACCEPTED, **CONFLICT_RESPONSES},
)
async def cancel_pipeline(
    pipeline_id: OperablePipeline,
    caller: CallerDep,
    engine: EngineDep,
    response: Response,
    body: CancelBody | None = None,
) -> PipelineRef:
    """Cancel the pipeline; returns CANCELLED once it stopped (409 if it ended otherwise)."""
    reason = (body or CancelBody()).reason
    state = await engine.cancel_pipeline(pipeline_id, reason, actor=caller.sub)
    if state is not PipelineState.CANCELLED:
        response.status_code = 202
    return PipelineRef(pipeline_id=pipeline_id, state=state.value)


@router.post(
    "/{pipeline_id}/stages/{stage_id}/retry",
    operation_id="retry_stage",
    response_model=PipelineRef,
    responses=CONFLICT_RESPONSES,
)
async def retry_stage(
    pipeline_id: OperablePipeline,
    stage_id: str,
    caller: CallerDep,
    engine: EngineDep,
    body: RetryBody | None = None,
) -> PipelineRef:
    """Re-run a stage that failed for good while the pipeline is held in FAILED."""
    reason = (body or RetryBody()).reason
    state = await engine.retry_stage(pipeline_id, stage_id, reason, actor=caller.sub)
    return PipelineRef(pipeline_id=pipeline_id, state=state.value)


@router.post(
    "/{pipeline_id}/retry",
    operation_id="retry_failed",
    response_model=PipelineRef,
    responses=CONFLICT_RESPONSES,
)
async def retry_failed(
    pipeline_id: OperablePipeline,
    caller: CallerDep,
    engine: EngineDep,
    body: RetryBody | None = None,
) -> PipelineRef:
    """Re-run every stage held in FAILED at once (409 when none is); what succeeded never runs
    again. The same as the ``retry_failed`` update or signal through Temporal."""
    reason = (body or RetryBody()).reason
    state = await engine.retry_failed(pipeline_id, reason, actor=caller.sub)
    return PipelineRef(pipeline_id=pipeline_id, state=state.value)


@router.post(
    "/{pipeline_id}/input",
    operation_id="submit_input",
    response_model=PipelineRef,
    responses=CONFLICT_RESPONSES,
)
async def submit_input(
    pipeline_id: ApprovablePipeline, body: InputBody, caller: CallerDep, engine: EngineDep
) -> PipelineRef:
    """Give a waiting input element its payload (validated against its JSON Schema).

    The responder recorded is the caller (the token's ``sub``); ``responder`` in the body only
    adds a display name.
    """
    await _check_payload(engine, pipeline_id, body)
    state = await engine.submit_input(
        pipeline_id, body.payload, body.responder, stage_id=body.stage_id, actor=caller.sub
    )
    return PipelineRef(pipeline_id=pipeline_id, state=state.value)


async def _check_payload(engine: EngineDep, pipeline_id: str, body: InputBody) -> None:
    """422 here, before the update reaches a worker, when the payload misses the input's schema.

    The workflow checks it again (with the same linear-time regexes) for callers that go to
    Temporal directly; this keeps the shared workers out of it for those that come here.
    """
    status = await engine.get_pipeline(pipeline_id, page=StagePage(limit=0))
    waiting = {w.stage_id: w for w in status.waiting_inputs}
    if body.stage_id is not None:
        target = waiting.get(body.stage_id)
    else:
        target = next(iter(waiting.values())) if len(waiting) == 1 else None
    if target is None:
        return  # nothing (or several) waiting: the workflow answers
    problems = payload_problems(target.schema_, body.payload)
    if problems:
        raise InvalidInput(
            f"payload does not match the schema of input {target.stage_id!r}", problems=problems
        )


@router.get("", operation_id="list_pipelines", response_model=PipelinePage)
async def list_pipelines(
    caller: Viewer,
    engine: EngineDep,
    settings: SettingsDep,
    where: WhereDep,
    tenant_id: Annotated[str | None, Query(max_length=128)] = None,
    state: PipelineState | None = None,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
    page_token: Annotated[str | None, Query(pattern=r"^[0-9a-fA-F]*$", max_length=8192)] = None,
) -> PipelinePage:
    """Pipelines of the caller's tenants, newest first, by pages."""
    tenants = listed_tenants(caller, tenant_id)
    query = f"{sorted(tenants) if tenants is not None else '*'}|{state}|{where.model_dump_json()}"
    token = open_page_token(page_token, query=query, secret=page_token_key(settings))
    page = await engine.list_pipelines(
        tenant_ids=tenants, state=state, page_size=page_size, next_page_token=token, where=where
    )
    nxt = seal_page_token(page.next_page_token, query=query, secret=page_token_key(settings))
    return page.model_copy(update={"next_page_token": nxt})
