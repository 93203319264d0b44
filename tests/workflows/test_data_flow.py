"""Every element type and data-flow rule, on a real Temporal server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline_engine.examples import seed_pipeline_config, seed_tenant_config
from pipeline_engine.states import PipelineState, StageState
from tests.support.steps import calls_of
from tests.support.waiting import wait_for_state
from workflows.engine import TemporalPipelineEngine


def s(name: str, **kw: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, **({"kwargs": kw} if kw else {})}


async def run(engine: TemporalPipelineEngine, definition: Any, **create: Any) -> Any:
    config = (
        {"name": "t", **definition}
        if "stages" in definition
        else {"name": "t", "definition": definition}
    )
    created = await engine.create_pipeline(config, start=True, **create)
    return await wait_for_state(engine, created.pipeline_id)


async def test_seed_config_runs_to_succeeded(engine: TemporalPipelineEngine) -> None:
    tenant = seed_tenant_config()
    status = await run(
        engine,
        seed_pipeline_config()["definition"],
        input={},
        tenant_id="cultivos-abc",
        settings=tenant["settings"],
    )
    assert status.state is PipelineState.SUCCEEDED, status.error
    assert [x.stage_id for x in status.stages] == [
        "segmentation",
        "segment_filter",
        "sahi_detection",
        "detection",
        "aggregate_detections",
        "size_calculator",
    ]
    assert all(x.state is StageState.SUCCEEDED and x.attempts == 1 for x in status.stages)
    summary = status.result["summary"]
    assert summary["count"] > 0
    assert set(summary["by_label"]) == {"tomate", "lechuga"}


async def test_chain_passes_previous_and_context(engine: TemporalPipelineEngine) -> None:
    status = await run(
        engine,
        {"type": "chain", "steps": [s("t_add", n=2), s("t_add", n=3), s("t_echo", tag="end")]},
        input={"x": 1},
        tenant_id="acme",
        settings={"species": ["tomate"]},
    )
    assert status.state is PipelineState.SUCCEEDED
    echo = status.result
    assert echo["previous"] == 5
    assert echo["input"] == {"x": 1}
    assert echo["settings"] == {"species": ["tomate"]}
    assert echo["tag"] == "end"
    assert echo["stage_id"] == "t_echo"
    assert echo["attempt"] == 1
    assert echo["pipeline_id"] == status.pipeline_id
    assert echo["tenant_id"] == "acme"
    assert status.stage("t_add").result == 2 and status.stage("t_add-2").result == 5


async def test_first_element_gets_none(engine: TemporalPipelineEngine) -> None:
    status = await run(engine, s("t_echo"))
    assert status.result["previous"] is None


async def test_group_result_is_ordered_list_and_members_share_previous(
    engine: TemporalPipelineEngine,
) -> None:
    status = await run(
        engine,
        {
            "type": "chain",
            "steps": [
                s("t_add", n=7),
                {"type": "group", "steps": [s("t_add", n=1), s("t_echo"), s("t_add", n=100)]},
            ],
        },
    )
    assert status.state is PipelineState.SUCCEEDED
    first, echo, last = status.result
    assert first == 8 and last == 107
    assert echo["previous"] == 7


async def test_chord_callback_receives_group_list(engine: TemporalPipelineEngine) -> None:
    status = await run(
        engine,
        {
            "type": "chord",
            "group": {
                "type": "group",
                "steps": [s("t_add", n=1), s("t_add", n=2), s("t_add", n=3)],
            },
            "callback": s("t_sum"),
        },
    )
    assert status.result == 6


async def test_nested_chain_in_group(engine: TemporalPipelineEngine) -> None:
    status = await run(
        engine,
        {
            "type": "group",
            "steps": [
                {"type": "chain", "steps": [s("t_add", n=1), s("t_add", n=1)]},
                {"type": "chain", "steps": [s("t_add", n=10), s("t_add", n=10)]},
            ],
        },
    )
    assert status.result == [2, 20]


async def test_group_members_overlap(engine: TemporalPipelineEngine) -> None:
    status = await run(
        engine,
        {"type": "group", "steps": [s("t_sleep", seconds=1.0, value=i) for i in range(3)]},
    )
    spans = [(r["start"], r["end"]) for r in status.result]
    latest_start = max(start for start, _ in spans)
    earliest_end = min(end for _, end in spans)
    assert latest_start < earliest_end, f"members ran one after another: {spans}"


async def test_dag_stages_start_when_dependencies_finish(
    engine: TemporalPipelineEngine, calls_dir: Path
) -> None:
    status = await run(
        engine,
        {
            "stages": [
                {"id": "a", "step": "t_add", "kwargs": {"n": 1}},
                {"id": "b", "step": "t_sleep", "kwargs": {"seconds": 0.8}, "depends_on": ["a"]},
                {"id": "c", "step": "t_sleep", "kwargs": {"seconds": 0.8}, "depends_on": ["a"]},
                {"id": "d", "step": "t_echo", "depends_on": ["b", "c"]},
            ]
        },
    )
    assert status.state is PipelineState.SUCCEEDED
    assert set(status.result["previous"]) == {"b", "c"}
    assert status.stage("b").result["end"] < status.stage("c").result["end"] + 0.8
    b, c = status.stage("b").result, status.stage("c").result
    assert max(b["start"], c["start"]) < min(b["end"], c["end"]), "b and c should overlap"
    d_time = next(t for sid, _, t in calls_of(calls_dir, status.pipeline_id) if sid == "d")
    assert d_time >= max(b["end"], c["end"])


async def test_dag_root_gets_empty_mapping_and_several_sinks_give_a_mapping(
    engine: TemporalPipelineEngine,
) -> None:
    status = await run(
        engine,
        {
            "stages": [
                {"id": "root", "step": "t_echo"},
                {"id": "x", "step": "t_add", "depends_on": ["root"]},
                {"id": "y", "step": "t_add", "kwargs": {"n": 5}, "depends_on": ["root"]},
            ]
        },
    )
    assert status.stage("root").result["previous"] == {}
    assert status.result == {"x": 1, "y": 5}


async def test_step_ids_default_to_name_made_unique(engine: TemporalPipelineEngine) -> None:
    status = await run(
        engine,
        {
            "type": "chain",
            "steps": [s("t_add"), {"type": "step", "name": "t_add", "id": "t_add-2x"}, s("t_add")],
        },
    )
    assert [x.stage_id for x in status.stages] == ["t_add", "t_add-2x", "t_add-2"]
