"""Large results in REST status answers travel by reference, so a status read stays small.

A pipeline or stage result of ``limit`` JSON bytes or more is replaced in ``GET /v1/pipelines/{id}``
by ``{"$ref": "<path of its own endpoint>", "size_bytes": N}``; that path serves the whole value.

The engine ends a page of stages early once its JSON passes ``PAGE_BYTES`` (a Temporal answer
holds at most 2 MiB), so a stage with a large result after others came on no page the API
answered (issue 19: chain ``[after, big]``, ``stages`` listed only ``after``). :func:`filled_page`
reads on from where the engine stopped, each further page with its results made references first,
so the answer holds every stage asked for and stays small.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from pydantic_core import to_json

from pipeline_engine.status import PipelineStatus, StagePage, StageStatus

__all__ = [
    "REF_KEY",
    "filled_page",
    "find_stage",
    "pipeline_result_path",
    "stage_result_path",
    "with_large_results_by_ref",
]

StatusRead = Callable[[StagePage], Awaitable[PipelineStatus]]
"""Reads one page of a pipeline's status."""

REF_KEY = "$ref"


def pipeline_result_path(pipeline_id: str) -> str:
    """Where a pipeline's whole result is served."""
    return f"/v1/pipelines/{quote(pipeline_id, safe='')}/result"


def stage_result_path(pipeline_id: str, stage_id: str) -> str:
    """Where a stage's whole result is served."""
    return f"/v1/pipelines/{quote(pipeline_id, safe='')}/stages/{quote(stage_id, safe='')}/result"


def _ref(value: Any, limit: int) -> int | None:
    """The JSON size of ``value`` when it is ``limit`` bytes or more (``None``: it stays)."""
    if value is None or isinstance(value, bool | int | float):
        return None
    size = len(to_json(value))
    return size if size >= limit else None


def with_large_results_by_ref(status: PipelineStatus, *, limit: int) -> PipelineStatus:
    """``status`` with every result of ``limit`` JSON bytes or more replaced by a reference.

    Stages whose result stays are not copied (``status`` itself when nothing is replaced).
    """
    pid = status.pipeline_id
    stages = status.stages
    for i, s in enumerate(status.stages):
        shrunk = _stage_by_ref(pid, s, limit)
        if shrunk is not s:
            if stages is status.stages:
                stages = list(stages)
            stages[i] = shrunk
    result = status.result
    size = _ref(result, limit)
    if size is not None:
        result = {REF_KEY: pipeline_result_path(pid), "size_bytes": size}
    if stages is status.stages and result is status.result:
        return status
    return status.model_copy(update={"stages": stages, "result": result})


def _stage_by_ref(pipeline_id: str, stage: StageStatus, limit: int) -> StageStatus:
    size = _ref(stage.result, limit)
    if size is None:
        return stage
    ref = {REF_KEY: stage_result_path(pipeline_id, stage.stage_id), "size_bytes": size}
    return stage.model_copy(update={"result": ref})


def _rest(status: PipelineStatus, page: StagePage, have: int) -> StagePage | None:
    """The page that reads on after ``have`` stages, when the engine stopped before the end."""
    total = status.stages_total
    if total is None or have >= page.limit or page.offset + have >= total:
        return None
    return StagePage(offset=page.offset + have, limit=page.limit - have, state=page.state)


async def filled_page(read: StatusRead, page: StagePage, *, limit: int) -> PipelineStatus:
    """The status with every stage of ``page``, large results as references.

    Pages of a running pipeline are read one after another, so a later one may see a later state.
    """
    status = with_large_results_by_ref(await read(page), limit=limit)
    stages = list(status.stages)
    rest = _rest(status, page, len(stages))
    while rest is not None:
        more = await read(rest)
        if not more.stages:  # the pipeline changed between the reads (a filter matched less)
            break
        stages += [_stage_by_ref(status.pipeline_id, s, limit) for s in more.stages]
        rest = _rest(more, page, len(stages))
    if len(stages) == len(status.stages):
        return status
    return status.model_copy(update={"stages": stages})


async def find_stage(read: StatusRead, stage_id: str) -> tuple[PipelineStatus, StageStatus | None]:
    """The stage ``stage_id`` with its whole result, reading pages until it comes (``None``: no
    such stage), and the first page read."""
    first = await read(StagePage())
    status, offset = first, 0
    while True:
        for s in status.stages:
            if s.stage_id == stage_id:
                return first, s
        offset += len(status.stages)
        if not status.stages or status.stages_total is None or offset >= status.stages_total:
            return first, None
        status = await read(StagePage(offset=offset))
