"""The nodes of a compiled plan: stage ids assigned, policies resolved, no config left to read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline_engine.dsl._models import PipelineConfig, RetryPolicy

__all__ = [
    "DEFAULT_HEARTBEAT_TIMEOUT_S",
    "DEFAULT_LOCAL_TIMEOUT_S",
    "DEFAULT_STEP_TIMEOUT_S",
    "MAX_DEPTH",
    "MAX_LOCAL_TIMEOUT_S",
    "MAX_STAGES",
    "CasePlan",
    "ChainPlan",
    "ChordPlan",
    "DagPlan",
    "DagStagePlan",
    "GroupPlan",
    "InputPlan",
    "MapPlan",
    "Node",
    "Plan",
    "StagePlan",
    "StepPlan",
    "SubPipelinePlan",
    "SwitchPlan",
    "merge_retry",
    "tolerated_count",
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
    """One step. ``when``: its condition; ``cache_ttl_s``/``cache_key``: its ``cache``;
    ``expr_kwargs``: some ``kwargs`` value is an ``{"$expr": …}`` computed when it starts."""

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
    when: str | None = None
    cache_ttl_s: float | None = None
    cache_key: str | None = None
    expr_kwargs: bool = False


@dataclass(frozen=True)
class InputPlan:
    stage_id: str
    schema: dict[str, Any]
    prompt: str | None
    timeout_s: float | None
    on_failure: str
    path: str
    when: str | None = None


@dataclass(frozen=True)
class ChainPlan:
    children: tuple[Node, ...]
    path: str
    when: str | None = None


@dataclass(frozen=True)
class GroupPlan:
    children: tuple[Node, ...]
    max_concurrency: int | None
    path: str
    when: str | None = None
    tolerated_failures: int | str | None = None


@dataclass(frozen=True)
class ChordPlan:
    group: GroupPlan
    callback: StepPlan | None
    on_error: str
    path: str
    when: str | None = None


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
    once per item of the list at ``items`` (a JSON Pointer) in the map's previous value, or once
    per batch of ``batch_size`` items (``[i]`` is then the batch's index)."""

    stage_id: str
    items: str
    element: Node
    max_concurrency: int | None
    on_error: str
    path: str
    on_failure: str = "fail"
    when: str | None = None
    batch_size: int | None = None
    tolerated_failures: int | str | None = None


@dataclass(frozen=True)
class CasePlan:
    when: str
    element: Node


@dataclass(frozen=True)
class SwitchPlan:
    """Runs the first case whose ``when`` is true, else ``default``, else nothing (null)."""

    stage_id: str
    cases: tuple[CasePlan, ...]
    default: Node | None
    path: str
    when: str | None = None
    on_failure: str = "fail"


@dataclass(frozen=True)
class SubPipelinePlan:
    """Runs the tenant's pipeline ``name`` (``version``: None is the latest) as a child workflow.

    ``input`` is the child's input when ``input_set`` (JSON, or ``{"$expr": …}``), else the
    element's previous value.
    """

    stage_id: str
    name: str
    version: int | None
    input: Any
    input_set: bool
    path: str
    when: str | None = None
    on_failure: str = "fail"


Node = (
    StepPlan
    | InputPlan
    | ChainPlan
    | GroupPlan
    | ChordPlan
    | DagPlan
    | MapPlan
    | SwitchPlan
    | SubPipelinePlan
)
StagePlan = StepPlan | InputPlan | MapPlan | SwitchPlan | SubPipelinePlan


@dataclass(frozen=True)
class Plan:
    """A compiled pipeline.

    Attributes:
        root: The tree (or DAG) to interpret.
        stages: Every stage known before the run (steps, inputs, maps, switches,
            sub-pipelines), in document order.
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


def tolerated_count(tolerated: int | str | None, total: int) -> int:
    """How many of ``total`` items may fail: N, or ``floor(P * total / 100)`` for ``"P%"``."""
    if tolerated is None:
        return 0
    if isinstance(tolerated, int):
        return tolerated
    share = float(tolerated.rstrip("%"))
    # exact for the decimal shares people write ("12.5%"): scale to integers before dividing
    scaled = round(share * 1_000_000)
    return (scaled * total) // 100_000_000
