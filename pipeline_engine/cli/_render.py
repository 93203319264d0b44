"""How pipelines look in the terminal: the stage table, waiting inputs, errors, summaries."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import PipelineStatus, StageStatus

__all__ = ["pipeline_view", "print_outcome", "progress_table", "stage_duration_s"]

_COLOURS = {
    "SUCCEEDED": "green",
    "RUNNING": "yellow",
    "FAILED": "red",
    "CANCELLED": "magenta",
    "WAITING_INPUT": "cyan",
}


def stage_duration_s(stage: StageStatus, *, now: datetime | None = None) -> float | None:
    """Seconds from the stage's last scheduling to its end (to now while it runs)."""
    if stage.scheduled_at is None:
        return None
    end = stage.finished_at
    if end is None:
        if stage.state is not StageState.RUNNING:
            return None
        end = now or datetime.now(UTC)
    return max(0.0, (end - stage.scheduled_at).total_seconds())


def _duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def progress_table(status: PipelineStatus) -> Table:
    """A per-stage table: state, attempts, duration and the last error of each stage."""
    ref = status.pipeline_ref
    origin = f"  ({ref.name} v{ref.version})" if ref is not None else ""
    table = Table(title=f"{status.name}{origin}  {status.pipeline_id}  [{status.state.value}]")
    table.add_column("stage")
    table.add_column("step")
    table.add_column("state")
    table.add_column("attempts", justify="right")
    table.add_column("duration", justify="right")
    table.add_column("error")
    now = datetime.now(UTC)
    for s in status.stages:
        colour = _COLOURS.get(s.state.value, "white")
        error = f"{s.error.type}: {s.error.message}" if s.error is not None else ""
        table.add_row(
            s.stage_id,
            s.step,
            f"[{colour}]{s.state.value}[/{colour}]",
            str(s.attempts),
            _duration_text(stage_duration_s(s, now=now)),
            Text(error, style="red"),
        )
    return table


def _waiting_inputs(status: PipelineStatus) -> list[Text]:
    lines = []
    for waiting in status.waiting_inputs:
        line = Text.assemble(("waiting for input ", "cyan"), (waiting.stage_id, "bold"))
        if waiting.prompt:
            line.append(f": {waiting.prompt}")
        if waiting.deadline is not None:
            line.append(f" (until {waiting.deadline:%Y-%m-%d %H:%M} UTC)")
        line.append(
            f"\n  answer: pipeline-engine input {status.pipeline_id} '<json>' --responder <name>"
            + (f" --stage {waiting.stage_id}" if len(status.waiting_inputs) > 1 else "")
        )
        lines.append(line)
    return lines


def pipeline_view(status: PipelineStatus) -> RenderableType:
    """The stage table, then what the pipeline waits for."""
    return Group(progress_table(status), *_waiting_inputs(status))


def print_outcome(status: PipelineStatus, console: Console) -> None:
    """The pipeline's error, or (while it is held retryable) how to retry its failed stages."""
    if status.error is not None:
        console.print(Text.assemble((status.error.type, "red"), f": {status.error.message}"))
    if status.state is PipelineState.FAILED and status.retryable_until is not None:
        failed = [s.stage_id for s in status.stages if s.state is StageState.FAILED]
        console.print(
            f"retryable until {status.retryable_until:%Y-%m-%d %H:%M} UTC: "
            f"pipeline-engine retry {status.pipeline_id} {failed[0] if failed else '<stage_id>'}"
        )
