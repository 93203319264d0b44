"""The DSL: the seed's JSON byte for byte, both config forms, and every validation problem."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_engine.dsl import (
    ChainPlan,
    ChordPlan,
    DagPlan,
    PipelineConfig,
    parse_config,
    pipeline_config_schema,
)
from pipeline_engine.errors import InvalidConfig
from pipeline_engine.examples import seed_pipeline_config, seed_tenant_config
from pipeline_engine.steps import StepContext, StepRegistry


@pytest.fixture
def reg() -> StepRegistry:
    r = StepRegistry()

    def plain(ctx: StepContext) -> None: ...

    def typed(ctx: StepContext, segment_type: str, min_area: int = 30) -> None: ...

    def loose(ctx: StepContext, **kwargs: Any) -> None: ...

    for name in (
        "segmentation",
        "segment_filter",
        "aggregate_detections",
        "size_calculator",
        "a",
        "b",
        "c",
    ):
        r.register(plain, name=name)
    r.register(typed, name="detection")
    r.register(typed, name="sahi_detection")
    r.register(loose, name="loose")
    return r


def problems(exc: pytest.ExceptionInfo[InvalidConfig]) -> dict[str, str]:
    return {p.path: p.message for p in exc.value.problems}


def test_seed_definition_is_accepted_byte_for_byte(reg: StepRegistry) -> None:
    tenant = seed_tenant_config()
    plan = parse_config(seed_pipeline_config(), registry=reg)
    assert isinstance(plan.root, ChainPlan)
    assert isinstance(plan.root.children[2], ChordPlan)
    dumped = plan.config.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert dumped["definition"] == tenant["pipeline_definition"]
    assert [s.stage_id for s in plan.stages] == [
        "segmentation",
        "segment_filter",
        "sahi_detection",
        "detection",
        "aggregate_detections",
        "size_calculator",
    ]


def test_config_from_json_text(reg: StepRegistry) -> None:
    plan = parse_config(json.dumps(seed_pipeline_config()), registry=reg)
    assert plan.config.name == "cultivos-abc"


def test_dag_form(reg: StepRegistry) -> None:
    plan = parse_config(
        {
            "name": "d",
            "stages": [
                {"id": "x", "step": "a"},
                {"id": "z", "step": "c", "depends_on": ["y"]},
                {"id": "y", "step": "b", "depends_on": ["x"]},
            ],
        },
        registry=reg,
    )
    assert isinstance(plan.root, DagPlan)
    assert [s.step.stage_id for s in plan.root.stages] == ["x", "y", "z"]
    assert plan.root.sinks == ("z",)


def test_unknown_fields_rejected_with_paths(reg: StepRegistry) -> None:
    cfg = seed_pipeline_config()
    cfg["definition"]["steps"][2]["group"]["steps"][0]["colour"] = "red"
    cfg["surprise"] = 1
    with pytest.raises(InvalidConfig) as err:
        parse_config(cfg, registry=reg)
    assert problems(err) == {
        "$.definition.steps[2].group.steps[0].colour": "unknown field",
        "$.surprise": "unknown field",
    }


def test_non_finite_numbers_are_refused_with_their_paths(reg: StepRegistry) -> None:
    cfg = seed_pipeline_config()
    cfg["definition"]["steps"][2]["group"]["steps"][0]["kwargs"]["min_area"] = float("nan")
    cfg["defaults"] = {"timeout_s": float("inf")}
    with pytest.raises(InvalidConfig) as err:
        parse_config(cfg, registry=reg)
    refused = {p.path for p in err.value.problems if "NaN" in p.message}
    assert refused == {
        "$.definition.steps[2].group.steps[0].kwargs.min_area",
        "$.defaults.timeout_s",
    }
    loose = {
        "name": "x",
        "definition": {"type": "step", "name": "loose", "kwargs": {"v": [-1e999]}},
    }
    with pytest.raises(InvalidConfig) as err:
        parse_config(json.dumps(loose), registry=reg)
    assert list(problems(err)) == ["$.definition.kwargs.v[0]"]


def test_all_problems_at_once(reg: StepRegistry) -> None:
    with pytest.raises(InvalidConfig) as err:
        parse_config(
            {
                "name": "bad",
                "definition": {
                    "type": "chain",
                    "steps": [
                        {"type": "step", "name": "nope"},
                        {"type": "step", "name": "missing_too"},
                        {"type": "group", "steps": []},
                        {
                            "type": "step",
                            "name": "detection",
                            "kwargs": {"min_area": "big", "zzz": 1},
                        },
                        {"type": "step", "name": "a", "id": "dup"},
                        {"type": "step", "name": "b", "id": "dup"},
                        {
                            "type": "step",
                            "name": "loose",
                            "kwargs": {"anything": [1, 2]},
                            "on_failure": "ghost",
                        },
                    ],
                },
                "hooks": {"on_success": "phantom"},
            },
            registry=reg,
        )
    found = problems(err)
    assert found["$.definition.steps[0].name"] == "unknown step 'nope'"
    assert found["$.definition.steps[1].name"] == "unknown step 'missing_too'"
    assert found["$.definition.steps[2].steps"] == "a group needs at least one element"
    assert "valid integer" in found["$.definition.steps[3].kwargs.min_area"]
    assert found["$.definition.steps[3].kwargs.zzz"] == "unknown parameter"
    assert found["$.definition.steps[3].kwargs.segment_type"] == "required parameter missing"
    assert found["$.definition.steps[5].id"] == "duplicate stage id 'dup'"
    assert found["$.definition.steps[6].on_failure"] == "unknown step 'ghost'"
    assert found["$.hooks.on_success"] == "unknown step 'phantom'"
    assert "unknown steps: ghost, missing_too, nope, phantom" in err.value.message


def test_unknown_steps_reported_even_when_the_structure_is_broken(reg: StepRegistry) -> None:
    with pytest.raises(InvalidConfig) as err:
        parse_config(
            {
                "name": "x",
                "definition": {
                    "type": "chain",
                    "steps": [{"type": "step", "name": "nope"}, {"type": "sttep"}],
                },
            },
            registry=reg,
        )
    found = problems(err)
    assert "unknown element type 'sttep'" in found["$.definition.steps[1]"]
    assert found["$.definition.steps[0].name"] == "unknown step 'nope'"


def test_unknown_element_type_lists_every_type_map_included(reg: StepRegistry) -> None:
    with pytest.raises(InvalidConfig) as err:
        parse_config({"name": "x", "definition": {"type": "mapp"}}, registry=reg)
    message = problems(err)["$.definition"]
    assert message.startswith("unknown element type 'mapp' (one of: ")
    choices = set(message.removesuffix(")").split("(one of: ")[1].split(", "))
    assert {"step", "chain", "group", "chord", "input", "map"} <= choices


def test_dag_cycle_is_named(reg: StepRegistry) -> None:
    with pytest.raises(InvalidConfig) as err:
        parse_config(
            {
                "name": "d",
                "stages": [
                    {"id": "a", "step": "a", "depends_on": ["c"]},
                    {"id": "b", "step": "b", "depends_on": ["a"]},
                    {"id": "c", "step": "c", "depends_on": ["b"]},
                    {"id": "e", "step": "c", "depends_on": ["ghost", "e"]},
                ],
            },
            registry=reg,
        )
    found = problems(err)
    assert found["$.stages"] == "dependency cycle: a -> b -> c -> a"
    assert found["$.stages[3].depends_on[0]"] == "unknown stage 'ghost'"
    assert found["$.stages[3].depends_on[1]"] == "stage 'e' depends on itself"


def test_nesting_limit(reg: StepRegistry) -> None:
    tree: dict[str, Any] = {"type": "step", "name": "a"}
    for _ in range(40):
        tree = {"type": "chain", "steps": [tree]}
    with pytest.raises(InvalidConfig) as err:
        parse_config({"name": "deep", "definition": tree}, registry=reg)
    assert any("nested deeper than 32" in p.message for p in err.value.problems)


@pytest.mark.parametrize(
    ("doc", "path", "fragment"),
    [
        ({"name": "x"}, "$", 'exactly one of "definition"'),
        ({"name": "x", "definition": {"name": "a"}}, "$.definition", 'missing "type"'),
        (
            {"name": "x", "schema_version": "2", "definition": {"type": "step", "name": "a"}},
            "$.schema_version",
            "unsupported",
        ),
        ({"name": "", "definition": {"type": "step", "name": "a"}}, "$.name", "at least 1"),
        (
            {
                "name": "x",
                "definition": {"type": "step", "name": "a", "retry": {"max_attempts": 0}},
            },
            "$.definition.retry.max_attempts",
            "greater than or equal",
        ),
        (
            {"name": "x", "definition": {"type": "input", "schema": {"type": 12}}},
            "$.definition.schema",
            "not a valid JSON Schema",
        ),
        (
            {"name": "x", "definition": {"type": "step", "name": "a", "timeout_s": -1}},
            "$.definition.timeout_s",
            "greater than",
        ),
    ],
)
def test_structural_errors_name_path_and_reason(
    reg: StepRegistry, doc: dict[str, Any], path: str, fragment: str
) -> None:
    with pytest.raises(InvalidConfig) as err:
        parse_config(doc, registry=reg)
    found = problems(err)
    assert path in found, found
    assert fragment in found[path]


def test_not_json_and_not_an_object() -> None:
    with pytest.raises(InvalidConfig, match="not valid JSON"):
        parse_config("{")
    with pytest.raises(InvalidConfig, match="JSON object"):
        parse_config("[1]")


def test_default_ids_skip_explicit_ones(reg: StepRegistry) -> None:
    plan = parse_config(
        {
            "name": "ids",
            "definition": {
                "type": "chain",
                "steps": [
                    {"type": "step", "name": "a"},
                    {"type": "step", "name": "b", "id": "a-2"},
                    {"type": "step", "name": "a"},
                    {"type": "input"},
                    {"type": "input"},
                ],
            },
        },
        registry=reg,
    )
    assert [s.stage_id for s in plan.stages] == ["a", "a-2", "a-3", "input", "input-2"]


def test_retry_defaults_merge_field_by_field(reg: StepRegistry) -> None:
    plan = parse_config(
        {
            "name": "r",
            "defaults": {"retry": {"max_attempts": 7, "backoff": 3}, "timeout_s": 9},
            "definition": {"type": "step", "name": "a", "retry": {"max_attempts": 2}},
        },
        registry=reg,
    )
    step = plan.stages[0]
    assert step.retry.max_attempts == 2 and step.retry.backoff == 3 and step.timeout_s == 9


def test_json_schema_export_validates_the_seed() -> None:
    from jsonschema import Draft202012Validator

    schema = pipeline_config_schema()
    Draft202012Validator.check_schema(schema)
    Draft202012Validator(schema).validate(seed_pipeline_config())
    assert schema["title"] == "PipelineConfig"


def test_dsl_models_do_not_import_temporal() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pipeline_engine.dsl, pipeline_engine.errors;print('temporalio' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


_names = st.sampled_from(["a", "b", "c", "nope"])
_leaf = st.builds(lambda n: {"type": "step", "name": n}, _names)
_tree = st.recursive(
    _leaf,
    lambda kids: st.one_of(
        st.builds(lambda s: {"type": "chain", "steps": s}, st.lists(kids, max_size=3)),
        st.builds(lambda s: {"type": "group", "steps": s}, st.lists(kids, max_size=3)),
        st.builds(
            lambda g, c: {"type": "chord", "group": {"type": "group", "steps": g}, "callback": c},
            st.lists(kids, max_size=3),
            _leaf,
        ),
        st.just({"type": "weird"}),
        st.just({"steps": []}),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(tree=_tree)
def test_any_document_gives_a_plan_or_invalid_config(tree: Any) -> None:
    reg = StepRegistry()
    for n in ("a", "b", "c"):
        reg.register(lambda ctx: None, name=n)
    try:
        plan = parse_config({"name": "fuzz", "definition": tree}, registry=reg)
    except InvalidConfig as exc:
        assert exc.problems and all(p.path.startswith("$") for p in exc.problems)
    else:
        assert len({s.stage_id for s in plan.stages}) == len(plan.stages)
        PipelineConfig.model_validate(plan.config.model_dump(mode="json", by_alias=True))


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_absurd_nesting_is_invalid_config_not_recursion_error(depth: int) -> None:
    leaf = '{"type": "step", "name": "a"}'
    text = '{"name": "deep", "definition": ' + '{"type": "chain", "steps": [' * depth + leaf
    text += "]}" * depth + "}"
    with pytest.raises(InvalidConfig) as err:
        parse_config(text)
    assert err.value.problems[0].path == "$"
    tree: dict[str, Any] = {"type": "step", "name": "a"}
    for _ in range(3_000):
        tree = {"type": "chain", "steps": [tree]}
    with pytest.raises(InvalidConfig) as err2:
        parse_config({"name": "deep", "definition": tree})
    assert [p.path for p in err2.value.problems] == ["$"]


def test_local_steps_get_a_short_timeout_and_no_task_queue(reg: StepRegistry) -> None:
    config = {
        "name": "local",
        "defaults": {"timeout_s": 600, "task_queue": "heavy"},
        "definition": {
            "type": "chain",
            "steps": [
                {"type": "step", "name": "a", "local": True},
                {"type": "step", "name": "b", "local": True, "timeout_s": 5},
                {"type": "step", "name": "c"},
            ],
        },
    }
    a, b, c = parse_config(config, registry=reg).stages
    assert (a.local, a.timeout_s, a.task_queue) == (True, 10.0, None)  # type: ignore[union-attr]
    assert (b.local, b.timeout_s, b.task_queue) == (True, 5.0, None)  # type: ignore[union-attr]
    assert (c.local, c.timeout_s, c.task_queue) == (False, 600.0, "heavy")  # type: ignore[union-attr]


def test_local_steps_that_do_not_fit_are_invalid_with_their_paths(reg: StepRegistry) -> None:
    def quick(ctx: StepContext) -> None: ...

    reg.register(quick, name="quick", local=True)
    config = {
        "name": "local",
        "stages": [
            {"id": "x", "step": "a", "local": True, "timeout_s": 3600},
            {"id": "y", "step": "quick", "resources": {"task_queue": "gpu"}},
            {"id": "z", "step": "a", "local": True, "heartbeat_timeout_s": 30},
            {"id": "ok", "step": "quick", "local": False, "timeout_s": 3600},
        ],
    }
    with pytest.raises(InvalidConfig) as err:
        parse_config(config, registry=reg)
    found = problems(err)
    assert set(found) == {
        "$.stages[0].timeout_s",
        "$.stages[1].resources.task_queue",
        "$.stages[2].heartbeat_timeout_s",
    }
    assert "at most 60 s" in found["$.stages[0].timeout_s"]
    assert "registered as local" in found["$.stages[1].resources.task_queue"]
    assert "cannot heartbeat" in found["$.stages[2].heartbeat_timeout_s"]


def test_registered_local_default_and_its_override(reg: StepRegistry) -> None:
    def quick(ctx: StepContext) -> None: ...

    reg.register(quick, name="quick", local=True)
    config = {
        "name": "local",
        "definition": {
            "type": "group",
            "steps": [
                {"type": "step", "name": "quick"},
                {"type": "step", "name": "quick", "local": False},
            ],
        },
    }
    plan = parse_config(config, registry=reg)
    assert [s.local for s in plan.stages] == [True, False]  # type: ignore[union-attr]
    assert plan.local_defaults == frozenset({"quick"})


def test_a_config_with_more_stages_than_the_limit_is_refused_with_a_way_out() -> None:
    from pipeline_engine.dsl import PipelineConfig, compile_plan
    from pipeline_engine.dsl._nodes import MAX_STAGES

    wide = {"type": "group", "steps": [{"type": "step", "name": "t"}] * (MAX_STAGES + 1)}
    plan = compile_plan(PipelineConfig.model_validate({"name": "w", "definition": wide}))
    assert plan.problems == (
        (
            "$.definition",
            "the config has 100,001 stages, over the limit of 100,000 (the pipeline's first "
            "workflow task decodes and compiles them all); fan out over a list produced at run "
            "time with a map instead",
        ),
    )
    at_limit = {"type": "group", "steps": [{"type": "step", "name": "t"}] * MAX_STAGES}
    assert not compile_plan(
        PipelineConfig.model_validate({"name": "w", "definition": at_limit})
    ).problems
