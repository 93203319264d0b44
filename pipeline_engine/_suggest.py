"""``did you mean`` for a name that is not known: the closest known one (:mod:`difflib`)."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Sequence
from typing import Any, get_args

from pydantic import BaseModel

__all__ = ["closest", "did_you_mean", "fields_at", "no_stage", "unknown_field_hint"]

_MAX_STAGES_COMPARED = 5_000
"""Past this many stages (wide fan-outs: run copies such as ``detection[17]``) no suggestion is
looked for: comparing is linear, and it may run inside a workflow task."""


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The known name closest to ``word``, when one is close enough (else ``None``)."""
    found = difflib.get_close_matches(word, [c for c in choices if c != word], n=1, cutoff=0.75)
    return found[0] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or ``""``."""
    found = closest(word, choices)
    return f" (did you mean {found!r}?)" if found is not None else ""


def no_stage(stage_id: str, stages: Collection[str], *, pipeline_id: str | None = None) -> str:
    """``pipeline has no stage 'x' (did you mean 'y'?)``."""
    whose = f"pipeline {pipeline_id!r}" if pipeline_id else "pipeline"
    hint = did_you_mean(stage_id, stages) if len(stages) <= _MAX_STAGES_COMPARED else ""
    return f"{whose} has no stage {stage_id!r}{hint}"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through lists, dicts, unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        out += _models_in(arg)
    return out


def _tag_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    default = field.default if field is not None else None
    return default if isinstance(default, str) else None


def fields_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The field names allowed at ``loc`` (a pydantic error location without its last part),
    walking from ``model`` through nested models, lists and discriminated unions."""
    candidates = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        tagged = [m for m in candidates if part in (m.__name__, _tag_of(m))]
        if tagged and not any(part in m.model_fields for m in candidates):
            candidates = tagged
            continue
        found: list[type[BaseModel]] = []
        for m in candidates:
            if part in m.model_fields:
                found += _models_in(m.model_fields[part].annotation)
        if not found:
            return []
        candidates = found
    names: list[str] = []
    for m in candidates:
        for name, info in m.model_fields.items():
            names.append(info.alias or name)
    return names


def unknown_field_hint(model: type[BaseModel] | None, loc: Sequence[int | str]) -> str:
    """`` (did you mean 'name'?)`` for an unknown field at ``loc`` of ``model``, or ``""``."""
    if model is None or not loc or not isinstance(loc[-1], str):
        return ""
    try:
        return did_you_mean(loc[-1], fields_at(model, loc[:-1]))
    except Exception:  # a hint must never turn a 422 into a 500
        return ""
