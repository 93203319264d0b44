"""The in-process engine's sub-pipelines: each child a pipeline of the engine like any other (read,
listed and commanded by its id), run from the versions pinned when its root was created.

The same rules as the Temporal workflow's children (:mod:`pipeline_engine._interpreter._children`):
the child holds nothing when it fails, its failure is its parent's stage's, cancelling the parent
cancels it (as Temporal cancels a child workflow), a retry runs it again under the same id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from pipeline_engine._interpreter import PipelineRun, StepFailed
from pipeline_engine._interpreter._children import (
    ChildFailed,
    PinnedPipelines,
    SubPipelineCall,
    child_config,
    child_error,
    finished_stages,
    not_resolved,
)
from pipeline_engine.dsl import Plan, compile_plan
from pipeline_engine.states import PipelineState
from pipeline_engine.versions import PipelineVersionRef

__all__ = ["ChildRunner", "StartChild", "StartedChild"]

StartedChild = tuple[PipelineRun, "asyncio.Task[Any]"]

StartChild = Callable[[SubPipelineCall, Plan, "ChildRunner", PipelineVersionRef], StartedChild]
"""``(the call, its plan, its parent's runner, its version) -> (the started run, its task)``: the
engine keeps the run as one of its pipelines (reusing ``call.reuse``)."""


class ChildRunner:
    """Runs the children of one pipeline (and, through the runner it hands each child, theirs)."""

    def __init__(self, pinned: PinnedPipelines | None, start: StartChild) -> None:
        self._pinned = pinned
        self._start = start
        self._plans: dict[str, Plan] = {}

    @property
    def pinned(self) -> PinnedPipelines | None:
        """The versions this pipeline's sub-pipelines run."""
        return self._pinned

    def _plan(self, key: str) -> Plan:
        assert self._pinned is not None
        if key not in self._plans:
            pinned = self._pinned.pipelines[key]
            config = child_config(pinned)
            self._plans[key] = compile_plan(config, local_defaults=frozenset(pinned.local_steps))
        return self._plans[key]

    async def __call__(self, call: SubPipelineCall) -> Any:
        """The child's result; :class:`StepFailed` when it failed or was cancelled on its own."""
        pinned = self._pinned.find(call.name, call.version) if self._pinned else None
        if pinned is None:
            raise StepFailed(not_resolved(call), 1)
        key = f"{pinned.ref.name}@{pinned.ref.version}"
        run, task = self._start(call, self._plan(key), self, pinned.ref)
        try:
            state = await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():  # the parent is cancelled: so is its child (natively)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            raise
        if state is PipelineState.SUCCEEDED:
            return run.status(whole_result=True).result
        if state is not PipelineState.FAILED:
            raise StepFailed(child_error(call, True, None), 1)
        status = run.status(whole_result=True)
        raise ChildFailed(child_error(call, False, status.error), finished_stages(status))
