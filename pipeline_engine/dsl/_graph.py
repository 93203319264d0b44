"""A compiled plan as a graph of stages: the data behind the console's drawing and Mermaid text."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from pipeline_engine.dsl._nodes import (
    ChainPlan,
    ChordPlan,
    DagPlan,
    GroupPlan,
    InputPlan,
    Node,
    Plan,
    StepPlan,
    SubPipelinePlan,
    SwitchPlan,
)
from pipeline_engine.dsl._references import MAX_REFERENCE_DEPTH, PipelineResolver, ResolvedPipeline

__all__ = ["COLLAPSE_OVER", "GraphNode", "PlanGraph", "plan_graph", "to_mermaid"]

COLLAPSE_OVER = 12
"""Groups with more members than this are drawn as one fan-out node."""


@dataclass(frozen=True)
class GraphNode:
    """One drawn node.

    Attributes:
        id: Unique within the graph (the stage id for a single stage).
        kind: ``step``, ``input``, ``group`` (a collapsed wide group), ``map`` (a run-time
            fan-out), ``switch`` (its branches follow it) or ``pipeline`` (a sub-pipeline: the
            nodes of the child's graph, when drawn, have it as ``parent``).
        label: What to write on it.
        path: JSON path of the element in the config.
        stages: Stage ids it stands for.
        run_prefixes: Stage ids whose run-time copies ``<id>[<i>]`` it also stands for.
        step: The step's name (a single step only).
        parent: The ``pipeline`` node this node is drawn inside (a child pipeline's node).
    """

    id: str
    kind: str
    label: str
    path: str
    stages: tuple[str, ...]
    run_prefixes: tuple[str, ...] = ()
    step: str | None = None
    parent: str | None = None


@dataclass
class PlanGraph:
    """Nodes and the data-flow edges ``(source id, target id)`` between them."""

    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)


def _stage_ids(node: object) -> list[str]:
    """Every stage id in a plan subtree, whatever the node types (also ones added later)."""
    if isinstance(node, StepPlan | InputPlan | SwitchPlan | SubPipelinePlan):
        own = [node.stage_id]
        if isinstance(node, SwitchPlan):
            own += _stage_ids([c.element for c in node.cases]) + _stage_ids(node.default)
        return own
    if isinstance(node, list | tuple):
        return [sid for item in node for sid in _stage_ids(item)]
    if dataclasses.is_dataclass(node):
        return [sid for f in dataclasses.fields(node) for sid in _stage_ids(getattr(node, f.name))]
    return []


class _Builder:
    def __init__(
        self,
        collapse_over: int | None,
        pipelines: PipelineResolver | None = None,
        parent: str | None = None,
        prefix: str = "",
        depth: int = 0,
    ) -> None:
        self.graph = PlanGraph()
        self.collapse_over = collapse_over
        self.pipelines = pipelines
        self.parent = parent
        self.prefix = prefix
        self.depth = depth

    def edge(self, sources: list[str], targets: list[str]) -> None:
        self.graph.edges += [(s, t) for s in sources for t in targets]

    def own(self, ids: list[str] | tuple[str, ...]) -> list[str]:
        return [self.prefix + i for i in ids]

    def add(self, node: GraphNode) -> tuple[list[str], list[str]]:
        if self.prefix or self.parent:  # a child's node: its stages are the child's, prefixed
            node = dataclasses.replace(
                node,
                id=self.prefix + node.id,
                parent=self.parent,
                stages=tuple(self.own(node.stages)),
                run_prefixes=tuple(self.own(node.run_prefixes)),
            )
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
        if isinstance(node, SwitchPlan):
            return self.switch(node)
        if isinstance(node, SubPipelinePlan):
            return self.sub_pipeline(node)
        return self.run_time_fan_out(node)

    def switch(self, node: SwitchPlan) -> tuple[list[str], list[str]]:
        """The switch's own node, an edge to each branch; the branches' exits are its exits (and
        the switch itself when nothing may run: its result is then null)."""
        sid = node.stage_id
        (own,), _ = self.add(GraphNode(sid, "switch", sid, node.path, (sid,)))
        exits: list[str] = [] if node.default is not None else [own]
        for branch in (*(c.element for c in node.cases), node.default):
            if branch is not None:
                b_in, b_out = self.node(branch)
                self.edge([own], b_in)
                exits += b_out
        return [own], exits

    def sub_pipeline(self, node: SubPipelinePlan) -> tuple[list[str], list[str]]:
        """One ``pipeline`` node; the child's graph inside it when the pipeline can be found."""
        sid = node.stage_id
        label = node.name if node.version is None else f"{node.name} v{node.version}"
        entry = self.add(GraphNode(sid, "pipeline", label, node.path, (sid,)))
        child = None
        if self.pipelines is not None and self.depth < MAX_REFERENCE_DEPTH:
            found = self.pipelines(node.name, node.version)
            child = found.plan if isinstance(found, ResolvedPipeline) else None
        if child is not None:
            inner = _Builder(
                self.collapse_over, self.pipelines, entry[0][0], f"{entry[0][0]}/", self.depth + 1
            )
            inner.node(child.root)
            self.graph.nodes += inner.graph.nodes
            self.graph.edges += inner.graph.edges
        return entry

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
            self.edge(self.own(stage.depends_on), self.own([stage.step.stage_id]))
        return self.own(roots), self.own(node.sinks)


def plan_graph(
    plan: Plan,
    *,
    collapse_over: int | None = COLLAPSE_OVER,
    pipelines: PipelineResolver | None = None,
) -> PlanGraph:
    """The plan as nodes and data-flow edges.

    Args:
        plan: A compiled plan.
        collapse_over: Groups with more members are one ``group`` node (``None``: never).
        pipelines: Finds the plans of sub-pipelines, drawn inside their ``pipeline`` node (ids
            ``<stage id>/<child node id>``); without it a sub-pipeline is one node.
    """
    builder = _Builder(collapse_over, pipelines)
    builder.node(plan.root)
    return builder.graph


def _mermaid_id(node_id: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)


def _mermaid_node(node: GraphNode, indent: str = "    ") -> str:
    nid = _mermaid_id(node.id)
    label = node.label.replace('"', "#quot;")
    if node.kind == "input":
        return f'{indent}{nid}{{{{"{label}<br/>(human input)"}}}}'
    if node.kind == "switch":
        return f'{indent}{nid}{{"{label}<br/>(switch)"}}'
    if node.step is not None and node.step != node.label:
        label = f"{label}<br/>{node.step}"
    return f'{indent}{nid}["{label}"]'


def _mermaid_nodes(graph: PlanGraph, parent: str | None, indent: str) -> list[str]:
    """The nodes drawn inside ``parent``; a sub-pipeline is a ``subgraph`` of its child's nodes."""
    lines = []
    for node in graph.nodes:
        if node.parent != parent:
            continue
        if node.kind != "pipeline":
            lines.append(_mermaid_node(node, indent))
            continue
        nid = _mermaid_id(node.id)
        inner = _mermaid_nodes(graph, node.id, indent + "    ")
        if not inner:  # the child is not drawn: one node stands for it
            inner = [f'{indent}    {nid}__child["{node.label}<br/>(pipeline)"]']
        lines += [f'{indent}subgraph {nid}["{node.label} (pipeline)"]', *inner, f"{indent}end"]
    return lines


def to_mermaid(plan: Plan, *, pipelines: PipelineResolver | None = None) -> str:
    """A ``flowchart LR`` of the plan: one node per stage, arrows along the data flow; a
    sub-pipeline is a ``subgraph`` (with its child's stages when ``pipelines`` finds them)."""
    graph = plan_graph(plan, collapse_over=None, pipelines=pipelines)
    lines = _mermaid_nodes(graph, None, "    ")
    lines += [f"    {_mermaid_id(s)} --> {_mermaid_id(t)}" for s, t in graph.edges]
    return "\n".join(["flowchart LR", *lines]) + "\n"
