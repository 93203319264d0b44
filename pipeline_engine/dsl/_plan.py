"""The executable plan: a config with stage ids assigned and policies resolved.

Pure and deterministic: the Temporal workflow and the fake engine compile the same config into the
same plan, so stage ids and policies never differ between them. The nodes are in
:mod:`pipeline_engine.dsl._nodes`.
"""

from __future__ import annotations

from typing import Any

from pipeline_engine.dsl._cel import MAP_VARIABLES, STEP_VARIABLES
from pipeline_engine.dsl._dag import find_cycle, topological
from pipeline_engine.dsl._expressions import expression_problems, value_problems
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
    SubPipeline,
    Switch,
)
from pipeline_engine.dsl._nodes import (
    DEFAULT_HEARTBEAT_TIMEOUT_S,
    DEFAULT_LOCAL_TIMEOUT_S,
    DEFAULT_STEP_TIMEOUT_S,
    MAX_DEPTH,
    MAX_LOCAL_TIMEOUT_S,
    MAX_STAGES,
    CasePlan,
    ChainPlan,
    ChordPlan,
    DagPlan,
    DagStagePlan,
    GroupPlan,
    InputPlan,
    MapPlan,
    Node,
    Plan,
    StagePlan,
    StepPlan,
    SubPipelinePlan,
    SwitchPlan,
    merge_retry,
)

__all__ = ["compile_plan"]


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
        self.variables: tuple[str, ...] = STEP_VARIABLES  # MAP_VARIABLES inside a map's element

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
        if isinstance(el, Step | Input | Map | Switch | SubPipeline) and el.id is not None:
            self._claim_explicit(el.id, f"{path}.id")
        if isinstance(el, Map):
            self._collect_explicit_tree(el.element, f"{path}.element", depth + 1)
        elif isinstance(el, Switch):
            for i, case in enumerate(el.cases):
                self._collect_explicit_tree(case.element, f"{path}.cases[{i}].element", depth + 1)
            if el.default is not None:
                self._collect_explicit_tree(el.default, f"{path}.default", depth + 1)
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

    # expressions ----------------------------------------------------------------------------
    def _when(self, el: Any, path: str) -> str | None:
        """The element's ``when`` (checked: its problems go to the plan's)."""
        when: str | None = getattr(el, "when", None)
        if when is not None:
            self.problems += expression_problems(when, f"{path}.when", self.variables)
        return when

    def _values(self, value: Any, path: str) -> bool:
        """Check the ``$expr`` values inside ``value``; whether there are any."""
        problems, found = value_problems(value, path, self.variables)
        self.problems += problems
        return found

    # tree -----------------------------------------------------------------------------------
    def _step(self, el: Step | StageConfig, name: str, stage_id: str, path: str) -> StepPlan:
        d = self.config.defaults
        cache = el.cache if isinstance(el, Step) else None
        if cache is not None and cache.key is not None:
            self.problems += expression_problems(cache.key, f"{path}.cache.key", self.variables)
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
            when=self._when(el, path),
            cache_ttl_s=cache.ttl_s if cache is not None else None,
            cache_key=cache.key if cache is not None else None,
            expr_kwargs=self._values(el.kwargs, f"{path}.kwargs"),
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
                when=self._when(el, path),
            )
            self.stages.append(plan)
            return plan
        if isinstance(el, Chain):
            if not el.steps:
                self.problems.append((f"{path}.steps", "a chain needs at least one element"))
            when = self._when(el, path)
            kids = tuple(
                self._node(c, f"{path}.steps[{i}]", depth + 1) for i, c in enumerate(el.steps)
            )
            return ChainPlan(kids, path, when)
        if isinstance(el, Group):
            return self._group(el, path, depth)
        if isinstance(el, Map):
            return self._map(el, path, depth)
        if isinstance(el, Switch):
            return self._switch(el, path, depth)
        if isinstance(el, SubPipeline):
            return self._sub_pipeline(el, path)
        when = self._when(el, path)
        group = self._group(el.group, f"{path}.group", depth + 1)
        callback = None
        if el.callback is not None:
            cb = el.callback
            callback = self._step(cb, cb.name, self._assign(cb.id, cb.name), f"{path}.callback")
        return ChordPlan(group, callback, el.on_error, path, when)

    def _group(self, el: Group, path: str, depth: int) -> GroupPlan:
        if not el.steps:
            self.problems.append((f"{path}.steps", "a group needs at least one element"))
        when = self._when(el, path)
        kids = tuple(self._node(c, f"{path}.steps[{i}]", depth + 1) for i, c in enumerate(el.steps))
        return GroupPlan(kids, el.max_concurrency, path, when, el.tolerated_failures)

    def _map(self, el: Map, path: str, depth: int) -> MapPlan:
        stage_id = self._assign(el.id, "map")
        when = self._when(el, path)
        outer, self.stages = self.stages, []
        outer_vars, self.variables = self.variables, MAP_VARIABLES
        element = self._node(el.element, f"{path}.element", depth + 1)
        self.variables = outer_vars
        self.templates.extend(self.stages)
        self.stages = outer
        plan = MapPlan(
            stage_id,
            el.items,
            element,
            el.max_concurrency,
            el.on_error,
            path,
            when=when,
            batch_size=el.batch_size,
            tolerated_failures=el.tolerated_failures,
        )
        self.stages.append(plan)
        return plan

    def _switch(self, el: Switch, path: str, depth: int) -> SwitchPlan:
        stage_id = self._assign(el.id, "switch")
        when = self._when(el, path)
        at = len(self.stages)  # the switch comes before its branches' stages, in document order
        cases = []
        for i, case in enumerate(el.cases):
            where = f"{path}.cases[{i}]"
            self.problems += expression_problems(case.when, f"{where}.when", self.variables)
            cases.append(
                CasePlan(case.when, self._node(case.element, f"{where}.element", depth + 1))
            )
        default = None
        if el.default is not None:
            default = self._node(el.default, f"{path}.default", depth + 1)
        plan = SwitchPlan(stage_id, tuple(cases), default, path, when)
        self.stages.insert(at, plan)
        return plan

    def _sub_pipeline(self, el: SubPipeline, path: str) -> SubPipelinePlan:
        base = el.name if len(el.name) <= 100 else "pipeline"
        stage_id = self._assign(el.id, base)
        when = self._when(el, path)
        input_set = "input" in el.model_fields_set
        if input_set:
            self._values(el.input, f"{path}.input")
        plan = SubPipelinePlan(
            stage_id, el.name, el.version, el.input, input_set, path, when, el.on_failure
        )
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
        cycle = find_cycle({p.step.stage_id: p.depends_on for p in plans}, ids)
        if cycle:
            self.problems.append((path, "dependency cycle: " + " -> ".join(cycle)))
        depended = {d for p in plans for d in p.depends_on}
        sinks = tuple(i for i in ids if i not in depended)
        ordered = topological(plans) if not cycle else plans
        return DagPlan(tuple(ordered), sinks, path)


def compile_plan(config: PipelineConfig, *, local_defaults: frozenset[str] = frozenset()) -> Plan:
    """Compile a validated config into its plan (stage ids assigned, policies merged).

    ``local_defaults``: step names registered as local (``@step(local=True)``), for steps that do
    not set ``local`` themselves.
    """
    return _Compiler(config, local_defaults).run()
