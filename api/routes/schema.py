"""``/v1/schema/pipeline-config``: the DSL's JSON Schema.

Public by decision (no token): it describes the wire format, which the docs publish anyway, and
holds no tenant data; editors and CI validate configs against it without credentials.
"""

from functools import cache
from typing import Any

from fastapi import APIRouter

from pipeline_engine.dsl import pipeline_config_schema

router = APIRouter(prefix="/schema", tags=["schema"])


@cache
def _schema() -> dict[str, Any]:
    return pipeline_config_schema()


@router.get("/pipeline-config", operation_id="get_pipeline_config_schema")
async def get_pipeline_config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a pipeline config document; needs no token."""
    return _schema()
