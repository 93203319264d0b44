"""Plan nodes as JSON, so a part of a plan can be handed to another run (a shard) as it is.

The stage ids travel resolved (suffixes of map runs included) and so do the policies: the receiver
runs exactly the nodes the sender compiled, without the config they came from. Fields added after
wave 2 (``when``, ``batch_size``, ``cache_*``…) are written only when set, so the nodes of a
pipeline that uses none of them hand on the same bytes as before.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from pipeline_engine.dsl._models import RetryPolicy
from pipeline_engine.dsl._nodes import (
    CasePlan,
    ChainPlan,
    ChordPlan,
    GroupPlan,
    InputPlan,
    MapPlan,
    Node,
    StagePlan,
    StepPlan,
    SubPipelinePlan,
    SwitchPlan,
)

__all__ = ["node_from_wire", "node_to_wire", "stages_of"]

_STEP_FIELDS = fields(StepPlan)
_INPUT_FIELDS = fields(InputPlan)
_STEP_LATER = ("when", "cache_ttl_s", "cache_key", "expr_kwargs")
"""A step's fields written only when they differ from their default (added after wave 2)."""


def _later(node: object, *names: str) -> dict[str, Any]:
    defaults = {f.name: f.default for f in fields(node)}  # type: ignore[arg-type]
    return {n: getattr(node, n) for n in names if getattr(node, n) != defaults[n]}


def node_to_wire(node: Node) -> dict[str, Any]:
    """A JSON-ready form of a node of a tree (a DAG is never handed on)."""
    if isinstance(node, StepPlan):
        # shallow (asdict deep-copies every field): written out at once, never kept
        out = {f.name: getattr(node, f.name) for f in _STEP_FIELDS if f.name not in _STEP_LATER}
        out["retry"] = node.retry.model_dump(mode="json", exclude_unset=True)
        return {"kind": "step", **out, **_later(node, *_STEP_LATER)}
    if isinstance(node, InputPlan):
        out = {f.name: getattr(node, f.name) for f in _INPUT_FIELDS if f.name != "when"}
        return {"kind": "input", **out, **_later(node, "when")}
    if isinstance(node, ChainPlan | GroupPlan):
        kind = "chain" if isinstance(node, ChainPlan) else "group"
        out = {"kind": kind, "children": [node_to_wire(c) for c in node.children]}
        out["path"] = node.path
        if isinstance(node, GroupPlan):
            out["max_concurrency"] = node.max_concurrency
            out.update(_later(node, "tolerated_failures"))
        return {**out, **_later(node, "when")}
    if isinstance(node, ChordPlan):
        return {
            "kind": "chord",
            "group": node_to_wire(node.group),
            "callback": node_to_wire(node.callback) if node.callback else None,
            "on_error": node.on_error,
            "path": node.path,
            **_later(node, "when"),
        }
    if isinstance(node, MapPlan):
        return {
            "kind": "map",
            "stage_id": node.stage_id,
            "items": node.items,
            "element": node_to_wire(node.element),
            "max_concurrency": node.max_concurrency,
            "on_error": node.on_error,
            "path": node.path,
            "on_failure": node.on_failure,
            **_later(node, "when", "batch_size", "tolerated_failures"),
        }
    if isinstance(node, SwitchPlan):
        return {
            "kind": "switch",
            "stage_id": node.stage_id,
            "cases": [{"when": c.when, "element": node_to_wire(c.element)} for c in node.cases],
            "default": node_to_wire(node.default) if node.default is not None else None,
            "path": node.path,
            "when": node.when,
            "on_failure": node.on_failure,
        }
    if isinstance(node, SubPipelinePlan):
        return {"kind": "pipeline", **{f.name: getattr(node, f.name) for f in fields(node)}}
    raise TypeError(f"a {type(node).__name__} cannot be handed on")


def node_from_wire(data: dict[str, Any]) -> Node:
    """The node :func:`node_to_wire` wrote."""
    fields = {k: v for k, v in data.items() if k != "kind"}
    kind = data["kind"]
    if kind == "step":
        fields["retry"] = RetryPolicy.model_validate(fields["retry"])
        return StepPlan(**fields)
    if kind == "input":
        return InputPlan(**fields)
    if kind in ("chain", "group"):
        children = tuple(node_from_wire(c) for c in fields.pop("children"))
        if kind == "chain":
            return ChainPlan(children, fields["path"], fields.get("when"))
        return GroupPlan(
            children,
            fields["max_concurrency"],
            fields["path"],
            fields.get("when"),
            fields.get("tolerated_failures"),
        )
    if kind == "chord":
        group = node_from_wire(fields["group"])
        callback = node_from_wire(fields["callback"]) if fields["callback"] else None
        assert isinstance(group, GroupPlan)
        assert callback is None or isinstance(callback, StepPlan)
        return ChordPlan(group, callback, fields["on_error"], fields["path"], fields.get("when"))
    if kind == "map":
        fields["element"] = node_from_wire(fields["element"])
        return MapPlan(**fields)
    if kind == "switch":
        cases = tuple(CasePlan(c["when"], node_from_wire(c["element"])) for c in fields["cases"])
        default = node_from_wire(fields["default"]) if fields["default"] is not None else None
        return SwitchPlan(
            fields["stage_id"], cases, default, fields["path"], fields["when"], fields["on_failure"]
        )
    if kind == "pipeline":
        return SubPipelinePlan(**fields)
    raise ValueError(f"unknown plan node kind {kind!r}")


def stages_of(node: Node) -> tuple[list[StagePlan], list[StagePlan]]:
    """(the stages of ``node`` known before it runs, the stages inside its maps' elements)."""
    stages: list[StagePlan] = []
    templates: list[StagePlan] = []

    def walk(n: Node, into: list[StagePlan]) -> None:
        if isinstance(n, StepPlan | InputPlan | SubPipelinePlan):
            into.append(n)
        elif isinstance(n, MapPlan):
            into.append(n)
            walk(n.element, templates)
        elif isinstance(n, SwitchPlan):
            into.append(n)
            for case in n.cases:
                walk(case.element, into)
            if n.default is not None:
                walk(n.default, into)
        elif isinstance(n, ChainPlan | GroupPlan):
            for c in n.children:
                walk(c, into)
        elif isinstance(n, ChordPlan):
            walk(n.group, into)
            if n.callback is not None:
                into.append(n.callback)

    walk(node, stages)
    return stages, templates
