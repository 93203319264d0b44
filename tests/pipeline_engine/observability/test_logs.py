"""Structured logs: pipeline fields on every line, secrets masked."""

from __future__ import annotations

import json
import logging

from pipeline_engine.observability.logs import (
    JsonFormatter,
    TextFormatter,
    _ContextFilter,
    bind_log_context,
)


def render(formatter: logging.Formatter, msg: str, *args: object) -> str:
    record = logging.LogRecord("pipeline_engine.test", logging.INFO, __file__, 1, msg, args, None)
    _ContextFilter().filter(record)
    return formatter.format(record)


def test_json_lines_carry_the_pipeline_context() -> None:
    with bind_log_context(pipeline_id="pl-1", tenant_id="acme", stage_id="detect", trace_id="abc"):
        line = json.loads(render(JsonFormatter(), "stage %s done", "detect"))
    assert line["message"] == "stage detect done"
    assert {k: line[k] for k in ("pipeline_id", "tenant_id", "stage_id", "trace_id")} == {
        "pipeline_id": "pl-1",
        "tenant_id": "acme",
        "stage_id": "detect",
        "trace_id": "abc",
    }
    assert line["level"] == "INFO" and line["logger"] == "pipeline_engine.test"


def test_context_does_not_leak_outside_the_block() -> None:
    with bind_log_context(pipeline_id="pl-1"):
        pass
    assert "pipeline_id" not in json.loads(render(JsonFormatter(), "x"))


def test_tokens_are_masked() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbmEifQ.c2lnbmF0dXJlLXNpZw"
    for formatter in (JsonFormatter(), TextFormatter()):
        out = render(
            formatter, "auth header Bearer %s and token=%s password: hunter2", jwt, "s3cr3t"
        )
        assert jwt not in out and "s3cr3t" not in out and "hunter2" not in out
        assert "Bearer ***" in out


def test_text_lines_are_readable() -> None:
    with bind_log_context(pipeline_id="pl-9", stage_id="seg"):
        out = render(TextFormatter(), "hello")
    assert "hello" in out and "[pipeline_id=pl-9 stage_id=seg]" in out
