"""The pipeline operations over Temporal: the production :class:`PipelineEngine`.

Holds no pipeline state of its own: every answer comes from the workflow (queries, updates) or from
Temporal visibility. Each Temporal concern has one module:

- :mod:`workflows.temporal_calls`: the one call wrapper every Temporal RPC goes through, and the
  one translation of Temporal's errors into the project's error hierarchy;
- :mod:`workflows.engine_commands`: create and the commands (workflow updates);
- :mod:`workflows.engine_reads`: status, history, config and owner of one pipeline;
- :mod:`workflows.engine_visibility`: lists and counts.

The service rules (create identity, idempotency, closed-run verdicts, paging) come from
:mod:`pipeline_engine.service`, shared with the local engine.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.service import RetryConfig

from pipeline_engine._ids import IdRule, pipeline_id_for
from pipeline_engine.settings import Settings
from pipeline_engine.steps import StepRegistry
from workflows.connection import TemporalSecurity
from workflows.engine_commands import EngineCommands
from workflows.engine_visibility import EngineVisibility
from workflows.messages import NO_STORE_LIMITS, STORE_LIMITS
from workflows.payload_refs import data_converter
from workflows.payload_store import store_from_settings

__all__ = ["TemporalPipelineEngine", "pipeline_id_for"]


class TemporalPipelineEngine(EngineCommands, EngineVisibility):
    """Pipeline operations over Temporal (implements :class:`PipelineEngine`).

    Args:
        client: A Temporal client using the pydantic data converter.
        task_queue: Task queue of ``PipelineWorkflow``.
        registry: Steps that configs are validated against (``None`` skips that check).
        query_timeout_s: How long a status or history query may wait for a worker to answer; a
            status read then answers from what Temporal recorded (see :meth:`get_pipeline`).
        command_timeout_s: How long a command (start, cancel, retry, input) may wait for a
            worker to apply it (see :meth:`cancel_pipeline` for what happens then).
        limits: Bounds of each new pipeline's workflow (default: :data:`STORE_LIMITS` when the
            client stores large payloads by reference, else :data:`NO_STORE_LIMITS`).
        status_cache_s: How long a status read of a pipeline that may still change is kept for
            the next reads of the same page (``0``, the default here: not kept; the API uses
            ``PIPELINE_ENGINE_STATUS_CACHE_S``). Ended pipelines are kept for 60 s regardless,
            and concurrent reads always share one Temporal call (see :meth:`get_pipeline`).
        register_search_attributes: The first health check adds the search attributes missing
            from the namespace (:mod:`workflows.search_attributes`), when the cluster allows it.
        ids: How ids are derived (the server's id secret; default: the dev one). The API and the
            workers running batches must hold the same.
    """

    @classmethod
    async def connect(
        cls, settings: Settings, *, registry: StepRegistry | None = None
    ) -> TemporalPipelineEngine:
        """An engine on a lazily connected client: it starts while Temporal is down (then 503).

        Its calls give up on an unreachable Temporal after about a second (503 with
        ``Retry-After``) instead of the client's default ten seconds of retries.
        """
        security = TemporalSecurity.from_settings(settings)
        client = await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            tls=security.tls,
            api_key=security.api_key,
            data_converter=data_converter(
                store_from_settings(settings), threshold_bytes=settings.payload_threshold_bytes
            ),
            lazy=True,
            retry_config=RetryConfig(max_elapsed_time_millis=1000, max_retries=3),
        )
        stored = client.data_converter.external_storage is not None
        limits = (STORE_LIMITS if stored else NO_STORE_LIMITS).model_copy(
            update={
                "shard_width": settings.shard_width,
                "continue_as_new_events": settings.continue_as_new_events,
            }
        )
        return cls(
            client,
            task_queue=settings.task_queue,
            registry=registry,
            query_timeout_s=settings.status_query_timeout_s,
            command_timeout_s=settings.command_timeout_s,
            limits=limits,
            status_cache_s=settings.status_cache_s,
            register_search_attributes=settings.register_search_attributes,
            ids=IdRule.from_settings(settings),
        )
