"""Temporal names operators see in the CLI and Web UI (docs/operations.md, the table of Temporal
concepts)."""

from typing import Any

from temporalio.common import SearchAttributeKey

from activities.messages import SHARD_ID_SEPARATOR as SHARD_ID_SEPARATOR  # defined for both

WORKFLOW_TYPE = "PipelineWorkflow"
SHARD_WORKFLOW_TYPE = "PipelineShard"
"""A slice of a wide fan-out, run as a child of its pipeline's workflow (never listed as one)."""
SIGNAL_SHARD_PROGRESS = "shard_progress"
"""Internal: a shard reports its stages and events to the workflow that started it."""
BATCH_WORKFLOW_TYPE = "BatchWorkflow"
"""A batch: starts one pipeline per input, at most ``max_running`` at once (id = batch id)."""
UPDATE_BATCH_CANCEL = "cancel"
"""Cancel a batch (an update, and a signal of the same name): no new pipeline starts, and the
running ones are cancelled."""
ACTIVITY_BATCH_START = "BatchStartPipelines"
ACTIVITY_BATCH_COUNT = "BatchCountPipelines"
ACTIVITY_BATCH_CANCEL = "BatchCancelPipelines"
QUERY_BATCH_PROGRESS = "progress"
"""How far a batch's workflow got (how many pipelines it started, whether it is cancelled)."""
DEFAULT_TASK_QUEUE = "pipelines"

UPDATE_START = "start"
UPDATE_SUBMIT_INPUT = "submit_input"
UPDATE_RETRY_STAGE = "retry_stage"
UPDATE_RETRY_FAILED = "retry_failed"
UPDATE_CANCEL = "cancel"
QUERY_STATUS = "status"

TEMPORAL_ACTOR = "temporal-cli"
"""Recorded as the actor of a command that came through Temporal (CLI, Web UI, batch), not REST."""

QUERY_HISTORY = "history"
QUERY_STATUS_PARTS = "status_parts"
"""A status page with the slices of it a thin parent's shards hold (``StatusParts``)."""
QUERY_HISTORY_PARTS = "history_parts"
"""A history page with the spans of it a thin parent's shards keep (``HistoryParts``)."""

SA_PIPELINE_STATE = SearchAttributeKey.for_keyword("PipelineState")
SA_TENANT_ID = SearchAttributeKey.for_keyword("TenantId")
SA_PIPELINE_NAME = SearchAttributeKey.for_keyword("PipelineName")
SA_BATCH_ID = SearchAttributeKey.for_keyword("BatchId")
"""The batch a pipeline belongs to (``temporal workflow list --query "BatchId = 'bt-…'"``)."""
SA_PIPELINE_VERSION = SearchAttributeKey.for_int("PipelineVersion")
"""The stored pipeline version a run came from (its ``pipeline_ref.version``; unset for a raw
config): ``temporal workflow list --query "PipelineName = 'crates' AND PipelineVersion = 2"``."""
SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[Any], ...] = (
    SA_PIPELINE_STATE,
    SA_TENANT_ID,
    SA_PIPELINE_NAME,
    SA_BATCH_ID,
    SA_PIPELINE_VERSION,
)
"""THE list of the search attributes the engine needs, each with its type (its key's
``indexed_value_type``). Add a new one here and only here: ``pipeline-engine dev`` and
``pipeline-engine setup`` register it, the worker and the API register it at start when they may,
and ``/readyz`` is not ready until it exists (:mod:`workflows.search_attributes`)."""

MEMO_FINGERPRINT = "fingerprint"
MEMO_PIPELINE_REF = "pipeline_ref"
"""A run of a stored pipeline: its ``pipeline_ref`` (what a status read from Temporal's records
shows when no worker answers)."""
MEMO_BATCH_INDEX = "batch_index"
"""A batch's pipeline: the position of its input in the batch."""
MEMO_BATCH = "batch"
"""A batch's workflow: ``{total, max_running, pipeline}`` (read by the batch list)."""
