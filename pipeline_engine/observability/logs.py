"""Structured logging: JSON lines in production, readable lines in dev.

A terminal (the text format) shows one line per failed step attempt (stage, step, attempt,
error) and no tracebacks unless ``PIPELINE_ENGINE_DEBUG`` (``--debug``) is set; the JSON format,
and the JSON file of ``PIPELINE_ENGINE_LOG_FILE``, keep every traceback.

Every record carries the pipeline context bound with :func:`bind_log_context` (``pipeline_id``,
``tenant_id``, ``stage_id``, ``trace_id``). Payloads are never logged by our code, and anything
that looks like a bearer token or a JWT is masked before a line is written.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "DEBUG_ENV",
    "JsonFormatter",
    "TextFormatter",
    "bind_log_context",
    "configure_logging",
    "current_log_context",
]

CONTEXT_FIELDS = ("pipeline_id", "tenant_id", "stage_id", "trace_id")
DEBUG_ENV = "PIPELINE_ENGINE_DEBUG"
"""Set (``--debug``): the terminal shows tracebacks too."""
_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "pipeline_log_context", default=None
)
_SECRET = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
    r"|((?:token|secret|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"
)


def _mask(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        prefix = m.group(1) or m.group(2) or ""
        return f"{prefix}***"

    return _SECRET.sub(repl, text)


def current_log_context() -> dict[str, str]:
    """The pipeline fields bound in this task or thread."""
    return dict(_context.get() or {})


@contextlib.contextmanager
def bind_log_context(**fields: str | None) -> Iterator[None]:
    """Attach pipeline fields to every log record emitted inside the block."""
    merged = {**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, pipeline fields, extras."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": _mask(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                out[key] = (
                    value
                    if isinstance(value, int | float | bool) or value is None
                    else _mask(str(value))
                )
        if record.exc_info:
            out["exc"] = _mask(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


def _error_text(exc: BaseException) -> str:
    kind = getattr(exc, "type", None) or type(exc).__name__  # an ApplicationError's own type
    text = getattr(exc, "message", None) or str(exc)
    return f"{kind}: {text}" if text else str(kind)


_OWN_ATTEMPT_FAILED = "stage %s attempt %d failed: %s"
"""The activity's own record of a failed attempt: on a terminal, Temporal's record of the same
attempt (which carries the error) is the one line shown, so this one is not repeated."""


class _AttemptLines(logging.Filter):
    """On a terminal: one line per failed step attempt, with the stage, step, attempt and error.

    The Temporal SDK logs every failed attempt as ``Completing activity as failed`` with the
    traceback and a dict of the activity's details; that record becomes
    ``stage detection (step detection) attempt 2 failed: ValueError: …``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "pipeline_engine.activities" and record.msg == _OWN_ATTEMPT_FAILED:
            return False
        if record.name != "temporalio.activity" or not str(record.msg).startswith(
            "Completing activity as failed"
        ):
            return True
        info = getattr(record, "temporal_activity", None) or {}
        exc = record.exc_info[1] if record.exc_info else None
        error = _error_text(exc) if exc is not None else "an error"
        stage = info.get("activity_id", "?")
        step = info.get("activity_type", "?")
        record.msg = (
            f"stage {stage} (step {step}) attempt {info.get('attempt', '?')} failed: {error}"
        )
        record.args = None
        return True


class _ClientGone(logging.Filter):
    """Drop asyncio's ``socket.send() raised exception.``: a client that closed its connection
    while an event stream was still being written to it (a script ending before its
    subscription has read to the pipeline's end resets the socket). The server learns of the
    disconnect a moment later and stops; the warning, repeated per write, says nothing to do."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "asyncio" and record.msg == "socket.send() raised exception.")


class TextFormatter(logging.Formatter):
    """Readable lines with the pipeline fields in brackets.

    Args:
        tracebacks: Show a record's traceback under its line; otherwise only its last error
            (``… — ValueError: boom``), on the same line.
    """

    def __init__(self, *, tracebacks: bool = True) -> None:
        super().__init__()
        self._tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{k}={getattr(record, k)}" for k in CONTEXT_FIELDS if getattr(record, k, None)
        )
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        line = f"{stamp} {record.levelname:<7} {record.name}: {_mask(record.getMessage())}"
        if fields:
            line += f" [{fields}]"
        if record.exc_info and self._tracebacks:
            line += "\n" + _mask(self.formatException(record.exc_info))
        elif record.exc_info and record.exc_info[1] is not None:
            error = _error_text(record.exc_info[1])
            if error not in line:
                line += f" — {_mask(error)}"
        return line


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").lower() in {"1", "true", "yes", "on"}


def configure_logging(
    *,
    fmt: Literal["text", "json"] = "text",
    level: str = "INFO",
    file: Path | None = None,
    tracebacks: bool | None = None,
) -> None:
    """Route all logging to stderr in the chosen format, with pipeline context and masking.

    Args:
        fmt: ``text`` for a terminal (one line per failed attempt, tracebacks only with
            ``tracebacks``), ``json`` for a collector (everything, tracebacks included).
        level: The root level.
        file: Also append JSON lines here, tracebacks included (``make run``: the data dir).
        tracebacks: Tracebacks in the text format (default: when ``PIPELINE_ENGINE_DEBUG`` is set).
    """
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            TextFormatter(tracebacks=_debug() if tracebacks is None else tracebacks)
        )
        handler.addFilter(_AttemptLines())
    handlers: list[logging.Handler] = [handler]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(file, encoding="utf-8")
        to_file.setFormatter(JsonFormatter())
        handlers.append(to_file)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if isinstance(old, logging.FileHandler):
            old.close()
    for new in handlers:
        new.addFilter(_ContextFilter())
        new.addFilter(_ClientGone())
        root.addHandler(new)
    root.setLevel(level.upper())
