"""What the parts of :class:`~workflows.engine.TemporalPipelineEngine` share.

The client, the one call wrapper every Temporal RPC goes through (:mod:`workflows.temporal_calls`),
the status cache and the timeouts. The parts (commands, reads, visibility) each add their own job
on top; :mod:`workflows.engine` puts them together.
"""

from __future__ import annotations

import weakref
from typing import Any

from temporalio.client import Client, WorkflowHandle

from pipeline_engine._ids import DEV_IDS, IdRule
from pipeline_engine.service import PreparedConfig
from pipeline_engine.service.front import EngineFront
from pipeline_engine.steps import StepRegistry
from workflows import names
from workflows.messages import NO_STORE_LIMITS, STORE_LIMITS, RunLimits
from workflows.status_cache import StatusCache
from workflows.temporal_calls import TemporalCalls

__all__ = ["EngineCore"]


class EngineCore(EngineFront):
    """The state the engine's parts share (arguments: see ``TemporalPipelineEngine``)."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = names.DEFAULT_TASK_QUEUE,
        registry: StepRegistry | None = None,
        query_timeout_s: float = 3.0,
        command_timeout_s: float = 10.0,
        limits: RunLimits | None = None,
        status_cache_s: float = 0.0,
        register_search_attributes: bool = True,
        ids: IdRule = DEV_IDS,
    ) -> None:
        self._client = client
        self._ids = ids
        self._attributes_ok = False  # until a health check saw them all (they are not removed)
        self._register_attributes = register_search_attributes
        if limits is None:
            stored = client.data_converter.external_storage is not None
            limits = STORE_LIMITS if stored else NO_STORE_LIMITS
        self._limits = limits
        self._task_queue = task_queue
        self._registry = registry
        self._statuses = StatusCache(ttl_s=status_cache_s)
        # the Web UI texts of prepared (tenant) configs, dropped with the config
        self._texts: weakref.WeakKeyDictionary[PreparedConfig, dict[str | None, tuple[str, str]]]
        self._texts = weakref.WeakKeyDictionary()
        self._query_timeout_s = query_timeout_s
        self._command_timeout_s = command_timeout_s
        self._calls = TemporalCalls(client, on_attributes_missing=self._attributes_missing)
        self._unanswered_at: float | None = None  # when a query last went unanswered

    def _attributes_missing(self) -> None:
        """A call found search attributes missing: the next health check looks again."""
        self._attributes_ok = False

    @property
    def client(self) -> Client:
        """The Temporal client."""
        return self._client

    @property
    def calls(self) -> TemporalCalls:
        """The one call wrapper (for the other engines on this client: batches, schedules)."""
        return self._calls

    @property
    def ids(self) -> IdRule:
        """How this engine derives ids (for the other engines on this client: batches)."""
        return self._ids

    @property
    def task_queue(self) -> str:
        """The task queue of the pipelines' workflows."""
        return self._task_queue

    def _handle(self, pipeline_id: str) -> WorkflowHandle[Any, Any]:
        return self._client.get_workflow_handle(pipeline_id)
