"""The engine's one Temporal call wrapper: every RPC status has a documented answer (never a 500),
and only an unreachable Temporal is taken for an outage (a failed request fails that request)."""

from __future__ import annotations

import time

import pytest
from temporalio.client import Client
from temporalio.service import RetryConfig, RPCError, RPCStatusCode

from pipeline_engine.errors import (
    Conflict,
    EngineUnavailable,
    InvalidInput,
    InvalidState,
    PipelineError,
    PipelineNotFound,
    TimeoutError,
)
from pipeline_engine.pages import PipelineWhere
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.temporal_calls import TemporalCalls, translate

EXPECTED: dict[RPCStatusCode, tuple[type[PipelineError], int]] = {
    RPCStatusCode.NOT_FOUND: (PipelineNotFound, 404),
    RPCStatusCode.INVALID_ARGUMENT: (InvalidInput, 422),
    RPCStatusCode.OUT_OF_RANGE: (InvalidInput, 422),
    RPCStatusCode.ALREADY_EXISTS: (Conflict, 409),
    RPCStatusCode.ABORTED: (Conflict, 409),
    RPCStatusCode.FAILED_PRECONDITION: (InvalidState, 409),
    RPCStatusCode.DEADLINE_EXCEEDED: (TimeoutError, 504),
    RPCStatusCode.CANCELLED: (TimeoutError, 504),
    RPCStatusCode.RESOURCE_EXHAUSTED: (EngineUnavailable, 503),
    RPCStatusCode.PERMISSION_DENIED: (EngineUnavailable, 503),
    RPCStatusCode.UNAUTHENTICATED: (EngineUnavailable, 503),
    RPCStatusCode.UNAVAILABLE: (EngineUnavailable, 503),
    RPCStatusCode.INTERNAL: (EngineUnavailable, 503),
    RPCStatusCode.UNKNOWN: (EngineUnavailable, 503),
    RPCStatusCode.UNIMPLEMENTED: (EngineUnavailable, 503),
    RPCStatusCode.DATA_LOSS: (EngineUnavailable, 503),
}


def test_every_rpc_status_has_its_documented_answer() -> None:
    assert set(EXPECTED) == set(RPCStatusCode) - {RPCStatusCode.OK}
    for status, (kind, http_status) in EXPECTED.items():
        mapped = translate(RPCError("what Temporal said", status, b""))
        assert type(mapped) is kind, status
        assert mapped.http_status == http_status, status
    refused = translate(RPCError("bad query", RPCStatusCode.INVALID_ARGUMENT, b""))
    assert isinstance(refused, InvalidInput)
    assert "bad query" in refused.problems[0].message  # names what Temporal refused


async def test_a_refused_or_failed_request_never_marks_temporal_down(client: Client) -> None:
    calls = TemporalCalls(client)
    for status in set(EXPECTED):

        async def fails(status: RPCStatusCode = status) -> None:
            raise RPCError("this request only", status, b"")

        with pytest.raises(PipelineError):
            await calls(fails)
        # the next call goes through at once: Temporal answers its health check
        await calls(lambda: client.service_client.check_health())


async def test_a_query_temporal_fails_alone_is_a_503_for_that_request_only(
    temporal_server: TemporalDevServer,
) -> None:
    """A NUL in a visibility query fails in Temporal's database with UNAVAILABLE and SQL text:
    that request answers 503 without Temporal's words, and the next requests are served."""
    client = await Client.connect(
        temporal_server.address,
        retry_config=RetryConfig(max_retries=1, max_elapsed_time_millis=500),
    )
    engine = TemporalPipelineEngine(client, task_queue="calls-nul")
    with pytest.raises(EngineUnavailable) as failed:
        await engine.list_pipelines(where=PipelineWhere(name_prefix="\x00"))
    assert "SQL" not in failed.value.message
    assert await engine.count_pipelines(tenant_ids=["nobody-calls-nul"]) == {}
    await engine.check_health(timeout_s=1.0)


async def test_an_unreachable_temporal_is_an_outage_refused_fast() -> None:
    client = await Client.connect(
        f"127.0.0.1:{free_port()}",
        lazy=True,
        retry_config=RetryConfig(max_retries=1, max_elapsed_time_millis=200),
    )
    engine = TemporalPipelineEngine(client, task_queue="calls-down")
    with pytest.raises(EngineUnavailable):
        await engine.count_pipelines()
    began = time.monotonic()
    with pytest.raises(EngineUnavailable, match="unreachable"):
        await engine.count_pipelines()  # known down: refused without trying
    assert time.monotonic() - began < 0.2
