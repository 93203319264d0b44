"""Draw a compiled plan as a Mermaid flowchart."""

from __future__ import annotations

import re

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

__all__ = ["to_mermaid"]


def _node_id(stage_id: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", stage_id)


class _Drawer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def edge(self, sources: list[str], targets: list[str]) -> None:
        for src in sources:
            for dst in targets:
                self.lines.append(f"    {src} --> {dst}")

    def node(self, node: Node) -> tuple[list[str], list[str]]:
        """Draw ``node``; return its entry and exit node ids."""
        if isinstance(node, StepPlan):
            nid = _node_id(node.stage_id)
            label = (
                node.stage_id if node.stage_id == node.step else f"{node.stage_id}<br/>{node.step}"
            )
            self.lines.append(f'    {nid}["{label}"]')
            return [nid], [nid]
        if isinstance(node, InputPlan):
            nid = _node_id(node.stage_id)
            self.lines.append(f'    {nid}{{{{"{node.stage_id}<br/>(human input)"}}}}')
            return [nid], [nid]
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
        return self.dag(node)

    def dag(self, node: DagPlan) -> tuple[list[str], list[str]]:
        roots = []
        for stage in node.stages:
            self.node(stage.step)
            nid = _node_id(stage.step.stage_id)
            if not stage.depends_on:
                roots.append(nid)
            self.edge([_node_id(d) for d in stage.depends_on], [nid])
        return roots, [_node_id(s) for s in node.sinks]


def to_mermaid(plan: Plan) -> str:
    """A ``flowchart LR`` of the plan: one node per stage, arrows along the data flow."""
    drawer = _Drawer()
    drawer.node(plan.root)
    return "\n".join(["flowchart LR", *drawer.lines]) + "\n"
