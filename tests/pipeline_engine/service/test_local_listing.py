"""The in-process engine lists and counts pipelines with the same filters as the Temporal one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pipeline_engine.pages import PipelineWhere
from pipeline_engine.service import PreparedConfig
from pipeline_engine.service.local import LocalPipelineEngine
from pipeline_engine.states import PipelineState
from pipeline_engine.steps import StepRegistry
from pipeline_engine.versions import PipelineVersionRef


def _config(name: str) -> dict[str, object]:
    return {"name": name, "definition": {"type": "step", "name": "t_add"}}


async def test_list_and_count_filter_by_tenant_name_and_time(registry: StepRegistry) -> None:
    engine = LocalPipelineEngine(registry)
    try:
        before = datetime.now(UTC) - timedelta(seconds=1)
        for name, tenant in (("alpha-1", "a"), ("alpha-2", "a"), ("beta", "a"), ("alpha-3", "b")):
            await engine.create_pipeline(_config(name), tenant_id=tenant)
        alpha = PipelineWhere(name_prefix="alpha")
        page = await engine.list_pipelines(tenant_ids=["a"], where=alpha)
        assert sorted(i.name or "" for i in page.items) == ["alpha-1", "alpha-2"]
        assert await engine.count_pipelines(tenant_ids=["a"]) == {PipelineState.PENDING.value: 3}
        assert await engine.count_pipelines(where=alpha) == {PipelineState.PENDING.value: 3}
        later = PipelineWhere(started_before=before)
        assert await engine.count_pipelines(where=later) == {}
        assert await engine.count_pipelines(where=PipelineWhere(started_after=before)) != {}
    finally:
        await engine.aclose()


async def test_list_and_count_filter_by_origin(registry: StepRegistry) -> None:
    engine = LocalPipelineEngine(registry)
    try:
        for n, version in enumerate((1, 2, 2)):
            ref = PipelineVersionRef(name="crates", version=version, digest=str(version) * 64)
            config = PreparedConfig.of(_config(f"crates-{version}"), registry=registry)
            created = await engine.create_pipeline(
                replace(config, ref=ref), tenant_id="a", input={"n": n}
            )
            status = await engine.get_pipeline(created.pipeline_id)
            assert status.pipeline_ref == ref
        await engine.create_pipeline(_config("crates"), tenant_id="a")  # raw: no origin
        two = PipelineWhere(pipeline="crates", version=2)
        page = await engine.list_pipelines(where=two)
        assert [i.pipeline_version for i in page.items] == [2, 2]
        assert await engine.count_pipelines(where=PipelineWhere(pipeline="crates")) == {
            PipelineState.PENDING.value: 3
        }
        assert await engine.count_pipelines(where=PipelineWhere(version=1)) == {
            PipelineState.PENDING.value: 1
        }
        assert not (await engine.list_pipelines(where=PipelineWhere(pipeline="other"))).items
    finally:
        await engine.aclose()
