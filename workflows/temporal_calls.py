"""The one way the engine calls Temporal: :class:`TemporalCalls`, and the one error translation.

Every Temporal RPC of the engine (commands, reads, visibility, history polls, health checks) goes
through :meth:`TemporalCalls.__call__`, which turns what Temporal raised into the project's error
hierarchy (:func:`translate`). No Temporal error reaches a client as a 500: each RPC status has a
documented HTTP status (docs/operations.md, "Temporal errors and what the API answers").

Only a Temporal that cannot be reached is taken for an outage (the next calls then fail fast, see
:mod:`workflows.liveness`): a failed connection, or ``UNAVAILABLE`` while Temporal's health check
does not answer either. A request that Temporal refuses, or fails for that request alone (an
``UNAVAILABLE`` while the health check answers, e.g. a visibility query its database rejects), is
answered for that request only and never marks Temporal down for everyone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TypeVar

from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, TemporalError
from temporalio.service import RPCError, RPCStatusCode

from pipeline_engine.errors import (
    Conflict,
    EngineUnavailable,
    InvalidInput,
    InvalidState,
    NotFound,
    PipelineError,
    PipelineNotFound,
    Problem,
    TimeoutError,
    error_from_dict,
)
from workflows import search_attributes
from workflows.liveness import TemporalLiveness
from workflows.payload_store import PayloadMissing, PayloadStoreUnavailable

__all__ = ["Overrides", "TemporalCalls", "translate"]

T = TypeVar("T")
log = logging.getLogger("workflows.temporal_calls")

Overrides = Mapping[RPCStatusCode, Callable[[RPCError], PipelineError]]
"""What one call answers for an RPC status instead of the default (e.g. ``INVALID_ARGUMENT`` of a
status read: not a valid pipeline id, so 404)."""

_HEALTH_TIMEOUT = timedelta(seconds=0.5)


def _payload_problem(exc: BaseException) -> PipelineError | None:
    """A payload-store failure anywhere in ``exc``'s chain, as the error a client should see."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, PayloadMissing):  # 404, naming no store key or location
            return NotFound(
                "the pipeline's stored payloads were deleted after their retention "
                "(PIPELINE_ENGINE_PAYLOAD_RETENTION_S)"
            )
        if isinstance(seen, PayloadStoreUnavailable):
            return EngineUnavailable(str(seen))
        seen = seen.__cause__ or seen.__context__
    return None


def _workflow_refusal(exc: WorkflowUpdateFailedError | WorkflowQueryFailedError) -> PipelineError:
    """What the workflow answered to an update or query it refused (its own error, by code)."""
    cause = exc.cause if isinstance(exc, WorkflowUpdateFailedError) else None
    if isinstance(cause, ApplicationError) and cause.type:
        details = list(cause.details) if cause.details else []
        return error_from_dict({"error": cause.type, "message": cause.message, "details": details})
    return InvalidState(str(cause or exc))


def _refused(exc: RPCError) -> PipelineError:
    problem = Problem("$", f"refused by Temporal: {exc.message}")
    return InvalidInput("Temporal refused the request", problems=[problem])


def _conflict(exc: RPCError) -> PipelineError:
    return Conflict(f"Temporal refused a conflicting change: {exc.message}")


def _out_of_time(exc: RPCError) -> PipelineError:
    return TimeoutError(f"Temporal did not answer in time ({exc.message}); read the state")


def _credentials(exc: RPCError) -> PipelineError:
    return EngineUnavailable(f"Temporal refused this server's credentials: {exc.message}")


_BY_STATUS: dict[RPCStatusCode, Callable[[RPCError], PipelineError]] = {
    RPCStatusCode.NOT_FOUND: lambda exc: PipelineNotFound("pipeline not found"),
    RPCStatusCode.UNAVAILABLE: lambda exc: EngineUnavailable(
        f"Temporal is unavailable: {exc.message}"
    ),
    RPCStatusCode.INVALID_ARGUMENT: _refused,
    RPCStatusCode.OUT_OF_RANGE: _refused,
    RPCStatusCode.ALREADY_EXISTS: _conflict,
    RPCStatusCode.ABORTED: _conflict,
    RPCStatusCode.FAILED_PRECONDITION: lambda exc: InvalidState(
        f"not possible in the workflow's current state: {exc.message}"
    ),
    RPCStatusCode.DEADLINE_EXCEEDED: _out_of_time,
    RPCStatusCode.CANCELLED: _out_of_time,
    RPCStatusCode.RESOURCE_EXHAUSTED: lambda exc: EngineUnavailable(
        f"Temporal is over a limit: {exc.message}", retry_after_s=1.0
    ),
    RPCStatusCode.PERMISSION_DENIED: _credentials,
    RPCStatusCode.UNAUTHENTICATED: _credentials,
}
"""The project error of each RPC status (the table in docs/operations.md); any other status
(INTERNAL, UNKNOWN, UNIMPLEMENTED, DATA_LOSS) is Temporal failing that request: 503."""


def _rpc_error(exc: RPCError) -> PipelineError:
    known = _BY_STATUS.get(exc.status)
    if known is not None:
        return known(exc)
    return EngineUnavailable(
        f"Temporal could not serve the request ({exc.status.name}): {exc.message}"
    )


def translate(exc: BaseException, namespace: str = "default") -> PipelineError | None:
    """The project error for what a Temporal call raised (``None``: not Temporal's; re-raise it).

    Pure: says nothing of whether Temporal is down (that is :class:`TemporalCalls`' question).
    ``namespace`` names the namespace in the error of a search attribute it lacks.
    """
    if isinstance(exc, PipelineError):
        return exc
    unset = search_attributes.missing_from_error(exc, namespace)
    if unset is not None:
        return unset
    payload_problem = _payload_problem(exc)
    if payload_problem is not None:
        return payload_problem
    if isinstance(exc, WorkflowUpdateFailedError | WorkflowQueryFailedError):
        return _workflow_refusal(exc)
    if isinstance(exc, RPCError):
        return _rpc_error(exc)
    if isinstance(exc, RPCTimeoutOrCancelledError):
        return TimeoutError("Temporal did not answer in time; the operation may still complete")
    if _connection_failed(exc):
        return EngineUnavailable("Temporal is unreachable")
    if isinstance(exc, TemporalError):
        return EngineUnavailable(f"Temporal could not serve the request: {exc}")
    return None


def _connection_failed(exc: BaseException) -> bool:
    # A lazy client that cannot connect raises a bare RuntimeError("Failed client connect…").
    return isinstance(exc, RuntimeError) and "client connect" in str(exc).lower()


class TemporalCalls:
    """Runs the engine's Temporal calls: fails fast while Temporal is down, translates errors.

    Args:
        client: The Temporal client (its health check tells an outage from a failed request).
        on_attributes_missing: Called when Temporal refused a call for a search attribute the
            namespace lacks (the call answers 503 naming it: :mod:`workflows.search_attributes`).
    """

    def __init__(
        self, client: Client, *, on_attributes_missing: Callable[[], None] | None = None
    ) -> None:
        self._client = client
        self._on_attributes_missing = on_attributes_missing
        self._liveness = TemporalLiveness(self._health)

    def _health(self) -> Awaitable[object]:
        return self._client.service_client.check_health(timeout=_HEALTH_TIMEOUT)

    async def __call__(
        self,
        op: Callable[[], Awaitable[T]],
        *,
        overrides: Overrides | None = None,
        passing: tuple[type[BaseException], ...] = (),
    ) -> T:
        """``op()``'s answer; what it raised as a project error.

        Args:
            op: One Temporal call.
            overrides: This call's own answer to some RPC statuses.
            passing: Errors this call's caller handles itself (raised unchanged).

        Raises:
            PipelineError: Temporal refused or failed the call, or is known to be down.
        """
        await self._liveness.gate()
        try:
            return await op()
        except passing:
            raise
        except Exception as exc:
            mapped = await self.error(exc, overrides)
            if mapped is None:
                raise
            raise mapped from None

    async def error(
        self, exc: BaseException, overrides: Overrides | None = None
    ) -> PipelineError | None:
        """The project error for ``exc``; a Temporal found unreachable makes the next calls fail
        fast (``None``: not an error of Temporal's)."""
        mapped = translate(exc, self._client.namespace)
        if isinstance(mapped, search_attributes.SearchAttributesMissing):
            if self._on_attributes_missing is not None:
                self._on_attributes_missing()
            return mapped
        if isinstance(exc, RPCError) and overrides and exc.status in overrides:
            return overrides[exc.status](exc)
        if _connection_failed(exc):
            self._liveness.mark_down()
        elif isinstance(exc, RPCError) and exc.status == RPCStatusCode.UNAVAILABLE:
            if await self._serving():
                # Temporal answers, but not this request (e.g. its database refused the query)
                log.warning("Temporal failed one request while serving: %s", exc.message)
                return EngineUnavailable("Temporal could not serve this request", retry_after_s=1.0)
            self._liveness.mark_down()
        return mapped

    async def _serving(self) -> bool:
        try:
            await asyncio.wait_for(self._health(), _HEALTH_TIMEOUT.total_seconds())
        except Exception:
            return False
        return True
