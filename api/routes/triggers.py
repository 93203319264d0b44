"""Webhook triggers: ``PUT /v1/tenants/{t}/triggers/{id}`` (admin) and the signed delivery route
``POST /v1/triggers/{t}/{id}``, which takes no bearer token but an HMAC of its body.

A delivery is checked before anything else: a trigger that does not exist and a signature that
does not match answer the same 401 and create nothing. The same ``X-Delivery-Id`` twice gives the
same pipeline (its idempotency key is the trigger and the delivery id): 202 the first time, 200
after.
"""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import (
    Admin,
    CacheDep,
    ContextDep,
    EngineDep,
    PipelinesDep,
    TenantPath,
    check_tenant,
)
from api.errors import CONFLICT_RESPONSES, ERROR_RESPONSES
from api.routes._runs import resolve_run
from api.triggers import TriggerStore, signature_valid
from pipeline_engine.dsl._cel import ExpressionError, check_expression, evaluate
from pipeline_engine.errors import AuthenticationError, InvalidInput, Problem, TriggerNotFound
from pipeline_engine.triggers import TriggerInfo

router = APIRouter(tags=["triggers"], responses=ERROR_RESPONSES)

TRIGGER_ID = r"^[A-Za-z0-9_-]{1,100}$"
MAPPING_VARIABLES = ("body", "headers")
TriggerPath = Annotated[str, Path(pattern=TRIGGER_ID, description="The trigger id.")]


async def get_triggers(ctx: ContextDep) -> TriggerStore:
    """The trigger table on the tenant store's database."""
    return TriggerStore(ctx.store)


TriggersDep = Annotated[TriggerStore, Depends(get_triggers)]


class TriggerBody(BaseModel):
    """``PUT /v1/tenants/{t}/triggers/{id}``: what a delivery starts."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "input": '{"bucket": body.Records[0].s3.bucket.name, '
                    '"key": body.Records[0].s3.object.key}'
                }
            ]
        },
    )

    pipeline: str | None = Field(None, max_length=200, description="The tenant's pipeline.")
    input: str | None = Field(
        None,
        max_length=2000,
        description="CEL over `body` (the delivery's JSON) and `headers` (lower-case names): "
        "the pipeline input (default: the body itself).",
    )


class Delivered(BaseModel):
    """The pipeline a delivery started."""

    pipeline_id: str


def _out(trigger: Any, *, secret: bool) -> TriggerInfo:
    return TriggerInfo(
        tenant_id=trigger.tenant_id,
        trigger_id=trigger.trigger_id,
        pipeline=trigger.pipeline,
        input=trigger.input,
        url=f"/v1/triggers/{trigger.tenant_id}/{trigger.trigger_id}",
        secret=trigger.secret if secret else None,
    )


@router.put(
    "/tenants/{tenant_id}/triggers/{trigger_id}",
    operation_id="put_trigger",
    response_model=TriggerInfo,
    status_code=201,
    responses={
        200: {"model": TriggerInfo, "description": "Updated (no secret)"},
        **CONFLICT_RESPONSES,
    },
)
async def put_trigger(
    tenant_id: TenantPath,
    trigger_id: TriggerPath,
    body: TriggerBody,
    caller: Admin,
    triggers: TriggersDep,
    cache: CacheDep,
    pipelines: PipelinesDep,
    response: Response,
) -> TriggerInfo:
    """Create a webhook trigger (201 with its secret, shown this once) or change its mapping
    (200, the secret unchanged and not shown)."""
    check_tenant(caller, tenant_id)
    await resolve_run(cache, pipelines, tenant_id, body.pipeline)  # it exists and runs
    if body.input is not None:
        problems = check_expression(body.input, path="$.input", allowed=MAPPING_VARIABLES)
        if problems:
            raise InvalidInput("the input mapping is not valid CEL", problems=problems)
    trigger, created = await triggers.put(
        tenant_id, trigger_id, pipeline=body.pipeline, input=body.input
    )
    if not created:
        response.status_code = 200
    return _out(trigger, secret=created)


@router.post(
    "/tenants/{tenant_id}/triggers/{trigger_id}/rotate",
    operation_id="rotate_trigger",
    response_model=TriggerInfo,
    responses=CONFLICT_RESPONSES,
)
async def rotate_trigger(
    tenant_id: TenantPath, trigger_id: TriggerPath, caller: Admin, triggers: TriggersDep
) -> TriggerInfo:
    """A new secret (shown this once); the old one stops verifying deliveries at once."""
    check_tenant(caller, tenant_id)
    trigger = await triggers.rotate(tenant_id, trigger_id)
    if trigger is None:
        raise TriggerNotFound("trigger not found")
    return _out(trigger, secret=True)


def _refused() -> AuthenticationError:
    return AuthenticationError("missing or bad X-Pipeline-Signature")


@router.post(
    "/triggers/{tenant_id}/{trigger_id}",
    operation_id="deliver_trigger",
    status_code=202,
    response_model=Delivered,
    responses={200: {"model": Delivered, "description": "This delivery was seen: its pipeline"}},
)
async def deliver(
    request: Request,
    tenant_id: TenantPath,
    trigger_id: TriggerPath,
    triggers: TriggersDep,
    cache: CacheDep,
    pipelines: PipelinesDep,
    engine: EngineDep,
    ctx: ContextDep,
    response: Response,
    signature: Annotated[
        str | None,
        Header(
            alias="X-Pipeline-Signature",
            description="`sha256=<hex HMAC-SHA256 of the raw body>`, keyed by the secret.",
        ),
    ] = None,
    delivery_id: Annotated[
        str | None,
        Header(alias="X-Delivery-Id", max_length=200, description="The same id: the same run."),
    ] = None,
) -> Delivered:
    """Start the trigger's pipeline from a signed delivery (no bearer token: the signature is
    the credential). The body must be JSON; the trigger's CEL mapping makes the input."""
    raw = await request.body()
    trigger = await triggers.get(tenant_id, trigger_id)
    if trigger is None or not signature_valid(trigger.secret, raw, signature):
        ctx.metrics.trigger_delivery("refused")
        raise _refused()
    if not delivery_id:
        ctx.metrics.trigger_delivery("invalid")
        raise InvalidInput(
            "a delivery names itself", problems=[Problem("header.X-Delivery-Id", "required")]
        )
    try:
        body = json.loads(raw)
    except ValueError as exc:
        ctx.metrics.trigger_delivery("invalid")
        raise InvalidInput("the delivery is not JSON", problems=[Problem("$", str(exc))]) from None
    headers = {k.lower(): v for k, v in request.headers.items()}
    payload = body
    if trigger.input is not None:
        try:
            payload = evaluate(
                trigger.input, {"body": body, "headers": headers}, allowed=MAPPING_VARIABLES
            )
        except ExpressionError as exc:
            ctx.metrics.trigger_delivery("invalid")
            raise InvalidInput(
                "the trigger's input mapping failed on this delivery",
                problems=[Problem("$.input", str(exc))],
            ) from None
    run = await resolve_run(cache, pipelines, tenant_id, trigger.pipeline)
    created = await engine.create_pipeline(
        run.config,
        input=payload,
        tenant_id=tenant_id,
        idempotency_key=f"trigger:{trigger_id}:{delivery_id}",
        settings=run.settings,
        start=True,
        priority=run.priority,
    )
    if created.created:
        ctx.metrics.trigger_delivery("accepted")
        ctx.metrics.pipeline_created(route="deliver_trigger", tenant_id=tenant_id)
    else:
        ctx.metrics.trigger_delivery("repeated")
        response.status_code = 200
    return Delivered(pipeline_id=created.pipeline_id)
