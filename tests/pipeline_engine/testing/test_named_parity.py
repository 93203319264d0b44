"""Named pipelines through the SDK, one test body for the fake engine and the live stack.

Every rule (immutable versions, equal documents, ``If-Match``, digests, rollback, the canary's
hash, archives, the audit log) is the server's: the fake serves the same app in-process, so any
drift between the two halves fails here.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest

from api.tenants.aliases import canary_bucket
from pipeline_engine import Conflict, DefinitionNotFound, InvalidConfig, PipelineState, chain, step
from pipeline_engine.builders import to_wire
from tests.contract.conftest import Backend

pytestmark = pytest.mark.timeout(120)
WAIT = 60.0


def adds(*amounts: int) -> dict[str, Any]:
    """A DSL tree adding each amount in turn (its result tells which version ran)."""
    return to_wire(chain(*(step("t_add", n=n) for n in amounts)))


async def test_versions_are_immutable_numbered_and_guarded(backend: Backend) -> None:
    engine = backend.engine
    first = await engine.push_pipeline_version("crates", pipeline_definition=adds(1), message="a")
    assert (first.version, first.name, first.tenant_id) == (1, "crates", backend.tenant_id)
    assert first.message == "a" and first.created_by and len(first.digest) == 64
    again = await engine.push_pipeline_version("crates", pipeline_definition=adds(1))
    assert again.version == 1 and again.digest == first.digest  # equal document: no new version
    second = await engine.push_pipeline_version(
        "crates", pipeline_definition=chain(step("t_add", n=2)), if_match=1, message="b"
    )
    assert second.version == 2 and second.digest != first.digest
    with pytest.raises(Conflict):  # a lost update: version 1 is no longer the latest
        await engine.push_pipeline_version("crates", pipeline_definition=adds(3), if_match=1)
    with pytest.raises(InvalidConfig):
        await engine.push_pipeline_version("crates", pipeline_definition={"type": "nope"})
    third = await engine.push_pipeline_version("crates", pipeline_definition=adds(3), if_match=2)
    assert third.version == 3

    stored = await engine.get_pipeline_version("crates", 1)
    assert stored.pipeline_definition == adds(1) and stored.field == "pipeline_definition"
    assert (await engine.get_pipeline_version("crates")).version == 3
    with pytest.raises(DefinitionNotFound):
        await engine.get_pipeline_version("crates", 9)

    page = await engine.list_pipeline_versions("crates", page_size=2)
    assert [v.version for v in page.items] == [3, 2] and page.next_page_token
    rest = await engine.list_pipeline_versions("crates", page_token=page.next_page_token)
    assert [v.version for v in rest.items] == [1] and rest.next_page_token is None

    patch = await engine.diff_pipeline_versions("crates", 1, 2)
    assert patch and jsonpatch.apply_patch(adds(1), patch) == adds(2)
    assert await engine.diff_pipeline_versions("crates", 3, 3) == []

    listed = await engine.list_named_pipelines()
    assert [(p.name, p.latest_version) for p in listed.items] == [("crates", 3)]


async def test_rollback_alias_archive_and_audit(backend: Backend) -> None:
    engine, tenant = backend.engine, backend.tenant_id
    v1 = await engine.push_pipeline_version("survey", pipeline_definition=adds(1))
    await engine.push_pipeline_version("survey", pipeline_definition=adds(1000))
    back = await engine.rollback_pipeline("survey", 1, message="bad model")
    assert back.version == 3 and back.digest == v1.digest and back.message == "bad model"

    # a canary: the alias runs version 2 for the share of inputs whose hash falls below 50
    alias = await engine.set_pipeline_alias(
        "survey", "live", 3, canary_version=2, canary_percent=50
    )
    assert (alias.version, alias.canary_version, alias.canary_percent) == (3, 2, 50)
    inputs = list(range(8))
    pids = [await engine.process(tenant, {"i": i}, pipeline="survey") for i in inputs]
    results = [(await engine.wait_for(pid, timeout=WAIT)).result for pid in pids]
    expected = [
        1000 if canary_bucket(tenant, "survey", "live", {"i": i}) < 50 else 1 for i in inputs
    ]
    assert results == expected
    again = await engine.process_detailed(tenant, {"i": 0}, pipeline="survey")
    assert again.reused and again.pipeline_id == pids[0]  # the same input goes the same way

    pinned = await engine.process(tenant, {"i": 0}, pipeline="survey", version=2)
    assert (await engine.wait_for(pinned, timeout=WAIT)).result == 1000
    with pytest.raises(DefinitionNotFound):
        await engine.process(tenant, {}, pipeline="survey", alias="beta")

    await engine.archive_pipeline("survey")
    with pytest.raises(Conflict):
        await engine.process(tenant, {"i": 99}, pipeline="survey")
    assert (await engine.get_pipeline_version("survey", 2)).version == 2  # still readable
    listed = await engine.list_named_pipelines()
    assert [(p.name, p.archived, sorted(p.aliases)) for p in listed.items] == [
        ("survey", True, ["live"])
    ]

    audit = await engine.get_audit(pipeline="survey")
    assert [(r.action, r.version) for r in audit.items] == [
        ("pipeline.archived", 3),
        ("pipeline.alias_set", 3),
        ("pipeline.rolled_back", 3),
        ("pipeline.version_created", 2),
        ("pipeline.version_created", 1),
    ]
    first = await engine.get_audit(pipeline="survey", page_size=2)
    assert len(first.items) == 2 and first.next_page_token


def test_sync_twin_pushes_and_runs_a_named_pipeline(backend: Backend) -> None:
    with backend.sync_engine() as engine:
        made = engine.push_pipeline_version("sync", pipeline_definition=adds(5, 5))
        assert made.version == 1
        assert engine.set_pipeline_alias("sync", "live", 1).version == 1
        pid = engine.process(backend.tenant_id, {}, pipeline="sync")
        status = engine.wait_for(pid, timeout=WAIT)
        assert (status.state, status.result) == (PipelineState.SUCCEEDED, 10)
        assert engine.get_audit().items[0].action == "pipeline.alias_set"
