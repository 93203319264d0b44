"""The SDK's named-pipeline methods against the live stack (real API under uvicorn, Temporal)."""

from __future__ import annotations

import uuid

import pytest

from pipeline_engine import (
    AsyncPipelineClient,
    Conflict,
    DefinitionNotFound,
    InvalidInput,
    PipelineClient,
    pipeline,
    step,
)
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.timeout(120)


def tenant() -> str:
    return f"n-{uuid.uuid4().hex[:10]}"


async def test_a_whole_config_comes_back_in_its_own_field(live_stack: LiveStack) -> None:
    async with AsyncPipelineClient(live_stack.base_url, token=live_stack.token) as client:
        t = tenant()
        written = await client.push_pipeline_version(
            "whole", config=pipeline("whole", step("t_add", n=4)), tenant_id=t, if_match=0
        )
        assert written.version == 1
        stored = await client.get_pipeline_version("whole", tenant_id=t)
        assert stored.field == "config" and stored.pipeline_definition is None
        assert stored.config is not None and stored.config["name"] == "whole"
        assert stored.model_dump().keys() >= {"config", "digest"}
        assert "pipeline_definition" not in stored.model_dump()
        with pytest.raises(Conflict):  # If-Match 0: the name must be new
            await client.push_pipeline_version(
                "whole", config=pipeline("whole", step("t_add", n=5)), tenant_id=t, if_match=0
            )
        with pytest.raises(InvalidInput):  # neither field
            await client.push_pipeline_version("whole", tenant_id=t)
        with pytest.raises(DefinitionNotFound):
            await client.diff_pipeline_versions("nothing", 1, 2, tenant_id=t)


def test_the_sync_client_needs_a_tenant_and_uses_its_own(live_stack: LiveStack) -> None:
    with (
        PipelineClient(live_stack.base_url, token=live_stack.token) as anonymous,
        pytest.raises(ValueError, match="tenant_id"),
    ):
        anonymous.list_named_pipelines()
    t = tenant()
    with PipelineClient(live_stack.base_url, token=live_stack.token, tenant_id=t) as client:
        client.push_pipeline_version("p", pipeline_definition=step("t_add"))
        assert [p.name for p in client.list_named_pipelines().items] == ["p"]
        assert client.list_named_pipelines(tenant_id=tenant()).items == []
        versions = client.list_pipeline_versions("p")
        assert [v.version for v in versions.items] == [1]
        assert versions.items[0].created_by == "live-tests"
