"""A stored pipeline version as a config to run: validated when written, upgraded when read.

A version's document is a DSL tree (written as ``pipeline_definition``) or a whole
``PipelineConfig`` (written as ``config``). Either way the run's config is named after the
stored pipeline, except ``default`` whose runs keep the seed's name (the tenant id), so a seed
pipeline keeps the id and the name it always had.
"""

from __future__ import annotations

from typing import Any

from pipeline_engine.dsl import parse_config
from pipeline_engine.errors import InvalidConfig, Problem
from pipeline_engine.schema_versions import CURRENT_SCHEMA_VERSION, upgrade_config
from pipeline_engine.service.tenant_configs import validate_tenant_config
from pipeline_engine.steps import StepRegistry
from pipeline_engine.versions import DEFAULT_PIPELINE, DocumentField

__all__ = ["run_config", "run_name", "schema_version_of", "validate_document"]


def run_name(tenant_id: str, name: str) -> str:
    """The name runs of a stored pipeline carry (``PipelineName``)."""
    return tenant_id if name == DEFAULT_PIPELINE else name


def schema_version_of(field: DocumentField, document: Any) -> str:
    """The schema version a document is written in (a tree: the current one)."""
    if field == "config" and isinstance(document, dict):
        version = document.get("schema_version", CURRENT_SCHEMA_VERSION)
        return version if isinstance(version, str) else str(version)
    return CURRENT_SCHEMA_VERSION


def run_config(
    tenant_id: str, name: str, field: DocumentField, document: Any, schema_version: str
) -> dict[str, Any]:
    """The config document a run of this version executes (upgraded to the current schema).

    Raises:
        InvalidConfig: The document's schema version is unknown.
    """
    if field == "config":
        if not isinstance(document, dict):
            raise InvalidConfig(
                "config must be a JSON object", problems=[Problem("$.config", "expected an object")]
            )
        upgraded = upgrade_config(document, path="$.config")
        return {**upgraded, "name": run_name(tenant_id, name)}
    wrapped = {"schema_version": schema_version, "name": run_name(tenant_id, name)}
    return upgrade_config({**wrapped, "definition": document}, path="$")


def _reroot(problem: Problem, root: str) -> Problem:
    return Problem(
        root + problem.path[1:] if problem.path.startswith("$") else problem.path, problem.message
    )


def validate_document(
    tenant_id: str,
    name: str,
    field: DocumentField,
    document: Any,
    *,
    registry: StepRegistry | None,
) -> str:
    """Check a document exactly like pipeline creation; returns its schema version.

    Raises:
        InvalidConfig: every problem, with paths under ``$.pipeline_definition`` or ``$.config``.
    """
    version = schema_version_of(field, document)
    if field == "pipeline_definition":
        validate_tenant_config(run_name(tenant_id, name), document, None, registry=registry)
        return version
    if not isinstance(document, dict):
        raise InvalidConfig(
            "invalid config (1 problem)",
            problems=[Problem("$.config", "must be a PipelineConfig (a JSON object)")],
        )
    try:
        parse_config(run_config(tenant_id, name, field, document, version), registry=registry)
    except InvalidConfig as exc:
        problems = [_reroot(p, "$.config") for p in exc.problems]
        raise InvalidConfig(exc.message, problems=problems) from None
    return version
