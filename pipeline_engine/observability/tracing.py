"""OpenTelemetry tracing, on only when an exporter is configured.

``PIPELINE_ENGINE_OTLP_ENDPOINT`` (an OTLP/HTTP traces URL) or ``console`` turns it on. The
pipeline's ``trace_id`` (carried by every event) is the id of the trace that created the pipeline,
and Temporal's tracing interceptor carries that trace into the workflow and every step.
"""

from __future__ import annotations

from typing import Any

__all__ = ["configure_tracing", "current_trace_id", "tracing_interceptors"]

_configured = False


def current_trace_id() -> str | None:
    """The active OpenTelemetry trace id as 32 hex digits, or ``None`` when no span is active."""
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - opentelemetry-api ships with temporalio's extras
        return None
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


def configure_tracing(endpoint: str | None, *, service_name: str, exporter: Any = None) -> bool:
    """Install a tracer provider exporting to ``endpoint`` (or to ``exporter``); False if off."""
    global _configured
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
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(provider)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif endpoint == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    _configured = True
    return True


def tracing_interceptors() -> list[Any]:
    """Temporal interceptors that propagate traces (empty when tracing is off)."""
    if not _configured:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]
