"""Prometheus metrics of the API: latency, requests and errors by route (prometheus-client)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline_engine.observability import bind_log_context, current_trace_id

__all__ = ["ApiMetrics", "MetricsMiddleware", "RequestContextMiddleware", "RouteLabels"]

_DOC_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


class RouteLabels:
    """Maps a request path to its route template (``/v1/pipelines/{pipeline_id}``).

    Args:
        templates: Every route template of the app (e.g. the OpenAPI document's paths).
    """

    def __init__(self, templates: Iterable[str]) -> None:
        compiled: list[tuple[re.Pattern[str], str]] = []
        for template in templates:
            regex, _, _ = compile_path(template)
            compiled.append((regex, template))
        # literal routes first, so /v1/pipelines beats /v1/pipelines/{pipeline_id}
        compiled.sort(key=lambda item: item[1].count("{"))
        self._compiled = compiled

    def label(self, path: str) -> str:
        """The template matching ``path``; ``unmatched`` when none does."""
        if path in _DOC_PATHS:
            return path
        for regex, template in self._compiled:
            if regex.match(path):
                return template
        return "unmatched"


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
        self.pipelines_created = Counter(
            "pipeline_engine_pipelines_created_total",
            "Pipelines created, by tenant and route (repeats of an idempotent call not counted).",
            ["tenant", "route"],
            registry=self.registry,
        )
        self.tenant_configs = Gauge(
            "pipeline_engine_tenant_configs",
            "Tenant configs in the cache, by validity.",
            ["valid"],
            registry=self.registry,
        )


class _RouteLabelled:
    """Route templates for request paths, computed at the first request (routes are final then)."""

    def __init__(self, routes: Callable[[], RouteLabels]) -> None:
        self._routes_factory = routes
        self._routes: RouteLabels | None = None

    def _label(self, path: str) -> str:
        if self._routes is None:
            self._routes = self._routes_factory()
        return self._routes.label(path)


class MetricsMiddleware(_RouteLabelled):
    """Pure ASGI middleware timing every HTTP request up to its response start.

    The route label is the matched path template (``/v1/pipelines/{pipeline_id}``), never the raw
    path, so label cardinality stays bounded.

    Args:
        app: The wrapped application.
        metrics: Where to record.
        routes: Gives the route labels (called once, at the first request).
    """

    def __init__(
        self, app: ASGIApp, *, metrics: ApiMetrics, routes: Callable[[], RouteLabels]
    ) -> None:
        super().__init__(routes)
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
            label = self._label(str(scope.get("path", "")))
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


_PIPELINE_IN_PATH = re.compile(r"^/v1/pipelines/(?P<pid>[^/]+)")
_access = logging.getLogger("api.access")


class RequestContextMiddleware(_RouteLabelled):
    """One span and one structured log line per request, with the pipeline's context bound.

    The span (a no-op unless tracing is configured) is the parent of the engine's
    ``CreatePipeline`` span, so a pipeline created by this request carries this trace's id as the
    ``trace_id`` of its events. The log line never includes bodies or headers.
    """

    def __init__(self, app: ASGIApp, *, routes: Callable[[], RouteLabels]) -> None:
        super().__init__(routes)
        self.app = app
        from opentelemetry import trace

        self._tracer = trace.get_tracer("pipeline_engine.api")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        method = str(scope.get("method", "GET"))
        route = self._label(path)
        match = _PIPELINE_IN_PATH.match(path)
        pipeline_id = match.group("pid") if match else None
        status = 500

        async def wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        start = time.perf_counter()
        with (
            self._tracer.start_as_current_span(f"{method} {route}"),
            bind_log_context(pipeline_id=pipeline_id, trace_id=current_trace_id()),
        ):
            try:
                await self.app(scope, receive, wrapped)
            finally:
                _access.info(
                    "%s %s %d %.1f ms",
                    method,
                    route,
                    status,
                    (time.perf_counter() - start) * 1000,
                    extra={"route": route, "status": status},
                )
