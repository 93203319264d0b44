"""A compiled plan as a graph of stages: the data behind the console's drawing and Mermaid text."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from pipeline_engine.dsl._plan import (
    ChainPlan,
    ChordPlan,
    DagPlan,
    GroupPlan,
    InputPlan,
    Node,
    Plan,
    StepPlan,
)

__all__ = ["COLLAPSE_OVER", "GraphNode", "PlanGraph", "plan_graph", "to_mermaid"]

COLLAPSE_OVER = 12
"""Groups with more members than this are drawn as one fan-out node."""


@dataclass(frozen=True)
class GraphNode:
    """One drawn node.

    Attributes:
        id: Unique within the graph (the stage id for a single stage).
        kind: ``step``, ``input``, ``group`` (a collapsed wide group) or ``map`` (a run-time
            fan-out).
        label: What to write on it.
        path: JSON path of the element in the config.
        stages: Stage ids it stands for.
        run_prefixes: Stage ids whose run-time copies ``<id>[<i>]`` it also stands for.
        step: The step's name (a single step only).
    """

    id: str
    kind: str
    label: str
    path: str
    stages: tuple[str, ...]
    run_prefixes: tuple[str, ...] = ()
    step: str | None = None


@dataclass
class PlanGraph:
    """Nodes and the data-flow edges ``(source id, target id)`` between them."""

    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)


def _stage_ids(node: object) -> list[str]:
    """Every stage id in a plan subtree, whatever the node types (also ones added later)."""
    if isinstance(node, StepPlan | InputPlan):
        return [node.stage_id]
    if isinstance(node, list | tuple):
        return [sid for item in node for sid in _stage_ids(item)]
    if dataclasses.is_dataclass(node):
        return [sid for f in dataclasses.fields(node) for sid in _stage_ids(getattr(node, f.name))]
    return []


class _Builder:
    def __init__(self, collapse_over: int | None) -> None:
        self.graph = PlanGraph()
        self.collapse_over = collapse_over

    def edge(self, sources: list[str], targets: list[str]) -> None:
        self.graph.edges += [(s, t) for s in sources for t in targets]

    def add(self, node: GraphNode) -> tuple[list[str], list[str]]:
        self.graph.nodes.append(node)
        return [node.id], [node.id]

    def node(self, node: Node) -> tuple[list[str], list[str]]:
        """Draw ``node``; return its entry and exit node ids."""
        if isinstance(node, StepPlan):
            sid = node.stage_id
            return self.add(GraphNode(sid, "step", sid, node.path, (sid,), step=node.step))
        if isinstance(node, InputPlan):
            sid = node.stage_id
            return self.add(GraphNode(sid, "input", sid, node.path, (sid,)))
        if isinstance(node, ChainPlan):
            entries: list[str] = []
            exits: list[str] = []
            for child in node.children:
                c_in, c_out = self.node(child)
                if not entries:
                    entries = c_in
                else:
                    self.edge(exits, c_in)
                exits = c_out
            return entries, exits
        if isinstance(node, GroupPlan):
            if self.collapse_over is not None and len(node.children) > self.collapse_over:
                return self.collapsed(node, "group", f"group of {len(node.children)}")
            entries, exits = [], []
            for child in node.children:
                c_in, c_out = self.node(child)
                entries += c_in
                exits += c_out
            return entries, exits
        if isinstance(node, ChordPlan):
            g_in, g_out = self.node(node.group)
            if node.callback is None:
                return g_in, g_out
            cb_in, cb_out = self.node(node.callback)
            self.edge(g_out, cb_in)
            return g_in, cb_out
        if isinstance(node, DagPlan):
            return self.dag(node)
        return self.run_time_fan_out(node)

    def collapsed(self, node: GroupPlan, kind: str, label: str) -> tuple[list[str], list[str]]:
        ids = tuple(_stage_ids(node))
        return self.add(GraphNode(f"{kind}@{node.path}", kind, label, node.path, ids))

    def run_time_fan_out(self, node: object) -> tuple[list[str], list[str]]:
        """A ``map``: one node for the map's own stage and every run ``<template id>[<i>]``."""
        path = str(getattr(node, "path", ""))
        own = getattr(node, "stage_id", None)
        node_id = own if isinstance(own, str) else f"map@{path}"
        templates = tuple(_stage_ids(node))
        stages = (node_id,) if isinstance(own, str) else ()
        return self.add(GraphNode(node_id, "map", node_id, path, stages, run_prefixes=templates))

    def dag(self, node: DagPlan) -> tuple[list[str], list[str]]:
        roots = []
        for stage in node.stages:
            self.node(stage.step)
            if not stage.depends_on:
                roots.append(stage.step.stage_id)
            self.edge(list(stage.depends_on), [stage.step.stage_id])
        return roots, list(node.sinks)


def plan_graph(plan: Plan, *, collapse_over: int | None = COLLAPSE_OVER) -> PlanGraph:
    """The plan as nodes and data-flow edges.

    Args:
        plan: A compiled plan.
        collapse_over: Groups with more members are one ``group`` node (``None``: never).
    """
    builder = _Builder(collapse_over)
    builder.node(plan.root)
    return builder.graph


def _mermaid_id(node_id: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)


def _mermaid_node(node: GraphNode) -> str:
    nid = _mermaid_id(node.id)
    if node.kind == "input":
        return f'    {nid}{{{{"{node.label}<br/>(human input)"}}}}'
    label = node.label
    if node.step is not None and node.step != node.id:
        label = f"{node.id}<br/>{node.step}"
    return f'    {nid}["{label}"]'


def to_mermaid(plan: Plan) -> str:
    """A ``flowchart LR`` of the plan: one node per stage, arrows along the data flow."""
    graph = plan_graph(plan, collapse_over=None)
    lines = [_mermaid_node(n) for n in graph.nodes]
    lines += [f"    {_mermaid_id(s)} --> {_mermaid_id(t)}" for s, t in graph.edges]
    return "\n".join(["flowchart LR", *lines]) + "\n"
