"""What the wave-3 DSL costs and saves (issue 21): ``when``/``$expr``, ``batch_size``, ``cache``.

(a) **Expressions.** The workflow-side CPU of a stage with and without a ``when`` and an
    ``{"$expr": …}`` kwarg: the interpreter (the code a workflow task runs) walks a chain of
    ``--stages`` steps on a runtime whose steps return at once, so the figure is the walk alone
    (no activity, no server). Variants alternate, repeated ``--repeat`` times; CPU of this process
    per stage, median and min.
(b) **batch_size.** A map over ``--items`` items on the Temporal dev server, one step call per item
    vs ``batch_size: --batch`` (``ceil(N/B)`` calls). The step models a GPU call: a fixed
    ``--call-ms`` per call plus ``--item-ms`` per item. Calls (counted in the worker) and wall time
    (start to end of the pipeline), order alternated.
(c) **cache.** A batch of ``--pipelines`` pipelines (segment → size) run once, then again after a
    change to the later step (size's kwargs), with ``cache`` on segment and without: segment and
    size calls of the re-run and its wall time. Segment takes ``--segment-ms`` on a GPU of
    ``--gpu-slots`` (a semaphore in the worker: that many segment calls at once, as one GPU
    worker would run them); each round uses a fresh tenant, so its cache starts empty; order
    alternated.

``python -m bench.dsl_costs [--repeat N]`` prints markdown tables and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline_engine._interpreter import LocalRuntime, PipelineRun, StepCall, StepOutcome
from pipeline_engine.dsl import parse_config
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus
from pipeline_engine.steps import StepContext, StepRegistry, default_registry, step
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.payload_store import open_payload_store
from workflows.worker_factory import build_worker, connect

QUEUE = "bench-dsl-costs"
CALLS: Counter[str] = Counter()
"""Step calls by step name, counted in this process (the worker runs here)."""


@step(name="bench_infer", version="1")
async def bench_infer(ctx: StepContext, call_ms: float = 50, item_ms: float = 1) -> Any:
    """A model call: ``call_ms`` per call, ``item_ms`` per item; one item or a batch (a list)."""
    CALLS["bench_infer"] += 1
    batch = ctx.previous if isinstance(ctx.previous, list) else None
    n = len(batch) if batch is not None else 1
    await asyncio.sleep((call_ms + item_ms * n) / 1000)
    if batch is None:
        return {"item": ctx.previous}
    return [{"item": item} for item in batch]


GPU_SLOTS = [2]
_GPU: list[asyncio.Semaphore] = []


def _gpu() -> asyncio.Semaphore:
    """The GPU the segment step runs on: ``GPU_SLOTS`` calls at once in this worker."""
    if not _GPU:
        _GPU.append(asyncio.Semaphore(GPU_SLOTS[0]))
    return _GPU[0]


@step(name="bench_segment", version="1")
async def bench_segment(ctx: StepContext, segment_ms: float = 200) -> dict[str, Any]:
    """The expensive first step of a crate pipeline (what the cache saves)."""
    CALLS["bench_segment"] += 1
    async with _gpu():
        await asyncio.sleep(segment_ms / 1000)
    return {"boxes": [1, 2, 3], "image": ctx.input}


@step(name="bench_size")
def bench_size(ctx: StepContext, scale: float = 1.0) -> dict[str, Any]:
    """The later step that changed (its kwargs), run again in the re-run."""
    CALLS["bench_size"] += 1
    return {"sizes": [b * scale for b in ctx.previous["boxes"]]}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f} (1/5/15 min, {os.cpu_count()} cores)"


def stats(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), min(values)


# ---------------------------------------------------------------------- (a) expressions
class _InstantRuntime(LocalRuntime):
    """Steps return at once: what is left is the interpreter's own work."""

    async def run_step(self, call: StepCall) -> StepOutcome:
        return StepOutcome(result=call.previous, attempts=1)


def _expr_config(stages: int, variant: str) -> dict[str, Any]:
    el: dict[str, Any] = {"type": "step", "name": "noop"}
    if variant in ("when", "when + $expr"):
        el["when"] = "input.go && size(settings.species) > 0"
    if variant in ("$expr", "when + $expr"):
        el["kwargs"] = {"n": {"$expr": "int(input.n) * 2 + 1"}}
    steps = [{**el, "id": f"s{i}"} for i in range(stages)]
    return {"name": "exprs", "definition": {"type": "chain", "steps": steps}}


_EXPR_REGISTRY = StepRegistry()


@step(name="noop", registry=_EXPR_REGISTRY)
def _noop(ctx: StepContext, n: int = 0) -> None:
    """Never called (the runtime answers at once)."""


async def _walk_cpu(config: dict[str, Any]) -> float:
    """CPU seconds of one walk of ``config`` (plan compiled outside the measure)."""
    plan = parse_config(config, registry=_EXPR_REGISTRY)
    run = PipelineRun(
        plan=plan,
        pipeline_id="bench",
        tenant_id="t",
        input={"go": True, "n": 3, "image": "x" * 64},
        settings={"species": ["tomate", "lechuga"]},
        trace_id="bench",
        runtime=_InstantRuntime(_EXPR_REGISTRY),
    )
    run.start()
    started = time.process_time()
    state = await run.run()
    spent = time.process_time() - started
    assert state is PipelineState.SUCCEEDED, run.status().error
    return spent


async def measure_expressions(stages: int, repeat: int) -> list[list[str]]:
    variants = ["plain", "when", "$expr", "when + $expr"]
    per_stage: dict[str, list[float]] = {v: [] for v in variants}
    await _walk_cpu(_expr_config(stages, "when + $expr"))  # warm: compile caches, imports
    for r in range(repeat):
        order = variants if r % 2 == 0 else variants[::-1]
        for v in order:
            per_stage[v].append(await _walk_cpu(_expr_config(stages, v)) / stages * 1e6)
    plain = statistics.median(per_stage["plain"])
    rows = []
    for v in variants:
        med, low = stats(per_stage[v])
        rows.append([v, f"{med:.0f}", f"{low:.0f}", f"{med - plain:+.0f}", f"{med / plain:.2f}x"])
    return rows


# ---------------------------------------------------------------------- (b) and (c), on Temporal
async def _run(engine: TemporalPipelineEngine, config: dict[str, Any], **kw: Any) -> float:
    """Wall seconds of one pipeline, create to end."""
    started = time.perf_counter()
    created = await engine.create_pipeline(
        config, idempotency_key=uuid.uuid4().hex, start=True, **kw
    )
    handle = engine.client.get_workflow_handle(created.pipeline_id, result_type=PipelineStatus)
    status = await asyncio.wait_for(handle.result(), 600)  # the workflow's end, no polling
    assert status.state is PipelineState.SUCCEEDED, status.error
    return time.perf_counter() - started


def _map_config(items: int, batch: int | None, call_ms: float, item_ms: float) -> dict[str, Any]:
    infer = {
        "type": "step",
        "name": "bench_infer",
        "kwargs": {"call_ms": call_ms, "item_ms": item_ms},
    }
    mapped: dict[str, Any] = {"type": "map", "id": "detect", "items": "/items", "element": infer}
    if batch is not None:
        mapped["batch_size"] = batch
    return {
        "name": "batched" if batch else "per-item",
        "definition": {
            "type": "chain",
            "steps": [{"type": "step", "name": "t_items", "kwargs": {"count": items}}, mapped],
        },
    }


async def measure_batches(
    engine: TemporalPipelineEngine,
    items: int,
    batch: int,
    call_ms: float,
    item_ms: float,
    repeat: int,
) -> list[list[str]]:
    variants: dict[str, int | None] = {"one call per item": None, f"batch_size {batch}": batch}
    walls: dict[str, list[float]] = {v: [] for v in variants}
    calls: dict[str, int] = {}
    for r in range(repeat):
        order = list(variants) if r % 2 == 0 else list(variants)[::-1]
        for v in order:
            CALLS.clear()
            walls[v].append(await _run(engine, _map_config(items, variants[v], call_ms, item_ms)))
            calls[v] = CALLS["bench_infer"]
    base = statistics.median(walls["one call per item"])
    rows = []
    for v in variants:
        med, low = stats(walls[v])
        rows.append([v, f"{calls[v]:,}", f"{med:.2f}", f"{low:.2f}", f"{base / med:.1f}x"])
    expected = math.ceil(items / batch)
    assert calls[f"batch_size {batch}"] == expected, (calls, expected)
    return rows


def _crate_config(cached: bool, scale: float, segment_ms: float) -> dict[str, Any]:
    segment: dict[str, Any] = {
        "type": "step",
        "name": "bench_segment",
        "kwargs": {"segment_ms": segment_ms},
    }
    if cached:
        segment["cache"] = {"ttl_s": 3600}
    size = {"type": "step", "name": "bench_size", "kwargs": {"scale": scale}}
    return {"name": "crate", "definition": {"type": "chain", "steps": [segment, size]}}


async def _batch(
    engine: TemporalPipelineEngine, config: dict[str, Any], tenant: str, pipelines: int
) -> float:
    """Wall seconds of ``pipelines`` pipelines at once (one per image), first start to last end."""
    started = time.perf_counter()
    await asyncio.gather(
        *(_run(engine, config, input={"image": i}, tenant_id=tenant) for i in range(pipelines))
    )
    return time.perf_counter() - started


async def measure_cache(
    engine: TemporalPipelineEngine, pipelines: int, segment_ms: float, repeat: int
) -> list[list[str]]:
    variants = {"without cache": False, "with cache": True}
    walls: dict[str, list[float]] = {v: [] for v in variants}
    firsts: dict[str, list[float]] = {v: [] for v in variants}
    calls: dict[str, Counter[str]] = {}
    for r in range(repeat):
        order = list(variants) if r % 2 == 0 else list(variants)[::-1]
        for v in order:
            tenant = f"bench-{uuid.uuid4().hex[:8]}"  # an empty cache each round
            first = _crate_config(variants[v], 1.0, segment_ms)
            firsts[v].append(await _batch(engine, first, tenant, pipelines))
            CALLS.clear()
            changed = _crate_config(variants[v], 2.0, segment_ms)  # the later step changed
            walls[v].append(await _batch(engine, changed, tenant, pipelines))
            calls[v] = Counter(CALLS)
    base = statistics.median(walls["without cache"])
    rows = []
    for v in variants:
        med, low = stats(walls[v])
        c = calls[v]
        rows.append(
            [
                v,
                f"{statistics.median(firsts[v]):.2f}",
                f"{c['bench_segment']:,}",
                f"{c['bench_size']:,}",
                f"{c['bench_segment'] + c['bench_size']:,}",
                f"{med:.2f}",
                f"{low:.2f}",
                f"{base / med:.1f}x",
            ]
        )
    return rows


async def measure_on_temporal(args: argparse.Namespace) -> tuple[list[list[str]], list[list[str]]]:
    import tests.support.steps  # noqa: F401  (t_items)

    with tempfile.TemporaryDirectory(prefix="bench-dsl-") as tmp:
        server = TemporalDevServer(port=free_port(), ui_port=None, db_file=None)
        server.start()
        try:
            store = open_payload_store(str(Path(tmp) / "payloads"))
            client = await connect(server.address, payload_store=store)
            engine = TemporalPipelineEngine(client, task_queue=QUEUE, registry=default_registry)
            async with build_worker(client, task_queue=QUEUE, registry=default_registry):
                await _run(engine, _map_config(4, 2, 1, 0))  # warm
                batches = await measure_batches(
                    engine, args.items, args.batch, args.call_ms, args.item_ms, args.repeat
                )
                cache = await measure_cache(engine, args.pipelines, args.segment_ms, args.repeat)
                return batches, cache
        finally:
            server.stop()


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dsl_costs", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--stages", type=int, default=200, help="(a) steps in the chain")
    parser.add_argument("--items", type=int, default=200, help="(b) items of the map")
    parser.add_argument("--batch", type=int, default=20, help="(b) batch_size")
    parser.add_argument("--call-ms", type=float, default=50.0, help="(b) fixed cost of a call")
    parser.add_argument("--item-ms", type=float, default=2.0, help="(b) cost per item")
    parser.add_argument("--pipelines", type=int, default=20, help="(c) pipelines in the batch")
    parser.add_argument("--segment-ms", type=float, default=500.0, help="(c) segment's cost")
    parser.add_argument("--gpu-slots", type=int, default=2, help="(c) segment calls at once")
    parser.add_argument("--skip-temporal", action="store_true", help="(a) only")
    args = parser.parse_args(argv)
    GPU_SLOTS[0] = args.gpu_slots
    out: Callable[[str], None] = print
    out(f"load average before: {load()}")
    exprs = asyncio.run(measure_expressions(args.stages, args.repeat * 4))
    out(
        f"\n(a) workflow-side CPU per stage, chain of {args.stages}, {args.repeat * 4} walks each\n"
    )
    out(table(["stage", "median µs", "min µs", "vs plain", "ratio"], exprs))
    if not args.skip_temporal:
        batches, cache = asyncio.run(measure_on_temporal(args))
        out(
            f"\n(b) map over {args.items} items, {args.call_ms:g} ms per call + "
            f"{args.item_ms:g} ms per item, {args.repeat} runs each\n"
        )
        out(table(["map", "step calls", "median wall s", "min wall s", "speed-up"], batches))
        out(
            f"\n(c) re-run of a batch of {args.pipelines} pipelines after a change to the later "
            f"step (segment {args.segment_ms:g} ms on {args.gpu_slots} GPU slots), "
            f"{args.repeat} rounds each\n"
        )
        out(
            table(
                [
                    "variant",
                    "first run: median wall s",
                    "re-run: segment calls",
                    "size calls",
                    "calls",
                    "re-run: median wall s",
                    "min wall s",
                    "speed-up",
                ],
                cache,
            )
        )
    out(f"\nload average after: {load()}")


if __name__ == "__main__":
    main()
