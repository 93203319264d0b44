"""The wave-3 DSL: when, switch, $expr, pipeline, batch_size, tolerated_failures, cache — their
validation (each problem at its JSON path), builders, plan wire form and drawings."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_engine import builders as b
from pipeline_engine.dsl import (
    PipelineConfig,
    Plan,
    SubPipelinePlan,
    SwitchPlan,
    compile_plan,
    node_from_wire,
    node_to_wire,
    parse_config,
    pipeline_config_schema,
    plan_graph,
    to_mermaid,
)
from pipeline_engine.dsl._nodes import tolerated_count
from pipeline_engine.dsl._references import ResolvedPipeline, resolve_references
from pipeline_engine.errors import InvalidConfig
from pipeline_engine.steps import StepContext, StepRegistry


@pytest.fixture
def reg() -> StepRegistry:
    r = StepRegistry()

    def typed(ctx: StepContext, n: int = 1, label: str = "") -> None: ...

    r.register(typed, name="typed")
    r.register(typed, name="other")
    return r


def problems(config: dict[str, Any], **kw: Any) -> list[str]:
    with pytest.raises(InvalidConfig) as caught:
        parse_config({"name": "t", **config}, **kw)
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


def step(name: str = "typed", **extra: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, **extra}


def test_expressions_are_checked_where_they_are_written(reg: StepRegistry) -> None:
    definition = {
        "type": "chain",
        "when": "input.ok",
        "steps": [
            step(when="prev > 1"),
            step(kwargs={"n": {"$expr": "1 +"}}),
            {
                "type": "switch",
                "cases": [{"when": "settings.x == 1", "element": step(when="item > 0")}],
            },
            {"type": "map", "element": step(kwargs={"n": {"$expr": "index", "x": 1}})},
        ],
    }
    found = problems({"definition": definition}, registry=reg)
    assert found[0] == (
        "$.definition.steps[0].when: unknown variable 'prev' (an expression here sees: "
        "previous, input, settings)"
    )
    assert found[1].startswith("$.definition.steps[1].kwargs.n.$expr: syntax error at column 4")
    assert found[2].startswith("$.definition.steps[2].cases[0].element.when: unknown variable")
    assert found[3] == (
        '$.definition.steps[3].element.kwargs.n: an {"$expr": …} object has no other keys '
        "(found: x)"
    )
    assert len(found) == 4  # index is known in a map; the $expr is not type-checked as an int


def test_a_computed_kwarg_still_needs_a_known_parameter(reg: StepRegistry) -> None:
    found = problems(
        {"definition": step(kwargs={"nope": {"$expr": "previous"}, "n": "x"})}, registry=reg
    )
    assert sorted(found) == [
        "$.definition.kwargs.n: Input should be a valid integer, unable to parse string as an "
        "integer",
        "$.definition.kwargs.nope: unknown parameter",
    ]


def test_new_fields_are_validated_by_the_schema() -> None:
    found = problems(
        {
            "definition": {
                "type": "group",
                "tolerated_failures": "150%",
                "steps": [
                    {"type": "map", "batch_size": 0, "element": step()},
                    {"type": "switch", "cases": []},
                    {"type": "pipeline", "name": "x", "version": 0},
                    step(cache={"key": "input.id"}),
                ],
            }
        }
    )
    joined = "\n".join(found)
    for path in (
        "$.definition.tolerated_failures",
        "$.definition.steps[0].batch_size",
        "$.definition.steps[1].cases",
        "$.definition.steps[2].version",
        "$.definition.steps[3].cache.ttl_s",
    ):
        assert path in joined, (path, found)
    schema = pipeline_config_schema()
    assert {"Switch", "SubPipeline", "Case", "Cache"} <= set(schema["$defs"])


def test_tolerated_share_is_floored() -> None:
    assert tolerated_count("20%", 9) == 1
    assert tolerated_count("12.5%", 8) == 1
    assert tolerated_count("100%", 7) == 7
    assert tolerated_count(3, 2) == 3
    assert tolerated_count(None, 10) == 0


def test_builders_write_the_wire_format() -> None:
    config = b.pipeline(
        "crate",
        b.chain(
            "segmentation",
            b.switch(
                b.case("settings.species == 'tomato'", "sahi_detection"),
                ("settings.species == 'lettuce'", b.task("detection", min_area=b.expr("1"))),
                default="detection",
                id="species",
            ),
            b.for_each("detection", items="/segments", batch_size=8, tolerated_failures="5%"),
            b.group("a", "b", tolerated_failures=1, when="input.all"),
            b.task("size_calculator", cache=3600, when="previous != null"),
            b.sub_pipeline("sizing", version=2, input=b.expr("previous")),
        ),
    )
    wire = b.to_wire(config)
    steps = wire["definition"]["steps"]
    assert steps[1] == {
        "type": "switch",
        "id": "species",
        "cases": [
            {
                "when": "settings.species == 'tomato'",
                "element": {"type": "step", "name": "sahi_detection"},
            },
            {
                "when": "settings.species == 'lettuce'",
                "element": {
                    "type": "step",
                    "name": "detection",
                    "kwargs": {"min_area": {"$expr": "1"}},
                },
            },
        ],
        "default": {"type": "step", "name": "detection"},
    }
    assert steps[2]["batch_size"] == 8 and steps[2]["tolerated_failures"] == "5%"
    assert steps[3]["when"] == "input.all" and steps[3]["tolerated_failures"] == 1
    assert steps[4]["cache"] == {"ttl_s": 3600.0}
    assert steps[5] == {
        "type": "pipeline",
        "name": "sizing",
        "version": 2,
        "input": {"$expr": "previous"},
    }


def sub_config(name: str, child: str | None = None) -> Plan:
    definition = step() if child is None else {"type": "pipeline", "name": child}
    return compile_plan(PipelineConfig.model_validate({"name": name, "definition": definition}))


def test_sub_pipeline_references_are_resolved_with_the_caller_s_store() -> None:
    store = {"a": sub_config("a", "b"), "b": sub_config("b", "c"), "c": sub_config("c")}

    def resolve(name: str, version: int | None) -> ResolvedPipeline | str:
        if name not in store:
            return f"unknown pipeline {name!r}"
        if version not in (None, 1):
            return f"pipeline {name!r} has no version {version}"
        if name == "a" and version is None:  # a's latest: the version being written
            return ResolvedPipeline(name, 0, "", store[name])
        return ResolvedPipeline(name, 1, "d-" + name, store[name])

    cfg = {"definition": {"type": "chain", "steps": [{"type": "pipeline", "name": "b"}]}}
    parse_config({"name": "a", **cfg}, pipelines=resolve)  # a -> b -> c
    plan = compile_plan(PipelineConfig.model_validate({"name": "a", **cfg}))
    (sub,) = [s for s in plan.stages if isinstance(s, SubPipelinePlan)]
    assert sub.stage_id == "b" and sub.input_set is False
    found = resolve_references(plan, resolve, name="a")
    assert found.problems == [] and found.labels == {"b": "b@1", "c": "c@1"}
    assert sorted(found.pipelines) == ["b@1", "c@1"]
    store["c"] = sub_config("c", "a")  # a (being written) -> b -> c -> a
    found_messages = [p.message for p in parse_config_problems({"name": "a", **cfg}, resolve)]
    assert found_messages == ["a cycle of sub-pipelines: a -> b@1 -> c@1 -> a"]
    # a pinned older version of the same name is another document: no cycle unless it loops
    store["c"] = sub_config("c")
    assert resolve_references(plan, resolve, name="a", version=2).problems == []
    missing = {"definition": {"type": "pipeline", "name": "c", "version": 3}}
    assert [str(p) for p in parse_config_problems({"name": "z", **missing}, resolve)] == [
        "$.definition.version: pipeline 'c' has no version 3"
    ]
    unknown = {"definition": {"type": "pipeline", "name": "nope"}}
    assert [str(p) for p in parse_config_problems({"name": "z", **unknown}, resolve)] == [
        "$.definition.name: unknown pipeline 'nope'"
    ]


def parse_config_problems(config: dict[str, Any], resolve: Any) -> list[Any]:
    with pytest.raises(InvalidConfig) as caught:
        parse_config(config, pipelines=resolve)
    return list(caught.value.problems)


def test_what_the_engine_does_not_run_yet_is_refused() -> None:
    parse_config({"name": "t", "definition": {"type": "pipeline", "name": "x"}})  # a child run
    cached = parse_config({"name": "t", "definition": step(cache={"ttl_s": 5, "key": "input"})})
    assert cached.stages[0].cache_ttl_s == 5  # the step cache runs (issue 21)


def test_new_nodes_travel_to_shards_and_old_nodes_keep_their_bytes() -> None:
    plan = parse_config(
        {
            "name": "w",
            "definition": {
                "type": "map",
                "batch_size": 2,
                "tolerated_failures": 1,
                "when": "true",
                "element": {
                    "type": "switch",
                    "cases": [{"when": "item > 1", "element": step(when="true")}],
                    "default": {"type": "group", "tolerated_failures": "10%", "steps": [step()]},
                },
            },
        }
    )
    wire = node_to_wire(plan.root)
    assert node_from_wire(wire) == plan.root
    assert isinstance(node_from_wire(wire["element"]), SwitchPlan)
    plain = parse_config({"name": "p", "definition": step()})
    assert set(node_to_wire(plain.root)) == {
        "kind", "stage_id", "step", "kwargs", "retry", "timeout_s", "heartbeat_timeout_s",
        "on_failure", "task_queue", "max_concurrency", "path", "local",
    }  # fmt: skip


def test_switch_and_sub_pipeline_are_drawn() -> None:
    child = parse_config({"name": "sizing", "definition": {"type": "chain", "steps": [step()]}})
    # compiled without validation: validation refuses a sub-pipeline this engine cannot run
    config = PipelineConfig.model_validate(
        {
            "name": "crate",
            "definition": {
                "type": "chain",
                "steps": [
                    step(id="first"),
                    {"type": "switch", "cases": [{"when": "true", "element": step(id="x")}]},
                    {"type": "pipeline", "name": "sizing"},
                ],
            },
        }
    )
    compiled = compile_plan(config)
    graph = plan_graph(compiled, pipelines=lambda n, v: ResolvedPipeline(n, 1, "", child))
    kinds = {n.id: (n.kind, n.parent) for n in graph.nodes}
    assert kinds == {
        "first": ("step", None),
        "switch": ("switch", None),
        "x": ("step", None),
        "sizing": ("pipeline", None),
        "sizing/typed": ("step", "sizing"),
    }
    assert ("first", "switch") in graph.edges and ("switch", "x") in graph.edges
    assert ("switch", "sizing") in graph.edges and ("x", "sizing") in graph.edges
    text = to_mermaid(compiled, pipelines=lambda n, v: ResolvedPipeline(n, 1, "", child))
    assert 'subgraph n_sizing["sizing (pipeline)"]' in text
    assert 'n_switch{"switch<br/>(switch)"}' in text
    assert "subgraph n_sizing" in to_mermaid(compiled)  # without the store: one inner node
