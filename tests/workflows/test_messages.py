"""The pipeline's input as a worker of the previous release reads it: fields added since are left
out of the payload while at their defaults (its models forbid unknown fields), and read back."""

from __future__ import annotations

from pipeline_engine.dsl import PipelineConfig
from pipeline_engine.versions import PipelineVersionRef
from workflows.messages import PipelineWorkflowInput

CONFIG = PipelineConfig.model_validate(
    {"schema_version": "1", "name": "p", "definition": {"type": "step", "name": "t_add"}}
)
NEWER = {"pipeline_ref", "pinned", "reuse", "input_as_previous"}


def test_a_run_using_no_newer_field_has_the_input_older_workers_read() -> None:
    data = PipelineWorkflowInput(config=CONFIG, trace_id="t").model_dump(mode="json")
    assert NEWER.isdisjoint(data), sorted(NEWER & set(data))
    assert PipelineWorkflowInput.model_validate(data) == PipelineWorkflowInput(
        config=CONFIG, trace_id="t"
    )


def test_a_newer_field_set_travels_and_reads_back() -> None:
    ref = PipelineVersionRef(name="crates", version=2, digest="0" * 64)
    sent = PipelineWorkflowInput(
        config=CONFIG, trace_id="t", pipeline_ref=ref, input_as_previous=True
    )
    data = sent.model_dump(mode="json")
    assert data["pipeline_ref"] == ref.model_dump(mode="json")
    assert data["input_as_previous"] is True
    assert "pinned" not in data and "reuse" not in data
    assert PipelineWorkflowInput.model_validate(data) == sent
