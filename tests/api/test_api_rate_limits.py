"""Request rates and concurrent SSE streams per token and per tenant, against the real app, with
the in-process storage and with the real Redis (a key prefix per test): 429, ``Retry-After``, the
error body naming the limit, slots freed when a client goes away."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline_engine.steps import StepRegistry
from tests.api._limits import limited_api, storage_settings, until_open
from tests.api._support import ApiServer, bearer, pipeline_config, step
from workflows.dev_server import TemporalDevServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> dict[str, str]:
    return storage_settings(request.param)


def _assert_429(response: httpx.Response, limit: str, setting: str) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == "rate_limited"
    assert body["details"][0]["limit"] == limit
    assert body["details"][0]["setting"] == setting
    assert setting in body["message"]


async def test_a_token_over_its_rate_gets_429_with_retry_after(
    temporal_server: TemporalDevServer,
    tmp_path: Path,
    registry: StepRegistry,
    api_server: ApiServer,
    token: Any,
    tenant: str,
    storage: dict[str, str],
) -> None:
    async with limited_api(
        temporal_server,
        tmp_path,
        registry,
        api_server.settings.task_queue,
        rate_limit_per_token="3/minute",
        rate_limit_per_tenant="",
        **storage,
    ) as (_, http):
        mine = bearer(token(["viewer"], [tenant], sub="mine"))
        for _ in range(3):
            assert (await http.get("/v1/steps", headers=mine)).status_code == 200
        refused = await http.get("/v1/steps", headers=mine)
        _assert_429(refused, "per_token", "PIPELINE_ENGINE_RATE_LIMIT_PER_TOKEN")
        assert refused.json()["details"][0]["rate"] == "3 per 1 minute"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # another token of the same tenant has a count of its own; unauthenticated stays 401
        other = bearer(token(["viewer"], [tenant], sub="other"))
        assert (await http.get("/v1/steps", headers=other)).status_code == 200
        assert (await http.get("/v1/steps")).status_code == 401
        # the public and operational pages are not counted
        for _ in range(5):
            assert (await http.get("/healthz")).status_code == 200


async def test_all_tokens_of_a_tenant_share_its_rate(
    temporal_server: TemporalDevServer,
    tmp_path: Path,
    registry: StepRegistry,
    api_server: ApiServer,
    token: Any,
    tenant: str,
    storage: dict[str, str],
) -> None:
    async with limited_api(
        temporal_server,
        tmp_path,
        registry,
        api_server.settings.task_queue,
        rate_limit_per_token="",
        rate_limit_per_tenant="4/minute",
        **storage,
    ) as (_, http):
        first = bearer(token(["viewer"], [tenant], sub="first"))
        second = bearer(token(["operator"], [tenant], sub="second"))
        for headers in (first, second, first, second):
            assert (await http.get("/v1/steps", headers=headers)).status_code == 200
        for headers in (first, second):
            refused = await http.get("/v1/steps", headers=headers)
            _assert_429(refused, "per_tenant", "PIPELINE_ENGINE_RATE_LIMIT_PER_TENANT")
        # another tenant, and the platform's all-tenant token, are not held back by this one
        elsewhere = bearer(token(["viewer"], [tenant + "-b"], sub="first"))
        assert (await http.get("/v1/steps", headers=elsewhere)).status_code == 200
        platform = bearer(token(["admin"], ["*"], sub="platform"))
        assert (await http.get("/v1/steps", headers=platform)).status_code == 200
        # a token naming this tenant and another one counts against both
        both = bearer(token(["viewer"], [tenant + "-b", tenant], sub="both"))
        _assert_429(
            await http.get("/v1/steps", headers=both),
            "per_tenant",
            "PIPELINE_ENGINE_RATE_LIMIT_PER_TENANT",
        )


async def test_limits_can_be_turned_off(
    temporal_server: TemporalDevServer,
    tmp_path: Path,
    registry: StepRegistry,
    api_server: ApiServer,
    token: Any,
    tenant: str,
) -> None:
    async with limited_api(
        temporal_server,
        tmp_path,
        registry,
        api_server.settings.task_queue,
        rate_limits_enabled=False,
        rate_limit_per_token="1/minute",
    ) as (_, http):
        headers = bearer(token(["viewer"], [tenant]))
        for _ in range(5):
            assert (await http.get("/v1/steps", headers=headers)).status_code == 200


async def _pipeline(http: httpx.AsyncClient, token: Any, tenant: str) -> str:
    """A pipeline that waits to be started: its streams stay open."""
    body = {"config": pipeline_config("streamed", step("t_add")), "tenant_id": tenant}
    created = await http.post(
        "/v1/pipelines", json=body, headers=bearer(token(["operator"], [tenant]))
    )
    assert created.status_code == 201, created.text
    return str(created.json()["pipeline_id"])


@asynccontextmanager
async def _open(
    http: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> AsyncIterator[httpx.Response]:
    async with http.stream("GET", path, headers=headers) as response:
        yield response


async def test_concurrent_streams_per_token_are_freed_on_disconnect(
    temporal_server: TemporalDevServer,
    tmp_path: Path,
    registry: StepRegistry,
    api_server: ApiServer,
    token: Any,
    tenant: str,
    storage: dict[str, str],
) -> None:
    async with limited_api(
        temporal_server,
        tmp_path,
        registry,
        api_server.settings.task_queue,
        streams_per_token=2,
        streams_per_tenant=0,
        **storage,
    ) as (api, http):
        pid = await _pipeline(http, token, tenant)
        viewer = bearer(token(["viewer"], [tenant], sub="watcher"))
        events, metrics = f"/v1/pipelines/{pid}/events", f"/v1/pipelines/{pid}/metrics"
        limits = api.app.state.ctx.limits
        async with AsyncExitStack() as held:
            first = await held.enter_async_context(_open(http, events, viewer))
            second = await held.enter_async_context(_open(http, metrics, viewer))
            assert first.status_code == second.status_code == 200
            assert limits.open_streams == 2
            third = await http.get(events, headers=viewer)  # the events and metrics streams
            _assert_429(third, "streams_per_token", "PIPELINE_ENGINE_STREAMS_PER_TOKEN")
            assert (await http.get(metrics, headers=viewer)).status_code == 429
            # another token is not held back, a refused stream took no slot
            other = bearer(token(["viewer"], [tenant], sub="other"))
            async with _open(http, events, other) as fourth:
                assert fourth.status_code == 200
            # the client of the first stream goes away: its slot comes free
            await first.aclose()
        # every stream closed: each slot is free again
        await until_open(http, events, viewer, limit="streams_per_token")
        async with _open(http, events, viewer) as again, _open(http, metrics, viewer) as more:
            assert again.status_code == more.status_code == 200
        deadline = time.monotonic() + 30
        while limits.open_streams and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert limits.open_streams == 0


async def test_concurrent_streams_per_tenant(
    temporal_server: TemporalDevServer,
    tmp_path: Path,
    registry: StepRegistry,
    api_server: ApiServer,
    token: Any,
    tenant: str,
    storage: dict[str, str],
) -> None:
    async with limited_api(
        temporal_server,
        tmp_path,
        registry,
        api_server.settings.task_queue,
        streams_per_token=0,
        streams_per_tenant=1,
        **storage,
    ) as (_, http):
        pid = await _pipeline(http, token, tenant)
        theirs = await _pipeline(http, token, tenant + "-b")
        path = f"/v1/pipelines/{pid}/events"
        async with _open(http, path, bearer(token(["viewer"], [tenant], sub="one"))) as one:
            assert one.status_code == 200
            platform = bearer(token(["admin"], ["*"], sub="platform"))
            _assert_429(
                await http.get(path, headers=platform),
                "streams_per_tenant",
                "PIPELINE_ENGINE_STREAMS_PER_TENANT",
            )
            # the other tenant's pipelines have slots of their own
            other = f"/v1/pipelines/{theirs}/events"
            async with _open(http, other, platform) as theirs_open:
                assert theirs_open.status_code == 200
        # a 404 takes no slot and says nothing about the limit
        missing = await http.get(
            "/v1/pipelines/nope/events", headers=bearer(token(["viewer"], [tenant]))
        )
        assert missing.status_code == 404


def test_settings_that_are_not_valid_stop_the_start(tmp_path: Path) -> None:
    from api.app import create_app
    from tests.api._support import make_settings

    db = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(ValueError, match="PIPELINE_ENGINE_RATE_LIMIT_PER_TOKEN"):
        create_app(make_settings(None, db, rate_limit_per_token="lots"))
    with pytest.raises(ValueError, match="PIPELINE_ENGINE_RATE_LIMIT_STORAGE_URL"):
        create_app(make_settings(None, db, rate_limit_storage_url="memcached://x:1"))


async def test_a_batch_results_download_counts_among_the_streams(
    temporal_server: TemporalDevServer,
    tmp_path: Path,
    registry: StepRegistry,
    api_server: ApiServer,
    token: Any,
    tenant: str,
) -> None:
    async with limited_api(
        temporal_server,
        tmp_path,
        registry,
        api_server.settings.task_queue,
        streams_per_token=1,
        streams_per_tenant=0,
    ) as (api, http):
        admin = bearer(token(["admin"], [tenant], sub="batcher"))
        config = {"pipeline_definition": step("t_add")}
        put = await http.put(f"/v1/tenants/{tenant}/config", json=config, headers=admin)
        assert put.status_code in (200, 201), put.text
        body = {"tenant_id": tenant, "inputs": [{"n": 1}]}
        created = await http.post("/v1/batches", json=body, headers=admin)
        assert created.status_code == 201, created.text
        results = f"/v1/batches/{created.json()['batch_id']}/results"
        pid = await _pipeline(http, token, tenant)
        async with _open(http, f"/v1/pipelines/{pid}/events", admin) as held:
            assert held.status_code == 200
            _assert_429(
                await http.get(results, headers=admin),
                "streams_per_token",
                "PIPELINE_ENGINE_STREAMS_PER_TOKEN",
            )
        await until_open(http, results, admin, limit="streams_per_token")
        deadline = time.monotonic() + 30
        while api.app.state.ctx.limits.open_streams and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert api.app.state.ctx.limits.open_streams == 0  # the download ended: its slot too
