"""Tenant-config rules: validation (exactly like pipeline creation) and optimistic versions."""

from __future__ import annotations

from typing import Any

from pipeline_engine._finite import non_finite_problems
from pipeline_engine.dsl import PipelineConfig, parse_config
from pipeline_engine.dsl._parse import unknown_steps_summary
from pipeline_engine.errors import Conflict, InvalidConfig, Problem, TenantNotFound
from pipeline_engine.steps import StepRegistry

__all__ = [
    "FAIRNESS_WEIGHT_MAX",
    "FAIRNESS_WEIGHT_MIN",
    "PRIORITY_LEVELS",
    "check_version",
    "definition_config",
    "no_tenant_config",
    "scheduling_problems",
    "validate_tenant_config",
]

PRIORITY_LEVELS = 5
"""Priority keys run from 1 (first) to this (last): Temporal's ``matching.priorityLevels``."""
FAIRNESS_WEIGHT_MIN = 0.001
"""The smallest fairness weight Temporal honours (it clamps below)."""
FAIRNESS_WEIGHT_MAX = 1000.0
"""The largest fairness weight Temporal honours (it clamps above)."""


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


def scheduling_problems(priority: Any, fairness_weight: Any, root: str = "$") -> list[Problem]:
    """What is wrong with a tenant's ``priority`` and ``fairness_weight`` (both optional)."""
    problems: list[Problem] = []
    if priority is not None and (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not 1 <= priority <= PRIORITY_LEVELS
    ):
        problems.append(
            Problem(f"{root}.priority", f"must be an integer from 1 (first) to {PRIORITY_LEVELS}")
        )
    if fairness_weight is not None and (
        isinstance(fairness_weight, bool)
        or not isinstance(fairness_weight, int | float)
        or not FAIRNESS_WEIGHT_MIN <= fairness_weight <= FAIRNESS_WEIGHT_MAX
    ):
        problems.append(
            Problem(
                f"{root}.fairness_weight",
                f"must be a number from {FAIRNESS_WEIGHT_MIN:g} to {FAIRNESS_WEIGHT_MAX:g}",
            )
        )
    return problems


def validate_tenant_config(
    tenant_id: str,
    definition: Any,
    settings: Any,
    *,
    registry: StepRegistry | None,
    root: str = "$",
    priority: Any = None,
    fairness_weight: Any = None,
) -> PipelineConfig:
    """Validate a tenant config (pydantic, then the step registry) and return its pipeline config.

    Args:
        tenant_id: The tenant (becomes the pipeline name).
        definition: The seed's ``pipeline_definition`` tree.
        settings: The tenant's settings (a JSON object or ``None``).
        registry: Steps to check names and ``kwargs`` against.
        root: JSON path of the config document, for problem paths (``$`` for a request body).
        priority: The tenant's priority key (``None``, or 1 to :data:`PRIORITY_LEVELS`).
        fairness_weight: The tenant's fairness weight (``None``, or a positive number).

    Raises:
        InvalidConfig: listing every problem, with paths like
            ``$.pipeline_definition.steps[0].name``.
    """
    problems: list[Problem] = []
    if settings is not None and not isinstance(settings, dict):
        problems.append(Problem(f"{root}.settings", "must be a JSON object"))
    problems += non_finite_problems(settings, f"{root}.settings")
    problems += scheduling_problems(priority, fairness_weight, root)
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
        message = f"invalid tenant config ({n} problem{'s' if n != 1 else ''})"
        message += unknown_steps_summary(problems)
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
