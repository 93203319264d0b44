"""A config using every new DSL element that this engine runs (when, switch, $expr, a batched
map, tolerated failures; sharded too) and the seed's crate pipeline written with a species
switch and a batched detection map: the real server and the fake give the same events."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import pipeline_engine.builtin_steps  # noqa: F401  (the crate steps)
from pipeline_engine.events import Event
from pipeline_engine.service.local import LocalPipelineEngine
from pipeline_engine.states import PipelineState
from pipeline_engine.steps import default_registry
from tests.histories.record import DSL_ELEMENTS
from tests.support.waiting import wait_for_state
from workflows.engine import TemporalPipelineEngine
from workflows.messages import NO_STORE_LIMITS

ROOT = Path(__file__).parents[2]
CRATE = json.loads((ROOT / "examples" / "crate-species-switch.json").read_text())

CASES = [
    ("every-element", DSL_ELEMENTS, {"min": 1}, {}),
    ("crate-mixed", CRATE, {}, {"species": ["tomate", "lechuga"], "min_area": 25}),
    ("crate-tomato", CRATE, {}, {"species": ["tomate"]}),
]


def signature(events: list[Event]) -> tuple[Counter[tuple[Any, ...]], dict[str, list[str]]]:
    """What must match: every event's type, stage, reason and expression (concurrent stages
    interleave differently), and each stage's own sequence of event types."""
    counted: Counter[tuple[Any, ...]] = Counter()
    per_stage: dict[str, list[str]] = {}
    for e in events:
        p = e.payload
        counted[(e.type, p.get("stage_id"), p.get("reason"), p.get("expression"))] += 1
        if p.get("stage_id"):
            per_stage.setdefault(p["stage_id"], []).append(e.type)
    return counted, per_stage


async def _fake(config: dict[str, Any], input: Any, settings: dict[str, Any]) -> list[Event]:
    """The same run on the fake's engine (the interpreter in-process, no Temporal)."""
    local = LocalPipelineEngine(default_registry, time_scale=0)
    created = await local.create_pipeline(config, input=input, settings=settings, start=True)
    for _ in range(3000):
        status = await local.get_pipeline(created.pipeline_id)
        if status.state is not PipelineState.RUNNING:
            break
        await asyncio.sleep(0.01)
    assert status.state is PipelineState.SUCCEEDED, status.error
    return await local.get_history(created.pipeline_id)


def _sharding(engine: TemporalPipelineEngine, task_queue: str) -> TemporalPipelineEngine:
    """The engine on ``task_queue`` with fan-outs of more than 4 members in shards."""
    return TemporalPipelineEngine(
        engine.client,
        task_queue=task_queue,
        registry=default_registry,
        limits=NO_STORE_LIMITS.model_copy(update={"shard_width": 4, "progress_every_s": 0.2}),
    )


@pytest.mark.parametrize(("name", "config", "input", "settings"), CASES, ids=[c[0] for c in CASES])
async def test_the_server_and_the_fake_give_the_same_events(
    engine: TemporalPipelineEngine,
    task_queue: str,
    name: str,
    config: dict[str, Any],
    input: Any,
    settings: dict[str, Any],
) -> None:
    sharding = _sharding(engine, task_queue)
    created = await sharding.create_pipeline(config, input=input, settings=settings, start=True)
    done = await wait_for_state(sharding, created.pipeline_id, timeout=120)
    assert done.state is PipelineState.SUCCEEDED, done.error
    real = await sharding.get_history(created.pipeline_id)
    fake = await _fake(config, input, settings)
    assert signature(real) == signature(fake)
    kinds = {e.type for e in real}
    assert "stage.skipped" in kinds
    if name == "crate-mixed":
        assert done.stage("species").branch == "default"
        assert done.stage("detect[0]").computed_kwargs == {"min_area": 25}
    if name == "crate-tomato":
        assert done.stage("species").branch == 0


CACHED: dict[str, Any] = {
    "name": "cached-parity",
    "definition": {
        "type": "chain",
        "steps": [
            {"type": "step", "name": "t_items", "kwargs": {"count": 6}},
            {
                "type": "map",
                "id": "each",
                "items": "/items",
                "element": {"type": "step", "name": "t_stamp", "cache": {"ttl_s": 600}},
            },
            {
                "type": "step",
                "name": "t_stamp",
                "id": "keyed",
                "cache": {"ttl_s": 600, "key": "input.image"},
            },
        ],
    },
}
"""Cached steps in a (sharded) map's runs and a step cached by a ``key`` expression."""


async def _twice(engine: Any, tenant: str, input: Any) -> list[Event]:
    """Run ``CACHED`` twice (two pipelines): the second run's events."""
    pid = ""
    for _ in range(2):
        created = await engine.create_pipeline(
            CACHED, input=input, tenant_id=tenant, idempotency_key=uuid.uuid4().hex, start=True
        )
        pid = created.pipeline_id
        for _ in range(3000):
            status = await engine.get_pipeline(pid)
            if status.state is not PipelineState.RUNNING:
                break
            await asyncio.sleep(0.01)
        assert status.state is PipelineState.SUCCEEDED, status.error
    events: list[Event] = await engine.get_history(pid)
    return events


async def test_a_cached_rerun_gives_the_same_events_on_the_server_and_the_fake(
    engine: TemporalPipelineEngine, task_queue: str
) -> None:
    sharding = _sharding(engine, task_queue)
    tenant, input = f"parity-{uuid.uuid4().hex[:8]}", {"image": uuid.uuid4().hex}
    real = await _twice(sharding, tenant, input)
    fake = await _twice(LocalPipelineEngine(default_registry, time_scale=0), tenant, input)
    assert signature(real) == signature(fake)
    cached = sorted(e.payload["stage_id"] for e in real if e.type == "stage.cached")
    assert cached == ["keyed", *(f"t_stamp[{i}]" for i in range(6))]
    assert not [e for e in real if e.type == "stage.scheduled" and "stamp" in str(e.payload)]
