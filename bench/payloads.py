"""Payloads by reference: large results and inputs with the payload store vs inline in the history.

Starts a headless, in-memory Temporal dev server on free ports and two workers in this process on
one client each: one whose data converter stores payloads of 32 KiB or more in a directory
(``store``), one that keeps every payload inline (``inline``, as without a store). Alternating which
goes first, it runs each case ``--repeat`` times on both and reports wall time (start to the end
of the pipeline, as a client sees it), the Temporal history of one run (bytes) and what the store
holds for that pipeline (objects, bytes):

- ``10 MB step``: a chain ``t_blob(10 MiB)`` → ``t_measure``. Inline it cannot run: the stage fails
  with ``ResultTooLarge`` (the inline limit is 512 KiB), which is what the inline row times.
- ``400 KB step``: the same with 400 KB, which fits inline.
- ``group of 20 (50), 100 KB input``: ``t_measure`` members of a pipeline whose input is 100 KB,
  so each activity input carries it: the store keeps one object per activity input. Inline, the 50
  activity inputs of one workflow task add up to more than Temporal accepts: the server terminates
  the workflow (a run with no end within ``--run-timeout`` seconds would be cut and reported too).

Run it with ``python -m bench.payloads [--repeat N] [--markdown]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

import tests.support.steps  # noqa: F401  (registers t_blob, t_measure)
from pipeline_engine.errors import PipelineError
from pipeline_engine.states import PipelineState
from pipeline_engine.steps import default_registry
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.names import SA_PIPELINE_STATE
from workflows.payload_store import folder_path, open_payload_store
from workflows.worker_factory import build_worker, connect

MB = 1024 * 1024
KINDS = ("store", "inline")
NO_END = "no end"


def _step(name: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": "step", "name": name, "kwargs": kwargs}


CASES: dict[str, tuple[dict[str, Any], Any]] = {
    "10 MB step": (
        {"type": "chain", "steps": [_step("t_blob", size=10 * MB), _step("t_measure")]},
        None,
    ),
    "400 KB step": (
        {"type": "chain", "steps": [_step("t_blob", size=400_000), _step("t_measure")]},
        None,
    ),
    "group of 20, 100 KB input": (
        {"type": "group", "steps": [_step("t_measure") for _ in range(20)]},
        {"blob": "i" * 100_000},
    ),
    "group of 50, 100 KB input": (
        {"type": "group", "steps": [_step("t_measure") for _ in range(50)]},
        {"blob": "i" * 100_000},
    ),
}


@dataclass
class Sample:
    wall: list[float] = field(default_factory=list)
    state: str = ""
    history_bytes: int = 0
    store_objects: int = 0
    store_bytes: int = 0


async def _history_bytes(engine: TemporalPipelineEngine, pipeline_id: str) -> int:
    history = await engine.client.get_workflow_handle(pipeline_id).fetch_history()
    return sum(e.ByteSize() for e in history.events)


def _folder_usage(root: Path, pipeline_id: str) -> tuple[int, int]:
    folder = root / folder_path("default", pipeline_id)
    if not folder.exists():
        return 0, 0
    sizes = [f.stat().st_size for f in folder.iterdir()]
    return len(sizes), sum(sizes)


async def _run(
    engine: TemporalPipelineEngine, definition: Any, input: Any, timeout_s: float
) -> tuple[str, float, str]:
    """(pipeline id, wall seconds, how it ended) of one run; ``no end`` after ``timeout_s``."""
    started = time.perf_counter()
    created = await engine.create_pipeline(
        {"name": f"bench-{uuid.uuid4().hex[:8]}", "definition": definition},
        input=input,
        start=True,
    )
    handle = engine.client.get_workflow_handle(created.pipeline_id)
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                # the state search attribute: a probe that does not read the (large) status
                described = await handle.describe()
                state = described.typed_search_attributes.get(SA_PIPELINE_STATE)
                if state in (PipelineState.SUCCEEDED.value, PipelineState.FAILED.value):
                    return created.pipeline_id, time.perf_counter() - started, str(state)
                closed = described.status
                if closed is not None and closed != WorkflowExecutionStatus.RUNNING:
                    # e.g. TERMINATED by the server: a workflow task over Temporal's limits
                    return created.pipeline_id, time.perf_counter() - started, closed.name
                await asyncio.sleep(0.05)
    except (TimeoutError, RPCError, PipelineError):
        with contextlib.suppress(RPCError):
            await handle.terminate("benchmark: no end")
        return created.pipeline_id, time.perf_counter() - started, NO_END


async def measure(
    address: str, root: Path, repeat: int, timeout_s: float, log: Console
) -> dict[str, dict[str, Sample]]:
    store = open_payload_store(str(root))
    engines: dict[str, TemporalPipelineEngine] = {}
    workers = []
    for kind in KINDS:
        client = await connect(address, payload_store=store if kind == "store" else None)
        queue = f"bench-payloads-{kind}"
        workers.append(build_worker(client, task_queue=queue, registry=default_registry))
        engines[kind] = TemporalPipelineEngine(client, task_queue=queue, registry=default_registry)
    results = {case: {kind: Sample() for kind in KINDS} for case in CASES}
    for worker in workers:
        await worker.__aenter__()
    try:
        for i in range(repeat + 1):  # run 0 warms up and measures the history and the store
            order = KINDS if i % 2 == 0 else KINDS[::-1]
            for case, (definition, input) in CASES.items():
                for kind in order:
                    sample = results[case][kind]
                    if sample.state and sample.state not in ("SUCCEEDED", "FAILED"):
                        continue  # once is enough
                    pid, wall, ended = await _run(engines[kind], definition, input, timeout_s)
                    log.print(f"run {i}/{repeat} {case:<26} {kind:<6} {wall:7.3f} s {ended}")
                    if i == 0 or ended not in ("SUCCEEDED", "FAILED"):
                        sample.state = ended
                        sample.history_bytes = await _history_bytes(engines[kind], pid)
                        sample.store_objects, sample.store_bytes = _folder_usage(root, pid)
                    else:
                        sample.wall.append(wall)
    finally:
        for worker in workers:
            await worker.__aexit__(None, None, None)
    return results


def report(results: dict[str, dict[str, Sample]], markdown: bool) -> None:
    headers = (
        "case",
        "payloads",
        "ends",
        "wall median s",
        "wall min s",
        "history KiB",
        "store objects",
        "store KiB",
    )
    rows = []
    for case, by_kind in results.items():
        for kind, s in by_kind.items():
            rows.append(
                (
                    case,
                    kind,
                    s.state,
                    f"{statistics.median(s.wall):.3f}" if s.wall else "-",
                    f"{min(s.wall):.3f}" if s.wall else "-",
                    f"{s.history_bytes / 1024:.1f}",
                    str(s.store_objects),
                    f"{s.store_bytes / 1024:.0f}",
                )
            )
    if markdown:
        print("| " + " | ".join(headers) + " |")
        print("|" + "|".join("---" for _ in headers) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    for row in [headers, *rows]:
        print("  ".join(f"{c:<26}" if i == 0 else f"{c:>13}" for i, c in enumerate(row)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.payloads", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="measured runs per case and kind")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument(
        "--run-timeout", type=float, default=60.0, help="seconds before a run counts as no end"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    log = Console(stderr=True)
    server = TemporalDevServer(port=free_port(), ui_port=None, db_file=None)
    log.print(f"starting the Temporal dev server on {server.address} (headless, in memory)")
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-payloads-") as root:
            results = asyncio.run(
                measure(server.address, Path(root), args.repeat, args.run_timeout, log)
            )
    finally:
        server.stop()
    report(results, args.markdown)


if __name__ == "__main__":
    main()
