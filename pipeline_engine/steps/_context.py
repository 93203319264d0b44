"""What a step function sees while it runs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StepContext"]


def _no_heartbeat(*_details: Any) -> None:
    return None


@dataclass
class StepContext:
    """The context passed as first argument to every step.

    Attributes:
        previous: The previous element's result (chain), the group's list (chord callback),
            ``{dep_id: result}`` (DAG stage), or ``None`` for the first element.
        input: The pipeline's input.
        settings: The tenant's settings (``{}`` when the pipeline has no tenant config).
        pipeline_id: The pipeline running this step.
        tenant_id: The owning tenant, if any.
        stage_id: This stage's id.
        step: This step's registered name.
        attempt: Attempt number, from 1, counted across retries and ``retry_stage`` re-runs.
        trace_id: The pipeline's trace id.
    """

    previous: Any
    input: Any
    settings: dict[str, Any]
    pipeline_id: str
    tenant_id: str | None
    stage_id: str
    step: str
    attempt: int
    trace_id: str = ""
    _heartbeat: Callable[..., None] = field(default=_no_heartbeat, repr=False)
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    def heartbeat(self, *details: Any) -> None:
        """Tell the engine this step is alive (and optionally how far it got).

        Long steps are heartbeated automatically; call this to report progress details.
        Safe to call from the thread a sync step runs in.
        """
        self._heartbeat(*details)

    @property
    def cancelled(self) -> bool:
        """True once the engine asked this step to stop (pipeline cancelled or timed out).

        Async steps are interrupted with ``asyncio.CancelledError``; sync steps run in a thread
        and should poll this flag in long loops.
        """
        return self._cancelled.is_set()
