"""Scale: how far one pipeline of no-op steps goes on the dev server, and what it costs.

Starts a headless Temporal dev server (SQLite file under a temporary directory) and a worker in
this process, then runs each shape once: a group, a ``map`` over a list produced at run time, and
a chain. Reports, per shape: whether it reached SUCCEEDED, wall time (start to result), steps/s,
this process's peak RSS (worker and client), and the workflow's history (events and bytes) as a
share of Temporal's limits (51,200 events, 50 MiB).

Run it with ``python -m bench.scale [--group N] [--map N] [--chain N] [--markdown]``; a shape of
size 0 is skipped. The machine it ran on, and the figures, are in docs/benchmarks.md.
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

from temporalio.client import WorkflowFailureError

import tests.support.steps  # noqa: F401  (registers t_noop and t_items)
from bench.overhead import history_stats
from pipeline_engine.status import PipelineStatus
from pipeline_engine.steps import default_registry
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
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

    def row(self) -> list[str]:
        return [
            f"{self.shape} of {self.size:,}",
            self.state,
            f"{self.wall_s:.1f}",
            f"{self.size / self.wall_s:.0f}" if self.state == "SUCCEEDED" else "-",
            f"{self.peak_rss_mib:.0f}",
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
    except WorkflowFailureError as exc:
        state, note = "FAILED", str(exc.cause)[:120]
    except TimeoutError:
        state, note = "NOT DONE", f"not finished after {timeout:.0f} s"
        await handle.terminate("benchmark timeout")
    wall = time.perf_counter() - started
    stats = await history_stats(handle)
    return Run(shape, size, state, wall, stats.events, stats.size_bytes, peak_rss_mib(), note)


async def main(shapes: list[tuple[str, int]], timeout: float) -> list[Run]:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        server = TemporalDevServer(
            port=free_port(), ui_port=None, db_file=Path(tmp) / "temporal.db"
        )
        server.start()
        try:
            client = await connect(server.address)
            engine = TemporalPipelineEngine(client, task_queue=QUEUE, registry=default_registry)
            async with build_worker(client, task_queue=QUEUE, registry=default_registry):
                return [await run_one(engine, s, n, timeout) for s, n in shapes if n > 0]
        finally:
            server.stop()


HEADER = ["shape", "state", "wall s", "steps/s", "peak RSS MiB", "history events", "history", ""]

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", type=int, default=1000)
    parser.add_argument("--map", type=int, default=1000)
    parser.add_argument("--chain", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    order = [("group", args.group), ("map", args.map), ("chain", args.chain)]
    runs = asyncio.run(main(order, args.timeout))
    if args.markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "---|" * len(HEADER))
    for r in runs:
        print("| " + " | ".join(r.row()) + " |" if args.markdown else "  ".join(r.row()))
