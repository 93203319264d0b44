"""Example documents shipped with the package (the seed's tenant config)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["seed_pipeline_config", "seed_tenant_config"]


def seed_tenant_config() -> dict[str, Any]:
    """The seed's tenant config for ``cultivos-abc``: ``tenant_id``, definition, settings."""
    text = resources.files(__package__).joinpath("cultivos-abc.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def seed_pipeline_config() -> dict[str, Any]:
    """The seed's definition wrapped as a ``PipelineConfig`` document."""
    tenant = seed_tenant_config()
    return {
        "schema_version": "1",
        "name": "cultivos-abc",
        "definition": tenant["pipeline_definition"],
    }
