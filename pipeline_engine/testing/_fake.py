"""The fake engines: the real clients over an in-memory transport serving the real API.

``AsyncFakePipelineEngine`` *is* an :class:`AsyncPipelineClient` and ``FakePipelineEngine`` a
:class:`PipelineClient`: every call goes through the client's own request, retry, error-decoding
and stream-resume code, into the REST API app (routes, rules and errors of the server), onto a
:class:`LocalPipelineEngine` that runs the registered steps in-process on the shared interpreter.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pipeline_engine._loop_thread import LoopThread
from pipeline_engine.client import AsyncPipelineClient, ClientRetryPolicy, PipelineClient
from pipeline_engine.client._base import DEFAULT_TIMEOUT_S
from pipeline_engine.steps import StepRegistry, default_registry
from pipeline_engine.testing._controls import Controls
from pipeline_engine.testing._transport import AppTransport, SyncAppTransport

if TYPE_CHECKING:
    from pipeline_engine.testing._server import FakeServer

__all__ = ["DEFAULT_TENANT", "AsyncFakePipelineEngine", "FakePipelineEngine"]

DEFAULT_TENANT = "default"
"""The tenant of a fake's pipelines when neither the fake nor the call names one."""
_URL = "http://fake-pipeline-engine"


def _options(
    server: FakeServer,
    tenant_id: str | None,
    timeout: float | None,
    retry_policy: ClientRetryPolicy | None,
) -> dict[str, Any]:
    """The client settings of a fake: the in-process API, its token, the fake's defaults."""
    return {
        "base_url": _URL,
        "token": server.token,
        "timeout": timeout,
        "retry_policy": retry_policy,
        "tenant_id": tenant_id or DEFAULT_TENANT,
    }


def _serve(registry: StepRegistry | None, time_scale: float, controls: Controls) -> FakeServer:
    # Imported here: ``import pipeline_engine.testing`` stays cheap (no FastAPI, no SQLAlchemy).
    from pipeline_engine.testing._server import FakeServer

    return FakeServer(
        registry if registry is not None else default_registry,
        time_scale=time_scale,
        before_attempt=controls._before_attempt,
    )


class AsyncFakePipelineEngine(AsyncPipelineClient, Controls):
    """An :class:`AsyncPipelineClient` served in-process: no server, no Temporal, no network.

    The real REST API app runs in this event loop over an in-memory transport; pipelines run on
    the same interpreter as the Temporal workflow and their steps in-process from ``registry``,
    with the same retry and timeout rules as the real activities::

        async with AsyncFakePipelineEngine() as engine:
            pid = await engine.create_pipeline(config, input={"n": 1})
            await engine.start_pipeline(pid)
            status = await engine.wait_for(pid)

    Test controls: :meth:`fail_step`, :meth:`hold_step`, :attr:`calls`, and transport faults
    (:meth:`fail_requests`: an auth error, a transient 503…; :meth:`drop_streams`).

    Args:
        registry: Where steps are looked up (default: the default registry).
        time_scale: Multiplies retry back-off waits (``0``, the default, retries at once).
        tenant_id: Default tenant of the calls (default: ``"default"``).
        timeout: Default timeout of a call, as the clients' (``None``: no limit).
        retry_policy: Default retry policy, as the clients'.
    """

    def __init__(
        self,
        registry: StepRegistry | None = None,
        *,
        time_scale: float = 0.0,
        tenant_id: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> None:
        Controls.__init__(self, asyncio.get_running_loop)
        self._server = _serve(registry, time_scale, self)
        super().__init__(
            **_options(self._server, tenant_id, timeout, retry_policy),
            transport=AppTransport(self._server.app, self._faults, self._server.ready),
        )

    async def aclose(self) -> None:
        """Stop every pipeline still running (their in-flight steps are cancelled)."""
        self.release_holds()
        await super().aclose()
        await self._server.stop()


class FakePipelineEngine(PipelineClient, Controls):
    """A :class:`PipelineClient` served in-process: a drop-in for the client in tests.

    The real REST API app runs on one private event-loop thread over an in-memory transport;
    every method blocks until the answer is there, with the client's semantics and errors.
    Event callbacks run on their subscription's own thread. Arguments and test controls: as
    :class:`AsyncFakePipelineEngine`'s.

    Example::

        with FakePipelineEngine() as engine:
            engine.fail_step("detection", times=1)
            pid = engine.create_pipeline(config)
            engine.start_pipeline(pid)
            assert engine.wait_for(pid).state is PipelineState.SUCCEEDED
    """

    def __init__(
        self,
        registry: StepRegistry | None = None,
        *,
        time_scale: float = 0.0,
        tenant_id: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> None:
        import pipeline_engine.testing._server  # noqa: F401  (the server extra, before a thread)

        self._runner = LoopThread("fake-pipeline-engine")
        Controls.__init__(self, lambda: self._runner.loop)

        async def serve() -> FakeServer:
            return _serve(registry, time_scale, self)

        self._server = self._runner.run(serve())
        super().__init__(
            **_options(self._server, tenant_id, timeout, retry_policy),
            transport=SyncAppTransport(
                self._server.app, self._faults, self._runner, self._server.ready
            ),
        )

    def close(self) -> None:
        """Stop every pipeline still running and the engine's thread."""
        if self._runner.loop.is_closed():
            return
        self.release_holds()
        super().close()
        self._runner.run(self._server.stop())
        self._runner.stop()
