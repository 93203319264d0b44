"""``PipelineClient``: the synchronous client of the Pipeline Engine REST API.

GENERATED from ``_async.py`` by ``scripts/generate_sync_client.py``: do not edit it,
edit ``_async.py`` and run the script.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from pipeline_engine.client._base import DEFAULT_TIMEOUT_S, TokenSource, tenant_config_body
from pipeline_engine.client._commands_sync import PipelineCommands
from pipeline_engine.client._named_sync import NamedMethods
from pipeline_engine.client._retry import ClientRetryPolicy
from pipeline_engine.client._streams_sync import StreamMethods
from pipeline_engine.client._volume_sync import VolumeMethods
from pipeline_engine.resources import StepInfo, TenantConfig

__all__ = ["PipelineClient"]


class PipelineClient(NamedMethods, VolumeMethods, PipelineCommands, StreamMethods):
    """Synchronous client of the Pipeline Engine REST API; the twin of :class:`AsyncPipelineClient`.

    Every operation is idempotent on the server, so transient failures (connection errors, 429,
    502, 503, 504) are retried per ``retry_policy``, honouring ``Retry-After``. Every method takes
    ``timeout`` (seconds for the whole call, retries included; ``None`` uses the client's) and
    ``retry_policy`` (``None`` uses the client's). Errors are the :mod:`pipeline_engine.errors`
    hierarchy, rebuilt from the server's error body.

    Args:
        base_url: The API's root URL, e.g. ``http://127.0.0.1:8000`` (default: the
            ``PIPELINE_ENGINE_URL`` environment variable, else ``http://127.0.0.1:8000``).
        token: A JWT, or a function returning one per request (default: the
            ``PIPELINE_ENGINE_TOKEN`` environment variable, e.g. a service account's token).
        timeout: Default timeout of one call in seconds, retries included (``None``: no limit).
        retry_policy: Default retry policy (default: :class:`ClientRetryPolicy`'s defaults).
        tenant_id: Default tenant of ``create_pipeline`` and ``list_pipelines``.
        headers: Extra headers sent with every request.
        transport: An ``httpx`` transport, e.g. ``httpx.MockTransport`` in tests.

    Example::

        with AsyncPipelineClient("http://127.0.0.1:8000", token=token) as client:
            pid = await client.create_pipeline(config, input={}, tenant_id="acme")
            await client.start_pipeline(pid)
            for point in client.watch_metrics(pid):
                print(point.name, point.value)
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: TokenSource | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        retry_policy: ClientRetryPolicy | None = None,
        tenant_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            token=token,
            timeout=timeout,
            retry_policy=retry_policy,
            tenant_id=tenant_id,
            headers=headers,
        )
        self._http = httpx.Client(transport=transport, follow_redirects=False)

    def put_tenant_config(
        self,
        tenant_id: str,
        config: TenantConfig | Mapping[str, Any],
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> TenantConfig:
        """Store a tenant's config (``{"pipeline_definition", "settings"}``, seed 2 shape).

        Args:
            tenant_id: The tenant.
            config: The tenant config document, or a :class:`TenantConfig` read earlier (its
                ``version`` makes the write conditional: a stale one raises ``Conflict``).
                Optional ``priority`` (1 first .. 5 last) and ``fairness_weight`` order the
                tenant's pipelines when tasks back up in Temporal.

        Returns:
            The stored config (with its new ``version``).

        Raises:
            InvalidConfig: The definition is not valid.
            InvalidInput: ``priority`` or ``fairness_weight`` is out of range.
            Conflict: ``version`` in ``config`` is not the stored one.
        """
        data = self._request(
            "PUT",
            self._url("tenants", tenant_id, "config"),
            json=tenant_config_body(config),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return TenantConfig.model_validate(data)

    def get_tenant_config(
        self,
        tenant_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> TenantConfig:
        """A tenant's stored config.

        Args:
            tenant_id: The tenant.

        Raises:
            TenantNotFound: The tenant has no config.
        """
        data = self._request(
            "GET",
            self._url("tenants", tenant_id, "config"),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return TenantConfig.model_validate(data)

    def delete_tenant_config(
        self,
        tenant_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> None:
        """Delete a tenant's config.

        Args:
            tenant_id: The tenant.
        """
        self._request(
            "DELETE",
            self._url("tenants", tenant_id, "config"),
            timeout=timeout,
            retry_policy=retry_policy,
        )

    def list_steps(
        self, *, timeout: float | None = None, retry_policy: ClientRetryPolicy | None = None
    ) -> list[StepInfo]:
        """The steps registered on the server and their parameters."""
        data = self._request("GET", self._url("steps"), timeout=timeout, retry_policy=retry_policy)
        return [StepInfo.model_validate(item) for item in data]

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> PipelineClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
