"""OpenTelemetry tracing, on only when an exporter is configured.

The standard ``OTEL_*`` variables turn it on and configure it: ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OTLP/HTTP, with ``OTEL_EXPORTER_OTLP_HEADERS`` etc.),
``OTEL_TRACES_EXPORTER=console``, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``;
``OTEL_SDK_DISABLED=true`` turns it off. ``PIPELINE_ENGINE_OTLP_ENDPOINT`` (a traces URL, or
``console``) still works. The pipeline's ``trace_id`` (carried by every event) is the id of the
trace that created the pipeline, and Temporal's tracing interceptor carries that trace into the
workflow and every step.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

__all__ = ["configure_tracing", "current_trace_id", "span", "tracing_interceptors"]

_configured = False


def current_trace_id() -> str | None:
    """The active OpenTelemetry trace id as 32 hex digits, or ``None`` when no span is active."""
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - opentelemetry-api ships with temporalio's extras
        return None
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


@contextlib.contextmanager
def span(name: str) -> Iterator[None]:
    """A span named ``name`` around the block (nothing without opentelemetry: the worker may run
    without the server extra, and a batch's activities create pipelines through the engine)."""
    try:
        from opentelemetry import trace
    except ImportError:
        yield
        return
    with trace.get_tracer("pipeline_engine").start_as_current_span(name):
        yield


def configure_tracing(endpoint: str | None, *, service_name: str, exporter: Any = None) -> bool:
    """Install a tracer provider exporting to ``endpoint`` (or to ``exporter``); False if off."""
    global _configured
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true" and exporter is None:
        return False
    endpoint = endpoint or _endpoint_from_otel_variables()
    if not endpoint and exporter is None:
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):  # already configured: add this exporter to it
        provider = current
    else:
        named = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
        provider = TracerProvider(resource=Resource.create(named))
        trace.set_tracer_provider(provider)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif endpoint == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # _OTEL means "the exporter reads the OTEL_EXPORTER_OTLP_* variables itself"
        url = None if endpoint == _OTEL else endpoint
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    _configured = True
    return True


_OTEL = "otel"


def _endpoint_from_otel_variables() -> str | None:
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        return "console"
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    ):
        return _OTEL
    return None


def tracing_interceptors() -> list[Any]:
    """Temporal interceptors that propagate traces (empty when tracing is off)."""
    if not _configured:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]
