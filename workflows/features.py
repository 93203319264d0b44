"""Feature levels: interpreter changes a run takes because its input says so, not because of a
patch marker, and the ``PipelineState`` search attribute written once per activation.

Every ``workflow.patched`` call a run makes the first time costs it two history events (the
marker and the SDK's ``TemporalChangeVersion`` upsert): two such patches were 4 of a seed
pipeline's 17 events. A run whose :class:`~workflows.messages.RunLimits` carry ``features >= 1``
(every run the engine starts since) takes each patch of :data:`LEVEL_1` without asking, so
without those events; runs recorded before carry no level and ask ``workflow.patched`` as they
did, so their histories replay. A patch added after level 1 is asked as usual until a next
level takes it in.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pipeline_engine.states import PipelineState
    from workflows.names import SA_PIPELINE_STATE

__all__ = ["FEATURES", "LEVEL_1", "StatePublisher", "taken"]

FEATURES = 1
"""The level the engine starts runs with."""

LEVEL_1 = frozenset(
    {
        "run-limits",
        "signals-beside-updates",
        "command-actors",
        "activity-input-parts",
        "failed-after-fan-out-drains",
        "thin-fan-out",
        "step-cache",
        "sub-pipelines-as-children",
    }
)
"""Every patch id of the interpreter and its workflows when level 1 was made."""


def taken(patch_id: str, features: int) -> bool:
    """Whether a run takes the changed code path of ``patch_id`` (see the module docstring)."""
    if features >= 1 and patch_id in LEVEL_1:
        return True
    return workflow.patched(patch_id)


class StatePublisher:
    """Writes the ``PipelineState`` search attribute: at once for runs before level 1, else the
    last state of an activation once it settles (RUNNING then FAILED in one activation is one
    upsert), and never the value it already has (a pipeline started RUNNING by the engine does
    not upsert RUNNING again)."""

    def __init__(self, features: int) -> None:
        self._coalesce = features >= 1
        self._pending: PipelineState | None = None

    def changed(self, state: PipelineState) -> None:
        """The pipeline entered ``state``."""
        if self._coalesce:
            self._pending = state
        else:
            workflow.upsert_search_attributes([SA_PIPELINE_STATE.value_set(state.value)])

    @property
    def due(self) -> Callable[[], bool]:
        """Whether a state waits to be written (a ``wait_condition`` predicate)."""
        return lambda: self._pending is not None

    def flush(self) -> None:
        """Write the waiting state, unless the attribute already holds it."""
        state, self._pending = self._pending, None
        if state is None:
            return
        if workflow.info().typed_search_attributes.get(SA_PIPELINE_STATE) == state.value:
            return
        workflow.upsert_search_attributes([SA_PIPELINE_STATE.value_set(state.value)])

    async def run(self) -> None:
        """Write each activation's last state once the activation settles (until cancelled)."""
        while True:
            await workflow.wait_condition(self.due)
            self.flush()
