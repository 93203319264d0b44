"""A dropped event stream resumes from the last event received, on the live stack."""

from __future__ import annotations

import uuid
from urllib.parse import urlparse

from pipeline_engine import AsyncPipelineClient, chain, pipeline, step
from pipeline_engine.client import ClientRetryPolicy
from tests.support.cutting_proxy import CuttingProxy
from tests.support.live_stack import LiveStack


async def test_stream_resumes_after_a_cut_with_last_event_id(live_stack: LiveStack) -> None:
    tenant = f"resume-{uuid.uuid4().hex[:8]}"
    api_port = urlparse(live_stack.base_url).port
    assert api_port is not None
    direct = AsyncPipelineClient(live_stack.base_url, token=live_stack.token)
    config = pipeline("resume", chain(step("t_add"), step("t_sleep", seconds=0.5), step("t_add")))
    pid = await direct.create_pipeline(config, tenant_id=tenant)

    proxy = CuttingProxy(target_port=api_port, path_part=f"/{pid}/events", after_bytes=900)
    await proxy.start()
    try:
        through = AsyncPipelineClient(
            f"http://127.0.0.1:{proxy.port}",
            token=live_stack.token,
            retry_policy=ClientRetryPolicy(max_attempts=5, initial_backoff_s=0.05),
        )
        await direct.start_pipeline(pid)
        received = [event async for event in through.stream_events(pid)]
        await through.aclose()
    finally:
        await proxy.stop()
    history = await direct.get_history(pid)
    await direct.aclose()

    assert [e.id for e in received] == [e.id for e in history]  # each once, in order, none lost
    assert received[-1].type == "pipeline.succeeded"
    stream_requests = [r for r in proxy.requests if f"/{pid}/events" in r.split("\r\n", 1)[0]]
    assert len(stream_requests) >= 2, "the first connection should have been cut"
    resumed = stream_requests[1].lower()
    assert "last-event-id:" in resumed
    last_id = int(resumed.split("last-event-id:", 1)[1].split("\r\n", 1)[0])
    assert 1 <= last_id < history[-1].id  # resumed from where it was cut, not from the start
