"""Tenant-config rules: validation (exactly like pipeline creation) and optimistic versions."""

from __future__ import annotations

from typing import Any

from pipeline_engine._finite import non_finite_problems
from pipeline_engine.dsl import PipelineConfig, parse_config
from pipeline_engine.errors import Conflict, InvalidConfig, Problem, TenantNotFound
from pipeline_engine.steps import StepRegistry

__all__ = [
    "check_version",
    "definition_config",
    "no_tenant_config",
    "validate_tenant_config",
]


def definition_config(tenant_id: str, definition: Any) -> dict[str, Any]:
    """The pipeline config document a tenant's definition stands for."""
    return {"schema_version": "1", "name": tenant_id, "definition": definition}


def _reroot(problem: Problem, root: str) -> Problem:
    path = problem.path
    if path.startswith("$.definition"):
        path = root + path[len("$.definition") :]
    elif path == "$":
        path = root
    return Problem(path, problem.message)


def validate_tenant_config(
    tenant_id: str,
    definition: Any,
    settings: Any,
    *,
    registry: StepRegistry | None,
    root: str = "$",
) -> PipelineConfig:
    """Validate a tenant config (pydantic, then the step registry) and return its pipeline config.

    Args:
        tenant_id: The tenant (becomes the pipeline name).
        definition: The seed's ``pipeline_definition`` tree.
        settings: The tenant's settings (a JSON object or ``None``).
        registry: Steps to check names and ``kwargs`` against.
        root: JSON path of the config document, for problem paths (``$`` for a request body).

    Raises:
        InvalidConfig: listing every problem, with paths like
            ``$.pipeline_definition.steps[0].name``.
    """
    problems: list[Problem] = []
    if settings is not None and not isinstance(settings, dict):
        problems.append(Problem(f"{root}.settings", "must be a JSON object"))
    problems += non_finite_problems(settings, f"{root}.settings")
    if definition is None:
        problems.append(Problem(f"{root}.pipeline_definition", "required field missing"))
    elif not isinstance(definition, dict):
        problems.append(
            Problem(f"{root}.pipeline_definition", "must be a DSL element (a JSON object)")
        )
    config: PipelineConfig | None = None
    if isinstance(definition, dict):
        try:
            document = definition_config(tenant_id, definition)
            config = parse_config(document, registry=registry).config
        except InvalidConfig as exc:
            problems += [_reroot(p, f"{root}.pipeline_definition") for p in exc.problems]
    if problems or config is None:
        n = len(problems)
        unknown = sorted(
            {p.message.split("'")[1] for p in problems if p.message.startswith("unknown step '")}
        )
        message = f"invalid tenant config ({n} problem{'s' if n != 1 else ''})"
        if unknown:
            message += "; unknown steps: " + ", ".join(unknown)
        raise InvalidConfig(message, problems=problems)
    return config


def check_version(tenant_id: str, *, current: int, expected: int | None) -> None:
    """A write that names a version (``0``: must not exist yet) needs it to be the stored one.

    Raises:
        Conflict: ``expected`` is not ``current``.
    """
    if expected is not None and current != expected:
        raise Conflict(
            f"tenant config version is {current}, not {expected}",
            details=[{"tenant_id": tenant_id, "version": current}],
        )


def no_tenant_config(tenant_id: str) -> TenantNotFound:
    """The error for a tenant without a config."""
    return TenantNotFound(f"no config for tenant {tenant_id!r}")
