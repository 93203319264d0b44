"""Input schemas: regexes bounded at config time and matched in linear time (RE2)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pipeline_engine.dsl import parse_config
from pipeline_engine.errors import InvalidConfig
from pipeline_engine.input_schema import MAX_PATTERN_LENGTH, check_input_schema, input_validator

EVIL = "^(a+)+$"
"""Exponential under a backtracking engine: 30 characters took Python's re seconds."""


def _config(schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": "p", "definition": {"type": "input", "schema": schema}}


def _problem(schema: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(InvalidConfig) as err:
        parse_config(_config(schema))
    [problem] = err.value.problems
    return problem.path, problem.message


def test_a_backreference_is_refused_naming_the_pattern() -> None:
    path, message = _problem({"properties": {"code": {"type": "string", "pattern": r"(a)\1"}}})
    assert path == "$.definition.schema"
    assert "$.properties.code.pattern" in message and "RE2" in message


def test_lookaround_in_pattern_properties_is_refused() -> None:
    _, message = _problem({"patternProperties": {"^(?!x)": {"type": "string"}}})
    assert "$.patternProperties" in message and "not supported" in message


def test_a_long_pattern_is_refused() -> None:
    _, message = _problem({"pattern": "a" * (MAX_PATTERN_LENGTH + 1)})
    assert f"at most {MAX_PATTERN_LENGTH} characters" in message
    check_input_schema({"pattern": "a" * MAX_PATTERN_LENGTH})  # the limit itself is fine


def test_unevaluated_properties_with_pattern_properties_is_refused() -> None:
    _, message = _problem(
        {"patternProperties": {"^a": {}}, "unevaluatedProperties": False, "type": "object"}
    )
    assert "patternProperties and unevaluatedProperties" in message


def test_a_pattern_inside_const_is_data() -> None:
    parse_config(_config({"const": {"pattern": r"(a)\1"}}))


def test_evil_pattern_accepted_and_matched_in_linear_time() -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": EVIL}}}
    parse_config(_config(schema))  # RE2 syntax: accepted
    payload = {"s": "a" * 100_000 + "!"}
    started = time.perf_counter()
    errors = list(input_validator(schema).iter_errors(payload))
    elapsed = time.perf_counter() - started
    assert [list(e.absolute_path) for e in errors] == [["s"]]
    assert "does not match" in errors[0].message
    assert elapsed < 0.5, elapsed
    assert not list(input_validator(schema).iter_errors({"s": "aaaa"}))


def test_pattern_properties_and_additional_properties_in_linear_time() -> None:
    schema = {
        "type": "object",
        "patternProperties": {EVIL: {"type": "integer"}},
        "additionalProperties": False,
    }
    check_input_schema(schema)
    started = time.perf_counter()
    errors = list(input_validator(schema).iter_errors({"a" * 50_000 + "!": 1, "aaa": "x"}))
    elapsed = time.perf_counter() - started
    messages = sorted(e.message for e in errors)
    assert len(messages) == 2
    assert "'x' is not of type 'integer'" in messages
    assert any("does not match any of the regexes" in m for m in messages)
    assert elapsed < 0.5, elapsed


def test_messages_stay_jsonschemas() -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    messages = sorted(e.message for e in input_validator(schema).iter_errors({"ok": "yes"}))
    assert messages == ["'yes' is not of type 'boolean'"]
