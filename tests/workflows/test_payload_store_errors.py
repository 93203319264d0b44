"""A failing payload store counts its errors, by operation, on the worker's and the API's
metrics pages (``pipeline_engine_payload_store_errors_total``; the alert rules use it)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from api.observability import ApiMetrics
from tests.support.promtool import assert_promtool_accepts
from tests.support.waiting import wait_until
from workflows.dev_server import TemporalDevServer, free_port
from workflows.payload_store import PayloadStore, PayloadStoreUnavailable, open_payload_store
from workflows.worker_factory import connect


def broken_store(tmp_path: Path) -> PayloadStore:
    """A local store whose root became a file: every put, get and exists fails."""
    root = tmp_path / "store"
    store = open_payload_store(str(root))
    root.rmdir()
    root.write_text("not a directory")
    return store


async def test_worker_page_counts_store_errors_by_operation(
    temporal_server: TemporalDevServer, tmp_path: Path
) -> None:
    store = broken_store(tmp_path)
    port = free_port()
    client = await connect(temporal_server.address, metrics_port=port, payload_store=store)
    for _ in range(2):
        with pytest.raises(PayloadStoreUnavailable):
            await store.put("ns/wf/key", b"data")
    with pytest.raises(PayloadStoreUnavailable):
        await store.get("ns/wf/key")
    page = ""

    async def counted() -> bool:
        nonlocal page
        async with httpx.AsyncClient() as http:
            page = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        return 'operation="get"' in page

    await wait_until(counted, timeout=20, interval=0.3)
    lines = [line for line in page.splitlines() if "payload_store_errors_total{" in line]
    assert any('operation="put"' in line and line.endswith(" 2") for line in lines), lines
    assert any('operation="get"' in line and line.endswith(" 1") for line in lines), lines
    assert_promtool_accepts(page)
    assert client.namespace == "default"  # the client (and its runtime's endpoint) lived till here


async def test_api_page_counts_store_errors_by_operation(tmp_path: Path) -> None:
    metrics = ApiMetrics()
    store = broken_store(tmp_path)
    store.on_error = metrics.payload_store_error
    with pytest.raises(PayloadStoreUnavailable):
        await store.exists("ns/wf/key")
    page = generate_latest(metrics.registry).decode()
    assert 'pipeline_engine_payload_store_errors_total{operation="exists"} 1.0' in page
