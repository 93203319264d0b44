"""Overhead of the DSL: a pipeline of no-op steps vs the same shape as a hand-written workflow.

Starts a headless, in-memory Temporal dev server on free ports, runs both workers in this process,
warms up, then alternates hand-written and DSL runs of a chain of 50 and a group of 200 no-op
activities. Reports wall time (start to result, as a client sees it), the CPU time of this process
(client and both workers) and the Temporal history (events, bytes) of one run of each.

Run it with ``make bench`` or ``python -m bench.overhead [--repeat N] [--markdown]``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

import tests.support.steps  # noqa: F401  (registers t_noop)
from bench.handwritten import BenchInput, HandwrittenBench, noop
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus
from pipeline_engine.steps import default_registry
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.payload_store import open_payload_store
from workflows.worker_factory import build_worker, connect, sandbox_runner

HAND_QUEUE = "bench-handwritten"
DSL_QUEUE = "bench-dsl"
MAX_CONCURRENT_ACTIVITIES = 64  # build_worker's default, used for both workers
KINDS = ("hand-written", "DSL")
RUN_TIMEOUT_S = 300.0  # one run; a broken workflow fails the benchmark instead of hanging it


@dataclass(frozen=True)
class Shape:
    name: Literal["chain", "group"]
    size: int

    @property
    def label(self) -> str:
        return f"{self.name} of {self.size}"


Runner = Callable[[Shape], Awaitable[WorkflowHandle[Any, Any]]]


@dataclass(frozen=True)
class HistoryStats:
    count_by_type: Counter[str]
    bytes_by_type: Counter[str]

    @property
    def events(self) -> int:
        return self.count_by_type.total()

    @property
    def size_bytes(self) -> int:
        return self.bytes_by_type.total()


def _per_kind() -> dict[str, list[float]]:
    return {k: [] for k in KINDS}


@dataclass
class Result:
    wall: dict[str, list[float]] = field(default_factory=_per_kind)
    cpu: dict[str, list[float]] = field(default_factory=_per_kind)  # this process: client+worker
    history: dict[str, HistoryStats] = field(default_factory=dict)

    @staticmethod
    def ratio(samples: dict[str, list[float]], stat: Callable[[list[float]], float]) -> float:
        return stat(samples["DSL"]) / stat(samples["hand-written"])


def dsl_config(shape: Shape) -> dict[str, Any]:
    steps = [{"type": "step", "name": "t_noop"} for _ in range(shape.size)]
    return {"name": f"bench-{shape.name}", "definition": {"type": shape.name, "steps": steps}}


async def history_stats(handle: WorkflowHandle[Any, Any]) -> HistoryStats:
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for event in (await handle.fetch_history()).events:
        kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        counts[kind] += 1
        sizes[kind] += event.ByteSize()
    return HistoryStats(counts, sizes)


def runners(client: Client, engine: TemporalPipelineEngine) -> dict[str, Runner]:
    async def hand_written(shape: Shape) -> WorkflowHandle[Any, Any]:
        handle = await client.start_workflow(
            HandwrittenBench.run,
            BenchInput(shape=shape.name, size=shape.size),
            id=f"bench-hand-{uuid.uuid4().hex}",
            task_queue=HAND_QUEUE,
        )
        assert await handle.result() == shape.size
        return handle

    async def dsl(shape: Shape) -> WorkflowHandle[Any, Any]:
        created = await engine.create_pipeline(
            dsl_config(shape),
            tenant_id="bench",
            idempotency_key=uuid.uuid4().hex,
            start=True,
        )
        handle = client.get_workflow_handle(created.pipeline_id, result_type=PipelineStatus)
        status = await handle.result()
        assert status.state is PipelineState.SUCCEEDED, status.state
        return handle

    return {"hand-written": hand_written, "DSL": dsl}


async def measure(
    address: str, shapes: list[Shape], repeat: int, log: Console
) -> dict[Shape, Result]:
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    # A payload store, as `make run` has: both workflows' payloads of 32 KiB or more travel by
    # reference (for the DSL: the config of a wide group and its final status).
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        client = await connect(address, payload_store=open_payload_store(tmp))
        return await _measure(client, shapes, repeat, log)


async def _measure(
    client: Client, shapes: list[Shape], repeat: int, log: Console
) -> dict[Shape, Result]:
    engine = TemporalPipelineEngine(client, task_queue=DSL_QUEUE, registry=default_registry)
    dsl_worker = build_worker(
        client,
        task_queue=DSL_QUEUE,
        registry=default_registry,
        max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
    )
    hand_worker = Worker(
        client,
        task_queue=HAND_QUEUE,
        workflows=[HandwrittenBench],
        activities=[noop],
        max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
        workflow_runner=sandbox_runner(),
    )
    run = runners(client, engine)
    results = {s: Result() for s in shapes}

    async def timed(what: str, shape: Shape, kind: str) -> WorkflowHandle[Any, Any]:
        wall, cpu = time.perf_counter(), time.process_time()
        async with asyncio.timeout(RUN_TIMEOUT_S):
            handle = await run[kind](shape)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if what != "warm-up":
            results[shape].wall[kind].append(wall)
            results[shape].cpu[kind].append(cpu)
        log.print(f"{what:<8} {shape.label:<12} {kind:<12} {wall:6.3f} s wall {cpu:6.3f} s CPU")
        return handle

    async with dsl_worker, hand_worker:
        for shape in shapes:  # warm-up: sandbox imports, caches, server-side task queues
            for kind in KINDS:
                handle = await timed("warm-up", shape, kind)
                results[shape].history[kind] = await history_stats(handle)
        for i in range(repeat):
            order = KINDS if i % 2 == 0 else KINDS[::-1]  # alternate who goes first
            for shape in shapes:
                for kind in order:
                    await timed(f"run {i + 1}/{repeat}", shape, kind)
    return results


# -- reporting ------------------------------------------------------------------------------------
HEADERS = (
    "shape",
    "workflow",
    "wall median s",
    "wall min s",
    "DSL/hand",
    "DSL/hand (min)",
    "CPU median s",
    "CPU DSL/hand",
    "events",
    "history KiB",
)


def summary_rows(results: dict[Shape, Result]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for shape, res in results.items():
        for kind in KINDS:
            hist, dsl = res.history[kind], kind == "DSL"
            rows.append(
                (
                    shape.label,
                    kind,
                    f"{statistics.median(res.wall[kind]):.3f}",
                    f"{min(res.wall[kind]):.3f}",
                    f"{res.ratio(res.wall, statistics.median):.2f}x" if dsl else "",
                    f"{res.ratio(res.wall, min):.2f}x" if dsl else "",
                    f"{statistics.median(res.cpu[kind]):.3f}",
                    f"{res.ratio(res.cpu, statistics.median):.2f}x" if dsl else "",
                    str(hist.events),
                    f"{hist.size_bytes / 1024:.1f}",
                )
            )
    return rows


def event_rows(results: dict[Shape, Result]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """History events by type: count (and KiB), one column per (shape, workflow)."""
    hists = {f"{s.name} {k}": results[s].history[k] for s in results for k in KINDS}
    types = sorted({t for h in hists.values() for t in h.count_by_type})

    def cell(h: HistoryStats, t: str) -> str:
        return (
            f"{h.count_by_type[t]} ({h.bytes_by_type[t] / 1024:.1f})"
            if t in h.count_by_type
            else "-"
        )

    rows = [(t.lower(), *(cell(h, t) for h in hists.values())) for t in types]
    return ("event type: count (KiB)", *hists), rows


def rich_table(title: str, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    table = Table(title=title)
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i < 2 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def markdown_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(results: dict[Shape, Result], repeat: int, markdown: bool) -> None:
    title = (
        f"DSL overhead, {repeat} runs each. Wall: start to result. CPU: this process (client"
        " and workers). DSL/hand: ratio of medians (or minimums). History: one run."
    )
    ev_headers, ev_rows = event_rows(results)
    if markdown:
        print(markdown_table(HEADERS, summary_rows(results)))
        print()
        print(markdown_table(ev_headers, ev_rows))
        return
    out = Console()
    if not out.is_terminal:
        out = Console(width=160)
    out.print(rich_table(title, HEADERS, summary_rows(results)))
    out.print(rich_table("History events by type (one run each)", ev_headers, ev_rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="measured runs per shape and kind")
    parser.add_argument("--chain", type=int, default=50, help="activities in the chain")
    parser.add_argument("--group", type=int, default=200, help="activities in the group")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    shapes = [Shape("chain", args.chain), Shape("group", args.group)]
    log = Console(stderr=True)
    server = TemporalDevServer(port=free_port(), ui_port=None, db_file=None)
    log.print(f"starting the Temporal dev server on {server.address} (headless, in memory)")
    server.start()
    try:
        results = asyncio.run(measure(server.address, shapes, args.repeat, log))
    finally:
        server.stop()
    report(results, args.repeat, args.markdown)


if __name__ == "__main__":
    main()
