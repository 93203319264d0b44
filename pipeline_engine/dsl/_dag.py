"""Graph helpers shared by the DAG form and sub-pipeline references: cycles and a stable order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline_engine.dsl._nodes import DagStagePlan

__all__ = ["find_cycle", "topological"]


def find_cycle(deps: Mapping[str, Sequence[str]], order: Sequence[str]) -> list[str]:
    """A cycle of ``deps`` (node -> what it waits for) in execution order, or [] when none."""
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


def topological(plans: list[DagStagePlan]) -> list[DagStagePlan]:
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
