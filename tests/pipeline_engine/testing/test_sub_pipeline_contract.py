"""Sub-pipelines through the SDK, one test body for the fake engine and the live stack: the fake
resolves and pins references from its own named-pipeline store (the same app) and runs the child
in process, with the same events, ids, results and errors as the child workflows."""

from __future__ import annotations

import pytest

from pipeline_engine import InvalidConfig, PipelineState, chain, step
from pipeline_engine.builders import sub_pipeline, to_wire
from tests.contract.conftest import Backend

pytestmark = pytest.mark.timeout(120)
WAIT = 60.0


async def test_a_sub_pipeline_runs_from_the_store_with_the_same_events(backend: Backend) -> None:
    engine, tenant = backend.engine, backend.tenant_id
    await engine.push_pipeline_version("sizing", pipeline_definition=to_wire(step("t_add", n=1)))
    with pytest.raises(InvalidConfig):  # an unknown reference is refused when written
        await engine.push_pipeline_version(
            "crate", pipeline_definition=to_wire(chain(sub_pipeline("nope")))
        )
    crate = chain(step("t_add", n=2), sub_pipeline("sizing", id="size"), step("t_add", n=10))
    await engine.push_pipeline_version("crate", pipeline_definition=to_wire(crate))
    pid = await engine.process(tenant, {}, pipeline="crate")
    # written after the run was created: the run keeps the version pinned then
    await engine.push_pipeline_version("sizing", pipeline_definition=to_wire(step("t_add", n=50)))
    done = await engine.wait_for(pid, timeout=WAIT)
    assert (done.state, done.result) == (PipelineState.SUCCEEDED, 13)  # 2, 3 (the child), 13
    stage = done.stage("size")
    assert (stage.kind, stage.child_pipeline_id) == ("pipeline", f"{pid}.size")
    child = await engine.wait_for(f"{pid}.size", timeout=WAIT)
    assert (child.state, child.result, child.tenant_id) == (PipelineState.SUCCEEDED, 3, tenant)
    assert child.pipeline_ref is not None and child.pipeline_ref.version == 1
    parent_events = [(e.type, e.payload.get("stage_id")) for e in await engine.get_history(pid)]
    assert ("stage.scheduled", "size") in parent_events
    assert ("stage.succeeded", "size") in parent_events
    child_events = [e.type for e in await engine.get_history(f"{pid}.size")]
    assert child_events == [
        "pipeline.created",
        "pipeline.started",
        "stage.scheduled",
        "stage.succeeded",
        "pipeline.succeeded",
    ]
