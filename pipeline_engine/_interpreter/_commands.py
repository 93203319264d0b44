"""The commands a run takes from outside: start, input, retry, cancel (and the record of one
refused). Each ``validate_*`` raises before anything is written; the command then applies."""

from __future__ import annotations

from typing import Any

from pipeline_engine._interpreter._records import Records, Waiting, fingerprint
from pipeline_engine._interpreter._runtime import Runtime
from pipeline_engine._suggest import no_stage
from pipeline_engine.errors import InvalidInput, InvalidState, PipelineError, Problem, StageNotFound
from pipeline_engine.events import EventType
from pipeline_engine.input_schema import payload_problems
from pipeline_engine.states import PipelineState, StageState

__all__ = ["Commands"]


class Commands:
    """Applies commands to a run's :class:`Records` (a part of :class:`PipelineRun`, which
    provides the records, the runtime and the way to stop its walk)."""

    _records: Records
    _rt: Runtime

    def _cancel_root(self) -> None:
        """Stop the walk (it ends as cancelled)."""
        raise NotImplementedError

    def start(self, *, actor: str | None = None) -> PipelineState:
        """Start a PENDING pipeline; a repeat returns the current state."""
        r = self._records
        if not r.started and r.cancel_reason is None and r.final is None:
            r.started = True
            r.started_at = self._rt.now()
            r.set_state(PipelineState.RUNNING)
            r.emit(EventType.PIPELINE_STARTED, state=r.state.value, actor=actor)
            self._rt.notify()
        return r.state

    def _input_target(self, stage_id: str | None) -> Waiting | None:
        open_ = {k: w for k, w in self._records.waiting.items() if not w.received}
        if stage_id is not None:
            if stage_id not in self._records.stages:
                raise StageNotFound(no_stage(stage_id, self._records.stages))
            return open_.get(stage_id)
        if len(open_) > 1:
            raise InvalidInput(
                "several inputs are waiting; name one with stage_id",
                problems=[Problem("$.stage_id", "one of: " + ", ".join(open_))],
            )
        return next(iter(open_.values()), None)

    def validate_submit_input(
        self, payload: Any, responder: str | None, stage_id: str | None
    ) -> None:
        """Raise if ``submit_input`` would not apply (nothing is written when it raises)."""
        target = self._input_target(stage_id)
        if target is None:
            done = self._records.inputs_done
            if fingerprint(stage_id, payload, responder) in done.values() or (
                stage_id is None and fingerprint(None, payload, responder) in done
            ):
                return  # a repeat of an input already applied
            raise InvalidState(
                f"pipeline is {self._records.state.value}; no input is waiting"
                + (f" at stage {stage_id!r}" if stage_id else "")
            )
        problems = payload_problems(target.plan.schema, payload)  # RE2: linear-time regexes
        if problems:
            raise InvalidInput(
                f"payload does not match the schema of input {target.plan.stage_id!r}",
                problems=problems,
            )

    def submit_input(
        self,
        payload: Any,
        responder: str | None,
        stage_id: str | None = None,
        *,
        actor: str | None = None,
    ) -> PipelineState:
        """Deliver a human's payload to the waiting input element.

        The responder recorded is ``actor`` (who sent it) when known; ``responder`` then only
        adds a display name.
        """
        self.validate_submit_input(payload, responder, stage_id)
        target = self._input_target(stage_id)
        r = self._records
        if target is None:
            return r.state
        sid = target.plan.stage_id
        target.received = True
        target.payload = payload
        rec = r.stages[sid]
        rec.state = StageState.SUCCEEDED
        r.keep_result(rec, payload)
        rec.error = None
        rec.attempts += 1
        rec.finished_at = self._rt.now()
        rec.actor = actor or responder
        r.inputs_done[fingerprint(None, payload, responder)] = fingerprint(sid, payload, responder)
        r.emit(
            EventType.PIPELINE_INPUT_RECEIVED,
            stage_id=sid,
            responder=rec.actor,
            display_name=responder if actor and responder != actor else None,
        )
        r.emit(EventType.STAGE_SUCCEEDED, stage_id=sid, step="input", attempt=rec.attempts)
        del r.waiting[sid]
        r.refresh_state()
        self._rt.notify()
        return r.state

    def validate_retry_stage(self, stage_id: str, reason: str) -> None:
        """Raise if ``retry_stage`` would not apply (nothing is written when it raises)."""
        r = self._records
        if stage_id not in r.stages:
            raise StageNotFound(no_stage(stage_id, r.stages))
        if stage_id in r.parked or stage_id in r.retried or stage_id in r.held:
            return
        rec = r.stages[stage_id]
        if r.final is not None:
            raise InvalidState(f"pipeline is {r.final.value}; it can no longer be retried")
        raise InvalidState(
            f"stage {stage_id!r} is {rec.state.value}; only a stage that failed for good "
            "(pipeline FAILED) can be retried"
        )

    def retry_stage(self, stage_id: str, reason: str, *, actor: str | None = None) -> PipelineState:
        """Re-run a stage that failed for good; what already succeeded never runs again."""
        self.validate_retry_stage(stage_id, reason)
        r = self._records
        parked = r.parked.pop(stage_id, None)
        if parked is None and r.held.pop(stage_id, None) is None:
            return r.state  # repeat of a retry already applied
        if parked is not None:
            parked.retry_requested = True
        r.retried.add(stage_id)
        rec = r.stages[stage_id]
        rec.state = StageState.PENDING
        rec.actor = actor
        r.emit(
            EventType.STAGE_RETRY_REQUESTED,
            stage_id=stage_id,
            step=rec.step,
            attempt=rec.attempts,
            reason=reason,
            actor=actor,
        )
        r.refresh_state()
        self._rt.notify()
        return r.state

    def _failed_stages(self) -> list[str]:
        r = self._records
        return [*r.parked, *(sid for sid in r.held if sid not in r.parked)]

    def validate_retry_failed(self, reason: str) -> None:
        """Raise if ``retry_failed`` would not apply (nothing is written when it raises)."""
        r = self._records
        if self._failed_stages():
            return
        if r.final is not None:
            raise InvalidState(f"pipeline is {r.final.value}; it can no longer be retried")
        raise InvalidState(
            f"pipeline is {r.state.value}; no stage is held in FAILED, nothing to retry"
        )

    def retry_failed(self, reason: str, *, actor: str | None = None) -> PipelineState:
        """Re-run every stage that failed for good, at once (each as ``retry_stage`` would)."""
        self.validate_retry_failed(reason)
        for stage_id in self._failed_stages():
            self.retry_stage(stage_id, reason, actor=actor)
        return self._records.state

    def request_cancel(self, reason: str, *, actor: str | None = None) -> PipelineState:
        """Ask the pipeline to stop: in-flight stages are cancelled and ``on_cancel`` runs."""
        r = self._records
        if r.final is not None or r.cancel_reason is not None:
            return r.state
        r.cancel_reason = reason or "cancelled"
        r.cancelled_by = actor
        r.emit(EventType.PIPELINE_CANCEL_REQUESTED, reason=r.cancel_reason, actor=actor)
        self._cancel_root()
        self._rt.notify()
        return r.state

    async def cancel(self, reason: str, *, actor: str | None = None) -> PipelineState:
        """Cancel and wait until the pipeline has ended."""
        self.request_cancel(reason, actor=actor)
        await self._rt.wait_condition(lambda: self._records.final is not None, timeout=None)
        return self._records.state

    def record_rejection(self, command: str, error: PipelineError) -> None:
        """Log a command that was refused (a signal cannot answer its sender); nothing changes."""
        self._records.emit(
            EventType.SIGNAL_REJECTED, signal=command, error=error.code, reason=error.message
        )
