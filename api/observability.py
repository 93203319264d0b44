"""Prometheus metrics of the API: latency, requests and errors by route (prometheus-client)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ApiMetrics", "MetricsMiddleware"]


class ApiMetrics:
    """The API's collectors, in their own registry (one per app, so apps can coexist in tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "pipeline_engine_api_request_duration_seconds",
            "Time from request to response start, by route.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.requests = Counter(
            "pipeline_engine_api_requests_total",
            "Requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "pipeline_engine_api_errors_total",
            "Responses with status >= 400 by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.tenant_configs = Gauge(
            "pipeline_engine_tenant_configs",
            "Tenant configs in the cache, by validity.",
            ["valid"],
            registry=self.registry,
        )


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request up to its response start.

    The route label is the matched path template (``/v1/pipelines/{pipeline_id}``), never the raw
    path, so label cardinality stays bounded.
    """

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        recorded = False

        def record() -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            self.metrics.latency.labels(method, label).observe(time.perf_counter() - start)
            self.metrics.requests.labels(method, label, str(status)).inc()
            if status >= 400:
                self.metrics.errors.labels(method, label, str(status)).inc()

        async def wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                record()
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            record()
