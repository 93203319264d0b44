"""The ``map`` element, run by the shared interpreter (here through the fake engine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tests.support.steps  # noqa: F401  (registers the t_* steps)
from pipeline_engine import (
    InvalidConfig,
    PipelineState,
    StagePage,
    StageState,
    chain,
    for_each,
    group,
    pipeline,
    step,
    to_wire,
)
from pipeline_engine.dsl import compile_plan, parse_config, plan_graph, to_mermaid
from pipeline_engine.steps import default_registry
from pipeline_engine.testing import AsyncFakePipelineEngine


async def run(engine: AsyncFakePipelineEngine, config: Any, **create: Any) -> Any:
    pid = await engine.create_pipeline(config, **create)
    await engine.start_pipeline(pid)
    return await engine.wait_for(pid, timeout=10)


def doubling(**map_options: Any) -> Any:
    return pipeline(
        "m",
        chain(step("t_items", count=30), for_each(step("t_double"), items="/items", **map_options)),
        failure_hold_s=0,
    )


async def test_map_runs_the_element_per_item_in_order() -> None:
    async with AsyncFakePipelineEngine() as engine:
        status = await run(engine, doubling(id="twice", max_concurrency=4))
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert status.result == [2 * i for i in range(30)]
    assert status.stage("twice").state is StageState.SUCCEEDED
    assert status.stage("t_double[17]").result == 34
    assert status.stage_counts == {"SUCCEEDED": 32}


async def test_map_stage_ids_show_in_events() -> None:
    async with AsyncFakePipelineEngine() as engine:
        status = await run(engine, doubling())
        events = await engine.get_history(status.pipeline_id)
    done = {e.payload["stage_id"] for e in events if e.type == "stage.succeeded"}
    assert {f"t_double[{i}]" for i in range(30)} <= done and "map" in done


async def test_empty_list_gives_empty_result() -> None:
    config = pipeline("m", chain(step("t_items", count=0), for_each("t_double", items="/items")))
    async with AsyncFakePipelineEngine() as engine:
        status = await run(engine, config)
    assert status.state is PipelineState.SUCCEEDED and status.result == []


@pytest.mark.parametrize(
    ("pointer", "message"),
    [
        ("/missing", "items pointer '/missing' does not resolve: no 'missing' in a dict"),
        ("", "map items (the previous value) must be a list, got dict"),
        ("/items/0", "map items at '/items/0' must be a list, got int"),
    ],
)
async def test_bad_items_fail_the_map_stage_naming_the_pointer(pointer: str, message: str) -> None:
    config = pipeline(
        "m",
        chain(step("t_items", count=2), for_each("t_double", items=pointer)),
        failure_hold_s=0,
    )
    async with AsyncFakePipelineEngine() as engine:
        status = await run(engine, config)
    assert status.state is PipelineState.FAILED
    stage = status.stage("map")
    assert stage.state is StageState.FAILED
    assert stage.error is not None and stage.error.type == "InvalidItems"
    assert stage.error.message == message


async def test_a_failed_item_is_retried_alone() -> None:
    async with AsyncFakePipelineEngine() as engine:
        engine.fail_step("t_double[7]", times=3)
        pid = await engine.create_pipeline(
            pipeline("m", chain(step("t_items", count=10), for_each("t_double", items="/items")))
        )
        await engine.start_pipeline(pid)
        failed = await engine.wait_for(pid, PipelineState.FAILED, timeout=10)
        assert failed.stage("t_double[7]").state is StageState.FAILED
        await engine.retry_stage(pid, "t_double[7]", "fixed")
        status = await engine.wait_for(pid, timeout=10)
        assert len(engine.calls_of("t_double[7]", pid)) == 4  # 3 failed attempts, then the retry
        assert all(len(engine.calls_of(f"t_double[{i}]", pid)) == 1 for i in range(10) if i != 7)
    assert status.state is PipelineState.SUCCEEDED
    assert status.result == [2 * i for i in range(10)]


async def test_on_error_continue_marks_failures_in_place() -> None:
    config = pipeline(
        "m",
        chain(
            step("t_items", count=3),
            for_each(step("t_double", fail_on=1), items="/items", on_error="continue"),
        ),
        defaults={"retry": {"max_attempts": 1}},
    )
    async with AsyncFakePipelineEngine() as engine:
        status = await run(engine, config)
    assert status.state is PipelineState.SUCCEEDED, status.error
    first, marked, last = status.result
    assert (first, last) == (0, 4)
    assert marked["__failed__"] is True and marked["stage_id"] == "t_double[1]"


async def test_nested_map_runs_get_nested_ids() -> None:
    inner = for_each(chain("t_double", "t_double"), id="inner")
    config = pipeline("m", chain(step("t_echo"), for_each(inner, items="/input", id="outer")))
    async with AsyncFakePipelineEngine() as engine:
        status = await run(engine, config, input=[[1, 2], [3]])
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert status.result == [[4, 8], [12]]
    assert status.stage("t_double-2[0][1]").result == 8
    assert status.stage("inner[1]").result == [12]
    assert "t_double[0]" not in {s.stage_id for s in status.stages}


async def test_group_inside_map_and_pages_of_stages() -> None:
    config = pipeline(
        "m",
        chain(step("t_items", count=5), for_each(group("t_double", "t_double"), items="/items")),
    )
    async with AsyncFakePipelineEngine() as engine:
        status = await run(engine, config)
        page = await engine.get_pipeline(status.pipeline_id, page=StagePage(offset=2, limit=3))
        none = await engine.get_pipeline(
            status.pipeline_id, page=StagePage(state=StageState.FAILED)
        )
        events = await engine.get_history(status.pipeline_id, after_id=3, limit=4)
    assert status.result == [[2 * i, 2 * i] for i in range(5)]
    assert status.stage("t_double-2[4]").result == 8
    all_ids = [s.stage_id for s in status.stages]
    assert [s.stage_id for s in page.stages] == all_ids[2:5]
    assert (page.stages_total, page.stages_offset) == (12, 2)
    assert page.stage_counts == {"SUCCEEDED": 12}
    assert none.stages == [] and none.stages_total == 0
    assert [e.id for e in events] == [4, 5, 6, 7]


def test_builder_writes_the_wire_format() -> None:
    element = for_each("detection", items="/segments", max_concurrency=8)
    assert to_wire(element) == {
        "type": "map",
        "element": {"type": "step", "name": "detection"},
        "items": "/segments",
        "max_concurrency": 8,
    }


def test_unknown_step_inside_a_map_is_reported() -> None:
    config = {
        "name": "m",
        "definition": {"type": "map", "element": {"type": "step", "name": "nope"}},
    }
    with pytest.raises(InvalidConfig) as err:
        parse_config(config, registry=default_registry)
    assert [(p.path, p.message) for p in err.value.problems] == [
        ("$.definition.element.name", "unknown step 'nope'")
    ]


def test_items_must_be_a_json_pointer() -> None:
    config = {"name": "m", "definition": {"type": "map", "items": "segments", "element": "x"}}
    with pytest.raises(InvalidConfig) as err:
        parse_config(config)
    assert any(p.path == "$.definition.items" for p in err.value.problems)


def test_graph_draws_the_map_as_one_node_for_all_runs() -> None:
    plan = compile_plan(parse_config(doubling(id="twice")).config)
    node = next(n for n in plan_graph(plan).nodes if n.kind == "map")
    assert (node.id, node.run_prefixes) == ("twice", ("t_double",))
    assert "n_t_items --> n_twice" in to_mermaid(plan)


async def test_seed_example_maps_detection_over_the_segments() -> None:
    root = Path(__file__).resolve().parents[2]
    mapped = json.loads((root / "examples" / "seed-pipeline-map.json").read_text())
    plain = json.loads((root / "examples" / "seed-pipeline.json").read_text())
    async with AsyncFakePipelineEngine() as engine:
        status = await run(engine, mapped, input={})
        reference = await run(engine, plain, input={})
    assert status.state is PipelineState.SUCCEEDED, status.error
    segments = status.stage("segment_filter").result["segments"]
    assert len(segments) > 1
    runs = [s.stage_id for s in status.stages if s.stage_id.startswith("detection[")]
    assert runs == [f"detection[{i}]" for i in range(len(segments))]
    counts = status.result["summary"]["count"]
    assert counts > 0 and counts == reference.result["summary"]["count"]
