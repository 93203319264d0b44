"""What the interpreter knows of a plan tree's shape, in one place: the first stage of a node, the
input elements inside it, and a map run's copy of its element.

A new element that holds other nodes is taught to these three functions (and nothing else needs
to walk the tree without running it).
"""

from __future__ import annotations

from dataclasses import replace

from pipeline_engine._interpreter._records import record
from pipeline_engine.dsl import (
    CasePlan,
    ChainPlan,
    ChordPlan,
    GroupPlan,
    InputPlan,
    MapPlan,
    Node,
    StepPlan,
    SubPipelinePlan,
    SwitchPlan,
)
from pipeline_engine.status import StageStatus

__all__ = ["expand", "first_stage", "has_input"]


def first_stage(node: Node) -> str:
    """The id of the first stage of a tree node (every node holds at least one)."""
    while True:
        if isinstance(node, StepPlan | InputPlan | MapPlan | SwitchPlan | SubPipelinePlan):
            return node.stage_id
        if isinstance(node, ChordPlan):
            node = node.group
        elif isinstance(node, ChainPlan | GroupPlan) and node.children:
            node = node.children[0]
        else:
            return node.path


def has_input(node: Node) -> bool:
    """Whether ``node`` holds an input element (a human's answer goes to the pipeline itself)."""
    if isinstance(node, InputPlan):
        return True
    if isinstance(node, ChainPlan | GroupPlan):
        return any(map(has_input, node.children))
    if isinstance(node, ChordPlan):
        return has_input(node.group)
    if isinstance(node, MapPlan):
        return has_input(node.element)
    if isinstance(node, SwitchPlan):
        default = [node.default] if node.default is not None else []
        return any(map(has_input, [*(c.element for c in node.cases), *default]))
    return False


def expand(node: Node, suffix: str, stages: dict[str, StageStatus] | None) -> Node:
    """A run of a map element: its stage ids with ``suffix`` appended (and, given ``stages``,
    their status records made there; a nested map's element stays a template)."""
    if isinstance(node, StepPlan | InputPlan | MapPlan | SwitchPlan | SubPipelinePlan):
        sid = node.stage_id + suffix
        run: StepPlan | InputPlan | MapPlan | SwitchPlan | SubPipelinePlan
        if isinstance(node, MapPlan):
            run = replace(node, stage_id=sid, element=expand(node.element, suffix, None))
        elif isinstance(node, SwitchPlan):
            cases = tuple(CasePlan(c.when, expand(c.element, suffix, stages)) for c in node.cases)
            default = node.default and expand(node.default, suffix, stages)
            run = replace(node, stage_id=sid, cases=cases, default=default)
        else:
            run = replace(node, stage_id=sid)
        if stages is not None and sid not in stages:
            stages[sid] = record(run)
        return run
    if isinstance(node, ChainPlan | GroupPlan):
        return replace(node, children=tuple(expand(c, suffix, stages) for c in node.children))
    if isinstance(node, ChordPlan):
        group = expand(node.group, suffix, stages)
        assert isinstance(group, GroupPlan)
        callback = node.callback and expand(node.callback, suffix, stages)
        assert callback is None or isinstance(callback, StepPlan)
        return replace(node, group=group, callback=callback)
    raise TypeError(f"a map element cannot hold {type(node).__name__}")
