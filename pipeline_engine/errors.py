"""Every error the project raises, under one root.

    PipelineError                  (500)
    ├── InvalidConfig          422  a pipeline config or tenant config is not valid (lists problems)
    ├── InvalidInput           422  a request or an input payload is not valid (lists the problems)
    ├── NotFound               404
    │   ├── PipelineNotFound   404  no such pipeline (or not one of the caller's tenants)
    │   ├── StageNotFound      404  no such stage in the pipeline
    │   ├── TenantNotFound     404  no such tenant config (or not one of the caller's tenants)
    │   ├── BatchNotFound      404  no such batch (or not one of the caller's tenants)
    │   ├── ScheduleNotFound   404  no such schedule (or not one of the caller's tenants)
    │   └── TriggerNotFound    404  no such webhook trigger (or not one of the caller's tenants)
    ├── InvalidState           409  the operation does not apply in the pipeline's current state
    ├── Conflict               409  the idempotency key was used with other arguments; stale version
    ├── AuthenticationError    401  missing, expired or forged credentials
    ├── PermissionDenied       403  the caller lacks the role the operation needs
    ├── PayloadTooLarge        413  the request body is over the configured limit
    ├── EngineUnavailable      503  Temporal (or the database) cannot be reached right now
    │   └── RateLimited        429  a request rate or concurrent stream limit was reached
    └── TimeoutError           504  the operation did not finish in time (also a builtin one)

Every error carries a stable ``code`` (the ``error`` field of the REST error body), its HTTP status
``http_status`` (the one place statuses are defined: the API answers it, the client maps statuses
back with :func:`error_class_for_status`, the CLI derives exit codes from it), a message and a list
of ``details``; :meth:`PipelineError.to_dict` gives the wire form and :func:`error_from_dict`
rebuilds the right class from it.
"""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "BatchNotFound",
    "Conflict",
    "DefinitionNotFound",
    "EngineUnavailable",
    "InvalidConfig",
    "InvalidInput",
    "InvalidState",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PipelineError",
    "PipelineNotFound",
    "Problem",
    "RateLimited",
    "ScheduleNotFound",
    "StageNotFound",
    "TenantNotFound",
    "TimeoutError",
    "TriggerNotFound",
    "error_class_for_status",
    "error_from_dict",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document.

    Attributes:
        path: JSON path of the offending value, e.g. ``$.definition.steps[2].name``.
        message: What is wrong there, in words.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PipelineError(Exception):
    """Root of every error raised by Pipeline Engine.

    Attributes:
        code: Stable name of the kind of error (the ``error`` field of the REST error body).
        http_status: The HTTP status the REST API answers with this error; the one definition of
            it (a stable, documented attribute: the client and the CLI's exit codes use it too).
    """

    code: ClassVar[str] = "pipeline_error"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self._message = message
        self._details: list[Any] = list(details or [])

    @property
    def message(self) -> str:
        """Human-readable description."""
        return self._message

    @property
    def details(self) -> list[Any]:
        """Structured details (for config errors: one ``{"path", "message"}`` per problem)."""
        return list(self._details)

    def to_dict(self) -> dict[str, Any]:
        """The REST error body: ``{"error", "message", "details"}``."""
        return {"error": self.code, "message": self._message, "details": self.details}


class _ProblemsError(PipelineError):
    """An error that lists problems, each with a JSON path."""

    def __init__(
        self,
        message: str,
        *,
        problems: list[Problem] | None = None,
        details: list[Any] | None = None,
    ) -> None:
        probs = list(problems or [])
        if details and not probs:
            probs = [
                Problem(str(d.get("path", "$")), str(d.get("message", d)))
                for d in details
                if isinstance(d, dict)
            ]
        super().__init__(message, details=[asdict(p) for p in probs] if probs else details)
        self._problems = probs

    @property
    def problems(self) -> list[Problem]:
        """Every problem found, each with its JSON path."""
        return list(self._problems)

    def __str__(self) -> str:
        if not self._problems:
            return self._message
        lines = "\n".join(f"  - {p}" for p in self._problems)
        return f"{self._message}\n{lines}"


class InvalidConfig(_ProblemsError):
    """A pipeline configuration (or tenant configuration) is not valid."""

    code = "invalid_config"
    http_status = 422


class InvalidInput(_ProblemsError):
    """A request, or a payload submitted to an input element, is not valid."""

    code = "invalid_input"
    http_status = 422


class NotFound(PipelineError):
    """Something named by the caller does not exist (or is not visible to the caller)."""

    code = "not_found"
    http_status = 404


class PipelineNotFound(NotFound):
    """No pipeline with this id exists among the caller's tenants."""

    code = "pipeline_not_found"


class StageNotFound(NotFound):
    """The pipeline has no stage with this id."""

    code = "stage_not_found"


class DefinitionNotFound(NotFound):
    """The tenant has no stored pipeline of this name, or no such version or alias of it."""

    code = "definition_not_found"


class TenantNotFound(NotFound):
    """No tenant configuration exists for this tenant among the caller's tenants."""

    code = "tenant_not_found"


class BatchNotFound(NotFound):
    """No batch with this id exists among the caller's tenants."""

    code = "batch_not_found"


class ScheduleNotFound(NotFound):
    """No schedule with this id exists among the caller's tenants."""

    code = "schedule_not_found"


class TriggerNotFound(NotFound):
    """No webhook trigger with this id exists among the caller's tenants."""

    code = "trigger_not_found"


class InvalidState(PipelineError):
    """The operation does not apply to the pipeline in its current state."""

    code = "invalid_state"
    http_status = 409


class Conflict(PipelineError):
    """The request conflicts with an earlier one (idempotency key reused with other arguments)."""

    code = "conflict"
    http_status = 409


class AuthenticationError(PipelineError):
    """Credentials are missing, expired, or not valid."""

    code = "unauthenticated"
    http_status = 401


class PermissionDenied(PipelineError):
    """The caller is authenticated but lacks the role this operation needs."""

    code = "permission_denied"
    http_status = 403


class PayloadTooLarge(PipelineError):
    """The request body is larger than the configured limit."""

    code = "payload_too_large"
    http_status = 413


class EngineUnavailable(PipelineError):
    """The orchestration backend (Temporal) or the database cannot be reached right now."""

    code = "unavailable"
    http_status = 503

    def __init__(
        self, message: str, *, details: list[Any] | None = None, retry_after_s: float = 5.0
    ) -> None:
        super().__init__(message, details=details)
        self._retry_after_s = retry_after_s

    @property
    def retry_after_s(self) -> float:
        """Seconds after which a retry makes sense."""
        return self._retry_after_s


class RateLimited(EngineUnavailable):
    """A request rate or concurrent stream limit of the caller's token or tenant was reached.

    Transient like :class:`EngineUnavailable` (a subclass of it): retry after ``retry_after_s``
    (the ``Retry-After`` header). ``details`` name the limit, e.g. ``{"limit": "per_token",
    "rate": "300 per 1 second", "setting": "PIPELINE_ENGINE_RATE_LIMIT_PER_TOKEN"}``.
    """

    code = "rate_limited"
    http_status = 429


class TimeoutError(PipelineError, builtins.TimeoutError):
    """The operation did not complete within its timeout. Also a builtin ``TimeoutError``."""

    code = "timeout"
    http_status = 504


_BY_CODE: dict[str, type[PipelineError]] = {
    cls.code: cls
    for cls in (
        PipelineError,
        InvalidConfig,
        InvalidInput,
        NotFound,
        PipelineNotFound,
        StageNotFound,
        TenantNotFound,
        DefinitionNotFound,
        BatchNotFound,
        ScheduleNotFound,
        TriggerNotFound,
        InvalidState,
        Conflict,
        AuthenticationError,
        PermissionDenied,
        PayloadTooLarge,
        EngineUnavailable,
        RateLimited,
        TimeoutError,
    )
}


_BY_STATUS: dict[int, type[PipelineError]] = {
    cls.http_status: cls
    for cls in (
        InvalidConfig,
        InvalidInput,  # 422 from elsewhere (e.g. a proxy) is read as bad input
        NotFound,
        InvalidState,
        Conflict,  # 409 likewise as a conflict
        AuthenticationError,
        PermissionDenied,
        PayloadTooLarge,
        EngineUnavailable,
        RateLimited,
        TimeoutError,
    )
}
_BY_STATUS.update({502: EngineUnavailable})  # bad gateway


def error_class_for_status(status: int) -> type[PipelineError]:
    """The most general error class answered with this HTTP status (for bodies without a code).

    ``429`` is ``RateLimited`` and ``502`` ``EngineUnavailable`` (both transient); unknown
    statuses ``PipelineError``.
    """
    return _BY_STATUS.get(status, PipelineError)


def error_from_dict(body: dict[str, Any]) -> PipelineError:
    """Rebuild the project error described by a REST error body."""
    cls = _BY_CODE.get(str(body.get("error", "")), PipelineError)
    message = str(body.get("message", "error"))
    details = body.get("details") or []
    if not isinstance(details, list):
        details = [details]
    return cls(message, details=details)
