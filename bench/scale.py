"""Scale: how far one pipeline of no-op steps goes on the dev server, and what it costs.

Starts a headless Temporal dev server (SQLite file under a temporary directory) and a worker in
this process, with a payload store in the temporary directory and the engine's default limits
(shards of 1,000, continue-as-new past 8,000 events), as ``make run`` has them. Runs each shape
once: a group, a ``map`` over a list produced at run time, a chain, and a step returning
``--blob`` bytes (read by the next step). Reports, per shape: whether it reached SUCCEEDED, wall
time (start to result), steps/s, this process's peak RSS (worker and client), how many workflows
it took (runs of the pipeline's workflow and shards), and the largest history among them (events
and bytes) as a share of Temporal's limits (51,200 events, 50 MiB).

Run it with ``python -m bench.scale [--group N] [--map N] [--chain N] [--blob BYTES]
[--markdown]``; a shape of size 0 is skipped. The figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError

import tests.support.steps  # noqa: F401  (registers t_noop and t_items)
from bench.overhead import history_stats
from pipeline_engine.status import PipelineStatus
from pipeline_engine.steps import default_registry
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.payload_store import open_payload_store
from workflows.worker_factory import build_worker, connect

QUEUE = "bench-scale"
HISTORY_EVENTS_LIMIT = 51_200
HISTORY_BYTES_LIMIT = 50 * 1024 * 1024
NOOP = {"type": "step", "name": "t_noop"}


def definition(shape: str, size: int) -> dict[str, Any]:
    if shape == "map":
        items = {"type": "step", "name": "t_items", "kwargs": {"count": size}}
        fan_out = {"type": "map", "items": "/items", "element": NOOP}
        return {"type": "chain", "steps": [items, fan_out]}
    if shape == "blob":
        blob = {"type": "step", "name": "t_blob", "kwargs": {"size": size}}
        return {"type": "chain", "steps": [blob, {"type": "step", "name": "t_measure"}]}
    return {"type": shape, "steps": [NOOP] * size}


@dataclass
class Run:
    shape: str
    size: int
    state: str
    wall_s: float
    events: int
    history_bytes: int
    peak_rss_mib: float
    note: str = ""
    workflows: int = 1

    def row(self) -> list[str]:
        steps = 2 if self.shape == "blob" else self.size
        return [
            f"{self.shape} of {self.size:,}" + (" bytes" if self.shape == "blob" else ""),
            self.state,
            f"{self.wall_s:.1f}",
            f"{steps / self.wall_s:.0f}" if self.state == "SUCCEEDED" else "-",
            f"{self.peak_rss_mib:.0f}",
            f"{self.workflows:,}",
            f"{self.events:,} ({100 * self.events / HISTORY_EVENTS_LIMIT:.1f}%)",
            f"{self.history_bytes / 1024:,.0f} KiB "
            f"({100 * self.history_bytes / HISTORY_BYTES_LIMIT:.1f}%)",
            self.note,
        ]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_one(engine: TemporalPipelineEngine, shape: str, size: int, timeout: float) -> Run:
    started = time.perf_counter()
    note = ""
    try:
        created = await engine.create_pipeline(
            {"name": f"scale-{shape}", "definition": definition(shape, size)},
            idempotency_key=uuid.uuid4().hex,
            start=True,
        )
    except Exception as exc:  # e.g. an input over Temporal's payload limit
        return Run(shape, size, "NOT STARTED", 0.0, 0, 0, peak_rss_mib(), f"{exc}"[:120])
    handle = engine.client.get_workflow_handle(created.pipeline_id, result_type=PipelineStatus)
    try:
        status = await asyncio.wait_for(handle.result(), timeout)
        state = status.state.value
        if shape == "blob":
            note = f"next step read {status.result['previous_bytes']:,} bytes"
    except WorkflowFailureError as exc:
        state, note = "FAILED", str(exc.cause)[:120]
    except TimeoutError:
        state, note = "NOT DONE", f"not finished after {timeout:.0f} s"
        await handle.terminate("benchmark timeout")
    wall = time.perf_counter() - started
    events, history_bytes, workflows = await largest_history(engine.client, created.pipeline_id)
    return Run(shape, size, state, wall, events, history_bytes, peak_rss_mib(), note, workflows)


async def largest_history(client: Client, pipeline_id: str) -> tuple[int, int, int]:
    """The most events and the most bytes of any history among the pipeline's workflows (its
    runs and its shards), and how many workflows there are."""
    query = f"WorkflowId = '{pipeline_id}' OR WorkflowId STARTS_WITH '{pipeline_id}~'"
    events = size = count = 0
    async for w in client.list_workflows(query):
        count += 1
        stats = await history_stats(client.get_workflow_handle(w.id, run_id=w.run_id))
        events, size = max(events, stats.events), max(size, stats.size_bytes)
    return events, size, count


async def main(shapes: list[tuple[str, int]], timeout: float) -> list[Run]:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        server = TemporalDevServer(
            port=free_port(), ui_port=None, db_file=Path(tmp) / "temporal.db"
        )
        server.start()
        try:
            store = open_payload_store(str(Path(tmp) / "payloads"))
            client = await connect(server.address, payload_store=store)
            engine = TemporalPipelineEngine(client, task_queue=QUEUE, registry=default_registry)
            async with build_worker(client, task_queue=QUEUE, registry=default_registry):
                return [await run_one(engine, s, n, timeout) for s, n in shapes if n > 0]
        finally:
            server.stop()


HEADER = [
    "shape",
    "state",
    "wall s",
    "steps/s",
    "peak RSS MiB",
    "workflows",
    "largest history: events",
    "largest history: bytes",
    "",
]

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", type=int, default=1000)
    parser.add_argument("--map", type=int, default=1000)
    parser.add_argument("--chain", type=int, default=1000)
    parser.add_argument("--blob", type=int, default=10_000_000, help="bytes of one step result")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    order = [("group", args.group), ("map", args.map), ("chain", args.chain), ("blob", args.blob)]
    runs = asyncio.run(main(order, args.timeout))
    if args.markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "---|" * len(HEADER))
    for r in runs:
        print("| " + " | ".join(r.row()) + " |" if args.markdown else "  ".join(r.row()))
