"""Structured logs, trace ids and tracing setup shared by the API, the worker and the CLI."""

from pipeline_engine.observability.logs import (
    bind_log_context,
    configure_logging,
    current_log_context,
)
from pipeline_engine.observability.tracing import configure_tracing, current_trace_id

__all__ = [
    "bind_log_context",
    "configure_logging",
    "configure_tracing",
    "current_log_context",
    "current_trace_id",
]
