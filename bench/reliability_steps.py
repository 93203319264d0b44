"""Steps of ``bench/batch_reliability.py``: each records its start and its end in a shared file.

``PIPELINE_ENGINE_RELIABILITY_COUNTS`` names the file; one ``os.write`` of one short line to a file
opened with ``O_APPEND`` per record, so records of concurrent steps (and of several worker
processes) never interleave within a line.
"""

from __future__ import annotations

import os
from typing import Any

from pipeline_engine.steps import StepContext, step


def _record(kind: str, ctx: StepContext) -> None:
    path = os.environ.get("PIPELINE_ENGINE_RELIABILITY_COUNTS")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{kind} {ctx.pipeline_id} {ctx.stage_id} {ctx.attempt}\n".encode())
    finally:
        os.close(fd)


@step
def rel_count(ctx: StepContext, tag: str = "") -> dict[str, Any]:
    """Records its start and end; returns what it saw of the input (a seed-shaped stage)."""
    _record("S", ctx)
    result = {"tag": tag, "n": ctx.input.get("n") if isinstance(ctx.input, dict) else None}
    _record("D", ctx)
    return result
