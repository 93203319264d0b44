"""Build a Temporal worker for pipelines: the workflow plus one activity per registered step."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import build_step_activities
from pipeline_engine.observability.tracing import tracing_interceptors
from pipeline_engine.steps import StepRegistry
from workflows.pipeline_workflow import PipelineWorkflow

PASSTHROUGH_MODULES = (
    "opentelemetry",
    "pipeline_engine",
    "jsonschema",
    "referencing",
    "rpds",
    "pydantic",
    "pydantic_core",
)


def sandbox_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox, with our (deterministic) models passed through for speed."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


async def connect(
    address: str,
    namespace: str = "default",
    *,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> Client:
    """A Temporal client with the pydantic data converter, tracing (when configured) and, with
    ``metrics_port``, a Prometheus endpoint for the SDK's and our worker metrics."""
    runtime = None
    if metrics_port is not None:
        runtime = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(bind_address=f"{metrics_host}:{metrics_port}")
            )
        )
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=pydantic_data_converter,
        interceptors=tracing_interceptors(),
        runtime=runtime,
    )


def build_worker(
    client: Client,
    *,
    task_queue: str,
    registry: StepRegistry,
    max_concurrent_activities: int = 64,
    activities_only: bool = False,
    drain_s: float = 0.0,
) -> Worker:
    """A worker polling ``task_queue`` for pipelines and for the steps in ``registry``.

    On shutdown it stops polling and gives running steps ``drain_s`` seconds to finish (their
    results are reported) before it cancels the ones still running (``python worker.py`` passes
    ``PIPELINE_ENGINE_WORKER_DRAIN_S``; 0 cancels them at once, as in-process test workers do).
    """
    executor = ThreadPoolExecutor(
        max_workers=max_concurrent_activities, thread_name_prefix="pipeline-step"
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[] if activities_only else [PipelineWorkflow],
        activities=build_step_activities(registry, executor=executor),
        max_concurrent_activities=max_concurrent_activities,
        workflow_runner=sandbox_runner(),
        graceful_shutdown_timeout=timedelta(seconds=drain_s),
    )
