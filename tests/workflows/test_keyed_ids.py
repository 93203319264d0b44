"""Ids keyed by the server's secret (issue 19), on a real Temporal server.

Before, a pipeline id was the plain SHA-256 of (tenant, config, input, key): anyone could compute
the id of "tenant A ran config X on input Y" and ask whether it exists. Now it is an HMAC keyed by
``PIPELINE_ENGINE_ID_SECRET``; a create repeated after the upgrade still finds the pipeline its
first call made under the old rule.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from pipeline_engine._ids import DEV_IDS, IdRule, config_fingerprint
from pipeline_engine.dsl import parse_config
from pipeline_engine.errors import Conflict
from pipeline_engine.service import PreparedConfig
from pipeline_engine.service.batches import BatchRequest
from pipeline_engine.steps import StepRegistry
from tests.support.processes import ROOT
from tests.support.waiting import wait_for_state
from workflows.batch_engine import TemporalBatchEngine
from workflows.dev_server import TemporalDevServer
from workflows.engine import TemporalPipelineEngine
from workflows.worker_factory import build_worker

SECRET_A = "ids-a-Kp3vX8nQ1wZ6mT9bL4hR7cJ2sF5dG0aYeU"
SECRET_B = "ids-b-Wm5cV2nB8xQ4zK7pL1hR9tJ3sD6gF0aEyU"


class _PlainHash(IdRule):
    """The rule of old: the plain SHA-256 (what engines before the change computed)."""

    def derive(self, prefix: str, parts: list[Any]) -> str:
        text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
        return prefix + hashlib.sha256(text.encode()).hexdigest()[:24]


OLD = _PlainHash(b"unused", legacy_lookup=False)


def _config() -> dict[str, Any]:
    return {"name": f"ids-{uuid.uuid4().hex[:6]}", "definition": {"type": "step", "name": "t_add"}}


def _plain_sha256_id(tenant: str, config: dict[str, Any], input: Any) -> str:
    """The id anyone could compute before: sha256 of (tenant, False, fingerprint)."""
    fingerprint = config_fingerprint(parse_config(config).config, input)
    text = json.dumps([tenant, False, fingerprint], sort_keys=True, separators=(",", ":"))
    return "pl-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _engine(client: Client, task_queue: str, registry: StepRegistry, ids: IdRule) -> Any:
    return TemporalPipelineEngine(client, task_queue=task_queue, registry=registry, ids=ids)


async def test_ids_cannot_be_computed_without_the_secret(
    client: Client, task_queue: str, registry: StepRegistry
) -> None:
    tenant, config, input = f"t-{uuid.uuid4().hex[:8]}", _config(), {"a": 1, "b": 2}
    a = _engine(client, task_queue, registry, IdRule.of(SECRET_A))
    b = _engine(client, task_queue, registry, IdRule.of(SECRET_B))
    first = await a.create_pipeline(config, input=input, tenant_id=tenant)
    assert first.pipeline_id != _plain_sha256_id(tenant, config, input)
    assert first.pipeline_id.startswith("pl-") and len(first.pipeline_id) == 27
    again = await a.create_pipeline(config, input=input, tenant_id=tenant)
    assert (again.pipeline_id, again.created) == (first.pipeline_id, False)
    other = await b.create_pipeline(config, input=input, tenant_id=tenant)  # another secret
    assert other.created and other.pipeline_id != first.pipeline_id
    keyed = await a.create_pipeline(config, input=input, tenant_id=tenant, idempotency_key="k1")
    dev = await _engine(client, task_queue, registry, DEV_IDS).create_pipeline(
        config, input=input, tenant_id=tenant, idempotency_key="k1"
    )
    assert keyed.pipeline_id != dev.pipeline_id


async def test_a_create_made_before_the_secret_is_found_again(
    client: Client, task_queue: str, registry: StepRegistry
) -> None:
    tenant, config = f"t-{uuid.uuid4().hex[:8]}", _config()
    old = _engine(client, task_queue, registry, OLD)
    new = _engine(client, task_queue, registry, IdRule.of(SECRET_A))
    before = await old.create_pipeline(config, input={"n": 1}, tenant_id=tenant)
    assert before.pipeline_id == _plain_sha256_id(tenant, config, {"n": 1})
    before_keyed = await old.create_pipeline(
        config, input={"n": 2}, tenant_id=tenant, idempotency_key="order-7"
    )

    async with build_worker(client, task_queue=task_queue, registry=registry):
        after = await new.create_pipeline(config, input={"n": 1}, tenant_id=tenant, start=True)
        assert (after.pipeline_id, after.created) == (before.pipeline_id, False)
        await wait_for_state(new, before.pipeline_id)
    keyed = await new.create_pipeline(
        config, input={"n": 2}, tenant_id=tenant, idempotency_key="order-7"
    )
    assert (keyed.pipeline_id, keyed.created) == (before_keyed.pipeline_id, False)
    with pytest.raises(Conflict):  # the old key with other arguments is still a conflict
        await new.create_pipeline(
            config, input={"n": 3}, tenant_id=tenant, idempotency_key="order-7"
        )
    # with the lookup off (every old pipeline past retention), the same request is a new one
    fresh = _engine(client, task_queue, registry, IdRule.of(SECRET_A, legacy_lookup=False))
    created = await fresh.create_pipeline(config, input={"n": 1}, tenant_id=tenant)
    assert created.created and created.pipeline_id != before.pipeline_id


async def test_a_batch_submitted_before_the_secret_reads_its_pipelines(
    client: Client, task_queue: str, registry: StepRegistry
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    request = BatchRequest(
        tenant_id=tenant,
        pipeline="default",
        config=PreparedConfig.of(_config(), registry=registry),
        idempotency_key="nightly",
    )
    inputs = [{"n": i} for i in range(3)]
    old = TemporalBatchEngine(_engine(client, task_queue, registry, OLD), None)
    new = TemporalBatchEngine(_engine(client, task_queue, registry, IdRule.of(SECRET_A)), None)
    async with build_worker(client, task_queue=task_queue, registry=registry, ids=OLD):
        submitted = await old.submit_batch(request, inputs)
        batch_id = submitted.batch.batch_id
        deadline = time.monotonic() + 90
        while (await old.get_batch(batch_id)).state == "RUNNING" and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
    old_page = await old.batch_pipelines(batch_id, tenant_id=tenant)
    assert [p.state for p in old_page.items] == ["SUCCEEDED"] * 3

    again = await new.submit_batch(request, inputs)  # the repeat finds the old batch
    assert (again.batch.batch_id, again.created) == (batch_id, False)
    page = await new.batch_pipelines(batch_id, tenant_id=tenant)
    assert page.items == old_page.items  # the old ids, found again
    lines = [line async for line in new.batch_results(batch_id, tenant_id=tenant)]
    assert [(line.pipeline_id, line.state) for line in lines] == [
        (p.pipeline_id, "SUCCEEDED") for p in old_page.items
    ]


def test_a_production_worker_warns_of_the_dev_id_secret(
    temporal_server: TemporalDevServer, tmp_path: Path
) -> None:
    """A worker with another id key than the API's gives a batch's pipelines ids the API never
    finds: outside dev, the dev key is said once it runs (the API refuses it outright)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_ENGINE_")}
    env |= {
        "PIPELINE_ENGINE_ENV": "prod",
        "PIPELINE_ENGINE_TEMPORAL_ADDRESS": temporal_server.address,
        "PIPELINE_ENGINE_TASK_QUEUE": f"warn-{uuid.uuid4().hex[:8]}",
        "PIPELINE_ENGINE_PAYLOAD_STORE": "",
    }
    for secret, warned in ((None, True), (SECRET_A, False)):
        if secret is not None:
            env["PIPELINE_ENGINE_ID_SECRET"] = secret
        log = tmp_path / f"worker-{warned}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py")], env=env, stdout=out, stderr=out
            )
        try:
            deadline = time.monotonic() + 120
            while "worker polling" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.3)
        finally:
            proc.send_signal(signal.SIGINT)  # by its pid
            proc.wait(timeout=60)
        text = log.read_text()
        assert "worker polling" in text, text
        assert ("PIPELINE_ENGINE_ID_SECRET is the dev default" in text) is warned, text
