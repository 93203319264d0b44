"""Sub-pipelines found in a folder, for the commands that need no server (``validate``,
``graph``): ``<name>.json`` is the pipeline ``name`` (its latest), ``<name>@<N>.json`` its
version ``N``; each a whole config or a DSL tree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline_engine.dsl import PipelineResolver, parse_config
from pipeline_engine.dsl._references import ResolvedPipeline, reference_label
from pipeline_engine.errors import InvalidConfig

__all__ = ["folder_resolver"]


def _config(name: str, document: Any) -> Any:
    if isinstance(document, dict) and ("definition" in document or "stages" in document):
        return {**document, "name": name}
    return {"name": name, "definition": document}


def folder_resolver(folder: Path) -> PipelineResolver:
    """Resolves references to the files of ``folder`` (see the module docstring)."""

    def resolve(name: str, version: int | None) -> ResolvedPipeline | str:
        path = folder / f"{reference_label(name, version)}.json"
        if not path.is_file():
            if version is not None and (folder / f"{name}.json").is_file():
                return f"pipeline {name!r} has no version {version} (no {path})"
            return f"unknown pipeline {name!r} (no {path})"
        try:
            plan = parse_config(_config(name, json.loads(path.read_text())))
        except (ValueError, InvalidConfig) as exc:
            return f"pipeline {name!r} ({path}) is not valid: {exc}"
        return ResolvedPipeline(name, version or 1, path.name, plan)

    return resolve
