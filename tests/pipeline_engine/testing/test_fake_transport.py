"""The fakes are the real clients over an in-memory transport serving the real API app."""

from __future__ import annotations

import re
import subprocess
import sys
import threading

import pytest

import tests.support.steps  # noqa: F401  (registers the t_* steps)
from api.app import create_app
from api.errors import ERROR_RESPONSES
from pipeline_engine import (
    AsyncPipelineClient,
    AuthenticationError,
    ClientRetryPolicy,
    EngineUnavailable,
    PipelineClient,
    PipelineState,
    chain,
    pipeline,
    step,
)
from pipeline_engine.settings import Settings
from pipeline_engine.testing import AsyncFakePipelineEngine, FakePipelineEngine

CONFIG = pipeline("adds", chain(step("t_add", n=1), step("t_add", n=10), step("t_add", n=100)))


def operation_ids(paths: dict[str, dict[str, dict[str, str]]]) -> set[str]:
    return {op["operationId"] for methods in paths.values() for op in methods.values()}


async def test_the_transport_serves_exactly_the_api_operations() -> None:
    api = create_app(Settings(env="dev"), migrate=False).openapi()["paths"]
    async with AsyncFakePipelineEngine() as engine:
        served = engine._server.app.openapi()["paths"]
        assert operation_ids(served) == operation_ids(api) and len(operation_ids(api)) >= 18
        for path, methods in served.items():
            for method in methods:
                url = re.sub(r"\{[^}]+\}", "x", path)
                response = await engine._http.request(
                    method.upper(), "http://fake-pipeline-engine" + url, headers=engine._headers()
                )
                is_json = "json" in response.headers.get("content-type", "")
                body = response.json() if is_json else None
                # Every route answers from its own handler: never "no such route/method".
                assert response.status_code != 405, (method, path)
                if isinstance(body, dict):
                    assert body.get("error") != "not_found", (method, path, body)
    assert ERROR_RESPONSES  # the same error bodies as the live API


def test_the_fakes_are_the_clients() -> None:
    assert issubclass(FakePipelineEngine, PipelineClient)
    assert issubclass(AsyncFakePipelineEngine, AsyncPipelineClient)


async def test_auth_error_is_decoded_and_not_retried() -> None:
    async with AsyncFakePipelineEngine() as engine:
        engine.fail_requests(AuthenticationError("token expired"), times=1)
        with pytest.raises(AuthenticationError, match="token expired"):
            await engine.create_pipeline(CONFIG)
        pid = await engine.create_pipeline(CONFIG)  # the next request is served
        assert await engine.get_status(pid) is PipelineState.PENDING


async def test_transient_503_is_retried_until_the_policy_gives_up() -> None:
    fast = ClientRetryPolicy(max_attempts=3, max_retry_after_s=0.0, jitter=0)
    async with AsyncFakePipelineEngine(retry_policy=fast) as engine:
        engine.fail_requests(times=2, path="/start")
        pid = await engine.create_pipeline(CONFIG)
        assert await engine.start_pipeline(pid) in (PipelineState.RUNNING, PipelineState.SUCCEEDED)
        engine.fail_requests(times=3)
        with pytest.raises(EngineUnavailable) as info:
            await engine.get_status(pid)
        assert info.value.retry_after_s == 1.0  # the API's Retry-After, decoded


def loop_threads() -> list[str]:
    """Threads that run an event loop for sync callers (named by the project)."""
    return [t.name for t in threading.enumerate() if t.name.startswith(("fake-", "pipeline-"))]


def test_dropped_stream_is_resumed_once_and_in_order() -> None:
    before = loop_threads()
    with FakePipelineEngine(retry_policy=ClientRetryPolicy(initial_backoff_s=0.01)) as engine:
        pid = engine.create_pipeline(CONFIG)
        engine.start_pipeline(pid)
        engine.wait_for(pid, timeout=10)
        engine.drop_streams(after_messages=2, times=2)
        events = engine.stream_events(pid)
        ids = [next(events).id]
        # One loop thread per fake engine; a stream needs no thread of its own.
        assert loop_threads() == [*before, "fake-pipeline-engine"]
        ids += [e.id for e in events]
        assert ids == [e.id for e in engine.get_history(pid)] and len(ids) == 9
        assert engine._faults.take(f"/v1/pipelines/{pid}/events", stream=True) is None  # both cut
    assert loop_threads() == before


def test_without_the_server_extra_the_error_names_it() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None\n"
        "import pipeline_engine.testing as testing\n"
        "try:\n    testing.FakePipelineEngine()\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'pipeline-engine[server]'" in out.stdout
