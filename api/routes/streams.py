"""``/v1/pipelines/{id}/events`` and ``/metrics``: Server-Sent Events streams of a pipeline."""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from api.deps import ContextDep, EngineDep, SettingsDep, ViewablePipeline, stream_slot
from api.errors import ERROR_RESPONSES, translate_exception
from pipeline_engine.errors import InvalidInput, Problem, StageNotFound
from pipeline_engine.events import Event
from pipeline_engine.service import (
    PipelineChange,
    PipelineEngine,
    elapsed_point,
    follow_events,
    metric_points,
)
from pipeline_engine.status import PipelineStatus

router = APIRouter(prefix="/pipelines", tags=["streams"], responses=ERROR_RESPONSES)
log = logging.getLogger("api.streams")

_SSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "Server-Sent Events", "content": {"text/event-stream": {}}}
}
_METRIC_TICK_S = 1.0


def _event_message(event: Event) -> ServerSentEvent:
    return ServerSentEvent(data=event.model_dump_json(), event=event.type, id=str(event.id))


def _error_message(exc: BaseException) -> ServerSentEvent:
    mapped = translate_exception(exc)
    if mapped is None:
        log.exception("stream failed", exc_info=exc)
        body: dict[str, Any] = {"error": "internal", "message": "stream failed", "details": []}
    else:
        body = mapped.to_dict()
    return ServerSentEvent(data=json.dumps(body), event="error")


def _resume_id(after_id: int | None, last_event_id: str | None) -> int | None:
    if after_id is not None:
        return after_id
    if last_event_id is None or not last_event_id.strip():
        return None
    try:
        value = int(last_event_id.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise InvalidInput(
            "Last-Event-ID must be an event id",
            problems=[Problem("header.Last-Event-ID", "expected a non-negative integer")],
        )
    return value


async def _events(
    engine: PipelineEngine, pipeline_id: str, backlog: list[Event], after_id: int | None
) -> AsyncIterator[ServerSentEvent]:
    last = after_id
    try:
        for event in backlog:
            last = event.id
            yield _event_message(event)
            if event.is_terminal:
                return
        async for event in follow_events(engine, pipeline_id, after_id=last):
            yield _event_message(event)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        yield _error_message(exc)


@router.get(
    "/{pipeline_id}/events",
    operation_id="stream_events",
    response_class=EventSourceResponse,
    responses=_SSE,
)
async def stream_events(
    pipeline_id: ViewablePipeline,
    engine: EngineDep,
    settings: SettingsDep,
    ctx: ContextDep,
    request: Request,
    after_id: Annotated[int | None, Query(ge=0, description="Resume after this event id.")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)] = None,
) -> EventSourceResponse:
    """Stream the pipeline's events: what already happened, then live; ends after the last one.

    Each message has ``id`` (the event id), ``event`` (its type) and ``data`` (the Event JSON).
    """
    resume = _resume_id(after_id, last_event_id)
    backlog = await engine.get_history(pipeline_id, after_id=resume)
    # the last refusal: 429 when the token or the tenant holds its streams
    slot = await stream_slot(request, ctx, ctx.owners.get(pipeline_id))
    return EventSourceResponse(
        slot.guard(_events(engine, pipeline_id, backlog, resume)),
        ping=settings.sse_ping_s,
        background=BackgroundTask(slot.background),
    )


def _metric_message(points: list[Any]) -> list[ServerSentEvent]:
    return [ServerSentEvent(data=p.model_dump_json(), event="metric") for p in points]


async def _metrics(
    engine: PipelineEngine, pipeline_id: str, stage_id: str | None
) -> AsyncIterator[ServerSentEvent]:
    changes = engine.watch_changes(pipeline_id)
    status: PipelineStatus | None = None
    pending: asyncio.Future[PipelineChange] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(changes))
            done, _ = await asyncio.wait({pending}, timeout=_METRIC_TICK_S)
            if not done:
                if status is not None and stage_id is None:
                    for msg in _metric_message([elapsed_point(status, datetime.now(UTC))]):
                        yield msg
                continue
            try:
                change = pending.result()
            except StopAsyncIteration:
                change = PipelineChange(closed=True)
            pending = None
            status = await engine.get_pipeline(pipeline_id)
            points = metric_points(status, queue_times=dict(change.queue_times), stage_id=stage_id)
            for msg in _metric_message(points):
                yield msg
            if change.closed or status.state.is_terminal:
                return
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        yield _error_message(exc)
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        closer = getattr(changes, "aclose", None)
        if closer is not None:
            await closer()


@router.get(
    "/{pipeline_id}/metrics",
    operation_id="stream_metrics",
    response_class=EventSourceResponse,
    responses=_SSE,
)
async def stream_metrics(
    pipeline_id: ViewablePipeline,
    engine: EngineDep,
    settings: SettingsDep,
    ctx: ContextDep,
    request: Request,
    stage_id: Annotated[str | None, Query(max_length=255)] = None,
) -> EventSourceResponse:
    """Stream MetricPoints (``event: metric``) while the pipeline runs; ends when it ends.

    Per stage: ``duration_s``, ``attempts``, ``queue_time_s``; per pipeline: ``progress``,
    ``elapsed_s``. With ``stage_id`` only that stage's points are sent.
    """
    status = await engine.get_pipeline(pipeline_id)
    if stage_id is not None and all(s.stage_id != stage_id for s in status.stages):
        raise StageNotFound(f"pipeline {pipeline_id!r} has no stage {stage_id!r}")
    slot = await stream_slot(request, ctx, ctx.owners.get(pipeline_id))
    return EventSourceResponse(
        slot.guard(_metrics(engine, pipeline_id, stage_id)),
        ping=settings.sse_ping_s,
        background=BackgroundTask(slot.background),
    )


__all__ = ["router"]
