"""The one mapping from errors to HTTP responses: status, headers and the error body
``{"error", "message", "details"}``; and the error responses the OpenAPI document declares."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.body_hints import content_type_problem, malformed_json_problem
from api.deps import refused_credentials
from pipeline_engine._suggest import unknown_field_hint
from pipeline_engine.errors import (
    AuthenticationError,
    BatchNotFound,
    EngineUnavailable,
    InvalidInput,
    NotFound,
    PipelineError,
    PipelineNotFound,
    Problem,
    ScheduleNotFound,
    TenantNotFound,
    TriggerNotFound,
)

__all__ = [
    "CONFLICT_RESPONSES",
    "ERROR_RESPONSES",
    "error_response",
    "install_error_handlers",
    "problems_from_request_errors",
    "status_for",
    "translate_exception",
]

log = logging.getLogger("api.errors")

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

_ERROR_BODY = {
    "title": "Error",
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "Stable code of the kind of error."},
        "message": {"type": "string", "description": "What went wrong, in words."},
        "details": {
            "type": "array",
            "items": {},
            "description": "For invalid documents: one {path, message} per problem.",
        },
    },
    "required": ["error", "message", "details"],
}


def _error(description: str, code: str, message: str, details: list[Any] | None = None) -> Any:
    example = {"error": code, "message": message, "details": details or []}
    return {
        "description": description,
        "content": {"application/json": {"schema": _ERROR_BODY, "example": example}},
    }


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error(
        "The bearer token is missing, expired, or not valid.",
        "unauthenticated",
        "token expired: mint a new one",
    ),
    403: _error(
        "The token lacks the role this operation needs.",
        "permission_denied",
        "this operation needs the operator role",
    ),
    404: _error(
        "No such pipeline, stage or tenant among the caller's tenants.",
        "pipeline_not_found",
        "pipeline not found",
    ),
    413: _error(
        "The request body is larger than the server accepts.",
        "payload_too_large",
        "request body over 2097152 bytes",
    ),
    422: _error(
        "The request is not valid; each problem is listed with its JSON path.",
        "invalid_config",
        "invalid pipeline config (1 problem); unknown steps: detect",
        [{"path": "$.config.definition.steps[1].name", "message": "unknown step 'detect'"}],
    ),
    503: _error(
        "Temporal or the database cannot be reached right now; retry after Retry-After seconds.",
        "unavailable",
        "Temporal is unreachable",
    ),
    504: _error(
        "Temporal did not answer in time; the operation may still complete: read the state.",
        "timeout",
        "the operation did not finish in time",
    ),
}
"""OpenAPI ``responses`` shared by every protected route."""

CONFLICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: _error(
        "The operation does not apply in the current state (e.g. the pipeline already ended), "
        "or the idempotency key was used with other arguments, or the version is stale.",
        "invalid_state",
        "pipeline already ended as SUCCEEDED",
    )
}
"""OpenAPI ``responses`` of the routes that change something (409)."""

_UNIFORM_404: tuple[tuple[type[NotFound], str], ...] = (
    (PipelineNotFound, "pipeline not found"),
    (
        TenantNotFound,
        "tenant not found: no config is stored for it among your tenants "
        "(an admin stores one with PUT /v1/tenants/{tenant_id}/config)",
    ),
    (BatchNotFound, "batch not found"),
    (ScheduleNotFound, "schedule not found"),
    (TriggerNotFound, "trigger not found"),
)
"""The one body of each kind of 404: another tenant's pipeline (or tenant) and one that does not
exist must answer byte for byte alike, whatever raised it, so the body names no id."""


def status_for(exc: PipelineError) -> int:
    """The HTTP status of a project error: its class's ``http_status`` (500 for the root)."""
    return exc.http_status


def error_response(exc: PipelineError) -> JSONResponse:
    """The JSON response for a project error, with ``WWW-Authenticate``/``Retry-After``."""
    status = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = 'Bearer realm="pipeline-engine", error="invalid_token"'
    if isinstance(exc, EngineUnavailable):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    body = exc.to_dict() if status != 500 else _internal_body()
    for kind, message in _UNIFORM_404:
        if isinstance(exc, kind):
            # a suggestion is among the caller's own tenants only: it says nothing of others
            hint = next((d["did_you_mean"] for d in exc.details if _suggests(d)), None)
            suffix = f"; did you mean {hint!r}?" if hint else ""
            body = {"error": kind.code, "message": message + suffix, "details": []}
    return JSONResponse(body, status_code=status, headers=headers)


def _suggests(detail: Any) -> bool:
    return isinstance(detail, dict) and isinstance(detail.get("did_you_mean"), str)


def _internal_body() -> dict[str, Any]:
    return {"error": "internal", "message": "internal server error", "details": []}


def translate_exception(exc: BaseException) -> PipelineError | None:
    """The project error for ``exc``, else ``None``.

    Engines translate their own infrastructure's errors (Temporal's inside the Temporal engine);
    what is left here is an unreachable socket (e.g. the database).
    """
    if isinstance(exc, PipelineError):
        return exc
    if isinstance(exc, OSError | ConnectionError):
        return EngineUnavailable("a backend service is unreachable")
    return None


def _path(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "$"
    source, rest = loc[0], loc[1:]
    root = "$" if source == "body" else str(source)
    out = root
    for part in rest:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _message(err: dict[str, Any], body_model: type[BaseModel] | None = None) -> str:
    kind = err.get("type")
    if kind == "extra_forbidden":
        loc = tuple(err.get("loc", ()))
        hint = unknown_field_hint(body_model, loc[1:]) if loc[:1] == ("body",) else ""
        return "unknown field" + hint
    if kind == "missing":
        return "required field missing"
    if kind == "json_invalid":
        ctx = err.get("ctx") or {}
        return f"not valid JSON: {ctx.get('error', err.get('msg', ''))}"
    return str(err.get("msg", "invalid value")).removeprefix("Value error, ")


def problems_from_request_errors(
    errors: Any, *, body_model: type[BaseModel] | None = None
) -> list[Problem]:
    """Problems (JSON path + message) from FastAPI's request validation errors (an unknown field
    of ``body_model`` with the closest known one)."""
    seen: set[tuple[str, str]] = set()
    out: list[Problem] = []
    for err in errors:
        if not isinstance(err, dict):
            continue
        item = (_path(tuple(err.get("loc", ()))), _message(err, body_model))
        if item not in seen:
            seen.add(item)
            out.append(Problem(*item))
    return out


async def _on_pipeline_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PipelineError)
    if status_for(exc) == 500:
        log.error("unmapped project error on %s: %r", request.url.path, exc)
    return error_response(exc)


def _body_model(request: Request) -> type[BaseModel] | None:
    """The pydantic model of the route's JSON body, if it has one."""
    field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(field, "field_info", None), "annotation", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    auth = await refused_credentials(request)
    if auth is not None:
        return error_response(auth)
    errors = list(exc.errors())
    hint = content_type_problem(request, errors)
    if hint is not None:
        return error_response(InvalidInput(hint.message, problems=[hint]))
    for err in errors:
        malformed = malformed_json_problem(err, getattr(exc, "body", None))
        if malformed is not None:
            return error_response(InvalidInput(malformed.message, problems=[malformed]))
    problems = problems_from_request_errors(errors, body_model=_body_model(request))
    n = len(problems)
    err = InvalidInput(f"invalid request ({n} problem{'s' if n != 1 else ''})", problems=problems)
    return error_response(err)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # FastAPI could not decode the body (e.g. not UTF-8)
        auth = await refused_credentials(request)
        if auth is not None:
            return error_response(auth)
        problem = Problem("$", f"body cannot be parsed: {exc.detail}")
        return error_response(InvalidInput("invalid request body", problems=[problem]))
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    body = {"error": code, "message": str(exc.detail), "details": []}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    mapped = translate_exception(exc)
    if mapped is not None:
        return error_response(mapped)
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(_internal_body(), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the error body."""
    app.add_exception_handler(PipelineError, _on_pipeline_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(OSError, _on_unexpected)
    app.add_exception_handler(Exception, _on_unexpected)
