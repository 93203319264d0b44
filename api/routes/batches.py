"""``/v1/batches``: run one pipeline per input, follow them as one, retry the failed, read results.

A batch's tenant is read from Temporal (never from the request): another tenant's batch answers
the same 404 as one that does not exist.
"""

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask

from api.auth import Caller, Role
from api.deps import (
    CacheDep,
    CallerDep,
    ContextDep,
    Operator,
    PipelinesDep,
    SettingsDep,
    Viewer,
    check_tenant,
    listed_tenants,
    require,
    stream_slot,
)
from api.errors import CONFLICT_RESPONSES, ERROR_RESPONSES
from api.ndjson import NDJSON, ndjson_inputs
from api.page_tokens import open_page_token, page_token_key, seal_page_token
from api.routes._runs import resolve_run
from api.schemas import TENANT_ID, CancelBody, CreateBatchBody, RetryBody
from pipeline_engine._finite import refuse_non_finite
from pipeline_engine.batches import (
    BatchPage,
    BatchPipelinePage,
    BatchRef,
    BatchResultLine,
    BatchStatus,
    RetriedBatch,
)
from pipeline_engine.dsl import pydantic_problems
from pipeline_engine.errors import (
    BatchNotFound,
    EngineUnavailable,
    InvalidInput,
    Problem,
)
from pipeline_engine.service.batches import DEFAULT_MAX_RUNNING, BatchEngine, BatchRequest
from pipeline_engine.states import PipelineState

router = APIRouter(prefix="/batches", tags=["batches"], responses=ERROR_RESPONSES)

_MAX_BATCH_ID = 255


async def get_batches(ctx: ContextDep) -> BatchEngine:
    """The batch engine (503 when the pipeline engine runs no batches)."""
    if ctx.batches is None:
        raise EngineUnavailable("this engine runs no batches (they need Temporal)")
    return ctx.batches


BatchesDep = Annotated[BatchEngine, Depends(get_batches)]


def _batch_for(role: Role) -> Any:
    checked = Annotated[Caller, Depends(require(role))]

    async def owned(
        batch_id: Annotated[str, Path(description="The batch id.")],
        caller: checked,
        batches: BatchesDep,
    ) -> BatchStatus:
        if not batch_id or len(batch_id) > _MAX_BATCH_ID or not batch_id.isprintable():
            raise BatchNotFound("batch not found")
        status = await batches.get_batch(batch_id)
        if not caller.can_access(status.tenant_id):
            raise BatchNotFound("batch not found")
        return status

    owned.__name__ = f"batch_for_{role.value}"
    return owned


ViewableBatch = Annotated[BatchStatus, Depends(_batch_for(Role.VIEWER))]
"""A batch the caller may read (its status, read once)."""
OperableBatch = Annotated[BatchStatus, Depends(_batch_for(Role.OPERATOR))]
"""A batch the caller may cancel or retry."""

_NDJSON_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": CreateBatchBody.model_json_schema()},
            NDJSON: {
                "schema": {"type": "string", "description": "One JSON input per line."},
                "example": '{"image_path": "/data/a.png"}\n{"image_path": "/data/b.png"}\n',
            },
        },
    }
}


def _body(raw: bytes) -> CreateBatchBody:
    try:
        data = json.loads(raw) if raw else None
    except ValueError as exc:
        raise InvalidInput("the body is not JSON", problems=[Problem("$", str(exc))]) from None
    try:
        return CreateBatchBody.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput("invalid batch", problems=pydantic_problems(exc, data)) from None


@router.post(
    "",
    operation_id="submit_batch",
    status_code=201,
    response_model=BatchRef,
    responses={
        200: {"model": BatchRef, "description": "Already submitted with these arguments"},
        **CONFLICT_RESPONSES,
    },
    openapi_extra=_NDJSON_BODY,
)
async def submit_batch(
    request: Request,
    caller: Operator,
    cache: CacheDep,
    pipelines: PipelinesDep,
    batches: BatchesDep,
    settings: SettingsDep,
    ctx: ContextDep,
    response: Response,
    tenant_id: Annotated[
        str | None, Query(pattern=TENANT_ID, description="With an NDJSON body: the tenant.")
    ] = None,
    pipeline: Annotated[str | None, Query(max_length=200, description="With NDJSON.")] = None,
    max_running: Annotated[int | None, Query(ge=1, le=10_000, description="With NDJSON.")] = None,
    idempotency_key: Annotated[
        str | None, Query(min_length=1, max_length=200, description="With NDJSON.")
    ] = None,
    version: Annotated[int | None, Query(ge=1, description="With NDJSON.")] = None,
) -> BatchRef:
    """Start one pipeline of the tenant's config per input, ``max_running`` (100) at once.

    The inputs come in a JSON body (``inputs``) or as an ``application/x-ndjson`` body, one input
    a line, with ``tenant_id`` and the other fields in the query string (streamed to the payload
    store, never held whole). The same arguments (or key) give the same batch (200).
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    inputs: list[Any] | AsyncIterator[Any]
    if content_type == NDJSON:
        if tenant_id is None:
            raise InvalidInput(
                "an NDJSON batch names its tenant in the query string",
                problems=[Problem("query.tenant_id", "required with an NDJSON body")],
            )
        inputs = ndjson_inputs(request.stream(), max_bytes=settings.batch_max_body_bytes)
    else:
        body = _body(await request.body())
        tenant_id, pipeline = body.tenant_id, body.pipeline
        max_running, idempotency_key = body.max_running, body.idempotency_key
        inputs = body.inputs
        refuse_non_finite(inputs=inputs)
        version = body.version
    check_tenant(caller, tenant_id)
    run = await resolve_run(cache, pipelines, tenant_id, pipeline, version=version)
    submitted = await batches.submit_batch(
        BatchRequest(
            tenant_id=tenant_id,
            pipeline=run.name,
            config=run.config,
            settings=run.settings,
            priority=run.priority,
            max_running=max_running or DEFAULT_MAX_RUNNING,
            idempotency_key=idempotency_key,
        ),
        inputs,
    )
    if submitted.created:
        ctx.metrics.batch_submitted(tenant_id=tenant_id, total=submitted.batch.total)
    else:
        response.status_code = 200
    return submitted.batch


@router.get("", operation_id="list_batches", response_model=BatchPage)
async def list_batches(
    caller: Viewer,
    batches: BatchesDep,
    settings: SettingsDep,
    tenant_id: Annotated[str | None, Query(pattern=TENANT_ID, max_length=128)] = None,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
    page_token: Annotated[str | None, Query(pattern=r"^[0-9a-fA-F]*$", max_length=8192)] = None,
) -> BatchPage:
    """Batches of the caller's tenants, newest first (state: as the batch last recorded it)."""
    tenants = listed_tenants(caller, tenant_id)
    query = f"batches|{sorted(tenants) if tenants is not None else '*'}"
    token = open_page_token(page_token, query=query, secret=page_token_key(settings))
    page = await batches.list_batches(
        tenant_ids=tenants, page_size=page_size, next_page_token=token
    )
    nxt = seal_page_token(page.next_page_token, query=query, secret=page_token_key(settings))
    return page.model_copy(update={"next_page_token": nxt})


@router.get("/{batch_id}", operation_id="get_batch", response_model=BatchStatus)
async def get_batch(batch: ViewableBatch) -> BatchStatus:
    """The batch's state, its pipelines' counts by state, when it started and finished."""
    return batch


@router.get(
    "/{batch_id}/pipelines", operation_id="list_batch_pipelines", response_model=BatchPipelinePage
)
async def list_batch_pipelines(
    batch: ViewableBatch,
    batches: BatchesDep,
    settings: SettingsDep,
    state: PipelineState | None = None,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: Annotated[str | None, Query(pattern=r"^[0-9a-fA-F]*$", max_length=8192)] = None,
) -> BatchPipelinePage:
    """The batch's pipelines by pages: all in input order, or those in ``state``."""
    query = f"batch-pipelines|{batch.batch_id}|{state}"
    token = open_page_token(page_token, query=query, secret=page_token_key(settings))
    page = await batches.batch_pipelines(
        batch.batch_id,
        tenant_id=batch.tenant_id,
        state=state,
        page_size=page_size,
        next_page_token=token,
    )
    nxt = seal_page_token(page.next_page_token, query=query, secret=page_token_key(settings))
    return page.model_copy(update={"next_page_token": nxt})


@router.post(
    "/{batch_id}/cancel",
    operation_id="cancel_batch",
    response_model=BatchStatus,
    responses=CONFLICT_RESPONSES,
)
async def cancel_batch(
    batch: OperableBatch, caller: CallerDep, batches: BatchesDep, body: CancelBody | None = None
) -> BatchStatus:
    """No more of its pipelines start, and the running ones are cancelled (repeats: the state)."""
    return await batches.cancel_batch(
        batch.batch_id, (body or CancelBody()).reason, actor=caller.sub
    )


@router.post(
    "/{batch_id}/retry-failed",
    operation_id="retry_failed_batch",
    response_model=RetriedBatch,
    responses=CONFLICT_RESPONSES,
)
async def retry_failed(
    batch: OperableBatch, caller: CallerDep, batches: BatchesDep, body: RetryBody | None = None
) -> RetriedBatch:
    """Retry every failed stage of every failed pipeline of the batch, in one call."""
    return await batches.retry_failed(
        batch.batch_id, (body or RetryBody()).reason, actor=caller.sub
    )


@router.get(
    "/{batch_id}/results",
    operation_id="get_batch_results",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One JSON line per input, in input order: "
            "`{index, pipeline_id, state, result | error}`.",
            "content": {NDJSON: {"schema": BatchResultLine.model_json_schema()}},
        }
    },
)
async def get_batch_results(
    batch: ViewableBatch, batches: BatchesDep, ctx: ContextDep, request: Request
) -> StreamingResponse:
    """The results as NDJSON in input order (pipelines not ended yet say their state); an open
    download counts among the token's and the tenant's concurrent streams."""

    async def lines() -> AsyncIterator[bytes]:
        async for line in batches.batch_results(batch.batch_id, tenant_id=batch.tenant_id):
            yield line.model_dump_json(exclude_none=False).encode() + b"\n"

    slot = await stream_slot(request, ctx, batch.tenant_id)
    return StreamingResponse(
        slot.guard(lines()), media_type=NDJSON, background=BackgroundTask(slot.background)
    )
