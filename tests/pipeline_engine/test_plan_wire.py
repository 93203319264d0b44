"""Plan nodes handed to a shard come back as the same nodes, stage ids and policies included."""

from __future__ import annotations

import json

import pytest

from pipeline_engine.dsl import (
    PipelineConfig,
    compile_plan,
    node_from_wire,
    node_to_wire,
    stages_of,
)

CONFIG = {
    "name": "wire",
    "defaults": {"retry": {"max_attempts": 5}, "timeout_s": 30},
    "definition": {
        "type": "chain",
        "steps": [
            {"type": "step", "name": "a", "kwargs": {"k": [1, 2]}, "local": True},
            {
                "type": "chord",
                "on_error": "continue",
                "group": {
                    "type": "group",
                    "max_concurrency": 3,
                    "steps": [
                        {"type": "step", "name": "b", "retry": {"initial_interval_s": 0.5}},
                        {"type": "input", "id": "ok", "schema": {"type": "object"}},
                    ],
                },
                "callback": {"type": "step", "name": "c", "on_failure": "h"},
            },
            {
                "type": "map",
                "id": "each",
                "items": "/xs",
                "element": {"type": "chain", "steps": [{"type": "step", "name": "d"}]},
            },
        ],
    },
}


def test_every_kind_of_node_round_trips_through_json() -> None:
    root = compile_plan(PipelineConfig.model_validate(CONFIG)).root
    wire = json.loads(json.dumps(node_to_wire(root)))  # what a workflow input carries
    assert node_from_wire(wire) == root


def test_stages_of_a_node_and_of_its_map_elements() -> None:
    root = compile_plan(PipelineConfig.model_validate(CONFIG)).root
    stages, templates = stages_of(root)
    assert [s.stage_id for s in stages] == ["a", "b", "ok", "c", "each"]
    assert [s.stage_id for s in templates] == ["d"]


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown plan node kind 'dag'"):
        node_from_wire({"kind": "dag"})
