"""What the Temporal Web UI shows of a pipeline: its summary, its graph, and its current details.

Temporal keeps a held-FAILED pipeline *Running* (it is still retryable), so the true state is put
where an operator looks first: the workflow's *current details* (Temporal markdown), refreshed as
the pipeline moves.
"""

from __future__ import annotations

import json

from pipeline_engine._interpreter import utc_minute as when
from pipeline_engine.dsl import Plan, to_mermaid
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import PipelineStatus, StagePage
from pipeline_engine.versions import PipelineVersionRef
from workflows import names

__all__ = ["current_details", "static_details", "static_summary"]

_DONE = {StageState.SUCCEEDED, StageState.SKIPPED}
_SHOWN = 5


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def static_summary(plan: Plan, tenant_id: str | None, ref: PipelineVersionRef | None = None) -> str:
    """One line for the workflow list: ``cultivos-abc · 6 stages``, or with the stored version
    it runs, ``cultivos-abc · crates v2 · 6 stages``."""
    name = plan.config.name if ref is None else f"{ref.name} v{ref.version}"
    label = name if tenant_id in (None, name) else f"{tenant_id} · {name}"
    return f"{label} · {_plural(len(plan.stages), 'stage')}"


def static_details(plan: Plan, tenant_id: str | None, ref: PipelineVersionRef | None = None) -> str:
    """The pipeline's graph (Mermaid) and where it came from, fixed at start."""
    owner = f" of tenant `{tenant_id}`" if tenant_id else ""
    origin = (
        f", version {ref.version} of `{ref.name}` (digest `{ref.digest[:12]}`)"
        if ref is not None
        else ""
    )
    return (
        f"Pipeline `{plan.config.name}`{origin}{owner}: {_plural(len(plan.stages), 'stage')}, "
        f"one activity per stage (activity type = step, activity id = stage id).\n\n"
        f"```mermaid\n{to_mermaid(plan)}```\n"
    )


def _command(pipeline_id: str, kind: str, name: str, payload: dict[str, object]) -> str:
    return (
        f"`temporal workflow {kind} -w {pipeline_id} --name {name} --input '{json.dumps(payload)}'`"
    )


def _stages(ids: list[str], more: int = 0) -> str:
    shown = ", ".join(f"`{sid}`" for sid in ids[:_SHOWN])
    hidden = len(ids) - len(ids[:_SHOWN]) + more
    return shown + (f" and {hidden} more" if hidden > 0 else "")


RUNNING_PAGE = StagePage(state=StageState.RUNNING, limit=_SHOWN)
"""The page of stages :func:`current_details` needs: a few running ones (and the counts)."""


def current_details(status: PipelineStatus) -> str:
    """State, progress, what it waits for and how to move it on, as Temporal markdown.

    ``status`` holds every stage, or :data:`RUNNING_PAGE` of them (a wide pipeline's counts are
    then read from ``stage_counts``, failure handlers included)."""
    if status.complete:
        stages = [s for s in status.stages if s.kind != "handler"]
        done, total = sum(1 for s in stages if s.state in _DONE), len(stages)
        running = [s.stage_id for s in stages if s.state is StageState.RUNNING]
        more = 0
    else:
        counts = status.stage_counts
        done, total = sum(counts.get(s.value, 0) for s in _DONE), sum(counts.values())
        running = [s.stage_id for s in status.stages if s.state is StageState.RUNNING]
        more = (status.stages_total or 0) - len(running)
    lines = [f"**{status.state.value}** · {done}/{total} stages done"]
    ref = status.pipeline_ref
    if ref is not None:  # also in continued runs, which have no static summary
        lines[0] += f" · `{ref.name}` v{ref.version}"
    pid = status.pipeline_id
    if status.state is PipelineState.PENDING:
        lines.append(f"Created, not started: {_command(pid, 'signal', 'start', {})}")
    if running and status.state in (PipelineState.RUNNING, PipelineState.WAITING_INPUT):
        lines.append(f"Running: {_stages(running, more)}")
    for waiting in status.waiting_inputs:
        until = f" until {when(waiting.deadline)}" if waiting.deadline else ""
        prompt = f": {waiting.prompt}" if waiting.prompt else ""
        lines.append(f"Waiting for input `{waiting.stage_id}`{until}{prompt}")
        lines.append(
            "Answer: "
            + _command(
                pid,
                "update execute",
                names.UPDATE_SUBMIT_INPUT,
                {"payload": {}, "responder": "you", "stage_id": waiting.stage_id},
            )
        )
    if status.cancelled_by:
        lines.append(f"Cancelled by `{status.cancelled_by}`")
    error = status.error
    if error is not None:
        where = f"Stage `{error.stage_id}` failed" if error.stage_id else "Failed"
        lines.append(f"{where}: {error.type}: {error.message}")
    if status.state is PipelineState.FAILED and status.retryable_until and error is not None:
        lines.append(
            f"Fix the cause, then retry it before {when(status.retryable_until)}: "
            + _command(
                pid,
                "signal",
                names.UPDATE_RETRY_STAGE,
                {"stage_id": error.stage_id, "reason": "fixed"},
            )
        )
    return "\n\n".join(lines)
