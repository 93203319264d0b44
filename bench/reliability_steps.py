"""Steps of ``bench/batch_reliability.py``: each records its start and its end in a shared file.

``PIPELINE_ENGINE_RELIABILITY_COUNTS`` names the file; one ``os.write`` of one short line to a file
opened with ``O_APPEND`` per record, so records of concurrent steps (and of several worker
processes) never interleave within a line.

Every execution draws a token of its own, written on its end record and returned in its result
beside the tokens of the results it was given (``ctx.previous``), so a pipeline's final result
names, per stage, the one execution whose completion the pipeline used: the bench counts
completions from the results and executions from the file.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from pipeline_engine.steps import StepContext, step


def _record(kind: str, ctx: StepContext, token: str) -> None:
    path = os.environ.get("PIPELINE_ENGINE_RELIABILITY_COUNTS")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        line = f"{kind} {ctx.pipeline_id} {ctx.stage_id} {ctx.attempt} {token}\n"
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _completions(previous: Any) -> list[list[str]]:
    """The ``[stage_id, token]`` pairs carried by the results this step was given."""
    if isinstance(previous, dict):
        pairs = previous.get("completions")
        return [list(p) for p in pairs] if isinstance(pairs, list) else []
    if isinstance(previous, list):
        return [pair for item in previous for pair in _completions(item)]
    return []


@step
def rel_count(ctx: StepContext, tag: str = "") -> dict[str, Any]:
    """Records its start and end; returns what it saw of the input and the completions so far."""
    token = uuid.uuid4().hex[:12]
    _record("S", ctx, token)
    result = {
        "tag": tag,
        "n": ctx.input.get("n") if isinstance(ctx.input, dict) else None,
        # a chord's members both carry the first stage's pair: the same completion, kept once
        "completions": [
            *dict.fromkeys(map(tuple, _completions(ctx.previous))),
            (ctx.stage_id, token),
        ],
    }
    _record("D", ctx, token)
    return result
