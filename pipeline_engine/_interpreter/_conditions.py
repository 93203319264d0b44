"""Conditions and computed values: what a ``when``, a ``switch`` case or an ``{"$expr": …}`` sees
(``previous``, ``input``, ``settings``, and in a map's run its ``item`` and ``index``), and the
stages a false condition skips.

CEL is deterministic (:mod:`pipeline_engine.dsl._cel`), so a replayed or resumed walk evaluates
every expression to the value it had: nothing needs to be recorded for the walk to take the same
path. A skipped stage is skipped once: a resumed walk finds it SKIPPED and emits nothing again.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline_engine._interpreter._context import RunContext
from pipeline_engine._interpreter._failure import RETRY, FailurePolicy
from pipeline_engine._interpreter._tree import first_stage
from pipeline_engine.dsl import ExpressionError, Node, stages_of
from pipeline_engine.dsl._cel import MAP_VARIABLES, evaluate_bool
from pipeline_engine.dsl._expressions import resolve_expressions
from pipeline_engine.events import EventType
from pipeline_engine.states import StageState
from pipeline_engine.status import ErrorInfo

__all__ = ["Conditions", "Settled", "run_suffix"]

_SUFFIX = re.compile(r"(\[\d+\])+$")


def run_suffix(stage_id: str) -> str:
    """The ``[i]…`` a map's run appended to a stage id (``""`` outside maps)."""
    found = _SUFFIX.search(stage_id)
    return found.group(0) if found else ""


class Conditions:
    """Evaluates a run's expressions (see the module docstring)."""

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx

    def variables(self, node: Node, previous: Any) -> dict[str, Any]:
        """What an expression written on ``node`` sees when ``node`` receives ``previous``."""
        item, index = self._ctx.scopes.get(run_suffix(first_stage(node)), (None, None))
        ctx = self._ctx
        return {
            "previous": previous,
            "input": ctx.input,
            "settings": ctx.settings,
            "item": item,
            "index": index,
        }

    async def holds(self, node: Node, source: str, previous: Any, policy: FailurePolicy) -> Any:
        """Whether the condition ``source`` of ``node`` holds; a failed evaluation fails the
        node's first stage (``ExpressionError``; a ``retry_stage`` evaluates it again).

        Returns True, False, or what the failure policy made of the failure (a value)."""
        while True:
            try:
                return evaluate_bool(source, self.variables(node, previous), allowed=MAP_VARIABLES)
            except ExpressionError as exc:
                verdict = await self.failed(first_stage(node), exc, previous, policy)
                if verdict is not RETRY:
                    return Settled(verdict)

    async def compute(self, node: Node, value: Any, previous: Any, policy: FailurePolicy) -> Any:
        """``value`` with its ``{"$expr": …}`` computed (a failure fails the stage, as above);
        a :class:`Settled` when the failure policy settled it."""
        while True:
            try:
                return resolve_expressions(
                    value, self.variables(node, previous), allowed=MAP_VARIABLES
                )
            except ExpressionError as exc:
                verdict = await self.failed(first_stage(node), exc, previous, policy)
                if verdict is not RETRY:
                    return Settled(verdict)

    async def failed(
        self, stage_id: str, exc: ExpressionError, previous: Any, policy: FailurePolicy
    ) -> Any:
        """The stage fails with ``ExpressionError``: what the failure policy makes of it."""
        rec = self._ctx.records.stages[stage_id]
        if rec.state is not StageState.RUNNING:
            rec.attempts += 1
        error = ErrorInfo(type="ExpressionError", message=str(exc), stage_id=stage_id)
        return await policy.after_failure(rec, "fail", error, previous)

    def skip(self, node: Node, reason: str, expression: str | None) -> None:
        """Every stage under ``node`` is SKIPPED (once), with an event each."""
        records = self._ctx.records
        for stage in stages_of(node)[0]:
            rec = records.stages.get(stage.stage_id)
            if rec is None or rec.state is not StageState.PENDING:
                continue
            rec.state = StageState.SKIPPED
            rec.finished_at = self._ctx.runtime.now()
            records.emit(
                EventType.STAGE_SKIPPED,
                stage_id=rec.stage_id,
                step=rec.step,
                reason=reason,
                expression=expression,
            )


class Settled:
    """What the failure policy made of a failed evaluation: the node's value."""

    def __init__(self, value: Any) -> None:
        self.value = value
