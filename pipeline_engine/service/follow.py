"""Follow a pipeline's events as they happen, over any :class:`PipelineEngine`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pipeline_engine.events import Event
from pipeline_engine.service.engine import PipelineEngine

__all__ = ["follow_events"]


async def follow_events(
    engine: PipelineEngine, pipeline_id: str, *, after_id: int | None = None
) -> AsyncIterator[Event]:
    """Every event of the pipeline after ``after_id``: what already happened, then new ones live.

    Reads the events after the last one seen each time the engine reports a change. Ends after a
    terminal event (``pipeline.succeeded``/``cancelled``/``failed``), or when the run closed and
    its last events were delivered.
    """
    last = after_id
    changes = engine.watch_changes(pipeline_id)
    try:
        async for change in changes:
            for event in await engine.get_history(pipeline_id, after_id=last):
                last = event.id
                yield event
                if event.is_terminal:
                    return
            if change.closed:
                return
    finally:
        closer = getattr(changes, "aclose", None)
        if closer is not None:
            await closer()
