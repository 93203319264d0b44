"""The client's transport: one request, with its deadline, retries and errors, that every
operation of :class:`AsyncPipelineClient` goes through.

The hand-written half of the twin: ``_transport_sync.py`` is generated from this file by
``scripts/generate_sync_client.py`` (``make lint`` fails when the two drift). Write each
operation once, here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from pipeline_engine.client._base import BaseClient, error_from_response, json_body, unreachable
from pipeline_engine.client._retry import ClientRetryPolicy
from pipeline_engine.errors import PipelineError

__all__ = ["AsyncClientTransport"]


class AsyncClientTransport(BaseClient):
    """One request with the client's deadline, retry policy and errors (the base of the
    client's operations)."""

    _http: httpx.AsyncClient

    async def _request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None,
        retry_policy: ClientRetryPolicy | None,
        pipeline_id: str | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        deadline = self._deadline(timeout)
        sent = {**self._headers(json_content=json is not None), **(headers or {})}
        if content_type is not None:
            sent["Content-Type"] = content_type
        body = content if content is not None else json_body(json)
        policy = self._policy(retry_policy)
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            try:
                response = await self._http.request(
                    method,
                    url,
                    content=body,
                    params=params,
                    headers=sent,
                    timeout=self._httpx_timeout(deadline),
                )
            except httpx.TimeoutException:
                raise deadline.timeout_error(f"{method} {url}") from None
            except httpx.TransportError as exc:
                failure: PipelineError = unreachable(self._base_url, exc)
            else:
                if response.is_success:
                    return self._decode(response)
                failure = error_from_response(response, pipeline_id=pipeline_id)
                if not self._retryable(response):
                    raise failure
            wait = self._retry_wait(policy, attempt, deadline, response)
            if wait is None:
                raise failure
            await asyncio.sleep(wait)
