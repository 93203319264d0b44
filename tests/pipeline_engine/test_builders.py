"""The builders write exactly the DSL's wire format (docs/dsl.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import pipeline_engine as pe
from pipeline_engine import (
    chain,
    chord,
    dag,
    group,
    human_input,
    pipeline,
    stage,
    step,
    task,
    to_wire,
)
from pipeline_engine.dsl import Chain, PipelineConfig, Step, parse_config
from pipeline_engine.examples import seed_pipeline_config, seed_tenant_config
from pipeline_engine.steps import StepContext, StepRegistry

DESIGN_EXAMPLE = """{"type": "chain", "steps": [
  {"type": "step", "name": "segmentation"},
  {"type": "chord",
   "group": {"type": "group", "steps": [
      {"type": "step", "name": "sahi_detection", "kwargs": {"segment_type": "claro-cajon"}},
      {"type": "step", "name": "detection", "kwargs": {"segment_type": "cajon"}}]},
   "callback": {"type": "step", "name": "aggregate_detections"}},
  {"type": "step", "name": "size_calculator"}]}"""


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def test_design_example_is_byte_identical() -> None:
    built = chain(
        step("segmentation"),
        chord(
            group(
                step("sahi_detection", segment_type="claro-cajon"),
                step("detection", segment_type="cajon"),
            ),
            step("aggregate_detections"),
        ),
        step("size_calculator"),
    )
    assert _text(to_wire(built)) == _text(json.loads(DESIGN_EXAMPLE))


def test_seed_tenant_definition_in_document_order() -> None:
    seed = seed_tenant_config()["pipeline_definition"]
    built = chain(
        "segmentation",
        "segment_filter",
        chord(
            [
                task("sahi_detection", segment_type="claro-cajon"),
                task("detection", segment_type="cajon"),
            ],
            "aggregate_detections",
        ),
        "size_calculator",
    )
    # Not only equal after normalisation: same key order as the seed's document.
    assert json.dumps(to_wire(built)) == json.dumps(seed)


def test_pipeline_wraps_like_the_seed_config() -> None:
    built = pipeline("cultivos-abc", chain("segmentation", "segment_filter"))
    wire = to_wire(built)
    assert wire == {
        "schema_version": "1",
        "name": "cultivos-abc",
        "definition": {
            "type": "chain",
            "steps": [
                {"type": "step", "name": "segmentation"},
                {"type": "step", "name": "segment_filter"},
            ],
        },
    }
    assert parse_config(wire).config == built
    assert isinstance(built, PipelineConfig)


def test_seed_config_round_trips_through_builders_output() -> None:
    seed = seed_pipeline_config()
    assert to_wire(parse_config(seed).config) == seed


def test_step_options_and_kwargs() -> None:
    element = task(
        "detection",
        {"id": "not-an-option"},
        id="det",
        retry={"max_attempts": 5, "initial_interval_s": 0.5},
        timeout_s=30,
        on_failure="continue",
        resources={"task_queue": "gpu", "max_concurrency": 2},
        segment_type="cajon",
    )
    assert to_wire(element) == {
        "type": "step",
        "name": "detection",
        "kwargs": {"id": "not-an-option", "segment_type": "cajon"},
        "id": "det",
        "retry": {"max_attempts": 5, "initial_interval_s": 0.5},
        "timeout_s": 30,
        "on_failure": "continue",
        "resources": {"task_queue": "gpu", "max_concurrency": 2},
    }
    assert to_wire(Step.model_validate(to_wire(element))) == to_wire(element)


def test_group_chord_input_and_config_options() -> None:
    built = pipeline(
        "approve",
        chain(
            group("a", "b", max_concurrency=1),
            chord(group("a", "b"), on_error="continue"),
            human_input("ok", {"type": "object"}, prompt="Approve?", timeout_s=60),
        ),
        timeout_s=600,
        failure_hold_s=0,
        hooks={"on_success": "notify"},
        defaults={"timeout_s": 10},
    )
    wire = to_wire(built)
    assert wire["definition"]["steps"][0] == {
        "type": "group",
        "steps": [{"type": "step", "name": "a"}, {"type": "step", "name": "b"}],
        "max_concurrency": 1,
    }
    assert wire["definition"]["steps"][1]["on_error"] == "continue"
    assert "callback" not in wire["definition"]["steps"][1]
    assert wire["definition"]["steps"][2] == {
        "type": "input",
        "id": "ok",
        "schema": {"type": "object"},
        "prompt": "Approve?",
        "timeout_s": 60,
    }
    assert wire["hooks"] == {"on_success": "notify"}
    assert wire["defaults"] == {"timeout_s": 10}
    assert parse_config(wire).config == built


def test_dag_form() -> None:
    built = dag(
        "d",
        stage("fetch", "t_add", n=1),
        stage("left", "t_add", depends_on=["fetch"]),
        stage("right", "t_add", depends_on=["fetch"], retry={"max_attempts": 1}),
    )
    wire = to_wire(built)
    assert wire == {
        "schema_version": "1",
        "name": "d",
        "stages": [
            {"id": "fetch", "step": "t_add", "kwargs": {"n": 1}},
            {"id": "left", "step": "t_add", "depends_on": ["fetch"]},
            {"id": "right", "step": "t_add", "depends_on": ["fetch"], "retry": {"max_attempts": 1}},
        ],
    }
    plan = parse_config(wire)
    assert [s.stage_id for s in plan.stages] == ["fetch", "left", "right"]


def test_hand_built_models_keep_their_type_tags() -> None:
    assert to_wire(Chain(steps=[Step(name="x")])) == {
        "type": "chain",
        "steps": [{"type": "step", "name": "x"}],
    }


def test_bad_elements_are_rejected() -> None:
    with pytest.raises(TypeError, match="pipeline element"):
        chain(42)  # type: ignore[arg-type]


def test_step_dispatch_registers_and_builds() -> None:
    registry = StepRegistry()

    @step(name="dispatch_x", registry=registry)
    def fn(ctx: StepContext, n: int = 1) -> int:
        return n

    assert "dispatch_x" in registry and registry.get("dispatch_x").fn is fn

    @pe.step
    def dispatch_bare(ctx: StepContext) -> None:
        return None

    assert pe.default_registry.get("dispatch_bare").fn is dispatch_bare
    element = step("dispatch_x", n=3, id="first")
    assert to_wire(element) == {
        "type": "step",
        "name": "dispatch_x",
        "kwargs": {"n": 3},
        "id": "first",
    }
    with pytest.raises(TypeError, match="step name first"):
        step(n=3)  # type: ignore[call-overload]
