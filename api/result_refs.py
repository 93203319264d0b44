"""Large results in REST status answers travel by reference, so a status read stays small.

A pipeline or stage result of ``limit`` JSON bytes or more is replaced in ``GET /v1/pipelines/{id}``
by ``{"$ref": "<path of its own endpoint>", "size_bytes": N}``; that path serves the whole value.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic_core import to_json

from pipeline_engine.status import PipelineStatus

__all__ = ["REF_KEY", "pipeline_result_path", "stage_result_path", "with_large_results_by_ref"]

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
        size = _ref(s.result, limit)
        if size is not None:
            if stages is status.stages:
                stages = list(stages)
            ref = {REF_KEY: stage_result_path(pid, s.stage_id), "size_bytes": size}
            stages[i] = s.model_copy(update={"result": ref})
    result = status.result
    size = _ref(result, limit)
    if size is not None:
        result = {REF_KEY: pipeline_result_path(pid), "size_bytes": size}
    if stages is status.stages and result is status.result:
        return status
    return status.model_copy(update={"stages": stages, "result": result})
