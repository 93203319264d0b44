"""The executable plan: a config with stage ids assigned and policies resolved.

Pure and deterministic: the Temporal workflow and the fake engine compile the same config into the
same plan, so stage ids and policies never differ between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline_engine.dsl._models import (
    Chain,
    Chord,
    Element,
    Group,
    Input,
    Map,
    PipelineConfig,
    RetryPolicy,
    StageConfig,
    Step,
)

__all__ = [
    "DEFAULT_HEARTBEAT_TIMEOUT_S",
    "DEFAULT_LOCAL_TIMEOUT_S",
    "DEFAULT_STEP_TIMEOUT_S",
    "MAX_DEPTH",
    "MAX_LOCAL_TIMEOUT_S",
    "MAX_STAGES",
    "ChainPlan",
    "ChordPlan",
    "DagPlan",
    "DagStagePlan",
    "GroupPlan",
    "InputPlan",
    "MapPlan",
    "Node",
    "Plan",
    "StepPlan",
    "compile_plan",
    "merge_retry",
]

DEFAULT_STEP_TIMEOUT_S = 3600.0
DEFAULT_HEARTBEAT_TIMEOUT_S = 60.0
# A local step runs inside the workflow task's lifetime: keep each attempt short (docs/dsl.md).
DEFAULT_LOCAL_TIMEOUT_S = 10.0
MAX_LOCAL_TIMEOUT_S = 60.0
MAX_DEPTH = 32
MAX_STAGES = 100_000
"""Stages written out in one config (a map's runs are not counted: they are made at run time)."""


@dataclass(frozen=True)
class StepPlan:
    stage_id: str
    step: str
    kwargs: dict[str, Any]
    retry: RetryPolicy
    timeout_s: float
    heartbeat_timeout_s: float
    on_failure: str
    task_queue: str | None
    max_concurrency: int | None
    path: str
    local: bool = False


@dataclass(frozen=True)
class InputPlan:
    stage_id: str
    schema: dict[str, Any]
    prompt: str | None
    timeout_s: float | None
    on_failure: str
    path: str


@dataclass(frozen=True)
class ChainPlan:
    children: tuple[Node, ...]
    path: str


@dataclass(frozen=True)
class GroupPlan:
    children: tuple[Node, ...]
    max_concurrency: int | None
    path: str


@dataclass(frozen=True)
class ChordPlan:
    group: GroupPlan
    callback: StepPlan | None
    on_error: str
    path: str


@dataclass(frozen=True)
class DagStagePlan:
    step: StepPlan
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class DagPlan:
    stages: tuple[DagStagePlan, ...]
    sinks: tuple[str, ...]
    path: str


@dataclass(frozen=True)
class MapPlan:
    """A run-time fan-out: ``element`` (a template whose stage ids get ``[i]`` appended) runs
    once per item of the list at ``items`` (a JSON Pointer) in the map's previous value."""

    stage_id: str
    items: str
    element: Node
    max_concurrency: int | None
    on_error: str
    path: str
    on_failure: str = "fail"


Node = StepPlan | InputPlan | ChainPlan | GroupPlan | ChordPlan | DagPlan | MapPlan
StagePlan = StepPlan | InputPlan | MapPlan


@dataclass(frozen=True)
class Plan:
    """A compiled pipeline.

    Attributes:
        root: The tree (or DAG) to interpret.
        stages: Every stage known before the run (steps, inputs, maps), in document order.
        problems: Structural problems found while compiling, as (JSON path, message).
        local_defaults: Steps of this config that run as local activities because their
            registration says so (``@step(local=True)``); the workflow compiles with the same set.
        templates: The stages inside map elements, with the ids their runs extend (``x`` runs as
            ``x[0]``, ``x[1]``...).
    """

    config: PipelineConfig
    root: Node
    stages: tuple[StagePlan, ...]
    problems: tuple[tuple[str, str], ...] = field(default=())
    local_defaults: frozenset[str] = frozenset()
    templates: tuple[StagePlan, ...] = field(default=())

    def stage(self, stage_id: str) -> StagePlan:
        for s in self.stages:
            if s.stage_id == stage_id:
                return s
        raise KeyError(stage_id)


def merge_retry(*policies: RetryPolicy | None) -> RetryPolicy:
    """Later policies override the fields they set explicitly."""
    values: dict[str, Any] = {}
    for policy in policies:
        if policy is not None:
            values.update({k: getattr(policy, k) for k in policy.model_fields_set})
    return RetryPolicy(**values)


class _Compiler:
    def __init__(self, config: PipelineConfig, local_defaults: frozenset[str]) -> None:
        self.config = config
        self.local_defaults = local_defaults
        self.local_by_default: set[str] = set()
        self.problems: list[tuple[str, str]] = []
        self.stages: list[StagePlan] = []
        self.templates: list[StagePlan] = []
        self.used: set[str] = set()
        self.explicit: set[str] = set()
        self.next_suffix: dict[str, int] = {}
        self.retries: dict[tuple[int, int], RetryPolicy] = {}

    def run(self) -> Plan:
        cfg = self.config
        if cfg.definition is not None:
            self._collect_explicit_tree(cfg.definition, "$.definition")
            root: Node = self._node(cfg.definition, "$.definition", depth=1)
        else:
            root = self._dag(cfg.stages or [], "$.stages")
        written = len(self.stages) + len(self.templates)
        if written > MAX_STAGES:
            where = "$.definition" if cfg.definition is not None else "$.stages"
            self.problems.append(
                (
                    where,
                    f"the config has {written:,} stages, over the limit of {MAX_STAGES:,} (the "
                    "pipeline's first workflow task decodes and compiles them all); fan out over "
                    "a list produced at run time with a map instead",
                )
            )
        return Plan(
            cfg,
            root,
            tuple(self.stages),
            tuple(self.problems),
            frozenset(self.local_by_default),
            tuple(self.templates),
        )

    # ids ------------------------------------------------------------------------------------
    def _claim_explicit(self, stage_id: str, path: str) -> None:
        if stage_id in self.explicit:
            self.problems.append((path, f"duplicate stage id {stage_id!r}"))
        self.explicit.add(stage_id)

    def _collect_explicit_tree(self, el: Element, path: str, depth: int = 1) -> None:
        if depth > MAX_DEPTH:
            return
        if isinstance(el, Step | Input | Map) and el.id is not None:
            self._claim_explicit(el.id, f"{path}.id")
        if isinstance(el, Map):
            self._collect_explicit_tree(el.element, f"{path}.element", depth + 1)
        elif isinstance(el, Chain | Group):
            for i, child in enumerate(el.steps):
                self._collect_explicit_tree(child, f"{path}.steps[{i}]", depth + 1)
        elif isinstance(el, Chord):
            self._collect_explicit_tree(el.group, f"{path}.group", depth + 1)
            if el.callback is not None:
                self._collect_explicit_tree(el.callback, f"{path}.callback", depth + 1)

    def _assign(self, explicit: str | None, base: str) -> str:
        if explicit is not None:
            self.used.add(explicit)
            return explicit
        n = self.next_suffix.get(base, 1)
        candidate = base if n == 1 else f"{base}-{n}"
        while candidate in self.used or candidate in self.explicit:
            n += 1
            candidate = f"{base}-{n}"
        self.next_suffix[base] = n + 1
        self.used.add(candidate)
        return candidate

    # tree -----------------------------------------------------------------------------------
    def _step(self, el: Step | StageConfig, name: str, stage_id: str, path: str) -> StepPlan:
        d = self.config.defaults
        resources = el.resources
        local = el.local if el.local is not None else name in self.local_defaults
        if local:
            self._check_local(el, name, path)
            if el.local is None:
                self.local_by_default.add(name)
        plan = StepPlan(
            stage_id=stage_id,
            step=name,
            kwargs=dict(el.kwargs),
            retry=self._retry(d.retry, el.retry),
            timeout_s=el.timeout_s or DEFAULT_LOCAL_TIMEOUT_S
            if local
            else el.timeout_s or d.timeout_s or DEFAULT_STEP_TIMEOUT_S,
            heartbeat_timeout_s=el.heartbeat_timeout_s
            or d.heartbeat_timeout_s
            or DEFAULT_HEARTBEAT_TIMEOUT_S,
            on_failure=el.on_failure,
            task_queue=None
            if local
            else (resources.task_queue if resources else None) or d.task_queue,
            max_concurrency=resources.max_concurrency if resources else None,
            path=path,
            local=local,
        )
        self.stages.append(plan)
        return plan

    def _retry(self, default: RetryPolicy | None, own: RetryPolicy | None) -> RetryPolicy:
        """:func:`merge_retry`, once per pair of policies (a group of 100,000 steps has one)."""
        key = (id(default), id(own))  # both live as long as the config
        if key not in self.retries:
            self.retries[key] = merge_retry(default, own)
        return self.retries[key]

    def _check_local(self, el: Step | StageConfig, name: str, path: str) -> None:
        """What a local activity cannot do: run long, heartbeat, or go to another queue."""
        why = (
            "a local step runs inside the workflow's task"
            if el.local
            else f"step {name!r} is registered as local (set local: false to run it as a regular "
            "activity); a local step runs inside the workflow's task"
        )
        if el.timeout_s is not None and el.timeout_s > MAX_LOCAL_TIMEOUT_S:
            self.problems.append(
                (
                    f"{path}.timeout_s",
                    f"{why}: timeout_s must be at most {MAX_LOCAL_TIMEOUT_S:g} s",
                )
            )
        if el.heartbeat_timeout_s is not None:
            self.problems.append((f"{path}.heartbeat_timeout_s", f"{why}: it cannot heartbeat"))
        if el.resources is not None and el.resources.task_queue is not None:
            self.problems.append(
                (
                    f"{path}.resources.task_queue",
                    f"{why}: it runs on the workflow's worker, not on a task queue of its own",
                )
            )

    def _node(self, el: Element, path: str, depth: int) -> Node:
        if depth > MAX_DEPTH:
            self.problems.append((path, f"nested deeper than {MAX_DEPTH} levels"))
            return ChainPlan((), path)
        if isinstance(el, Step):
            return self._step(el, el.name, self._assign(el.id, el.name), path)
        if isinstance(el, Input):
            plan = InputPlan(
                stage_id=self._assign(el.id, "input"),
                schema=dict(el.schema_),
                prompt=el.prompt,
                timeout_s=el.timeout_s,
                on_failure=el.on_failure,
                path=path,
            )
            self.stages.append(plan)
            return plan
        if isinstance(el, Chain):
            if not el.steps:
                self.problems.append((f"{path}.steps", "a chain needs at least one element"))
            kids = tuple(
                self._node(c, f"{path}.steps[{i}]", depth + 1) for i, c in enumerate(el.steps)
            )
            return ChainPlan(kids, path)
        if isinstance(el, Group):
            return self._group(el, path, depth)
        if isinstance(el, Map):
            return self._map(el, path, depth)
        group = self._group(el.group, f"{path}.group", depth + 1)
        callback = None
        if el.callback is not None:
            cb = el.callback
            callback = self._step(cb, cb.name, self._assign(cb.id, cb.name), f"{path}.callback")
        return ChordPlan(group, callback, el.on_error, path)

    def _group(self, el: Group, path: str, depth: int) -> GroupPlan:
        if not el.steps:
            self.problems.append((f"{path}.steps", "a group needs at least one element"))
        kids = tuple(self._node(c, f"{path}.steps[{i}]", depth + 1) for i, c in enumerate(el.steps))
        return GroupPlan(kids, el.max_concurrency, path)

    def _map(self, el: Map, path: str, depth: int) -> MapPlan:
        stage_id = self._assign(el.id, "map")
        outer, self.stages = self.stages, []
        element = self._node(el.element, f"{path}.element", depth + 1)
        self.templates.extend(self.stages)
        self.stages = outer
        plan = MapPlan(stage_id, el.items, element, el.max_concurrency, el.on_error, path)
        self.stages.append(plan)
        return plan

    # dag ------------------------------------------------------------------------------------
    def _dag(self, stages: list[StageConfig], path: str) -> DagPlan:
        if not stages:
            self.problems.append((path, "a DAG needs at least one stage"))
        for i, s in enumerate(stages):
            if s.id is not None:
                self._claim_explicit(s.id, f"{path}[{i}].id")
        plans: list[DagStagePlan] = []
        for i, s in enumerate(stages):
            step_plan = self._step(s, s.step, self._assign(s.id, s.step), f"{path}[{i}]")
            plans.append(DagStagePlan(step_plan, tuple(s.depends_on)))
        ids = [p.step.stage_id for p in plans]
        known = set(ids)
        for i, p in enumerate(plans):
            seen: set[str] = set()
            for j, dep in enumerate(p.depends_on):
                where = f"{path}[{i}].depends_on[{j}]"
                if dep not in known:
                    self.problems.append((where, f"unknown stage {dep!r}"))
                elif dep == p.step.stage_id:
                    self.problems.append((where, f"stage {dep!r} depends on itself"))
                elif dep in seen:
                    self.problems.append((where, f"{dep!r} listed twice"))
                seen.add(dep)
        cycle = _find_cycle({p.step.stage_id: p.depends_on for p in plans}, ids)
        if cycle:
            self.problems.append((path, "dependency cycle: " + " -> ".join(cycle)))
        depended = {d for p in plans for d in p.depends_on}
        sinks = tuple(i for i in ids if i not in depended)
        ordered = _topological(plans) if not cycle else plans
        return DagPlan(tuple(ordered), sinks, path)


def _find_cycle(deps: dict[str, tuple[str, ...]], order: list[str]) -> list[str]:
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(order, white)
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        color[node] = grey
        stack.append(node)
        for dep in deps.get(node, ()):
            if dep not in color or dep == node:
                continue
            if color[dep] == grey:
                return [*stack[stack.index(dep) :], dep]
            if color[dep] == white:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        color[node] = black
        return []

    for node in order:
        if color[node] == white:
            found = visit(node)
            if found:
                # report in dependency order: a -> b means "a waits for b"; show execution order
                return list(reversed(found))
    return []


def _topological(plans: list[DagStagePlan]) -> list[DagStagePlan]:
    """Stages ordered so every stage comes after its dependencies (stable: document order)."""
    done: set[str] = set()
    out: list[DagStagePlan] = []
    pending = list(plans)
    while pending:
        rest = []
        for p in pending:
            if all(d in done or d == p.step.stage_id for d in p.depends_on):
                out.append(p)
                done.add(p.step.stage_id)
            else:
                rest.append(p)
        if len(rest) == len(pending):  # unknown deps: keep the rest in document order
            out.extend(rest)
            break
        pending = rest
    return out


def compile_plan(config: PipelineConfig, *, local_defaults: frozenset[str] = frozenset()) -> Plan:
    """Compile a validated config into its plan (stage ids assigned, policies merged).

    ``local_defaults``: step names registered as local (``@step(local=True)``), for steps that do
    not set ``local`` themselves.
    """
    return _Compiler(config, local_defaults).run()
