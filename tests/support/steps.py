"""Steps used by the tests. Importable by a worker subprocess via PIPELINE_ENGINE_STEP_MODULES.

Calls are counted in files under ``$PIPELINE_ENGINE_TEST_CALLS`` (one line per call), so a test can
check how often a step ran even when another process ran it.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from pipeline_engine.steps import StepContext, step


def _record(ctx: StepContext) -> None:
    folder = os.environ.get("PIPELINE_ENGINE_TEST_CALLS")
    if folder:
        path = Path(folder) / f"{ctx.pipeline_id}.calls"
        with path.open("a") as fh:
            fh.write(f"{ctx.stage_id} {ctx.attempt} {time.time():.6f}\n")


def calls_of(folder: Path, pipeline_id: str) -> list[tuple[str, int, float]]:
    """(stage_id, attempt, time) of every recorded call of a pipeline's steps."""
    path = folder / f"{pipeline_id}.calls"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        sid, attempt, when = line.split()
        rows.append((sid, int(attempt), float(when)))
    return rows


@step
def t_add(ctx: StepContext, n: int = 1) -> int:
    """Adds ``n`` to the previous result (0 when there is none)."""
    _record(ctx)
    prev = ctx.previous if isinstance(ctx.previous, int) else 0
    return prev + n


@step
def t_echo(ctx: StepContext, tag: str = "") -> dict[str, Any]:
    """Returns everything it saw."""
    _record(ctx)
    return {
        "tag": tag,
        "previous": ctx.previous,
        "input": ctx.input,
        "settings": ctx.settings,
        "stage_id": ctx.stage_id,
        "attempt": ctx.attempt,
        "pipeline_id": ctx.pipeline_id,
        "tenant_id": ctx.tenant_id,
    }


@step
def t_sum(ctx: StepContext) -> int:
    """Sums the list it receives (chord callback)."""
    _record(ctx)
    return sum(x for x in ctx.previous if isinstance(x, int))


@step
async def t_sleep(ctx: StepContext, seconds: float = 0.5, value: Any = None) -> dict[str, Any]:
    """Sleeps, then returns when it started and ended."""
    _record(ctx)
    start = time.time()
    await asyncio.sleep(seconds)
    return {"start": start, "end": time.time(), "value": value}


@step
def t_sleep_sync(ctx: StepContext, seconds: float = 0.5) -> float:
    """Sleeps in its thread, heartbeating, stopping early when cancelled."""
    _record(ctx)
    end = time.time() + seconds
    while time.time() < end:
        if ctx.cancelled:
            raise RuntimeError("cancelled")
        ctx.heartbeat({"left": end - time.time()})
        time.sleep(0.05)
    return seconds


def _record_done(ctx: StepContext) -> None:
    folder = os.environ.get("PIPELINE_ENGINE_TEST_CALLS")
    if folder:
        with (Path(folder) / f"{ctx.pipeline_id}.done").open("a") as fh:
            fh.write(f"{ctx.stage_id}\n")


def done_of(folder: Path, pipeline_id: str) -> list[str]:
    """Stage ids of every step body that ran to its end (``t_work*``), one per completion."""
    path = folder / f"{pipeline_id}.done"
    return path.read_text().split() if path.exists() else []


@step
def t_work(ctx: StepContext, seconds: float = 1.0) -> str:
    """Works ``seconds`` in its thread (heartbeating; stops if cancelled), records completion."""
    _record(ctx)
    end = time.time() + seconds
    while time.time() < end:
        if ctx.cancelled:
            raise RuntimeError("cancelled before the end")
        ctx.heartbeat()
        time.sleep(0.05)
    _record_done(ctx)
    return "sync done"


@step
async def t_work_async(ctx: StepContext, seconds: float = 1.0) -> str:
    """Works ``seconds`` on the event loop, records completion."""
    _record(ctx)
    await asyncio.sleep(seconds)
    _record_done(ctx)
    return "async done"


@step
def t_flaky(ctx: StepContext, fail_times: int = 1, error: str = "ValueError") -> str:
    """Fails its first ``fail_times`` attempts with exception class ``error``."""
    _record(ctx)
    if ctx.attempt <= fail_times:
        exc_type = {"ValueError": ValueError, "KeyError": KeyError, "RuntimeError": RuntimeError}
        raise exc_type.get(error, ValueError)(f"attempt {ctx.attempt} failed on purpose")
    return f"ok at attempt {ctx.attempt}"


@step
def t_fail(ctx: StepContext, message: str = "always fails") -> None:
    """Always fails."""
    _record(ctx)
    raise RuntimeError(message)


@step
def t_handler(ctx: StepContext) -> dict[str, Any]:
    """A failure handler: returns what it was told about the failure."""
    _record(ctx)
    return {"handled": ctx.previous["stage_id"], "error": ctx.previous["error"]["message"]}


@step
def t_hook(ctx: StepContext) -> None:
    """A hook: just records that it ran."""
    _record(ctx)


@step
def t_noop(ctx: StepContext) -> None:
    """Does nothing (overhead benchmarks)."""
    return None


@step(local=True)
def t_local_add(ctx: StepContext, n: int = 1) -> int:
    """Like ``t_add``, registered to run as a local activity by default."""
    _record(ctx)
    return int(ctx.previous or 0) + n


@step
def t_blob(ctx: StepContext, size: int = 1024) -> dict[str, Any]:
    """A result of about ``size`` bytes of JSON: ``{"blob": "xxx…", "size": size}``."""
    return {"blob": "x" * size, "size": size}


@step
def t_measure(ctx: StepContext) -> dict[str, Any]:
    """What it received: the sizes of ``previous`` and ``input`` (their JSON lengths)."""
    import json

    return {
        "previous_bytes": len(json.dumps(ctx.previous)),
        "input_bytes": len(json.dumps(ctx.input)),
        "previous_size": ctx.previous.get("size") if isinstance(ctx.previous, dict) else None,
    }


@step
def t_items(ctx: StepContext, count: int = 3) -> dict[str, Any]:
    """Returns ``{"items": [0, 1, ..., count - 1]}`` (run-time fan-outs)."""
    return {"items": list(range(count))}


@step
def t_double(ctx: StepContext, fail_on: int | None = None) -> int:
    """Doubles ``previous``; fails while ``previous == fail_on`` and the test's gate file exists."""
    _record(ctx)
    gate = os.environ.get("PIPELINE_ENGINE_TEST_CALLS")
    fixed = gate is not None and (Path(gate) / f"{ctx.pipeline_id}.fixed").exists()
    if fail_on is not None and ctx.previous == fail_on and not fixed:
        raise ValueError(f"item {ctx.previous} is bad")
    return int(ctx.previous) * 2


@step
def t_batch_item(ctx: StepContext, seconds: float = 0.0) -> dict[str, Any]:
    """A batch's pipeline: doubles ``input["n"]``; fails while ``input["fail"]`` is set and the
    test's ``<fix>.fixed`` file (``input["fix"]``) does not exist. Records its start and end in
    ``batch-<fix>.spans`` under ``$PIPELINE_ENGINE_TEST_CALLS``."""
    _record(ctx)
    folder = Path(os.environ.get("PIPELINE_ENGINE_TEST_CALLS", "."))
    data = ctx.input if isinstance(ctx.input, dict) else {}
    fix = str(data.get("fix", "none"))
    started = time.time()
    time.sleep(seconds)
    with (folder / f"batch-{fix}.spans").open("a") as fh:
        fh.write(f"{ctx.pipeline_id} {started:.6f} {time.time():.6f}\n")
    if data.get("fail") and not (folder / f"{fix}.fixed").exists():
        raise RuntimeError(f"input {data.get('n')} fails until fixed")
    return {"n": data.get("n"), "double": 2 * int(data.get("n", 0))}


@step
def t_double_each(ctx: StepContext, times: int = 2) -> list[int]:
    """A batch step: every item of the ``previous`` list times ``times``."""
    _record(ctx)
    return [int(x) * times for x in ctx.previous]


@step(version="1")
def t_stamp(ctx: StepContext, label: str = "") -> dict[str, Any]:
    """A result no other call returns (a cached stage gives back the one it reused)."""
    import uuid

    _record(ctx)
    return {"label": label, "stamp": uuid.uuid4().hex, "previous": ctx.previous}
