"""Sub-pipeline references (``type: pipeline``): each names a pipeline (and version) the tenant has,
and no chain of references comes back to where it started.

Where pipelines are kept is not the DSL's business: the caller hands a resolver (the tenant's
pipeline store answers it), and the documents it returns are followed to find cycles.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline_engine.dsl._nodes import Plan, SubPipelinePlan

__all__ = ["MAX_REFERENCE_DEPTH", "PipelineResolver", "reference_problems", "sub_pipelines"]

MAX_REFERENCE_DEPTH = 16
"""Sub-pipelines inside one another, at most."""

PipelineResolver = Callable[[str, int | None], Plan | None]
"""``(name, version or None for the latest) -> the compiled plan of that pipeline, or None``."""


def sub_pipelines(plan: Plan) -> list[SubPipelinePlan]:
    """Every sub-pipeline element of ``plan`` (inside maps too)."""
    return [s for s in (*plan.stages, *plan.templates) if isinstance(s, SubPipelinePlan)]


def reference_problems(
    plan: Plan, resolve: PipelineResolver, *, name: str | None = None
) -> list[tuple[str, str]]:
    """Unknown names or versions and cycles of references, as (JSON path, message).

    Args:
        plan: The pipeline being validated.
        resolve: Finds the pipelines it references.
        name: The name ``plan`` is kept under (default: its config's ``name``); a reference to it,
            directly or through others, is a cycle.
    """
    own = name or plan.config.name
    problems: list[tuple[str, str]] = []
    for sub in sub_pipelines(plan):
        target = resolve(sub.name, sub.version)
        if target is None:
            problems.append(_unknown(sub, resolve))
            continue
        cycle = _cycle_through(target, [own, _label(sub)], {own}, resolve)
        if cycle:
            problems.append((f"{sub.path}.name", "a cycle of sub-pipelines: " + " -> ".join(cycle)))
    return problems


def _label(sub: SubPipelinePlan) -> str:
    return sub.name if sub.version is None else f"{sub.name}@{sub.version}"


def _unknown(sub: SubPipelinePlan, resolve: PipelineResolver) -> tuple[str, str]:
    if sub.version is not None and resolve(sub.name, None) is not None:
        return (f"{sub.path}.version", f"pipeline {sub.name!r} has no version {sub.version}")
    return (f"{sub.path}.name", f"unknown pipeline {sub.name!r}")


def _cycle_through(
    plan: Plan, trail: list[str], names: set[str], resolve: PipelineResolver
) -> list[str]:
    """The trail of references that leads back to one of ``names`` (depth-first), or []."""
    current = trail[-1].split("@")[0]
    if current in names:
        return trail
    if len(trail) > MAX_REFERENCE_DEPTH:
        return [*trail, f"… (more than {MAX_REFERENCE_DEPTH} levels)"]
    for sub in sub_pipelines(plan):
        target = resolve(sub.name, sub.version)
        if target is not None:
            found = _cycle_through(target, [*trail, _label(sub)], names | {current}, resolve)
            if found:
                return found
    return []
