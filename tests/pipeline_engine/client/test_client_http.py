"""Requests, authentication, error mapping, retries and timeouts of both clients."""

from __future__ import annotations

import builtins
import time
from datetime import UTC, datetime

import httpx
import pytest

from pipeline_engine import (
    AsyncPipelineClient,
    AuthenticationError,
    ClientRetryPolicy,
    Conflict,
    EngineUnavailable,
    InvalidConfig,
    InvalidInput,
    InvalidState,
    PermissionDenied,
    PipelineClient,
    PipelineError,
    PipelineNotFound,
    PipelineState,
    StageNotFound,
    TimeoutError,
    chain,
    pipeline,
    step,
)
from tests.pipeline_engine.client.mock_server import (
    Recorder,
    body_of,
    fail_connect,
    reply,
    status_body,
)

FAST = ClientRetryPolicy(max_attempts=4, initial_backoff_s=0.01, max_backoff_s=0.02, jitter=0)
CONFIG = pipeline("p", chain(step("a", n=1), "b"))
PID = "pl-0123"


def sync_client(transport: httpx.MockTransport, **kwargs: object) -> PipelineClient:
    options: dict[str, object] = {"token": "jwt", "retry_policy": FAST, **kwargs}
    return PipelineClient("http://engine.test/", transport=transport, **options)  # type: ignore[arg-type]


def async_client(transport: httpx.MockTransport, **kwargs: object) -> AsyncPipelineClient:
    options: dict[str, object] = {"token": "jwt", "retry_policy": FAST, **kwargs}
    return AsyncPipelineClient("http://engine.test/", transport=transport, **options)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- requests
async def test_create_sends_the_wire_config_and_bearer_token(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    server.on("POST", "/v1/pipelines", reply(201, {"pipeline_id": PID, "state": "PENDING"}))
    async with async_client(transport, tenant_id="acme") as client:
        pid = await client.create_pipeline(CONFIG, input={"x": 1}, idempotency_key="k1")
        assert pid == PID
        await client.create_pipeline({"name": "p", "definition": {"type": "step", "name": "a"}})
        await client.create_pipeline('{"name": "p", "definition": {"type": "step", "name": "a"}}')
    first, second, third = server.calls("POST", "/v1/pipelines")
    assert first.headers["authorization"] == "Bearer jwt"
    assert body_of(first) == {
        "config": {
            "schema_version": "1",
            "name": "p",
            "definition": {
                "type": "chain",
                "steps": [
                    {"type": "step", "name": "a", "kwargs": {"n": 1}},
                    {"type": "step", "name": "b"},
                ],
            },
        },
        "input": {"x": 1},
        "tenant_id": "acme",
        "idempotency_key": "k1",
    }
    assert body_of(second)["config"] == body_of(third)["config"]
    assert body_of(second)["tenant_id"] == "acme"


def test_sync_commands_and_reads(server: Recorder, transport: httpx.MockTransport) -> None:
    base = f"/v1/pipelines/{PID}"
    server.on("POST", f"{base}/start", reply(200, {"pipeline_id": PID, "state": "RUNNING"}))
    server.on("POST", f"{base}/cancel", reply(200, {"pipeline_id": PID, "state": "CANCELLED"}))
    server.on(
        "POST", f"{base}/stages/st%2F1/retry", reply(200, {"pipeline_id": PID, "state": "RUNNING"})
    )
    server.on("POST", f"{base}/input", reply(200, {"pipeline_id": PID, "state": "RUNNING"}))
    server.on("GET", base, reply(200, status_body(PID, "WAITING_INPUT")))
    server.on(
        "GET",
        f"{base}/history",
        reply(
            200,
            [
                {
                    "id": 1,
                    "type": "pipeline.created",
                    "payload": {},
                    "timestamp": "2026-01-01T00:00:00Z",
                    "trace_id": "t",
                    "version": 1,
                }
            ],
        ),
    )
    with sync_client(transport) as client:
        assert client.start_pipeline(PID) is PipelineState.RUNNING
        assert client.cancel_pipeline(PID, "enough") is PipelineState.CANCELLED
        assert client.retry_stage(PID, "st/1", "flaky") is PipelineState.RUNNING
        state = client.submit_input(PID, {"ok": True}, "ana", stage_id="approve")
        assert state is PipelineState.RUNNING
        assert client.get_status(PID) is PipelineState.WAITING_INPUT
        assert client.get_pipeline(PID).pipeline_id == PID
        since = datetime(2026, 1, 1, tzinfo=UTC)
        events = client.get_history(PID, since, after_id=0)
        assert [e.type for e in events] == ["pipeline.created"]
    assert body_of(server.calls("POST", f"{base}/cancel")[0]) == {"reason": "enough"}
    assert body_of(server.calls("POST", f"{base}/stages/st%2F1/retry")[0]) == {"reason": "flaky"}
    assert body_of(server.calls("POST", f"{base}/input")[0]) == {
        "payload": {"ok": True},
        "responder": "ana",
        "stage_id": "approve",
    }
    history = server.calls("GET", f"{base}/history")[0]
    assert history.url.params["since"] == since.isoformat()
    assert history.url.params["after_id"] == "0"


def test_token_from_environment(
    server: Recorder, transport: httpx.MockTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.on("GET", f"/v1/pipelines/{PID}", reply(200, status_body(PID)))
    monkeypatch.setenv("PIPELINE_ENGINE_TOKEN", "service-account-token")
    with PipelineClient("http://engine.test", transport=transport) as client:
        client.get_status(PID)
    monkeypatch.delenv("PIPELINE_ENGINE_TOKEN")
    with PipelineClient("http://engine.test", transport=transport) as client:
        client.get_status(PID)
    rotating = iter(["one", "two"])
    with PipelineClient(
        "http://engine.test", transport=transport, token=lambda: next(rotating)
    ) as client:
        client.get_status(PID)
        client.get_status(PID)
    auth = [r.headers.get("authorization") for r in server.requests]
    assert auth == ["Bearer service-account-token", None, "Bearer one", "Bearer two"]


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"error": "pipeline_not_found", "message": "no"}, PipelineNotFound),
        (404, {"error": "not_found", "message": "no"}, PipelineNotFound),
        (404, {"error": "stage_not_found", "message": "no"}, StageNotFound),
        (401, {"error": "unauthenticated", "message": "expired"}, AuthenticationError),
        (403, {"error": "permission_denied", "message": "operator"}, PermissionDenied),
        (409, {"error": "invalid_state", "message": "ended"}, InvalidState),
        (409, {"error": "conflict", "message": "key reused"}, Conflict),
        (422, {"error": "invalid_input", "message": "bad"}, InvalidInput),
        (401, None, AuthenticationError),
        (403, None, PermissionDenied),
        (500, None, PipelineError),
    ],
)
async def test_error_bodies_map_to_the_documented_exceptions(
    server: Recorder,
    transport: httpx.MockTransport,
    status: int,
    body: dict[str, str] | None,
    expected: type[PipelineError],
) -> None:
    server.on("POST", f"/v1/pipelines/{PID}/start", reply(status, body))
    async with async_client(transport) as client:
        with pytest.raises(expected) as info:
            await client.start_pipeline(PID)
    assert type(info.value) is expected
    assert len(server.requests) == 1  # none of these is retried


async def test_invalid_config_carries_the_problems(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    problems = [
        {"path": "$.config.definition.steps[1].name", "message": "unknown step 'nope'"},
        {"path": "$.config.name", "message": "required field missing"},
    ]
    body = {"error": "invalid_config", "message": "invalid pipeline config", "details": problems}
    server.on("POST", "/v1/pipelines", reply(422, body))
    async with async_client(transport) as client:
        with pytest.raises(InvalidConfig) as info:
            await client.create_pipeline(CONFIG)
    assert [(p.path, p.message) for p in info.value.problems] == [
        (p["path"], p["message"]) for p in problems
    ]
    assert "unknown step 'nope'" in str(info.value)


def test_config_must_be_a_config(transport: httpx.MockTransport) -> None:
    with sync_client(transport) as client, pytest.raises(TypeError, match="pipeline\\(name"):
        client.create_pipeline(chain("a"))  # type: ignore[arg-type]


# ---------------------------------------------------------------------- retries & timeouts
async def test_transient_failures_are_retried_with_retry_after(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    unavailable = {"error": "unavailable", "message": "Temporal is unavailable"}
    server.on(
        "GET",
        f"/v1/pipelines/{PID}",
        fail_connect,
        reply(503, unavailable, {"Retry-After": "0.3"}),
        reply(429, {"error": "unavailable", "message": "slow down"}, {"Retry-After": "0"}),
        reply(502, None),
        reply(200, status_body(PID, "SUCCEEDED")),
    )
    policy = ClientRetryPolicy(max_attempts=5, initial_backoff_s=0.01, jitter=0)
    async with async_client(transport) as client:
        started = time.monotonic()
        assert await client.get_status(PID, retry_policy=policy) is PipelineState.SUCCEEDED
        elapsed = time.monotonic() - started
    assert len(server.requests) == 5
    assert elapsed >= 0.3  # the server's Retry-After was honoured


def test_retries_give_up_after_max_attempts(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    body = {"error": "unavailable", "message": "Temporal is unavailable"}
    server.on("GET", f"/v1/pipelines/{PID}", reply(503, body, {"Retry-After": "0"}))
    with sync_client(transport) as client, pytest.raises(EngineUnavailable) as info:
        client.get_status(PID, retry_policy=ClientRetryPolicy(max_attempts=3))
    assert len(server.requests) == 3
    assert info.value.retry_after_s == 0


def test_a_rate_limit_is_retried_then_raised_as_rate_limited(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    from pipeline_engine.errors import RateLimited, error_class_for_status

    body = {
        "error": "rate_limited",
        "message": "request rate limit per token reached",
        "details": [{"limit": "per_token", "setting": "PIPELINE_ENGINE_RATE_LIMIT_PER_TOKEN"}],
    }
    server.on("GET", f"/v1/pipelines/{PID}", reply(429, body, {"Retry-After": "0"}))
    with sync_client(transport) as client, pytest.raises(RateLimited) as info:
        client.get_status(PID, retry_policy=ClientRetryPolicy(max_attempts=2))
    assert len(server.requests) == 2
    assert isinstance(info.value, EngineUnavailable)  # transient, like a 503
    assert info.value.retry_after_s == 0
    assert info.value.details[0]["limit"] == "per_token"
    assert error_class_for_status(429) is RateLimited


def test_no_retry_policy_means_one_attempt(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    server.on("GET", f"/v1/pipelines/{PID}", fail_connect)
    with sync_client(transport) as client, pytest.raises(EngineUnavailable, match="cannot reach"):
        client.get_status(PID, retry_policy=ClientRetryPolicy.never())
    assert len(server.requests) == 1


async def test_a_retry_after_beyond_the_timeout_is_not_waited_for(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    body = {"error": "unavailable", "message": "down"}
    server.on("GET", f"/v1/pipelines/{PID}", reply(503, body, {"Retry-After": "30"}))
    async with async_client(transport) as client:
        started = time.monotonic()
        with pytest.raises(EngineUnavailable):
            await client.get_status(PID, timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert len(server.requests) == 1


async def test_transport_timeout_is_timeout_error(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    server.on("GET", f"/v1/pipelines/{PID}", slow)
    async with async_client(transport) as client:
        with pytest.raises(TimeoutError) as info:
            await client.get_status(PID, timeout=0.5)
    assert isinstance(info.value, builtins.TimeoutError)
    assert isinstance(info.value, PipelineError)


def test_gateway_timeout_is_retried_then_timeout_error(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    server.on(
        "POST", f"/v1/pipelines/{PID}/cancel", reply(504, {"error": "timeout", "message": "slow"})
    )
    with sync_client(transport) as client, pytest.raises(builtins.TimeoutError):
        client.cancel_pipeline(PID, "x")
    assert len(server.requests) == FAST.max_attempts


def test_per_call_timeout_reaches_the_transport(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    seen: list[object] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json=status_body(PID))

    server.on("GET", f"/v1/pipelines/{PID}", record)
    with sync_client(transport, timeout=7.0) as client:
        client.get_status(PID)
        client.get_status(PID, timeout=0.5)
    default, short = seen
    assert 6.0 < default["read"] <= 7.0  # type: ignore[index]
    assert 0 < short["read"] <= 0.5  # type: ignore[index]


async def test_wait_for_polls_until_the_state(
    server: Recorder, transport: httpx.MockTransport
) -> None:
    server.on(
        "GET",
        f"/v1/pipelines/{PID}",
        reply(200, status_body(PID, "PENDING")),
        reply(200, status_body(PID, "RUNNING")),
        reply(200, status_body(PID, "SUCCEEDED")),
    )
    async with async_client(transport) as client:
        status = await client.wait_for(PID, timeout=5)
        assert status.state is PipelineState.SUCCEEDED
        with pytest.raises(TimeoutError):
            await client.wait_for(PID, PipelineState.FAILED, timeout=0.2)


def test_list_pipelines_pages(server: Recorder, transport: httpx.MockTransport) -> None:
    page = {
        "items": [{"pipeline_id": PID, "name": "p", "tenant_id": "acme", "state": "RUNNING"}],
        "next_page_token": "ab",
    }
    server.on("GET", "/v1/pipelines", reply(200, page))
    with sync_client(transport, tenant_id="acme") as client:
        result = client.list_pipelines(state="RUNNING", page_size=1, page_token="aa")
    assert result.items[0].pipeline_id == PID and result.next_page_token == "ab"
    params = server.requests[0].url.params
    assert dict(params) == {
        "tenant_id": "acme",
        "state": "RUNNING",
        "page_size": "1",
        "page_token": "aa",
    }


def test_every_error_code_comes_back_as_its_class() -> None:
    """A client reads each error the server may answer as the class the server raised (a
    ``batch_not_found`` was a bare ``PipelineError``)."""
    import pipeline_engine.errors as errors

    def subclasses(cls: type[PipelineError]) -> list[type[PipelineError]]:
        return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]

    public = [c for c in subclasses(PipelineError) if c.__module__ == errors.__name__]
    public = [c for c in public if not c.__name__.startswith("_")]
    assert errors.BatchNotFound in public
    for cls in public:
        rebuilt = errors.error_from_dict({"error": cls.code, "message": "m"})
        assert type(rebuilt) is cls, cls
