"""JSON Schemas of ``input`` elements, with their regular expressions matched in linear time.

Python's ``re`` backtracks: ``"pattern": "^(a+)+$"`` against 30 characters takes seconds, and it
ran inside the workflow's update validator, on the shared workers. Here every regular expression
of an input schema (``pattern``, the keys of ``patternProperties``) is matched by RE2 (the
``google-re2`` binding), whose matching time is linear in the input, and a config is refused when
one of its patterns is longer than :data:`MAX_PATTERN_LENGTH` or is not RE2 syntax (no
backreferences or lookaround).

``unevaluatedProperties`` matches ``patternProperties`` through jsonschema's own ``re`` deep in
its evaluation, so a schema may not use both.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import re2
from jsonschema import exceptions, validators
from jsonschema.protocols import Validator

from pipeline_engine.errors import Problem

__all__ = ["MAX_PATTERN_LENGTH", "check_input_schema", "input_validator", "payload_problems"]

MAX_PATTERN_LENGTH = 1000
"""Longest regular expression an input schema may hold (characters)."""

_NOT_SCHEMAS = frozenset({"const", "enum", "default", "examples"})
"""Keywords whose values are data, not schemas: a ``pattern`` key inside them is no regex."""


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern)


def _search(pattern: str, text: str) -> bool:
    return _compiled(pattern).search(text) is not None


def _pattern(
    validator: Validator, patrn: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[exceptions.ValidationError]:
    if validator.is_type(instance, "string") and not _search(patrn, instance):
        yield exceptions.ValidationError(f"{instance!r} does not match {patrn!r}")


def _pattern_properties(
    validator: Validator, patterns: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
) -> Iterator[exceptions.ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in patterns.items():
        for key, value in instance.items():
            if _search(patrn, key):
                yield from validator.descend(value, subschema, path=key, schema_path=patrn)


def _additional_properties(
    validator: Validator, allowed: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[exceptions.ValidationError]:
    patterns: Mapping[str, Any] = schema.get("patternProperties", {})
    if not patterns:  # jsonschema's own rule uses no regex then
        yield from _ORIGINAL_ADDITIONAL(validator, allowed, instance, schema)
        return
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    extras = sorted(
        (
            key
            for key in instance
            if key not in properties and not any(_search(p, key) for p in patterns)
        ),
        key=str,
    )
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        verb = "does" if len(extras) == 1 else "do"
        joined = ", ".join(repr(each) for each in extras)
        regexes = ", ".join(repr(each) for each in sorted(patterns))
        yield exceptions.ValidationError(f"{joined} {verb} not match any of the regexes: {regexes}")


_ORIGINAL_ADDITIONAL = validators.Draft202012Validator.VALIDATORS["additionalProperties"]

_LINEAR = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
}


@functools.lru_cache(maxsize=16)
def _linear_class(base: type[Validator]) -> type[Validator]:
    return validators.extend(base, _LINEAR)  # type: ignore[no-any-return]


def input_validator(schema: Mapping[str, Any]) -> Validator:
    """A jsonschema validator of ``schema`` (its draft) whose regexes RE2 matches.

    The schema must have passed :func:`check_input_schema` (every config does).
    """
    base = validators.validator_for(schema)
    return _linear_class(base)(schema)


def payload_problems(schema: Mapping[str, Any], payload: Any) -> list[Problem]:
    """Why ``payload`` does not satisfy ``schema``: one problem per error, at ``$.payload…``."""
    errors = sorted(
        input_validator(schema).iter_errors(payload), key=lambda e: list(e.absolute_path)
    )
    return [Problem(_json_path(e.absolute_path), e.message) for e in errors]


def _json_path(path: Any) -> str:
    out = "$.payload"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _walk(node: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """``(json path, keyword, value)`` of every keyword of the schema ``node`` and its parts."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, f"{path}[{i}]")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        here = f"{path}.{key}"
        yield here, key, value
        if key in _NOT_SCHEMAS:
            continue
        yield from _walk(value, here)


def _pattern_problem(patrn: str) -> str | None:
    if len(patrn) > MAX_PATTERN_LENGTH:
        return f"a pattern may be at most {MAX_PATTERN_LENGTH} characters long ({len(patrn)})"
    try:
        _compiled(patrn)
    except re2.error as exc:
        return (
            f"pattern {patrn[:80]!r} is not supported: {exc} (patterns are matched by RE2: "
            "no backreferences or lookaround)"
        )
    return None


def check_input_schema(schema: Mapping[str, Any]) -> None:
    """Refuse a schema that is not a JSON Schema or whose regexes are not bounded.

    Raises:
        ValueError: The first problem, naming its JSON path inside the schema (``$`` is the
            schema itself).
    """
    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as exc:
        raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
    uses_patterns = uses_unevaluated = False
    for path, key, value in _walk(schema, "$"):
        patterns: list[str] = []
        if key == "pattern" and isinstance(value, str):
            patterns = [value]
        elif key == "patternProperties" and isinstance(value, dict):
            patterns = list(value)
            uses_patterns = uses_patterns or bool(value)
        uses_unevaluated = uses_unevaluated or key == "unevaluatedProperties"
        for patrn in patterns:
            problem = _pattern_problem(patrn)
            if problem is not None:
                raise ValueError(f"{path}: {problem}")
    if uses_patterns and uses_unevaluated:
        raise ValueError(
            "an input schema may not use both patternProperties and unevaluatedProperties"
        )
