"""Record workflow histories to replay in CI: ``python -m tests.histories.record [NAME ...]``
(with names: write only those, e.g. a new shape, and leave the other recordings as they are).

Re-record only when a change to the interpreter is *meant* to be incompatible with running
pipelines (and then version the workflow instead, if any pipeline may still be running).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pipeline_engine.builtin_steps  # noqa: F401
import tests.support.steps  # noqa: F401
from pipeline_engine._interpreter._children import PinnedPipeline, PinnedPipelines
from pipeline_engine.dsl import PipelineConfig
from pipeline_engine.examples import seed_pipeline_config
from pipeline_engine.service import PreparedConfig
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.steps import StepRegistry, default_registry
from pipeline_engine.versions import PipelineVersionRef
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.messages import NO_STORE_LIMITS, RunLimits
from workflows.payload_store import open_payload_store
from workflows.worker_factory import build_worker, connect

HERE = Path(__file__).parent
IDS = HERE / "_workflow_ids.json"
"""The workflow id of each recording (a shard's id is made from its pipeline's: replay needs it)."""


def s(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, **extra}


async def _until(engine: TemporalPipelineEngine, pid: str, *states: PipelineState) -> None:
    for _ in range(600):
        if await engine.get_status(pid) in states:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{pid} stuck")


async def _retry_each_failed(engine: TemporalPipelineEngine, pid: str) -> None:
    """Every item fails once: retry each alone, until the pipeline succeeds."""
    for _ in range(600):
        status = await engine.get_pipeline(pid)
        if status.state is PipelineState.SUCCEEDED:
            return
        for stage in status.stages:
            if stage.state is StageState.FAILED and status.state is PipelineState.FAILED:
                await engine.retry_stage(pid, stage.stage_id, "recorded")
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{pid} did not succeed")


DSL_ELEMENTS: dict[str, Any] = {
    "name": "dsl-elements",
    "definition": {
        "type": "chain",
        "steps": [
            s("t_items", kwargs={"count": 10}),
            s("t_add", id="skipped", when="size(previous.items) > 100"),
            {
                "type": "switch",
                "id": "route",
                "cases": [
                    {
                        "when": "input.min > 0 && previous == null",
                        "element": s("t_echo", id="many"),
                    },
                ],
                "default": s("t_echo", id="few"),
            },
            s("t_items", id="again", kwargs={"count": {"$expr": "int(input.min) + 8"}}),
            {
                "type": "map",
                "id": "batched",
                "items": "/items",
                "batch_size": 2,
                "element": s("t_double_each", kwargs={"times": {"$expr": "index + 1"}}),
            },
            {
                "type": "map",
                "id": "tolerant",
                "tolerated_failures": "20%",
                "element": s("t_double", kwargs={"fail_on": 12}, retry={"max_attempts": 1}),
            },
        ],
    },
}
"""when (false), switch, $expr kwargs (with a map's index), a batched map, tolerated failures."""


def _cached(*stamps: dict[str, Any]) -> dict[str, Any]:
    return {"name": "cached", "definition": {"type": "chain", "steps": [s("t_add"), *stamps]}}


CACHED_STAMP = s("t_stamp", kwargs={"label": "a"}, cache={"ttl_s": 3600})
KEYED_STAMP = s("t_stamp", id="keyed", cache={"ttl_s": 3600, "key": "input.image"})


async def _record_step_cache(address: str, queue: str) -> str:
    """A pipeline whose first cached step hits (an earlier pipeline wrote it) and whose second
    misses (run, then written): the step cache's local activities in the history."""
    store = open_payload_store(tempfile.mkdtemp(prefix="record-cache-"))
    client = await connect(address, payload_store=store)
    engine = TemporalPipelineEngine(client, task_queue=queue, registry=default_registry)
    async with build_worker(client, task_queue=queue, registry=default_registry):
        first = await engine.create_pipeline(
            _cached(CACHED_STAMP), input={"image": "a"}, tenant_id="cultivos-abc", start=True
        )
        await _until(engine, first.pipeline_id, PipelineState.SUCCEEDED)
        rerun = await engine.create_pipeline(
            _cached(CACHED_STAMP, KEYED_STAMP),
            input={"image": "a"},
            tenant_id="cultivos-abc",
            start=True,
        )
        await _until(engine, rerun.pipeline_id, PipelineState.SUCCEEDED)
    return rerun.pipeline_id


SUB_PIPELINE_CHILDREN = {
    "sizing": {"name": "sizing", "definition": {"type": "chain", "steps": [s("t_add")] * 2}},
    "broken": {"name": "broken", "definition": s("t_fail", retry={"max_attempts": 1})},
}
SUB_PIPELINE_PARENT = {
    "name": "crate",
    "definition": {
        "type": "chain",
        "steps": [
            s("t_add", kwargs={"n": 5}),
            {
                "type": "group",
                "steps": [
                    {"type": "pipeline", "name": "sizing"},
                    {"type": "pipeline", "name": "sizing", "id": "again", "version": 1, "input": {"$expr": "previous + 1"}},
                    {"type": "pipeline", "name": "broken", "on_failure": "continue"},
                    {"type": "pipeline", "name": "sizing", "id": "never", "when": "false"},
                ],
            },
        ],
    },
}


def pinned_sub_pipelines(registry: StepRegistry) -> PreparedConfig:
    """The parent with its children pinned, as the API pins them when a run is created."""
    pipelines = {
        f"{name}@1": PinnedPipeline(
            ref=PipelineVersionRef(name=name, version=1, digest=f"d-{name}"),
            config=PipelineConfig.model_validate(config),
        )
        for name, config in SUB_PIPELINE_CHILDREN.items()
    }
    labels = {"sizing": "sizing@1", "sizing@1": "sizing@1", "broken": "broken@1"}
    prepared = PreparedConfig.of(SUB_PIPELINE_PARENT, registry=registry)
    return replace(prepared, pinned=PinnedPipelines(labels=labels, pipelines=pipelines))


async def record(only: set[str]) -> None:
    server = TemporalDevServer(port=free_port(), ui_port=None)
    server.start()
    try:
        client = await connect(server.address)
        queue = f"record-{uuid.uuid4().hex[:8]}"
        engine = TemporalPipelineEngine(client, task_queue=queue, registry=default_registry)
        async with build_worker(client, task_queue=queue, registry=default_registry):
            runs: dict[str, str] = {}
            seed = await engine.create_pipeline(
                seed_pipeline_config(),
                input={},
                tenant_id="cultivos-abc",
                settings={"species": ["tomate", "lechuga"]},
                start=True,
            )
            runs["seed_chain_chord"] = seed.pipeline_id
            dag = await engine.create_pipeline(
                {
                    "name": "dag",
                    "stages": [
                        {"id": "a", "step": "t_add"},
                        {"id": "b", "step": "t_add", "depends_on": ["a"]},
                        {
                            "id": "c",
                            "step": "t_flaky",
                            "kwargs": {"fail_times": 1},
                            "depends_on": ["a"],
                            "retry": {"initial_interval_s": 0.1},
                        },
                        {"id": "d", "step": "t_echo", "depends_on": ["b", "c"]},
                    ],
                },
                start=True,
            )
            runs["dag_with_retry"] = dag.pipeline_id
            approval = {
                "type": "input",
                "id": "ok",
                "schema": {"type": "object", "required": ["approved"]},
            }
            inp = await engine.create_pipeline(
                {
                    "name": "input",
                    "definition": {"type": "chain", "steps": [s("t_add"), approval, s("t_echo")]},
                },
                start=True,
            )
            runs["human_input"] = inp.pipeline_id
            failing = await engine.create_pipeline(
                {
                    "name": "retry",
                    "hooks": {"on_success": "t_hook"},
                    "definition": {
                        "type": "chain",
                        "steps": [
                            s("t_add"),
                            {
                                "type": "chord",
                                "on_error": "continue",
                                "group": {
                                    "type": "group",
                                    "steps": [s("t_add"), s("t_fail", retry={"max_attempts": 1})],
                                },
                                "callback": s("t_sum"),
                            },
                            s("t_flaky", kwargs={"fail_times": 1}, retry={"max_attempts": 1}),
                            s("t_fail", on_failure="t_handler", retry={"max_attempts": 1}),
                        ],
                    },
                },
                start=True,
            )
            runs["retry_stage_chord_continue_handler"] = failing.pipeline_id
            cancel = await engine.create_pipeline(
                {
                    "name": "cancel",
                    "hooks": {"on_cancel": "t_hook"},
                    "definition": s("t_sleep", kwargs={"seconds": 30}),
                },
                start=True,
            )
            runs["cancelled"] = cancel.pipeline_id
            local = await engine.create_pipeline(
                {
                    "name": "local",
                    "definition": {
                        "type": "chain",
                        "steps": [
                            s("t_local_add"),  # local by its registration
                            s("t_add", local=True),
                            s(
                                "t_flaky",
                                kwargs={"fail_times": 1},
                                local=True,
                                retry={"initial_interval_s": 0.1},
                            ),
                            s(
                                "t_flaky",
                                id="parked",
                                kwargs={"fail_times": 1},
                                local=True,
                                retry={"max_attempts": 1},
                            ),
                            s("t_add"),
                        ],
                    },
                },
                start=True,
            )
            runs["local_steps"] = local.pipeline_id
            signalled = await engine.create_pipeline(
                {
                    "name": "signals",
                    "definition": {
                        "type": "chain",
                        "steps": [
                            approval,
                            s("t_flaky", kwargs={"fail_times": 1}, retry={"max_attempts": 1}),
                        ],
                    },
                }
            )
            runs["signals"] = signalled.pipeline_id
            by_signal = client.get_workflow_handle(signalled.pipeline_id)
            await by_signal.signal("start")
            await _until(engine, signalled.pipeline_id, PipelineState.WAITING_INPUT)
            await by_signal.signal("submit_input", {"payload": {}, "responder": "ana"})  # rejected
            await by_signal.signal(
                "submit_input", {"payload": {"approved": True}, "responder": "ana"}
            )
            await _until(engine, signalled.pipeline_id, PipelineState.FAILED)
            await by_signal.signal("retry_stage", {"stage_id": "nope"})  # rejected
            await by_signal.signal("retry_stage", {"stage_id": "t_flaky", "reason": "by signal"})
            drain = await engine.create_pipeline(
                {
                    "name": "drain",
                    "definition": {
                        "type": "group",
                        "steps": [
                            s(
                                "t_flaky",
                                id="flaky",
                                kwargs={"fail_times": 1},
                                retry={"max_attempts": 1},
                            ),
                            s("t_sleep", kwargs={"seconds": 2}),
                        ],
                    },
                },
                start=True,
            )
            runs["failed_after_fan_out_drains"] = drain.pipeline_id

            bounded = TemporalPipelineEngine(
                client,
                task_queue=queue,
                registry=default_registry,
                limits=RunLimits(max_in_flight=4),
            )
            mapped = await bounded.create_pipeline(
                {
                    "name": "map",
                    "definition": {
                        "type": "chain",
                        "steps": [
                            s("t_items", kwargs={"count": 6}),
                            {
                                "type": "map",
                                "items": "/items",
                                "max_concurrency": 3,
                                "element": s(
                                    "t_flaky", kwargs={"fail_times": 1}, retry={"max_attempts": 1}
                                ),
                            },
                        ],
                    },
                },
                start=True,
            )
            runs["map_retry_item"] = mapped.pipeline_id
            wide = await bounded.create_pipeline(
                {"name": "wide", "definition": {"type": "group", "steps": [s("t_add")] * 12}},
                start=True,
            )
            runs["bounded_group"] = wide.pipeline_id
            sharding = TemporalPipelineEngine(
                client,
                task_queue=queue,
                registry=default_registry,
                limits=NO_STORE_LIMITS.model_copy(
                    update={"shard_width": 4, "progress_every_s": 0.2}
                ),
            )
            sharded_group = await sharding.create_pipeline(
                {"name": "sharded", "definition": {"type": "group", "steps": [s("t_add")] * 9}},
                start=True,
            )
            runs["sharded_group"] = sharded_group.pipeline_id
            sharded_map = await sharding.create_pipeline(
                {
                    "name": "sharded-map",
                    "definition": {
                        "type": "chain",
                        "steps": [
                            s("t_items", kwargs={"count": 10}),
                            {
                                "type": "map",
                                "id": "each",
                                "items": "/items",
                                "element": s(
                                    "t_flaky", kwargs={"fail_times": 1}, retry={"max_attempts": 1}
                                ),
                            },
                        ],
                    },
                },
                start=True,
            )
            runs["sharded_map_retry"] = sharded_map.pipeline_id
            batched = await sharding.create_pipeline(DSL_ELEMENTS, input={"min": 1}, start=True)
            runs["dsl_elements_sharded"] = batched.pipeline_id
            elements = await engine.create_pipeline(DSL_ELEMENTS, input={"min": 2}, start=True)
            runs["dsl_elements"] = elements.pipeline_id
            continuing = TemporalPipelineEngine(
                client,
                task_queue=queue,
                registry=default_registry,
                limits=NO_STORE_LIMITS.model_copy(update={"continue_as_new_events": 40}),
            )
            chain = await continuing.create_pipeline(
                {"name": "long", "definition": {"type": "chain", "steps": [s("t_add")] * 15}},
                start=True,
            )
            runs["continued_chain"] = chain.pipeline_id
            stored = PreparedConfig.of(
                {"name": "crates", "definition": {"type": "chain", "steps": [s("t_add")] * 15}},
                registry=default_registry,
            )
            origin = PipelineVersionRef(name="crates", version=2, digest="ab" * 32)
            versioned = await continuing.create_pipeline(
                replace(stored, ref=origin), tenant_id="cultivos-abc", start=True
            )
            runs["named_version_continued"] = versioned.pipeline_id  # pipeline_ref in the input
            parts = await engine.create_pipeline(
                {
                    "name": "parts",
                    "definition": {"type": "chain", "steps": [s("t_add"), s("t_measure")]},
                },
                input={"field": "x" * 64},
                settings={"species": ["tomate"]},
                start=True,
            )
            runs["activity_input_parts"] = parts.pipeline_id
            runs["step_cache"] = await _record_step_cache(server.address, f"{queue}-cache")
            parent = await engine.create_pipeline(
                pinned_sub_pipelines(default_registry), tenant_id="cultivos-abc", start=True
            )
            runs["sub_pipeline"] = parent.pipeline_id
            runs["sub_pipeline_child"] = f"{parent.pipeline_id}.sizing"
            for pid in (mapped.pipeline_id, sharded_map.pipeline_id):
                await _retry_each_failed(engine, pid)

            await _until(engine, inp.pipeline_id, PipelineState.WAITING_INPUT)
            await engine.submit_input(inp.pipeline_id, {"approved": True}, "ana")
            await _until(engine, failing.pipeline_id, PipelineState.FAILED)
            await engine.retry_stage(failing.pipeline_id, "t_flaky", "recorded retry")
            await _until(engine, local.pipeline_id, PipelineState.FAILED)
            await engine.retry_stage(local.pipeline_id, "parked", "recorded retry")
            await _until(engine, drain.pipeline_id, PipelineState.FAILED)
            await engine.retry_stage(drain.pipeline_id, "flaky", "recorded retry")
            await asyncio.sleep(1)
            await engine.cancel_pipeline(cancel.pipeline_id, "recorded cancel")
            ended = (PipelineState.SUCCEEDED, PipelineState.CANCELLED)
            for pid in runs.values():
                await _until(engine, pid, *ended)
            histories: dict[str, tuple[str, str | None]] = {
                name: (pid, None) for name, pid in runs.items()
            }
            shards = [
                w.id
                async for w in client.list_workflows(
                    f"WorkflowId STARTS_WITH '{sharded_group.pipeline_id}~'"
                )
            ]
            histories["sharded_group_shard"] = shards[0], None
            # thin_*: the same runs since the thin-fan-out patch (a parent keeping counts and
            # live stages); the plain names keep their recordings from before it.
            for name in ("sharded_group", "sharded_group_shard", "sharded_map_retry"):
                histories[f"thin_{name}"] = histories[name]
            histories["thin_dsl_elements_sharded"] = histories["dsl_elements_sharded"]
            # level1_*: the same runs at feature level 1 (patches taken without markers, the
            # state written once per activation: workflows/features.py)
            for name in (
                "seed_chain_chord",
                "local_steps",
                "signals",
                "human_input",
                "failed_after_fan_out_drains",
                "thin_sharded_group",
                "continued_chain",
                "dsl_elements",
            ):
                histories[f"level1_{name}"] = histories[name]
            chain_runs = [
                w.run_id async for w in client.list_workflows(f"WorkflowId = '{chain.pipeline_id}'")
            ]  # newest first
            histories["continued_chain_first_run"] = chain.pipeline_id, chain_runs[-1]
            histories["continued_chain"] = chain.pipeline_id, chain_runs[0]
            versioned_runs = [
                w.run_id
                async for w in client.list_workflows(f"WorkflowId = '{versioned.pipeline_id}'")
            ]
            histories["named_version_first_run"] = versioned.pipeline_id, versioned_runs[-1]
            ids = json.loads(IDS.read_text()) if IDS.exists() else {}
            for name, (wid, run_id) in histories.items():
                if only and name not in only:
                    continue
                history = await client.get_workflow_handle(wid, run_id=run_id).fetch_history()
                (HERE / f"{name}.json").write_text(history.to_json())
                ids[name] = wid
                print(f"recorded {name}: {len(history.events)} events")
            IDS.write_text(json.dumps(ids, indent=1, sort_keys=True) + "\n")
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(record(set(sys.argv[1:])))
