"""Dependencies, declared once as ``Annotated`` aliases: settings, engine, store, cache, caller,
and the path, header and query parameters several routes share (tenant, ``If-Match``, list
filters).

Every dependency is a coroutine function: FastAPI runs a plain ``def`` dependency in a worker
thread, a hop that cost more per request than the work of all of them together.

Authorisation is layered here: :func:`require` checks a role, and the ``*Pipeline`` aliases check
the role and then that the pipeline's tenant (read from the engine, never from the request) is one
of the caller's, answering 404 otherwise so nothing leaks about other tenants.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from api.auth import Caller, Role
from api.context import ApiContext
from api.list_filters import WhereDep, pipeline_where
from api.observability import ApiMetrics
from api.rate_limits import StreamSlot, token_key
from api.schemas import TENANT_ID as TENANT_ID_PATTERN
from api.tenants import TenantConfigCache, TenantConfigStore
from api.tenants.pipelines import PipelineStore
from pipeline_engine.errors import (
    AuthenticationError,
    PermissionDenied,
    PipelineNotFound,
    TenantNotFound,
)
from pipeline_engine.service import PipelineEngine
from pipeline_engine.settings import Settings
from pipeline_engine.states import StageState
from pipeline_engine.status import MAX_STAGE_PAGE, PipelineStatus, StagePage
from pipeline_engine.steps import StepRegistry

__all__ = [
    "TENANT_ID_PATTERN",
    "Admin",
    "ApprovablePipeline",
    "Approver",
    "CacheDep",
    "CallerDep",
    "ContextDep",
    "EngineDep",
    "IfMatch",
    "MetricsDep",
    "OperablePipeline",
    "Operator",
    "PathViewer",
    "PipelinesDep",
    "RegistryDep",
    "SettingsDep",
    "StatusReader",
    "StoreDep",
    "TenantPath",
    "ViewablePipeline",
    "ViewablePipelineStatus",
    "ViewableStatusReader",
    "Viewer",
    "WhereDep",
    "check_owner",
    "check_tenant",
    "listed_tenants",
    "path_token_viewer",
    "pipeline_where",
    "refused_credentials",
    "require",
    "stream_slot",
]

_MAX_PIPELINE_ID = 255

_bearer = HTTPBearer(auto_error=False, description="JWT (HS256) with sub, roles, tenants, exp.")


async def get_context(request: Request) -> ApiContext:
    """The app's shared objects."""
    ctx: ApiContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[ApiContext, Depends(get_context)]


async def get_metrics(ctx: ContextDep) -> ApiMetrics:
    """The API's Prometheus collectors."""
    return ctx.metrics


MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]


async def get_settings(ctx: ContextDep) -> Settings:
    """Server settings."""
    return ctx.settings


async def get_engine(ctx: ContextDep) -> PipelineEngine:
    """The pipeline engine (Temporal in production, in-memory under the offline fake)."""
    return ctx.engine


async def get_registry(ctx: ContextDep) -> StepRegistry:
    """The step registry."""
    return ctx.registry


async def get_store(ctx: ContextDep) -> TenantConfigStore:
    """The tenant config store."""
    return ctx.store


async def get_cache(ctx: ContextDep) -> TenantConfigCache:
    """The validated tenant config cache."""
    return ctx.cache


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[PipelineEngine, Depends(get_engine)]
RegistryDep = Annotated[StepRegistry, Depends(get_registry)]
StoreDep = Annotated[TenantConfigStore, Depends(get_store)]
CacheDep = Annotated[TenantConfigCache, Depends(get_cache)]


async def get_pipelines(ctx: ContextDep) -> PipelineStore:
    """The tenant store's named pipelines (versions, aliases, audit)."""
    return PipelineStore(ctx.store)


PipelinesDep = Annotated[PipelineStore, Depends(get_pipelines)]


async def _caller_of(ctx: ApiContext, token: str | None) -> Caller:
    """The caller a token names: how every route authenticates (401 when missing or invalid)."""
    if not token:
        raise AuthenticationError("missing bearer token")
    return await ctx.tokens.averify(token)


async def _counted(ctx: ApiContext, request: Request, token: str | None) -> Caller:
    """The token's caller, its request counted against the rates (429 once over)."""
    caller = await _caller_of(ctx, token)
    assert token is not None  # _caller_of refused a missing one
    request.state.token_key = key = token_key(token)  # for the route's stream slots
    if ctx.limits is not None:
        await ctx.limits.check_request(key, caller)
    return caller


async def current_caller(
    ctx: ContextDep,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller named by the request's bearer token (401 when missing or invalid; 429 over
    the token's or its tenants' request rate)."""
    token = credentials.credentials if credentials is not None else None
    return await _counted(ctx, request, token)


CallerDep = Annotated[Caller, Depends(current_caller)]


async def path_token_viewer(
    ctx: ContextDep,
    request: Request,
    token: Annotated[str, Path(description="A viewer's bearer token.")],
) -> Caller:
    """The caller named by a token in the path (for clients that cannot send a header: the
    Temporal Web UI's codec endpoint); needs the viewer role."""
    caller = await _counted(ctx, request, token)
    if not caller.has_role(Role.VIEWER):
        raise PermissionDenied("this operation needs the 'viewer' role")
    return caller


PathViewer = Annotated[Caller, Depends(path_token_viewer)]


def _header_token(request: Request) -> str | None:
    scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    return token.strip() if scheme.lower() == "bearer" else None


def _path_token(request: Request) -> str | None:
    token = request.path_params.get("token")
    return token if isinstance(token, str) else None


_TOKEN_SOURCES: dict[Callable[..., Any], Callable[[Request], str | None]] = {
    current_caller: _header_token,
    path_token_viewer: _path_token,
}
"""Where each authenticating dependency finds its token."""


def _token_source(route: APIRoute) -> Callable[[Request], str | None] | None:
    """How ``route`` authenticates its caller (``None``: it needs no token, e.g. the schema).

    A walk of its dependencies, asked only on the error path (a body that did not decode)."""
    pending: list[Dependant] = [route.dependant]
    while pending:
        dependant = pending.pop()
        source = _TOKEN_SOURCES.get(dependant.call) if dependant.call is not None else None
        if source is not None:
            return source
        pending.extend(dependant.dependencies)
    return None


async def refused_credentials(request: Request) -> AuthenticationError | None:
    """Why the request's token does not authenticate it for its route (``None``: it does, or the
    route needs none): the route's own authentication, asked before its body is looked at.

    For the error handlers: FastAPI decodes a JSON body before it runs dependencies, so a
    malformed body would otherwise be answered 422 to a caller that has not authenticated.
    """
    route = request.scope.get("route")
    ctx: ApiContext | None = getattr(request.app.state, "ctx", None)
    if not isinstance(route, APIRoute) or ctx is None:
        return None
    source = _token_source(route)
    if source is None:
        return None
    try:
        await _caller_of(ctx, source(request))
    except AuthenticationError as err:
        return err
    return None


def require(role: Role) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency giving the caller if it holds ``role`` (403 otherwise)."""

    async def check(caller: CallerDep) -> Caller:
        if not caller.has_role(role):
            raise PermissionDenied(f"this operation needs the {role.value!r} role")
        return caller.narrowed(role)  # its tenant checks are then checks of this role

    check.__name__ = f"require_{role.value}"
    return check


Viewer = Annotated[Caller, Depends(require(Role.VIEWER))]
Operator = Annotated[Caller, Depends(require(Role.OPERATOR))]
Approver = Annotated[Caller, Depends(require(Role.APPROVER))]
Admin = Annotated[Caller, Depends(require(Role.ADMIN))]


def check_tenant(caller: Caller, tenant_id: str) -> None:
    """404 (``TenantNotFound``) unless ``tenant_id`` is one of the caller's tenants."""
    if not caller.can_access(tenant_id):
        raise TenantNotFound("tenant not found")


def _check_pipeline_id(pipeline_id: str) -> None:
    if not pipeline_id or len(pipeline_id) > _MAX_PIPELINE_ID or not pipeline_id.isprintable():
        raise PipelineNotFound("pipeline not found")


async def check_owner(ctx: ApiContext, caller: Caller, pipeline_id: str) -> None:
    """404 unless the pipeline's tenant is one of the caller's: before any other read of it.

    The tenant comes from the engine (a ``describe``, no worker involved), kept per id, so the
    answer for another tenant's pipeline takes as long as for an id that does not exist.
    """
    _check_pipeline_id(pipeline_id)
    if pipeline_id in ctx.owners:
        tenant = ctx.owners[pipeline_id]
    else:
        tenant = await ctx.engine.tenant_of(pipeline_id)
        ctx.owners[pipeline_id] = tenant
    if not caller.can_access(tenant):
        raise PipelineNotFound("pipeline not found")


def _pipeline_for(role: Role) -> Callable[[str, Caller, ApiContext], Awaitable[str]]:
    checked = Annotated[Caller, Depends(require(role))]

    async def owned(
        pipeline_id: Annotated[str, Path(description="The pipeline id.")],
        caller: checked,
        ctx: ContextDep,
    ) -> str:
        await check_owner(ctx, caller, pipeline_id)
        return pipeline_id

    owned.__name__ = f"pipeline_for_{role.value}"
    return owned


@dataclass(frozen=True)
class StatusReader:
    """Reads pages of the status of a pipeline the caller may read (ownership checked first)."""

    pipeline_id: str
    page: StagePage
    """The page the request asked for."""
    read: Callable[[StagePage], Awaitable[PipelineStatus]]
    """One page (each answer's tenant checked against the caller again)."""


async def _status_reader(
    pipeline_id: Annotated[str, Path(description="The pipeline id.")],
    caller: Viewer,
    ctx: ContextDep,
    stage_offset: Annotated[int, Query(ge=0, description="Skip this many stages.")] = 0,
    stage_limit: Annotated[
        int, Query(ge=0, le=MAX_STAGE_PAGE, description="At most this many stages.")
    ] = MAX_STAGE_PAGE,
    stage_state: Annotated[
        StageState | None, Query(description="Only stages in this state.")
    ] = None,
) -> StatusReader:
    await check_owner(ctx, caller, pipeline_id)

    async def read(page: StagePage) -> PipelineStatus:
        status = await ctx.engine.get_pipeline(pipeline_id, page=page)
        if not caller.can_access(status.tenant_id):
            raise PipelineNotFound("pipeline not found")
        return status

    page = StagePage(offset=stage_offset, limit=stage_limit, state=stage_state)
    return StatusReader(pipeline_id, page, read)


ViewableStatusReader = Annotated[StatusReader, Depends(_status_reader)]
"""Pages of the status of a pipeline the caller may read (ownership checked first)."""


async def _viewable_status(reader: ViewableStatusReader) -> PipelineStatus:
    return await reader.read(reader.page)


ViewablePipelineStatus = Annotated[PipelineStatus, Depends(_viewable_status)]
"""The status of a pipeline the caller may read (ownership checked first)."""
ViewablePipeline = Annotated[str, Depends(_pipeline_for(Role.VIEWER))]
"""A pipeline id the caller may read (viewer role, one of its tenants)."""
OperablePipeline = Annotated[str, Depends(_pipeline_for(Role.OPERATOR))]
"""A pipeline id the caller may operate (operator role, one of its tenants)."""
ApprovablePipeline = Annotated[str, Depends(_pipeline_for(Role.APPROVER))]
"""A pipeline id the caller may give input to (approver role, one of its tenants)."""


async def stream_slot(request: Request, ctx: ApiContext, tenant: str | None) -> StreamSlot:
    """A slot among the concurrent streams of the request's token and of ``tenant`` (the
    streamed object's; 429 when either holds its limit): taken last, once nothing else can
    refuse the stream."""
    key: str = request.state.token_key
    if ctx.limits is None:
        return StreamSlot.unlimited()
    return await ctx.limits.acquire_stream(key, tenant)


TenantPath = Annotated[str, Path(pattern=TENANT_ID_PATTERN, description="The tenant.")]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", max_length=64, description="The current version (optimistic lock)."),
]


def listed_tenants(caller: Caller, tenant_id: str | None) -> list[str] | None:
    """The tenants a listing covers: ``tenant_id`` (if the caller's) or all of the caller's."""
    if tenant_id is not None:
        check_tenant(caller, tenant_id)
        return [tenant_id]
    return caller.tenant_filter()
