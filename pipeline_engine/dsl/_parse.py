"""Parse and validate a pipeline config: every problem at once, each with its JSON path."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline_engine._finite import non_finite_problems
from pipeline_engine._suggest import did_you_mean, unknown_field_hint
from pipeline_engine.dsl._expressions import find_expressions
from pipeline_engine.dsl._models import PipelineConfig
from pipeline_engine.dsl._nodes import MAX_DEPTH, Plan, StepPlan
from pipeline_engine.dsl._plan import compile_plan
from pipeline_engine.dsl._references import PipelineResolver, resolve_references
from pipeline_engine.errors import InvalidConfig, Problem
from pipeline_engine.steps import StepRegistry

__all__ = [
    "UNKNOWN_STEP_HINT",
    "parse_config",
    "pipeline_config_schema",
    "pydantic_problems",
    "unknown_steps_summary",
]

UNKNOWN_STEP_HINT = (
    " (steps are loaded when the API and the worker start: name your module in"
    " PIPELINE_ENGINE_STEP_MODULES or --steps, and restart them; docs/steps.md)"
)
"""Said after the unknown steps of an invalid config: the usual cause is a module not loaded."""

_TAGS = ("step", "chain", "group", "chord", "input", "map", "switch", "pipeline")


def _path(loc: tuple[int | str, ...], data: Any, root: str) -> str:
    """JSON path for a pydantic error location, dropping discriminated-union tags."""
    out, node = root, data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            continue
        if (
            isinstance(node, dict)
            and part not in node
            and (node.get("type") == part or part in _TAGS or part[:1].isupper())
        ):
            continue  # a union tag (e.g. 'chord', 'Step'), not a key of the document
        out += f".{part}"
        node = node.get(part) if isinstance(node, dict) else None
    return out


def _message(err: Any, model: type[BaseModel] | None = None) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown field" + unknown_field_hint(model, tuple(err["loc"]))
    if kind == "missing":
        return "required field missing"
    if kind == "union_tag_not_found":
        return 'missing "type" (one of: ' + ", ".join(_TAGS) + ")"
    if kind == "union_tag_invalid":
        return f"unknown element type {err['input'].get('type')!r} (one of: {', '.join(_TAGS)})"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def pydantic_problems(
    exc: ValidationError, data: Any, root: str = "$", *, model: type[BaseModel] | None = None
) -> list[Problem]:
    """Turn a pydantic ``ValidationError`` into problems with JSON paths (an unknown field of
    ``model``, when given, with the closest known one: ``did you mean``)."""
    seen: set[tuple[str, str]] = set()
    problems = []
    for err in exc.errors():
        if err["type"] in ("recursion_loop", "recursion_depth_exceeded"):
            item = (root, f"nested far deeper than the limit of {MAX_DEPTH} levels")
        else:
            item = (_path(tuple(err["loc"]), data, root), _message(err, model))
        if item not in seen:
            seen.add(item)
            problems.append(Problem(*item))
    return problems


def _registry_problems(plan: Plan, registry: StepRegistry) -> list[Problem]:
    problems: list[Problem] = []
    unknown: dict[str, list[str]] = {}

    def need(name: str, path: str) -> bool:
        if name in registry:
            return True
        unknown.setdefault(name, []).append(path)
        return False

    for stage in (*plan.stages, *plan.templates):
        if isinstance(stage, StepPlan):
            field = ".step" if stage.path.startswith("$.stages") else ".name"
            if need(stage.step, stage.path + field):
                computed = [p for p, _ in find_expressions(stage.kwargs, "")]
                for sub, msg in registry.get(stage.step).check_kwargs(stage.kwargs):
                    at_computed = any(
                        sub == c or sub.startswith((c + ".", c + "[")) for c in computed
                    )
                    if msg == "unknown parameter" or not at_computed:
                        problems.append(Problem(f"{stage.path}.kwargs{sub}", msg))
        if stage.on_failure not in ("fail", "continue"):
            need(stage.on_failure, stage.path + ".on_failure")
    hooks = plan.config.hooks
    for hook in ("on_start", "on_success", "on_failure", "on_cancel"):
        name = getattr(hooks, hook)
        if name is not None:
            need(name, f"$.hooks.{hook}")
    for name, paths in unknown.items():
        hint = did_you_mean(name, registry.names())
        for p in paths:
            problems.append(Problem(p, f"unknown step {name!r}{hint}"))
    return problems


def parse_config(
    data: PipelineConfig | dict[str, Any] | str | bytes,
    *,
    registry: StepRegistry | None = None,
    pipelines: PipelineResolver | None = None,
    name: str | None = None,
) -> Plan:
    """Validate a pipeline config and compile it.

    Args:
        data: The config as a model, a JSON-like dict, or JSON text.
        registry: When given, step names, handler and hook names, and step ``kwargs`` are checked
            against it (a ``{"$expr": …}`` value is checked when it is computed, not here).
        pipelines: When given, the sub-pipelines (``type: pipeline``) it references are looked up
            with it: an unknown name or version, or a cycle of references, is a problem.
        name: The name the config is kept under, for cycles (default: its ``name``).

    Returns:
        The compiled :class:`Plan`.

    Raises:
        InvalidConfig: listing every problem found, each with its JSON path.
    """
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except RecursionError:
            raise _too_deep() from None
        except ValueError as exc:
            raise InvalidConfig(
                "config is not valid JSON", problems=[Problem("$", f"not valid JSON: {exc}")]
            ) from None
    if isinstance(data, BaseModel) and not isinstance(data, PipelineConfig):
        data = data.model_dump(by_alias=True, exclude_unset=True)
    if isinstance(data, PipelineConfig):
        config = data
        non_finite = non_finite_problems(config.model_dump(by_alias=True, exclude_unset=True))
    else:
        if not isinstance(data, dict):
            raise InvalidConfig(
                "config must be a JSON object",
                problems=[Problem("$", f"expected an object, got {type(data).__name__}")],
            )
        non_finite = non_finite_problems(data)
        try:
            config = PipelineConfig.model_validate(data)
        except RecursionError:
            raise _too_deep() from None
        except ValidationError as exc:
            problems = non_finite + pydantic_problems(exc, data, model=PipelineConfig)
            if registry is not None:
                problems += _raw_unknown_steps(data, registry, "$")
            raise InvalidConfig(_summary(problems), problems=problems) from None
    plan = compile_plan(config, local_defaults=registry.local_steps() if registry else frozenset())
    problems = non_finite + [Problem(p, m) for p, m in plan.problems]
    if registry is not None:
        problems += _registry_problems(plan, registry)
    if pipelines is not None and not problems:
        found = resolve_references(plan, pipelines, name=name)
        problems += [Problem(p, m) for p, m in found.problems]
    if problems:
        raise InvalidConfig(_summary(problems), problems=problems)
    return plan


def _too_deep() -> InvalidConfig:
    return InvalidConfig(
        "config is nested too deeply",
        problems=[Problem("$", f"nested far deeper than the limit of {MAX_DEPTH} levels")],
    )


def unknown_steps_summary(problems: list[Problem]) -> str:
    """``; unknown steps: a, b`` (and how steps are loaded, unless each is a likely typo)."""
    named = [p.message for p in problems if p.message.startswith("unknown step '")]
    if not named:
        return ""
    unknown = sorted({m.split("'")[1] for m in named})
    typos = all("did you mean" in m for m in named)
    return "; unknown steps: " + ", ".join(unknown) + ("" if typos else UNKNOWN_STEP_HINT)


def _summary(problems: list[Problem]) -> str:
    n = len(problems)
    summary = f"invalid pipeline config ({n} problem{'s' if n != 1 else ''})"
    return summary + unknown_steps_summary(problems)


def _raw_unknown_steps(node: Any, registry: StepRegistry, path: str) -> list[Problem]:
    """Best effort when the structure is broken: unknown step names found in the raw document."""
    found: list[Problem] = []
    if isinstance(node, dict):
        name = node.get("name") if node.get("type") == "step" else node.get("step")
        field = "name" if node.get("type") == "step" else "step"
        if isinstance(name, str) and name not in registry:
            hint = did_you_mean(name, registry.names())
            found.append(Problem(f"{path}.{field}", f"unknown step {name!r}{hint}"))
        for key, value in node.items():
            if key not in ("kwargs", "schema") and isinstance(value, dict | list):
                found += _raw_unknown_steps(value, registry, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _raw_unknown_steps(value, registry, f"{path}[{i}]")
    return found


def pipeline_config_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`PipelineConfig` (served at ``/v1/schema/pipeline-config``)."""
    schema = PipelineConfig.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "PipelineConfig"
    return schema
