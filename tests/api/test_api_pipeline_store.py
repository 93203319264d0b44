"""Named pipelines in the tenant store: migration of old rows, versions, aliases, archive, audit.

Every test runs on SQLite and on the PostgreSQL at 127.0.0.1:5432 (fixtures in conftest.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from api.tenants import TenantConfigStore
from api.tenants.aliases import canary_bucket, choose
from api.tenants.migrate import downgrade, upgrade
from api.tenants.pipelines import PipelineStore
from api.tenants.urls import sync_url
from api.tenants.versions import NewVersion, digest_of
from pipeline_engine.errors import Conflict, InvalidInput, NotFound
from pipeline_engine.versions import PipelineAlias

TREE_1 = {
    "type": "chain",
    "steps": [
        {"type": "step", "name": "segmentation"},
        {"type": "step", "name": "detection", "kwargs": {"segment_type": "cajón", "t": 0.25}},
    ],
}
TREE_2 = {"type": "chain", "steps": [{"type": "step", "name": "segmentation"}]}
CONFIG_3 = {"schema_version": "1", "name": "crates", "definition": TREE_1}


def _tree(i: int) -> NewVersion:
    return NewVersion("pipeline_definition", {"type": "step", "name": f"s{i}"}, "1", f"v{i}")


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[tuple[TenantConfigStore, PipelineStore]]:
    await asyncio.to_thread(upgrade, db_url)
    s = TenantConfigStore(db_url)
    yield s, PipelineStore(s)
    await s.close()


def test_migration_turns_every_definition_into_version_1_of_default(db_url: str) -> None:
    """Rows in the 0003 shape keep their definitions, byte for byte, as ``default`` version 1."""
    upgrade(db_url, "0003")
    engine = sa.create_engine(sync_url(db_url))
    written = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    old = {
        "acme": TREE_1,
        "beta": {"type": "step", "name": "size_calculator", "kwargs": {"big": 1e300, "n": [1, 2]}},
    }
    with engine.begin() as conn:
        for tenant, tree in old.items():
            conn.execute(
                sa.text(
                    "INSERT INTO tenant_config (tenant_id, pipeline_definition, settings, "
                    "version, updated_at, priority) VALUES (:t, :d, :s, 7, :w, 2)"
                ),
                {"t": tenant, "d": json.dumps(tree), "s": json.dumps({"k": tenant}), "w": written},
            )
    with engine.connect() as conn:  # what the old column reads back (JSONB keeps 1e300 exact)
        before = {
            t: json.loads(d) if isinstance(d, str) else d
            for t, d in conn.execute(
                sa.text("SELECT tenant_id, pipeline_definition FROM tenant_config")
            ).all()
        }
    assert before.keys() == old.keys()
    upgrade(db_url, "0004")
    store = TenantConfigStore(db_url)
    pipelines = PipelineStore(store)

    async def check() -> None:
        for tenant, tree in before.items():
            v1 = await pipelines.get(tenant, "default")
            assert (v1.version, v1.field, v1.pipeline_definition) == (
                1,
                "pipeline_definition",
                tree,
            )
            assert v1.digest == digest_of(tree) and v1.schema_version == "1"
            assert v1.created_by == "migration" and v1.created_at == written
            row = await store.get(tenant)
            assert row is not None and row.pipeline_definition == tree
            assert (row.version, row.settings, row.priority) == (7, {"k": tenant}, 2)
            records, _ = await pipelines.audit(tenant, limit=10, before=None)
            assert [(r.action, r.pipeline, r.version) for r in records] == [
                ("pipeline.version_created", "default", 1)
            ]
        # a later write, then back to 0003: the latest definition returns to the column
        await store.put("acme", pipeline_definition=TREE_2, settings={})

    asyncio.run(check())
    asyncio.run(store.close())
    downgrade(db_url, "0003")
    with engine.connect() as conn:
        rows = dict(
            conn.execute(sa.text("SELECT tenant_id, pipeline_definition FROM tenant_config")).all()
        )
    decoded = {t: json.loads(d) if isinstance(d, str) else d for t, d in rows.items()}
    assert decoded == {"acme": TREE_2, "beta": before["beta"]}
    engine.dispose()
    upgrade(db_url, "head")


async def test_versions_are_immutable_deduplicated_and_guarded(
    stores: tuple[TenantConfigStore, PipelineStore],
) -> None:
    _, pipelines = stores
    v1, created = await pipelines.write("t1", "crates", _tree(1), actor="ana", expected=0)
    assert created and (v1.version, v1.created_by, v1.message) == (1, "ana", "v1")
    again, created = await pipelines.write("t1", "crates", _tree(1), actor="bob")
    assert not created and again == v1  # equal document: no new version
    with pytest.raises(Conflict):
        await pipelines.write("t1", "crates", _tree(2), actor="bob", expected=0)
    v2, _ = await pipelines.write("t1", "crates", _tree(2), actor="bob", expected=1)
    config = NewVersion("config", CONFIG_3, "1", None)
    v3, _ = await pipelines.write("t1", "crates", config, actor="bob")
    assert v3.version == 3 and v3.config == CONFIG_3 and v3.pipeline_definition is None
    assert v3.model_dump(mode="json").keys() >= {"config"}
    assert "pipeline_definition" not in v3.model_dump(mode="json")
    assert (await pipelines.get("t1", "crates", 1)).pipeline_definition == _tree(1).document
    page, cursor = await pipelines.versions("t1", "crates", limit=2, before=None)
    assert [v.version for v in page] == [3, 2] and cursor == 2
    page, cursor = await pipelines.versions("t1", "crates", limit=2, before=cursor)
    assert [v.version for v in page] == [1] and cursor is None
    # rollback: a new version with the digest of the one it copies
    v4, created = await pipelines.rollback("t1", "crates", 1, actor="ana", message=None)
    assert created and v4.version == 4 and v4.digest == v1.digest
    assert v4.message == "rolled back to version 1"
    with pytest.raises(NotFound):
        await pipelines.get("t1", "crates", 9)
    with pytest.raises(NotFound):
        await pipelines.get("t1", "nothing")
    assert v2.tenant_id == "t1"


async def test_concurrent_writers_one_wins(stores: tuple[TenantConfigStore, PipelineStore]) -> None:
    _, pipelines = stores
    await pipelines.write("t2", "p", _tree(0), actor="a")
    results = await asyncio.gather(
        *(pipelines.write("t2", "p", _tree(i), actor="a", expected=1) for i in range(1, 5)),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    assert len(wins) == 1, results
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    assert (await pipelines.get("t2", "p")).version == 2


async def test_aliases_canary_archive_and_audit(
    stores: tuple[TenantConfigStore, PipelineStore],
) -> None:
    tenants, pipelines = stores
    for i in (1, 2, 3):
        await pipelines.write("t3", "p", _tree(i), actor="ana")
    # no alias: the latest runs
    assert (await pipelines.resolve("t3", "p", input={"x": 1})).version == 3
    with pytest.raises(InvalidInput):
        await pipelines.set_alias(
            "t3", "p", "live", version=7, canary_version=None, canary_percent=None, actor="ana"
        )
    with pytest.raises(InvalidInput):
        await pipelines.set_alias(
            "t3", "p", "live", version=1, canary_version=2, canary_percent=None, actor="ana"
        )
    alias = await pipelines.set_alias(
        "t3", "p", "live", version=1, canary_version=2, canary_percent=10, actor="ana"
    )
    assert (alias.version, alias.canary_version, alias.canary_percent) == (1, 2, 10)
    chosen = [(await pipelines.resolve("t3", "p", input={"i": i})).version for i in range(200)]
    assert set(chosen) == {1, 2} and 8 <= chosen.count(2) <= 40, chosen.count(2)
    repeat = [(await pipelines.resolve("t3", "p", input={"i": i})).version for i in range(200)]
    assert repeat == chosen  # the same input, the same side
    assert (await pipelines.resolve("t3", "p", version=3, input={})).version == 3
    with pytest.raises(NotFound):
        await pipelines.resolve("t3", "p", alias="beta", input={})
    [listed] = await pipelines.names("t3")
    assert listed.latest_version == 3 and set(listed.aliases) == {"live"}
    await pipelines.archive("t3", "p", actor="bob")
    with pytest.raises(Conflict):
        await pipelines.resolve("t3", "p", input={})
    assert (await pipelines.get("t3", "p", 2)).version == 2  # still readable
    assert (await pipelines.names("t3"))[0].archived
    # a tenant config write is audited too, as the default pipeline
    await tenants.put("t3", pipeline_definition=TREE_2, settings={}, actor="cy", message="m")
    records, _ = await pipelines.audit("t3", limit=50, before=None)
    assert [(r.action, r.pipeline, r.version, r.actor) for r in records] == [
        ("tenant_config.written", "default", 1, "cy"),
        ("pipeline.archived", "p", 3, "bob"),
        ("pipeline.alias_set", "p", 1, "ana"),
        ("pipeline.version_created", "p", 3, "ana"),
        ("pipeline.version_created", "p", 2, "ana"),
        ("pipeline.version_created", "p", 1, "ana"),
    ]
    page, cursor = await pipelines.audit("t3", limit=4, before=None)
    rest, end = await pipelines.audit("t3", limit=4, before=cursor)
    assert len(page) == 4 and len(rest) == 2 and end is None
    assert records[2].message == "live -> version 1, canary version 2 at 10%"


async def test_tenant_config_is_the_default_pipeline(
    stores: tuple[TenantConfigStore, PipelineStore],
) -> None:
    tenants, pipelines = stores
    row = await tenants.put("t4", pipeline_definition=TREE_1, settings={"a": 1}, actor="ana")
    assert row.version == 1
    same = await tenants.put(
        "t4", pipeline_definition=TREE_1, settings={"a": 2}, expected_version=1
    )
    assert same.version == 2
    assert (await pipelines.get("t4", "default")).version == 1  # same document: no new version
    # a version of default written through the pipelines store is a write of the config
    await pipelines.write(
        "t4", "default", NewVersion("pipeline_definition", TREE_2, "1"), actor="b"
    )
    got = await tenants.get("t4")
    assert got is not None and got.pipeline_definition == TREE_2 and got.version == 3
    with pytest.raises(Conflict):  # the If-Match read before it is a lost update now
        await tenants.put("t4", pipeline_definition=TREE_1, settings={}, expected_version=2)
    # deleting the config archives default; writing it again revives it with a new version
    await tenants.delete("t4", actor="ana")
    assert await tenants.get("t4") is None
    with pytest.raises(Conflict):
        await pipelines.resolve("t4", "default", input={})
    await tenants.put("t4", pipeline_definition=TREE_2, settings={})
    assert (await pipelines.resolve("t4", "default", input={})).version == 3


def test_canary_choice_is_a_pure_function_of_the_input() -> None:
    alias = PipelineAlias(
        alias="live", version=1, canary_version=2, canary_percent=25.0, updated_at=datetime.now(UTC)
    )
    picks = [choose(alias, "t", "p", {"n": i}) for i in range(2000)]
    assert abs(picks.count(2) / 2000 - 0.25) < 0.05
    assert choose(alias, "t", "p", {"n": 3}) == choose(alias, "t", "p", {"n": 3})
    assert 0 <= canary_bucket("t", "p", "live", None) < 100
    off = alias.model_copy(update={"canary_percent": 0.0})
    assert {choose(off, "t", "p", {"n": i}) for i in range(100)} == {1}
