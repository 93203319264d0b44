"""The walk, run directly on the in-process runtime: how values flow through chain, group, chord,
DAG and map, and that a fan-out keeps its members' order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any, cast

from pipeline_engine._interpreter._failure import FailurePolicy
from pipeline_engine._interpreter._walk import Walk
from pipeline_engine.dsl import Node
from pipeline_engine.states import PipelineState, StageState
from tests.pipeline_engine._interpreter.harness import CALLS, make_run, run_config, stage_states


def step(name: str, sid: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, "id": sid, "kwargs": kwargs}


async def test_a_chain_hands_each_result_to_the_next() -> None:
    chain = [step("add", "a", n=1), step("add", "b", n=2), step("add", "c", n=3)]
    run = await run_config({"definition": {"type": "chain", "steps": chain}})
    status = run.status()
    assert status.state is PipelineState.SUCCEEDED
    assert status.result == 6
    assert [s.result for s in status.stages] == [1, 3, 6]
    assert CALLS == [("a", 1), ("b", 1), ("c", 1)]


async def test_a_group_gives_every_member_the_same_previous_and_keeps_their_order() -> None:
    group = {
        "type": "group",
        "steps": [step("add", "g1", n=1), step("add", "g2", n=2), step("double", "g3")],
    }
    chain = {"type": "chain", "steps": [step("add", "first", n=5), group]}
    run = await run_config({"definition": chain})
    assert run.status().result == [6, 7, 10]


async def test_a_chord_hands_the_group_s_results_to_its_callback() -> None:
    chord = {
        "type": "chord",
        "group": {"type": "group", "steps": [step("add", "m1", n=1), step("add", "m2", n=2)]},
        "callback": step("echo", "cb"),
    }
    run = await run_config({"definition": chord})
    assert run.status().result == [1, 2]
    assert stage_states(run)["cb"] is StageState.SUCCEEDED
    assert CALLS[-1] == ("cb", 1)  # the callback runs after every member


async def test_a_chord_without_callback_is_its_group_s_results() -> None:
    chord = {"type": "chord", "group": {"type": "group", "steps": [step("add", "m1", n=4)]}}
    run = await run_config({"definition": chord})
    assert run.status().result == [4]


async def test_a_dag_stage_gets_its_dependencies_results_by_id() -> None:
    stages = [
        {"id": "a", "step": "add", "kwargs": {"n": 1}},
        {"id": "b", "step": "echo", "depends_on": ["a"]},
        {"id": "c", "step": "echo", "depends_on": ["a", "b"]},
    ]
    run = await run_config({"stages": stages})
    assert run.status().result == {"a": 1, "b": {"a": 1}}


async def test_a_dag_with_several_sinks_is_their_results_by_id() -> None:
    stages = [
        {"id": "root", "step": "add", "kwargs": {"n": 2}},
        {"id": "left", "step": "echo", "depends_on": ["root"]},
        {"id": "right", "step": "add", "depends_on": ["root"], "kwargs": {"n": 5}},
    ]
    run = await run_config({"stages": stages})
    assert run.status().result == {"left": {"root": 2}, "right": 5}
    assert CALLS[0] == ("root", 1)


async def test_a_map_runs_its_element_once_per_item_with_numbered_stage_ids() -> None:
    mapped = {"type": "map", "id": "m", "items": "/items", "element": step("double", "d")}
    chain = {"type": "chain", "steps": [step("items", "list", count=4), mapped]}
    run = await run_config({"definition": chain})
    assert run.status().result == [0, 2, 4, 6]
    states = stage_states(run)
    assert [states[f"d[{i}]"] for i in range(4)] == [StageState.SUCCEEDED] * 4
    assert states["m"] is StageState.SUCCEEDED


async def test_a_map_s_element_may_be_a_chain() -> None:
    element = {"type": "chain", "steps": [step("double", "d"), step("add", "plus", n=1)]}
    mapped = {"type": "map", "id": "m", "items": "/items", "element": element}
    chain = {"type": "chain", "steps": [step("items", "list", count=3), mapped]}
    run = await run_config({"definition": chain})
    assert run.status().result == [1, 3, 5]
    assert ("plus[2]", 1) in CALLS


async def test_a_map_over_an_empty_list_is_an_empty_list() -> None:
    mapped = {"type": "map", "items": "/items", "element": step("double", "d")}
    chain = {"type": "chain", "steps": [step("items", "list", count=0), mapped]}
    run = await run_config({"definition": chain})
    assert run.status().state is PipelineState.SUCCEEDED
    assert run.status().result == []


async def test_a_fan_out_wider_than_max_in_flight_starts_members_in_order() -> None:
    group = {"type": "group", "steps": [step("add", f"g{i}", n=i) for i in range(6)]}
    run = await run_config({"definition": group}, max_in_flight=2)
    assert run.status().result == [0, 1, 2, 3, 4, 5]
    assert [sid for sid, _ in CALLS] == [f"g{i}" for i in range(6)]


async def test_group_max_concurrency_keeps_the_results_in_order() -> None:
    group = {
        "type": "group",
        "max_concurrency": 1,
        "steps": [step("add", f"g{i}", n=i) for i in range(4)],
    }
    run = await run_config({"definition": group})
    assert run.status().result == [0, 1, 2, 3]
    assert [sid for sid, _ in CALLS] == ["g0", "g1", "g2", "g3"]


@dataclass(frozen=True)
class _WrapPlan:
    """A toy element for the test below: its child's value, wrapped in an object."""

    child: Node
    path: str


async def test_a_new_element_is_one_class_registered_with_the_walk() -> None:
    class Wrap:
        def __init__(self, walk: Walk) -> None:
            self._walk = walk

        async def __call__(self, node: _WrapPlan, previous: Any, policy: FailurePolicy) -> Any:
            return {"wrapped": await self._walk.run(node.child, previous, policy)}

    run = make_run({"definition": {"type": "chain", "steps": [step("add", "a", n=3)]}})
    plan = run._plan
    run._plan = replace(plan, root=cast(Node, _WrapPlan(child=plan.root, path="$.wrap")))
    run._walk.register(_WrapPlan, Wrap(run._walk))
    await asyncio.wait_for(run.run(), 10)
    assert run.status().result == {"wrapped": 3}
    assert run.status().stages[0].state is StageState.SUCCEEDED
