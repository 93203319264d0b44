"""The Temporal Web UI shows a payload kept in the payload store, through the API's codec endpoint,
as ``pipeline-engine dev`` wires it: read in a real headless Chromium."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from api.app import create_app
from api.tokens import ui_codec_endpoint
from pipeline_engine._ids import IdRule
from pipeline_engine.steps import StepRegistry
from tests.api._support import SECRET, make_settings, start_uvicorn
from tests.workflows.test_web_ui import browser, page_showing
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.payload_refs import DRIVER_NAME
from workflows.payload_store import PayloadStore
from workflows.worker_factory import build_worker, connect

__all__ = ["browser"]  # the fixture, shared with the Web UI test

MARKER = "kept-in-the-payload-store"


@pytest.fixture(scope="module")
def api_socket() -> Iterator[socket.socket]:
    """The API's listening socket, bound before the Web UI is told its port and held until the
    module ends (a port only looked up, then bound minutes later, was taken in between once)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


@pytest.fixture(scope="module")
def codec_ui_server(
    tmp_path_factory: pytest.TempPathFactory, api_socket: socket.socket
) -> Iterator[TemporalDevServer]:
    """A dev server whose Web UI decodes payloads at the API's codec endpoint (as in dev)."""
    data = tmp_path_factory.mktemp("temporal-codec-ui")
    api_port = api_socket.getsockname()[1]
    server = TemporalDevServer(
        port=free_port(),
        ui_port=free_port(),
        log_file=data / "server.log",
        ui_codec_endpoint=ui_codec_endpoint(
            f"http://127.0.0.1:{api_port}", make_settings(None, "sqlite://")
        ),
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def codec_stack(
    codec_ui_server: TemporalDevServer,
    api_socket: socket.socket,
    registry: StepRegistry,
    payload_store: PayloadStore,
    tmp_path: Path,
) -> AsyncIterator[TemporalPipelineEngine]:
    settings = make_settings(
        codec_ui_server,
        f"sqlite:///{tmp_path / 'tenants.db'}",
        payload_store=payload_store.location,
        temporal_ui_url=codec_ui_server.ui_url,
    )
    client = await connect(codec_ui_server.address, payload_store=payload_store)
    async with build_worker(
        client,
        task_queue=settings.task_queue,
        registry=registry,
        ids=IdRule.from_settings(settings),
    ):
        app = create_app(settings, registry=registry)
        server, task = await start_uvicorn(app, api_socket.getsockname()[1], sock=api_socket)
        try:
            yield TemporalPipelineEngine(client, task_queue=settings.task_queue, registry=registry)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 15)


async def test_the_web_ui_shows_a_stored_input(
    codec_stack: TemporalPipelineEngine,
    codec_ui_server: TemporalDevServer,
    browser: WebDriver,
    tmp_path: Path,
) -> None:
    created = await codec_stack.create_pipeline(
        {"name": f"ui-{uuid.uuid4().hex[:6]}", "definition": {"type": "step", "name": "t_noop"}},
        input={"note": MARKER, "padding": "p" * 60_000},
    )
    handle = codec_stack.client.get_workflow_handle(created.pipeline_id)
    history = await handle.fetch_history()
    assert DRIVER_NAME.encode() in history.events[0].SerializeToString()  # a reference...
    run_id = (await handle.describe()).run_id
    base = f"{codec_ui_server.ui_url}/namespaces/default/workflows/{created.pipeline_id}/{run_id}"
    await asyncio.to_thread(  # ... that the UI shows as the payload it points to
        page_showing, browser, f"{base}/history", MARKER, shot=tmp_path / "input.png"
    )


def test_the_codec_token_is_a_viewer_of_every_tenant() -> None:
    from api.auth import decode_token

    endpoint = ui_codec_endpoint("http://127.0.0.1:1", make_settings(None, "sqlite://"))
    assert endpoint.startswith("http://127.0.0.1:1/v1/codec/t/")
    caller = decode_token(endpoint.rsplit("/", 1)[1], SECRET)
    assert caller.all_tenants and caller.sub == "temporal-web-ui"
    assert {r.value for r in caller.roles} == {"viewer"}


def test_the_codec_token_carries_the_issuer_and_audience_the_server_requires() -> None:
    import jwt

    settings = make_settings(
        None, "sqlite://", jwt_issuer="https://issuer.test", jwt_audience="pipeline-engine"
    )
    token = ui_codec_endpoint("http://127.0.0.1:1", settings).rsplit("/", 1)[1]
    claims = jwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        audience="pipeline-engine",
        issuer="https://issuer.test",
    )
    assert claims["sub"] == "temporal-web-ui"
