"""The API's observability: Prometheus metrics, request spans and one access line per request.

Request spans and the HTTP metrics (``http_server_request_duration_seconds`` by method, matched
route and status, request and response sizes, ``http_server_active_requests``) come from the
maintained ``opentelemetry-instrumentation-fastapi``, exported to this app's Prometheus registry by
``opentelemetry-exporter-prometheus``; the pipeline counters below are ours. Every metric and its
labels: ``docs/operations.md``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.queue_metrics import QueueMetrics
from pipeline_engine.observability import bind_log_context, current_trace_id

__all__ = ["REDACTED", "ApiMetrics", "RequestContextMiddleware", "instrument", "redact_path_token"]

#: Not measured, not traced: the probes and the metrics page itself.
_UNOBSERVED = "healthz,readyz,metrics"

#: The codec's path-token routes (``/v1/codec/t/<token>/decode``): a bearer token in the URL.
_PATH_TOKEN = re.compile(r"(/v1/codec/t/)[^/?#]+")
REDACTED = "[redacted]"
#: Span attributes that carry the request's path (stable and old HTTP conventions).
_PATH_ATTRIBUTES = ("url.path", "url.full", "http.target", "http.url")


def redact_path_token(path: str) -> str:
    """``path`` with the codec's path token replaced by ``[redacted]``."""
    return _PATH_TOKEN.sub(rf"\1{REDACTED}", path)


def _redact_span(span: Any, scope: dict[str, Any]) -> None:
    """The request span's path attributes without the codec's path token (the instrumentation
    sets them from the raw path before any hook runs; a span exporter would ship the token)."""
    if span is None or not span.is_recording():
        return
    if not _PATH_TOKEN.search(str(scope.get("path", ""))):
        return
    attributes = getattr(span, "attributes", None) or {}
    for key in _PATH_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, redact_path_token(value))


class ApiMetrics:
    """The API's collectors, in their own registry (one per app, so apps can coexist in tests).

    Args:
        tenant_label: Label ``pipeline_engine_pipelines_created_total`` with the tenant id.
            Off by default: ``/metrics`` needs no token, so it must not list tenants
            (``PIPELINE_ENGINE_METRICS_TENANT_LABEL``).
        task_queues: The task queues whose backlog ``/metrics`` reports (:class:`QueueMetrics`).
    """

    def __init__(self, *, tenant_label: bool = False, task_queues: list[str] | None = None) -> None:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider

        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` gauges
        self.registry = CollectorRegistry(auto_describe=True)
        self.tenant_label = tenant_label
        self.meter_provider = MeterProvider(
            metric_readers=[
                PrometheusMetricReader(registry=self.registry, disable_target_info=True)
            ]
        )
        self.pipelines_created = Counter(
            "pipeline_engine_pipelines_created",
            "Pipelines created (repeats of an idempotent call not counted), by route.",
            ["route", "tenant"] if tenant_label else ["route"],
            registry=self.registry,
        )
        self.queues = QueueMetrics(self.registry, task_queues or [])
        self.payload_store_errors = Counter(
            "pipeline_engine_payload_store_errors",
            "Payload store operations that failed, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.tenant_configs = Gauge(
            "pipeline_engine_tenant_configs",
            "Tenant configs in the cache, by validity.",
            ["valid"],
            registry=self.registry,
        )

        self.batches_submitted = Counter(
            "pipeline_engine_batches_submitted",
            "Batches submitted (repeats of an idempotent call not counted).",
            ["tenant"] if tenant_label else [],
            registry=self.registry,
        )
        self.schedules_created = Counter(
            "pipeline_engine_schedules_created",
            "Schedules created (the same definition again not counted).",
            registry=self.registry,
        )
        self.trigger_deliveries = Counter(
            "pipeline_engine_trigger_deliveries",
            "Webhook trigger deliveries, by outcome (accepted, repeated, refused, invalid).",
            ["outcome"],
            registry=self.registry,
        )
        self.batch_inputs = Counter(
            "pipeline_engine_batch_inputs",
            "Inputs (one pipeline each) of the batches submitted.",
            ["tenant"] if tenant_label else [],
            registry=self.registry,
        )

    def trigger_delivery(self, outcome: str) -> None:
        """Count a webhook delivery: ``accepted`` (a pipeline started), ``repeated`` (a delivery
        seen before), ``refused`` (no such trigger, or a bad signature), ``invalid`` (signed,
        but no delivery id, not JSON, or its input mapping failed)."""
        self.trigger_deliveries.labels(outcome).inc()

    def schedule_created(self) -> None:
        """Count a schedule created."""
        self.schedules_created.inc()

    def batch_submitted(self, *, tenant_id: str, total: int) -> None:
        """Count a batch submitted with ``total`` inputs."""
        submitted, inputs = self.batches_submitted, self.batch_inputs
        if self.tenant_label:
            submitted, inputs = submitted.labels(tenant_id), inputs.labels(tenant_id)
        submitted.inc()
        inputs.inc(total)

    def payload_store_error(self, operation: str) -> None:
        """Count a payload store operation that failed (``PayloadStore.on_error``)."""
        self.payload_store_errors.labels(operation).inc()

    def pipeline_created(self, *, route: str, tenant_id: str | None) -> None:
        """Count a pipeline created by ``route`` (an operation id)."""
        if self.tenant_label:
            self.pipelines_created.labels(route, tenant_id or "").inc()
        else:
            self.pipelines_created.labels(route).inc()


def instrument(app: FastAPI, metrics: ApiMetrics) -> None:
    """Request spans (to the configured tracer provider) and HTTP metrics (to ``metrics``)."""
    # the stable HTTP conventions: durations in seconds, ``http_route`` labels
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        meter_provider=metrics.meter_provider,
        excluded_urls=_UNOBSERVED,
        server_request_hook=_redact_span,
    )


def matched_route(scope: Scope) -> str:
    """The template of the route that handled the request (``unmatched`` when none did)."""
    # FastAPI keeps the full template of a route of an included router in its routing context;
    # Starlette's own ``route`` is the route as its router declared it (no prefix)
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    full = getattr(context, "path", None)
    if isinstance(full, str):
        return full
    return str(getattr(scope.get("route"), "path", "unmatched"))


_PIPELINE_IN_PATH = re.compile(r"^/v1/pipelines/(?P<pid>[^/]+)")
_access = logging.getLogger("api.access")


class RequestContextMiddleware:
    """One structured log line per request, with the pipeline's id and the trace id bound.

    It runs inside the request span of the FastAPI instrumentation, so the line's ``trace_id`` is
    the span's (and, for a request that creates a pipeline, the ``trace_id`` of its events). The
    route is the one Starlette matched (``/v1/pipelines/{pipeline_id}``); bodies and headers are
    never logged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        method = str(scope.get("method", "GET"))
        match = _PIPELINE_IN_PATH.match(path)
        status = 500

        async def wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        start = time.perf_counter()
        with bind_log_context(
            pipeline_id=match.group("pid") if match else None, trace_id=current_trace_id()
        ):
            try:
                await self.app(scope, receive, wrapped)
            finally:
                route = matched_route(scope)
                _access.info(
                    "%s %s %d %.1f ms",
                    method,
                    route,
                    status,
                    (time.perf_counter() - start) * 1000,
                    extra={"route": route, "status": status},
                )
