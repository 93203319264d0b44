"""The tenant config store and its migrations, on SQLite and on the PostgreSQL at 127.0.0.1:5432."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from api.tenants import TenantConfigCache, TenantConfigStore
from api.tenants.migrate import downgrade, upgrade
from api.tenants.table import metadata
from pipeline_engine.errors import Conflict, InvalidConfig, TenantNotFound
from pipeline_engine.service import TaskPriority
from pipeline_engine.steps import StepRegistry

SEED_TREE = {
    "type": "chain",
    "steps": [
        {"type": "step", "name": "segmentation"},
        {
            "type": "chord",
            "group": {
                "type": "group",
                "steps": [
                    {
                        "type": "step",
                        "name": "sahi_detection",
                        "kwargs": {"segment_type": "claro-cajon"},
                    },
                    {"type": "step", "name": "detection", "kwargs": {"segment_type": "cajon"}},
                ],
            },
            "callback": {"type": "step", "name": "aggregate_detections"},
        },
    ],
}


async def test_crud_and_optimistic_concurrency(store: TenantConfigStore) -> None:
    assert await store.get("acme") is None
    row = await store.put("acme", pipeline_definition=SEED_TREE, settings={"a": [1, "x"]})
    assert row.version == 1
    got = await store.get("acme")
    assert got is not None
    assert got.pipeline_definition == SEED_TREE and got.settings == {"a": [1, "x"]}
    assert got.updated_at.tzinfo is not None
    with pytest.raises(Conflict):
        await store.put("acme", pipeline_definition=SEED_TREE, settings={}, expected_version=5)
    with pytest.raises(Conflict):
        await store.put("acme", pipeline_definition=SEED_TREE, settings={}, expected_version=0)
    row2 = await store.put("acme", pipeline_definition=SEED_TREE, settings={}, expected_version=1)
    assert row2.version == 2 and row2.updated_at >= got.updated_at
    new = await store.put("beta", pipeline_definition=SEED_TREE, settings={}, expected_version=0)
    assert new.version == 1
    assert {t: v for t, (v, _) in (await store.versions()).items()} == {"acme": 2, "beta": 1}
    assert [r.tenant_id for r in await store.all()] == ["acme", "beta"]
    with pytest.raises(Conflict):
        await store.delete("acme", expected_version=1)
    await store.delete("acme")
    with pytest.raises(TenantNotFound):
        await store.delete("acme")
    assert list(await store.versions()) == ["beta"]


async def test_priority_is_stored_and_checked_at_load(
    store: TenantConfigStore, registry: StepRegistry
) -> None:
    row = await store.put(
        "fast", pipeline_definition=SEED_TREE, settings={}, priority=1, fairness_weight=2.5
    )
    assert (row.priority, row.fairness_weight, row.version) == (1, 2.5, 1)
    got = await store.get("fast")
    assert got is not None and (got.priority, got.fairness_weight) == (1, 2.5)
    # written elsewhere out of range (not through the API): reported, not served
    await store.put("odd", pipeline_definition=SEED_TREE, settings={}, priority=9)
    cache = TenantConfigCache(store, registry)
    await cache.load_all()
    assert cache.get("fast").priority == TaskPriority(1, 2.5)
    assert cache.priority_of("fast") == TaskPriority(1, 2.5)
    assert cache.priority_of("odd") is None and cache.priority_of("nobody") is None
    with pytest.raises(InvalidConfig) as err:
        cache.get("odd")
    assert [d["path"] for d in err.value.details] == ["$.priority"]
    # a write without them unsets them
    row = await store.put("fast", pipeline_definition=SEED_TREE, settings={})
    assert (row.priority, row.fairness_weight, row.version) == (None, None, 2)


async def test_lookup_reads_a_tenant_the_cache_has_not_seen(
    store: TenantConfigStore, registry: StepRegistry
) -> None:
    """Written through another API process: served at once, not after the next refresh."""
    cache = TenantConfigCache(store, registry)
    await cache.load_all()
    await store.put("late", pipeline_definition=SEED_TREE, settings={"n": 1})
    with pytest.raises(TenantNotFound):
        cache.get("late")
    found = await cache.lookup("late")
    assert found.settings == {"n": 1} and found.config.config.name == "late"
    assert cache.get("late") is found
    with pytest.raises(TenantNotFound):
        await cache.lookup("nobody")


async def test_concurrent_writers_never_lose_an_update(store: TenantConfigStore) -> None:
    await store.put("race", pipeline_definition=SEED_TREE, settings={})
    results = await asyncio.gather(
        *(
            store.put("race", pipeline_definition=SEED_TREE, settings={"i": i}, expected_version=1)
            for i in range(4)
        ),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    assert len(wins) == 1, results
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))


async def test_cache_reports_invalid_rows_and_serves_the_rest(
    store: TenantConfigStore, registry: StepRegistry
) -> None:
    await store.put("good", pipeline_definition=SEED_TREE, settings={"species": ["tomate"]})
    await store.put(
        "bad",
        pipeline_definition={"type": "chain", "steps": [{"type": "step", "name": "gone"}]},
        settings={},
    )
    await store.put("broken", pipeline_definition={"type": "loop"}, settings={})
    cache = TenantConfigCache(store, registry)
    await cache.load_all()
    assert cache.counts() == (1, 2)
    good = cache.get("good")
    assert good.settings == {"species": ["tomate"]} and good.config.config.name == "good"
    with pytest.raises(InvalidConfig) as err:
        cache.get("bad")
    assert err.value.details[0]["path"] == "$.pipeline_definition.steps[0].name"
    with pytest.raises(TenantNotFound):
        cache.get("nobody")
    report = cache.report()
    assert set(report["invalid"]) == {"bad", "broken"}
    # another writer fixes one row and deletes another: refresh picks up exactly those
    await store.put("bad", pipeline_definition=SEED_TREE, settings={})
    await store.delete("good")
    assert await cache.refresh() == 2
    assert cache.get("bad").version == 2
    with pytest.raises(TenantNotFound):
        cache.get("good")
    assert await cache.refresh() == 0
    # deleted and created again between two refreshes: same version 1, new write time
    await store.put("fresh", pipeline_definition=SEED_TREE, settings={"n": 1})
    assert await cache.refresh() == 1
    await store.delete("fresh")
    await store.put("fresh", pipeline_definition=SEED_TREE, settings={"n": 2})
    assert await cache.refresh() == 1
    assert cache.get("fresh").settings == {"n": 2} and cache.get("fresh").version == 1


async def test_column_types(store: TenantConfigStore, db_url: str) -> None:
    def columns(table: str) -> dict[str, Any]:
        with store.engine.connect() as conn:
            return {c["name"]: c for c in sa.inspect(conn).get_columns(table)}

    cols = await asyncio.to_thread(columns, "tenant_config")
    assert set(cols) == {
        "tenant_id",
        "settings",
        "version",
        "updated_at",
        "priority",
        "fairness_weight",
    }
    assert cols["priority"]["nullable"] and cols["fairness_weight"]["nullable"]
    versions = await asyncio.to_thread(columns, "pipeline_version")
    assert not versions["document"]["nullable"]
    kind = type(versions["document"]["type"]).__name__
    assert kind == ("JSONB" if db_url.startswith("postgresql") else "JSON")
    # the table models used by the store match the migrated tables
    for table in metadata.sorted_tables:
        migrated = await asyncio.to_thread(columns, table.name)
        assert set(migrated) == {c.name for c in table.columns}, table.name


def test_migration_replaces_pipeline_steps(db_url: str) -> None:
    """Revision 1 is the legacy table; revision 2 is the seed's DROP/ADD (and refuses data)."""
    upgrade(db_url, "0001")
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        cols = {c["name"] for c in sa.inspect(conn).get_columns("tenant_config")}
    assert cols == {"tenant_id", "pipeline_steps", "settings"}
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tenant_config (tenant_id, pipeline_steps) VALUES ('old', '[\"a\"]')"
            )
        )
    with pytest.raises(RuntimeError, match="legacy rows"):
        upgrade(db_url, "0002")
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM tenant_config"))
    upgrade(db_url, "head")
    with engine.connect() as conn:
        cols = {c["name"] for c in sa.inspect(conn).get_columns("tenant_config")}
    assert "pipeline_steps" not in cols and "pipeline_definition" not in cols
    downgrade(db_url, "0001")
    upgrade(db_url, "head")
    engine.dispose()


def test_seed_sql_is_verbatim() -> None:
    import importlib

    mod = importlib.import_module("api.migrations.versions.0002_pipeline_definition")
    sql = " ".join(mod.SEED_SQL.split())
    assert sql == (
        "ALTER TABLE tenant_config DROP COLUMN pipeline_steps, "
        "ADD COLUMN pipeline_definition JSONB NOT NULL"
    )
