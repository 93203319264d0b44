"""Build a Temporal worker for pipelines: the workflow plus one activity per registered step."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import build_step_activities
from pipeline_engine._ids import DEV_IDS, IdRule
from pipeline_engine._version import __version__
from pipeline_engine.observability.tracing import tracing_interceptors
from pipeline_engine.settings import Settings
from pipeline_engine.steps import StepRegistry
from workflows.batch_activities import build_batch_activities
from workflows.batch_workflow import BatchWorkflow
from workflows.connection import TemporalSecurity
from workflows.engine import TemporalPipelineEngine
from workflows.payload_refs import data_converter, store_of
from workflows.payload_store import PayloadStore
from workflows.pipeline_workflow import PipelineWorkflow
from workflows.shard_workflow import PipelineShardWorkflow
from workflows.step_cache_activities import build_step_cache_activities

DEFAULT_BUILD_ID = f"pipeline-engine@{__version__}"
"""The build id a worker reports (Temporal records it on every workflow task it completes). Without
one the SDK reads and hashes the code of every loaded module at start: 1-5 s here."""

INLINE_RESULT_LIMIT = 512 * 1024
"""Largest step result without a payload store: the pipeline's status carries it (at least) twice,
and Temporal refuses payloads over 2 MiB."""

PASSTHROUGH_MODULES = (
    "cel",
    "opentelemetry",
    "pipeline_engine",
    "jsonschema",
    "referencing",
    "rpds",
    "pydantic",
    "pydantic_core",
)


#: Buckets (seconds) of the worker's own histograms: steps take from milliseconds to an hour.
STAGE_SECONDS_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600
)  # fmt: skip
HISTOGRAM_BUCKETS = {
    "pipeline_engine_stage_duration": STAGE_SECONDS_BUCKETS,
    "pipeline_engine_stage_queue": STAGE_SECONDS_BUCKETS,
}


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
    payload_store: PayloadStore | None = None,
    payload_threshold_bytes: int = Settings.model_fields["payload_threshold_bytes"].default,
    security: TemporalSecurity | None = None,
) -> Client:
    """A Temporal client with the pydantic data converter, tracing (when configured) and, with
    ``metrics_port``, a Prometheus endpoint for the SDK's and our worker metrics.

    With ``payload_store``, payloads of ``payload_threshold_bytes`` or more travel by reference.
    ``security`` (:meth:`TemporalSecurity.from_settings`) adds TLS and an API key.
    """
    security = security or TemporalSecurity()
    runtime = None
    if metrics_port is not None:
        runtime = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(
                    bind_address=f"{metrics_host}:{metrics_port}",
                    # Prometheus conventions: counters end in _total, durations in seconds
                    counters_total_suffix=True,
                    unit_suffix=True,
                    durations_as_seconds=True,
                    histogram_bucket_overrides=HISTOGRAM_BUCKETS,
                )
            )
        )
    if runtime is not None and payload_store is not None:
        errors = runtime.metric_meter.create_counter(
            "pipeline_engine_payload_store_errors", "Payload store operations that failed"
        )
        payload_store.on_error = lambda operation: errors.add(1, {"operation": operation})
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=data_converter(payload_store, threshold_bytes=payload_threshold_bytes),
        interceptors=tracing_interceptors(),
        runtime=runtime,
        tls=security.tls,
        api_key=security.api_key,
    )


def build_worker(
    client: Client,
    *,
    task_queue: str,
    registry: StepRegistry,
    max_concurrent_activities: int = 64,
    activities_only: bool = False,
    drain_s: float = 0.0,
    max_result_bytes: int = Settings.model_fields["payload_max_bytes"].default,
    sandboxed: bool = Settings.model_fields["workflow_sandbox"].default,
    ids: IdRule = DEV_IDS,
    build_id: str | None = None,
) -> Worker:
    """A worker polling ``task_queue`` for pipelines and for the steps in ``registry``.

    On shutdown it stops polling and gives running steps ``drain_s`` seconds to finish (their
    results are reported) before it cancels the ones still running (``python worker.py`` passes
    ``PIPELINE_ENGINE_WORKER_DRAIN_S``; 0 cancels them at once, as in-process test workers do).

    A step result over ``max_result_bytes`` of JSON fails its stage; without a payload store on
    the client, the limit is :data:`INLINE_RESULT_LIMIT` (results then travel in the history).
    ``sandboxed`` runs the workflows in the SDK's sandbox (``PIPELINE_ENGINE_WORKFLOW_SANDBOX``).
    ``ids`` derives the ids of a batch's pipelines: the API's rule (``PIPELINE_ENGINE_ID_SECRET``).
    ``build_id`` is what the worker reports to Temporal (``PIPELINE_ENGINE_WORKER_BUILD_ID``;
    :data:`DEFAULT_BUILD_ID` when unset).
    """
    if client.data_converter.external_storage is None:
        max_result_bytes = min(max_result_bytes, INLINE_RESULT_LIMIT)
    executor = ThreadPoolExecutor(
        max_workers=max_concurrent_activities, thread_name_prefix="pipeline-step"
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[]
        if activities_only
        else [PipelineWorkflow, PipelineShardWorkflow, BatchWorkflow],
        activities=[
            *build_step_activities(registry, executor=executor, max_result_bytes=max_result_bytes),
            *(
                []
                if activities_only
                else build_batch_activities(
                    TemporalPipelineEngine(
                        client, task_queue=task_queue, registry=registry, ids=ids
                    ),
                    registry,
                    store_of(client.data_converter),
                )
            ),
            *(
                []
                if activities_only
                else build_step_cache_activities(registry, store_of(client.data_converter))
            ),
        ],
        max_concurrent_activities=max_concurrent_activities,
        # The workflows are the interpreter alone (no user code: steps are activities), and the
        # recorded histories replay in the sandbox in CI; outside it, a workflow task costs about
        # a third less (docs/benchmarks.md).
        workflow_runner=sandbox_runner() if sandboxed else UnsandboxedWorkflowRunner(),
        graceful_shutdown_timeout=timedelta(seconds=drain_s),
        build_id=build_id or DEFAULT_BUILD_ID,
    )
