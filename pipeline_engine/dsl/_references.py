"""Sub-pipeline references (``type: pipeline``): each names a pipeline (and version) the tenant has,
and no chain of references comes back to a version already on it.

Where pipelines are kept is not the DSL's business: the caller hands a resolver (the tenant's
pipeline store answers it), and the plans it returns are followed to find cycles. A cycle is a
chain that reaches the same *version* again (``A@2 -> B@1 -> A@2``, or an unpinned ``A`` that is
``A``'s latest): a pinned older version of the same name is another document, followed like any.
What a resolution found is kept as :class:`Pinned` references, so every run below the one being
created starts the very versions checked here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline_engine.dsl._nodes import Plan, SubPipelinePlan

__all__ = [
    "MAX_REFERENCE_DEPTH",
    "PipelineResolver",
    "Resolution",
    "ResolvedPipeline",
    "reference_label",
    "resolve_references",
    "sub_pipelines",
]

MAX_REFERENCE_DEPTH = 16
"""Sub-pipelines inside one another, at most."""


@dataclass(frozen=True)
class ResolvedPipeline:
    """One stored version a reference resolved to, compiled.

    ``version`` 0 stands for a document not stored yet (the one being written)."""

    name: str
    version: int
    digest: str
    plan: Plan


PipelineResolver = Callable[[str, int | None], "ResolvedPipeline | str"]
"""``(name, version or None for the latest) -> that version compiled, or why there is none`` (a
message such as ``unknown pipeline 'x'``: the problem reported)."""


def reference_label(name: str, version: int | None) -> str:
    """How a reference is written in messages and kept in a run's input: ``name`` or ``name@N``."""
    return name if version is None else f"{name}@{version}"


def _key(name: str, version: int) -> str:
    """A version's label in trails and tables (``name`` alone: the version being written)."""
    return name if version == 0 else f"{name}@{version}"


def sub_pipelines(plan: Plan) -> list[SubPipelinePlan]:
    """Every sub-pipeline element of ``plan`` (inside maps too)."""
    return [s for s in (*plan.stages, *plan.templates) if isinstance(s, SubPipelinePlan)]


@dataclass
class Resolution:
    """What :func:`resolve_references` found.

    Attributes:
        problems: (JSON path in the root plan, message) of each unknown reference or cycle.
        labels: Each reference met (``name`` or ``name@N``) -> the ``name@version`` it resolved to.
        pipelines: ``name@version`` -> the version, for every pipeline reachable from the root.
    """

    problems: list[tuple[str, str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    pipelines: dict[str, ResolvedPipeline] = field(default_factory=dict)


def resolve_references(
    plan: Plan, resolve: PipelineResolver, *, name: str | None = None, version: int = 0
) -> Resolution:
    """Resolve every reference reachable from ``plan``; unknown ones and cycles as problems.

    Args:
        plan: The pipeline being validated (or created).
        resolve: Finds the pipelines it references (asked once per label).
        name: The name ``plan`` is kept under (default: its config's ``name``).
        version: Its version (0: not stored yet; it is then what its unpinned name resolves to).
    """
    out = Resolution()
    found: dict[str, ResolvedPipeline | str] = {}

    def lookup(sub: SubPipelinePlan) -> ResolvedPipeline | str:
        label = reference_label(sub.name, sub.version)
        if label not in found:
            found[label] = resolve(sub.name, sub.version)
        target = found[label]
        if isinstance(target, ResolvedPipeline):
            key = _key(target.name, target.version)
            out.labels[label] = key
            out.pipelines[key] = target
        return target

    own = _key(name or plan.config.name, version)
    for sub in sub_pipelines(plan):
        target = lookup(sub)
        if isinstance(target, str):
            field_ = "version" if sub.version is not None and "version" in target else "name"
            out.problems.append((f"{sub.path}.{field_}", target))
            continue
        trail = [own, _key(target.name, target.version)]
        why = _walk(target, trail, lookup)
        if why:
            out.problems.append((f"{sub.path}.name", why))
    return out


def _walk(
    plan: ResolvedPipeline,
    trail: list[str],
    lookup: Callable[[SubPipelinePlan], ResolvedPipeline | str],
) -> str:
    """Why the chain ``trail`` (ending at ``plan``) cannot run, or ``""`` (depth-first)."""
    if trail[-1] in trail[:-1]:
        return "a cycle of sub-pipelines: " + " -> ".join(trail)
    if len(trail) > MAX_REFERENCE_DEPTH:
        return f"sub-pipelines nested more than {MAX_REFERENCE_DEPTH} deep: " + " -> ".join(trail)
    for sub in sub_pipelines(plan.plan):
        target = lookup(sub)
        if isinstance(target, str):
            return f"through {' -> '.join(trail[1:])}: {target}"
        why = _walk(target, [*trail, _key(target.name, target.version)], lookup)
        if why:
            return why
    return ""
