"""The reads of a run: its status (with a page of its stages) and its event history."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import datetime

from pipeline_engine._interpreter._blocks import page_of
from pipeline_engine._interpreter._handoff import (
    HistoryParts,
    HistoryPartsQuery,
    PartsQuery,
    StatusParts,
)
from pipeline_engine._interpreter._records import Records
from pipeline_engine.events import Event
from pipeline_engine.states import PipelineState
from pipeline_engine.status import (
    ErrorInfo,
    PendingInput,
    PipelineStatus,
    StagePage,
    StageStatus,
    page_stages,
)
from pipeline_engine.versions import PipelineVersionRef

__all__ = ["Reads"]


class Reads:
    """Answers about a run's :class:`Records` (a part of :class:`PipelineRun`)."""

    _records: Records

    @property
    def state(self) -> PipelineState:
        """Current pipeline state."""
        return self._records.state

    @property
    def pipeline_ref(self) -> PipelineVersionRef | None:
        """The stored pipeline version the run came from (``None``: a raw config)."""
        return self._records.identity.ref

    def status(
        self, page: StagePage | None = None, *, whole_result: bool = False
    ) -> PipelineStatus:
        """The whole picture: state, a page of the stages (all without ``page``), pending inputs,
        result (left out when large, unless ``whole_result``), error.

        With sharded fan-outs kept thin, the stages the shards hold are left out of the page
        (:meth:`status_parts` names them)."""
        if self._records.blocks:
            return self.status_parts(page_of(page), whole_result=whole_result).status
        return self._status(page, whole_result=whole_result)

    def status_parts(self, query: PartsQuery, *, whole_result: bool = False) -> StatusParts:
        """:meth:`status` for the page ``query`` (less its ``exclude``d stages), with the slices
        of it that shards hold (read them with ``resolve_status``)."""
        r = self._records
        if not r.blocks:
            exclude = set(query.exclude)
            own = (s for s in r.stages.values() if s.stage_id not in exclude)
            page = StagePage(offset=query.offset, limit=query.limit, state=query.state)
            return StatusParts(status=self._status(page, whole_result=whole_result, own=own))
        parts = r.blocks.page(r.stages.values(), query)
        status = self._status(None, whole_result=whole_result, paged=parts[:3])
        return StatusParts(
            status=status.model_copy(update={"stages_offset": query.offset}), slices=parts[3]
        )

    def _status(
        self,
        page: StagePage | None,
        *,
        whole_result: bool,
        own: Iterable[StageStatus] | None = None,
        paged: tuple[list[StageStatus], dict[str, int], int] | None = None,
    ) -> PipelineStatus:
        r = self._records
        limit = r.identity.inline_bytes
        omit = not whole_result and limit is not None and r.result_bytes > limit
        deadlines = [p.deadline for p in r.parked.values() if p.deadline is not None]
        if paged is None:
            stages, counts, total = page_stages(r.stages.values() if own is None else own, page)
            stages = [s.model_copy() for s in stages]
        else:
            stages, counts, total = paged
        return PipelineStatus(
            pipeline_id=r.identity.pipeline_id,
            name=r.identity.name,
            tenant_id=r.identity.tenant_id,
            state=r.state,
            stages=stages,
            stage_counts=counts,
            stages_total=total,
            stages_offset=page.offset if page else 0,
            waiting_inputs=[
                PendingInput(
                    stage_id=w.plan.stage_id,
                    prompt=w.plan.prompt,
                    schema=w.plan.schema,
                    deadline=w.deadline,
                )
                for w in r.waiting.values()
                if not w.received
            ],
            result=None if omit else r.result,
            result_omitted=omit,
            error=r.error or self._held_error(),
            created_at=r.created_at,
            started_at=r.started_at,
            finished_at=r.finished_at,
            retryable_until=min(deadlines) if deadlines else None,
            cancelled_by=r.cancelled_by,
            trace_id=r.identity.trace_id,
            pipeline_ref=r.identity.ref,
        )

    def _held_error(self) -> ErrorInfo | None:
        """While held in FAILED: the error of the first stage waiting for a retry."""
        r = self._records
        held = next(iter(r.parked), None)
        return r.stages[held].error if held is not None else None

    def history(
        self,
        *,
        since: datetime | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Events in order; ``since``: at or after a time; ``after_id``: after an event id;
        ``limit``: at most this many (page on with the last id as ``after_id``)."""
        if self._records.spans:
            query = HistoryPartsQuery(since=since, after_id=after_id, limit=limit)
            return self.history_parts(query).events
        events = self._records.events
        if after_id is not None:
            events = events[bisect.bisect_right(events, after_id, key=lambda e: e.id) :]
        if since is not None:
            events = [e for e in events if e.timestamp >= since]
        return list(events if limit is None else events[:limit])

    def history_parts(self, query: HistoryPartsQuery) -> HistoryParts:
        """:meth:`history`'s page, with the spans of it that shards keep (read them with
        ``resolve_history``): ``limit`` counts ids, a span's events after ``since`` are
        filtered by its reader."""
        r = self._records
        after = query.after_id or 0
        events = r.events[bisect.bisect_right(r.events, after, key=lambda e: e.id) :]
        spans = r.spans[max(bisect.bisect_right(r.spans, after, key=lambda s: s.first_id) - 1, 0) :]
        since, left = query.since, query.limit
        out = HistoryParts()
        ei = si = 0
        while left is None or left > 0:
            event = events[ei] if ei < len(events) else None
            span = spans[si] if si < len(spans) else None
            if span is not None and span.first_id + span.count <= after + 1:
                si += 1
                continue
            if event is None and span is None:
                break
            if span is None or (event is not None and event.id < span.first_id):
                assert event is not None
                ei += 1
                if since is None or event.timestamp >= since:
                    out.events.append(event)
                    left = None if left is None else left - 1
                continue
            si += 1
            if since is not None and span.last_at < since:
                continue
            skip = max(after + 1 - span.first_id, 0)
            take = span.count - skip if left is None else min(span.count - skip, left)
            out.spans.append(
                span.model_copy(
                    update={
                        "first_id": span.first_id + skip,
                        "source_first": span.source_first + skip,
                        "count": take,
                    }
                )
            )
            left = None if left is None else left - take
        return out

    def final_status(self, *, max_bytes: int) -> PipelineStatus:
        """The status to leave as the workflow's result: whole when its JSON fits ``max_bytes``,
        else without the stages (readers then page them with the ``status`` query)."""
        whole = self.status(whole_result=True)
        if not self._records.blocks and len(whole.model_dump_json()) <= max_bytes:
            return whole
        return self.status(StagePage(limit=0), whole_result=True)
