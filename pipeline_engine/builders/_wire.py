"""A built config or element as its JSON document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

__all__ = ["to_wire"]


def to_wire(model: BaseModel) -> dict[str, Any]:
    """The JSON document of a config or element: the fields that were set, by wire name.

    ``type`` tags (and a config's ``schema_version``) are always written, so a model built by hand
    without them still reads back the same.

    Args:
        model: A :class:`~pipeline_engine.dsl.PipelineConfig` or any DSL element.

    Returns:
        A JSON-ready dict, equal to the document one would have written by hand.
    """
    data: dict[str, Any] = _dump(model)
    return data


_ALWAYS = ("type", "schema_version")


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        wanted = value.model_fields_set | {n for n in _ALWAYS if n in fields}
        out: dict[str, Any] = {}
        for name in (*(n for n in _ALWAYS if n in fields), *fields):
            if name in wanted and (fields[name].alias or name) not in out:
                out[fields[name].alias or name] = _dump(getattr(value, name))
        return out
    if isinstance(value, Mapping):
        return {str(k): _dump(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    return to_jsonable_python(value)
