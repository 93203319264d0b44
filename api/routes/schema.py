"""``/v1/schema/pipeline-config``: the DSL's JSON Schema, of each schema version the engine reads.

Public by decision (no token): it describes the wire format, which the docs publish anyway, and
holds no tenant data; editors and CI validate configs against it without credentials.
"""

from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Query

from pipeline_engine.schema_versions import CURRENT_SCHEMA_VERSION, schema_for

router = APIRouter(prefix="/schema", tags=["schema"])


@cache
def _schema(version: str) -> dict[str, Any]:
    return schema_for(version)


@router.get("/pipeline-config", operation_id="get_pipeline_config_schema")
async def get_pipeline_config_schema(
    version: Annotated[
        str,
        Query(
            max_length=16,
            description="The schema_version (default: the current one); older documents are "
            "upgraded when read.",
        ),
    ] = CURRENT_SCHEMA_VERSION,
) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a pipeline config document; needs no token.

    An unknown ``version`` is a 422 listing the known ones.
    """
    return _schema(version)
