"""Structured logging: JSON lines in production, readable lines in dev.

Every record carries the pipeline context bound with :func:`bind_log_context` (``pipeline_id``,
``tenant_id``, ``stage_id``, ``trace_id``). Payloads are never logged by our code, and anything
that looks like a bearer token or a JWT is masked before a line is written.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "JsonFormatter",
    "TextFormatter",
    "bind_log_context",
    "configure_logging",
    "current_log_context",
]

CONTEXT_FIELDS = ("pipeline_id", "tenant_id", "stage_id", "trace_id")
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


class TextFormatter(logging.Formatter):
    """Readable lines with the pipeline fields in brackets."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{k}={getattr(record, k)}" for k in CONTEXT_FIELDS if getattr(record, k, None)
        )
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        line = f"{stamp} {record.levelname:<7} {record.name}: {_mask(record.getMessage())}"
        if fields:
            line += f" [{fields}]"
        if record.exc_info:
            line += "\n" + _mask(self.formatException(record.exc_info))
        return line


def configure_logging(*, fmt: Literal["text", "json"] = "text", level: str = "INFO") -> None:
    """Route all logging to stderr in the chosen format, with pipeline context and masking."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
