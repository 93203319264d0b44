"""Per-step latency: the project (regular and local steps), hand-written Temporal, Celery + Redis.

One run, side by side: a tuned Temporal dev server from ``workflows/dev_server.py`` (SQLite file,
the settings every entry point uses), the project's real worker and the hand-written workflow's
worker in this process, and a default Celery worker (prefork, one process per core) on Redis at
127.0.0.1:6379 from ``bench/.venv-celery``. Each repetition runs every kind once per shape, the
order rotating each time, after a fixed pause so that no run profits from an idle server.

Run it with ``make bench-latency`` or ``python -m bench.latency [--repeat N] [--markdown]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from temporalio.client import Client
from temporalio.worker import Worker

import tests.support.steps  # noqa: F401  (registers t_noop)
from bench.handwritten import BenchInput, HandwrittenBench, noop
from bench.overhead import Shape, markdown_table
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus
from pipeline_engine.steps import default_registry
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.worker_factory import build_worker, connect, sandbox_runner

HERE = Path(__file__).parent
CELERY_PYTHON = HERE / ".venv-celery" / "bin" / "python"
KINDS = ("project", "project local", "hand-written", "celery")
RUN_TIMEOUT_S = 180.0  # a run past this is reported as timed out, its workflow terminated
Runner = Callable[[Shape], Awaitable[None]]


def pipeline_config(shape: Shape, *, local: bool) -> dict[str, Any]:
    step: dict[str, Any] = {"type": "step", "name": "t_noop"}
    if local:
        step["local"] = True
    return {
        "name": f"bench-{shape.name}",
        "definition": {"type": shape.name, "steps": [step] * shape.size},
    }


class CelerySide:
    """A Celery worker and a driver process, both from the benchmark's own venv."""

    def __init__(self) -> None:
        if not CELERY_PYTHON.exists():
            sys.exit("Celery's venv is missing: run `make bench-latency` (it creates it)")
        self.queue = f"bench-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "PYTHONPATH": str(HERE)}
        self.worker = subprocess.Popen(
            [str(CELERY_PYTHON), "-m", "celery", "-A", "celery_side", "worker", "-Q", self.queue,
             "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
            cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.driver = subprocess.Popen(
            [str(CELERY_PYTHON), str(HERE / "celery_side.py"), self.queue],
            cwd=HERE, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    async def run(self, shape: Shape) -> float:
        def ask() -> float:
            assert self.driver.stdin is not None and self.driver.stdout is not None
            self.driver.stdin.write(f"{shape.name} {shape.size}\n")
            self.driver.stdin.flush()
            return float(self.driver.stdout.readline())

        return await asyncio.to_thread(ask)

    def stop(self) -> None:
        for proc in (self.driver, self.worker):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def temporal_runners(
    client: Client, engine: TemporalPipelineEngine, hand_queue: str, started: list[str]
) -> dict[str, Runner]:
    async def project(shape: Shape, *, local: bool) -> None:
        created = await engine.create_pipeline(
            pipeline_config(shape, local=local), idempotency_key=uuid.uuid4().hex, start=True
        )
        started.append(created.pipeline_id)
        handle = client.get_workflow_handle(created.pipeline_id, result_type=PipelineStatus)
        status = await handle.result()
        assert status.state is PipelineState.SUCCEEDED, status.state

    async def hand_written(shape: Shape) -> None:
        handle = await client.start_workflow(
            HandwrittenBench.run,
            BenchInput(shape=shape.name, size=shape.size),
            id=f"bench-hand-{uuid.uuid4().hex}",
            task_queue=hand_queue,
        )
        started.append(handle.id)
        assert await handle.result() == shape.size

    return {
        "project": lambda s: project(s, local=False),
        "project local": lambda s: project(s, local=True),
        "hand-written": hand_written,
    }


async def measure(
    address: str, shapes: list[Shape], repeat: int, pause_s: float, log: Console
) -> dict[Shape, dict[str, list[float]]]:
    client = await connect(address)
    queue, hand_queue = "bench-latency", "bench-latency-hand"
    engine = TemporalPipelineEngine(client, task_queue=queue, registry=default_registry)
    celery = CelerySide()
    started: list[str] = []
    runners = temporal_runners(client, engine, hand_queue, started)
    results: dict[Shape, dict[str, list[float]]] = {s: {k: [] for k in KINDS} for s in shapes}

    async def timed(shape: Shape, kind: str) -> float:
        began = time.perf_counter()
        try:
            async with asyncio.timeout(RUN_TIMEOUT_S):
                if kind == "celery":
                    return await celery.run(shape)
                await runners[kind](shape)
        except TimeoutError:
            if kind != "celery":
                await client.get_workflow_handle(started[-1]).terminate("benchmark timeout")
            return float("inf")
        return time.perf_counter() - began

    worker = build_worker(client, task_queue=queue, registry=default_registry)
    hand = Worker(
        client, task_queue=hand_queue, workflows=[HandwrittenBench], activities=[noop],
        max_concurrent_activities=64, workflow_runner=sandbox_runner(),
    )  # fmt: skip
    try:
        async with worker, hand:
            for shape in shapes:  # warm-up: imports, sandbox, task queues, Celery's connections
                for kind in KINDS:
                    wall = await timed(shape, kind)
                    log.print(f"warm-up  {shape.label:<14} {kind:<14} {wall:7.3f} s")
            for i in range(repeat):
                order = KINDS[i % len(KINDS) :] + KINDS[: i % len(KINDS)]  # rotate who goes first
                for shape in shapes:
                    for kind in order:
                        await asyncio.sleep(pause_s)
                        wall = await timed(shape, kind)
                        results[shape][kind].append(wall)
                        log.print(
                            f"run {i + 1}/{repeat} {shape.label:<14} {kind:<14} {wall:7.3f} s"
                        )
    finally:
        celery.stop()
    return results


HEADERS = (
    "shape", "kind", "wall median s", "wall min s", "ms/step median", "ms/step min",
    "/ Celery (median)", "/ hand-written (median)",
)  # fmt: skip


def rows(results: dict[Shape, dict[str, list[float]]]) -> list[tuple[str, ...]]:
    out = []
    for shape, by_kind in results.items():
        med = {k: statistics.median(v) for k, v in by_kind.items()}
        for kind, walls in by_kind.items():
            timeouts = sum(w == float("inf") for w in walls)
            out.append(
                (
                    shape.label,
                    kind + (f" ({timeouts} of {len(walls)} timed out)" if timeouts else ""),
                    f"{med[kind]:.3f}",
                    f"{min(walls):.3f}",
                    f"{med[kind] * 1000 / shape.size:.2f}",
                    f"{min(walls) * 1000 / shape.size:.2f}",
                    f"{med[kind] / med['celery']:.2f}x",
                    f"{med[kind] / med['hand-written']:.2f}x",
                )
            )
    return out


def targets(results: dict[Shape, dict[str, list[float]]]) -> list[tuple[str, ...]]:
    out = []
    for shape, by_kind in results.items():
        med = {k: statistics.median(v) for k, v in by_kind.items()}
        local, celery = med["project local"], med["celery"]
        what = "ms/step" if shape.name == "chain" else "wall"
        out.append(
            (
                f"{shape.label}: local {what} <= Celery",
                f"{local / celery:.2f}x",
                "met" if local <= celery else "missed",
            )
        )
        ratio = med["project"] / med["hand-written"]
        out.append(
            (
                f"{shape.label}: regular <= 1.1x hand-written",
                f"{ratio:.2f}x",
                "met" if ratio <= 1.1 else "missed",
            )
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="measured runs per shape and kind")
    parser.add_argument("--chain", type=int, default=50)
    parser.add_argument("--group", type=int, default=1000)
    parser.add_argument("--pause", type=float, default=2.0, help="seconds of pause before a run")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    shapes = [Shape("chain", args.chain), Shape("group", args.group)]
    log = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        server = TemporalDevServer(
            port=free_port(), ui_port=None, db_file=Path(tmp) / "temporal.db"
        )
        log.print(f"tuned Temporal dev server on {server.address} (SQLite file in {tmp})")
        server.start()
        try:
            results = asyncio.run(measure(server.address, shapes, args.repeat, args.pause, log))
        finally:
            server.stop()
    print(markdown_table(HEADERS, rows(results)))
    print()
    print(markdown_table(("target", "measured", ""), targets(results)))


if __name__ == "__main__":
    main()
