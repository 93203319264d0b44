"""The config a pipeline was started with, read from its workflow's first history event.

The config travels in the workflow's input (never looked up from a store), so the Temporal history
is where it is: reading it needs no worker and works for running and ended pipelines alike.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from pipeline_engine.dsl import PipelineConfig
from pipeline_engine.errors import PipelineNotFound
from workflows.messages import PipelineWorkflowInput

__all__ = ["pipeline_config", "pipeline_input"]


async def pipeline_config(client: Client, pipeline_id: str) -> PipelineConfig:
    """The config of ``pipeline_id`` (from the input of its current run).

    Raises:
        PipelineNotFound: when the workflow's history has no start event.
    """
    return (await pipeline_input(client, pipeline_id)).config


async def pipeline_input(client: Client, pipeline_id: str) -> PipelineWorkflowInput:
    """The input of ``pipeline_id``'s current run (its config, its pinned sub-pipelines…).

    Raises:
        PipelineNotFound: when the workflow's history has no start event.
    """
    handle = client.get_workflow_handle(pipeline_id)
    async for event in handle.fetch_history_events(page_size=1):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            decoded = await client.data_converter.decode(payloads, [PipelineWorkflowInput])
            params: PipelineWorkflowInput = decoded[0]
            return params
        break
    raise PipelineNotFound(f"pipeline {pipeline_id!r} has no start event")
