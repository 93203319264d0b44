"""A schedule's runs counted where they start: the first run of a ``PipelineWorkflow`` that a
Temporal Schedule started (Temporal records the schedule on it: ``TemporalScheduledById``).

Counted on the worker's metrics (``pipeline_engine_schedule_runs``), from the workflow's metric
meter, which records nothing while a history replays: each run counts once, whichever worker runs
it. Trigger-now and backfill runs count too (a schedule started them); a pipeline continued as
new does not count again.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey

from pipeline_engine.observability.metric_labels import pipeline_labels

__all__ = ["SCHEDULED_BY", "count_schedule_run"]

SCHEDULED_BY = SearchAttributeKey.for_keyword("TemporalScheduledById")
"""The search attribute Temporal sets on a run a schedule started: the schedule's Temporal id."""


def count_schedule_run(tenant_id: str | None) -> None:
    """Count this run if a schedule started it (call once, at the start of a first run)."""
    scheduled_by = workflow.info().typed_search_attributes.get(SCHEDULED_BY)
    if not scheduled_by:
        return
    # the Temporal id is "<tenant>.<schedule id>": the schedule's own id is the label
    schedule = scheduled_by.split(".", 1)[1] if "." in scheduled_by else scheduled_by
    workflow.metric_meter().create_counter(
        "pipeline_engine_schedule_runs", "Pipelines started by a schedule"
    ).add(1, pipeline_labels(tenant_id or "", schedule=schedule))
