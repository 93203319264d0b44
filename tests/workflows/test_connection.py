"""Temporal over TLS (server CA, client certificate, server name) and with an API key, from the
settings, through every connect: the worker's client and the API's engine. The dev server has no
TLS, so a TLS front (requiring a client certificate) stands before it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline_engine.settings import Settings
from pipeline_engine.states import PipelineState
from pipeline_engine.steps import StepRegistry
from tests.support.pki import Pki, make_pki
from tests.support.tls_proxy import TlsProxy
from tests.support.waiting import wait_for_state
from workflows.connection import TemporalSecurity
from workflows.dev_server import TemporalDevServer
from workflows.engine import TemporalPipelineEngine
from workflows.worker_factory import build_worker, connect


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
async def tls_front(temporal_server: TemporalDevServer, pki: Pki) -> AsyncIterator[TlsProxy]:
    proxy = TlsProxy(
        target_port=temporal_server.port,
        cert=pki.server_cert,
        key=pki.server_key,
        client_ca=pki.ca,
    )
    await proxy.start()
    yield proxy
    await proxy.stop()


def tls_settings(proxy: TlsProxy, pki: Pki, **extra: object) -> Settings:
    return Settings(
        temporal_address=proxy.address,
        temporal_tls_ca_file=pki.ca,
        temporal_tls_cert_file=pki.client_cert,
        temporal_tls_key_file=pki.client_key,
        temporal_tls_server_name=pki.server_name,
        task_queue=f"tls-{uuid.uuid4().hex[:8]}",
        **extra,  # type: ignore[arg-type]
    )


async def test_a_pipeline_runs_over_mutual_tls(
    tls_front: TlsProxy, pki: Pki, registry: StepRegistry, calls_dir: Path
) -> None:
    settings = tls_settings(tls_front, pki)
    worker_client = await connect(
        settings.temporal_address,
        settings.temporal_namespace,
        security=TemporalSecurity.from_settings(settings),
    )
    engine = await TemporalPipelineEngine.connect(settings, registry=registry)
    async with build_worker(worker_client, task_queue=settings.task_queue, registry=registry):
        created = await engine.create_pipeline(
            {"name": "tls", "definition": {"type": "step", "name": "t_add"}}, start=True
        )
        done = await wait_for_state(engine, created.pipeline_id)
    assert done.state is PipelineState.SUCCEEDED
    # both clients came through the TLS front with the client certificate
    assert tls_front.client_subjects.count("pipeline-engine worker") >= 2


async def test_without_the_client_certificate_the_front_refuses(
    tls_front: TlsProxy, pki: Pki
) -> None:
    settings = tls_settings(tls_front, pki).model_copy(
        update={"temporal_tls_cert_file": None, "temporal_tls_key_file": None}
    )
    with pytest.raises(RuntimeError):
        await connect(settings.temporal_address, security=TemporalSecurity.from_settings(settings))


def test_settings_name_what_is_wrong(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="temporal_tls_key_file"):
        Settings(temporal_tls_cert_file=pki.client_cert)
    missing = Settings(temporal_tls_ca_file=tmp_path / "nope.pem")
    with pytest.raises(ValueError, match="PIPELINE_ENGINE_TEMPORAL_TLS_CA_FILE: cannot read"):
        TemporalSecurity.from_settings(missing)


async def test_api_key_is_given_to_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_ENGINE_TEMPORAL_API_KEY", "key-123")
    settings = Settings()
    assert "key-123" not in repr(settings)  # a secret, never logged
    security = TemporalSecurity.from_settings(settings)
    assert security.api_key == "key-123" and security.tls is None  # the SDK then uses TLS
    engine = await TemporalPipelineEngine.connect(settings)  # lazy: nothing dialled yet
    assert engine.client.api_key == "key-123"
