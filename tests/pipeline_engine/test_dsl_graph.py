"""The plan as a graph: what the console draws and ``pipeline-engine graph`` prints."""

from __future__ import annotations

import dataclasses

from pipeline_engine.dsl import parse_config, plan_graph


def test_plan_graph_draws_dags_collapses_wide_groups_and_run_time_fan_outs() -> None:
    dag = parse_config(
        {
            "name": "g",
            "stages": [
                {"id": "a", "step": "t_add"},
                {"id": "b", "step": "t_add", "depends_on": ["a"]},
                {"id": "c", "step": "t_sum", "depends_on": ["a", "b"]},
            ],
        }
    )
    graph = plan_graph(dag)
    assert [n.id for n in graph.nodes] == ["a", "b", "c"]
    assert set(graph.edges) == {("a", "b"), ("a", "c"), ("b", "c")}
    wide = {"type": "group", "steps": [{"type": "step", "name": "t_add"}] * 13}
    tree = {"type": "chain", "steps": [{"type": "step", "name": "t_add"}, wide]}
    plan = parse_config({"name": "w", "definition": tree})
    (first, fan_out) = plan_graph(plan).nodes
    assert (fan_out.kind, fan_out.label, len(fan_out.stages)) == ("group", "group of 13", 13)
    assert plan_graph(plan).edges == [(first.id, fan_out.id)]
    assert len(plan_graph(plan, collapse_over=None).nodes) == 14

    # a node kind the drawing does not know (a run-time fan-out) is one node for all its runs
    @dataclasses.dataclass(frozen=True)
    class FanOut:
        stage_id: str
        element: object
        path: str

    inner = parse_config({"name": "i", "definition": {"type": "step", "name": "t_add"}}).root
    odd = dataclasses.replace(plan, root=FanOut("m", inner, "$.definition"))
    (node,) = plan_graph(odd).nodes  # type: ignore[arg-type]
    assert (node.id, node.kind, node.stages, node.run_prefixes) == ("m", "map", ("m",), ("t_add",))
