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


def _maybe_ref(value: Any, path: str, limit: int) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    size = len(to_json(value))
    return value if size < limit else {REF_KEY: path, "size_bytes": size}


def with_large_results_by_ref(status: PipelineStatus, *, limit: int) -> PipelineStatus:
    """``status`` with every result of ``limit`` JSON bytes or more replaced by a reference."""
    pid = status.pipeline_id
    stages = [
        s.model_copy(
            update={"result": _maybe_ref(s.result, stage_result_path(pid, s.stage_id), limit)}
        )
        for s in status.stages
    ]
    result = _maybe_ref(status.result, pipeline_result_path(pid), limit)
    return status.model_copy(update={"stages": stages, "result": result})
