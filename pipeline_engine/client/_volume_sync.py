"""Batches and schedules: the methods :class:`AsyncPipelineClient` adds for ``/v1/batches`` and
``/v1/schedules``.

GENERATED from ``_volume_async.py`` by ``scripts/generate_sync_client.py``: do not edit it,
edit ``_volume_async.py`` and run the script.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import httpx

from pipeline_engine.batches import (
    BatchPage,
    BatchPipelinePage,
    BatchRef,
    BatchResultLine,
    BatchStatus,
    RetriedBatch,
)
from pipeline_engine.client._base import error_from_response, present, unreachable
from pipeline_engine.client._retry import ClientRetryPolicy
from pipeline_engine.client._transport_sync import ClientTransport
from pipeline_engine.schedules import Overlap, ScheduleDefinition, ScheduleStatus
from pipeline_engine.states import PipelineState
from pipeline_engine.triggers import TriggerInfo

__all__ = ["VolumeMethods"]

NDJSON = "application/x-ndjson"


def ndjson_of(inputs: Iterable[Any] | bytes) -> bytes:
    """Inputs as an NDJSON body (bytes are taken to be NDJSON already)."""
    if isinstance(inputs, bytes):
        return inputs
    return b"".join(json.dumps(value).encode() + b"\n" for value in inputs)


class VolumeMethods(ClientTransport):
    """Batch and schedule operations (mixed into the client; see it for ``timeout`` and
    ``retry_policy``)."""

    # ------------------------------------------------------------------ batches
    def submit_batch(
        self,
        inputs: Iterable[Any] | bytes,
        *,
        tenant_id: str | None = None,
        max_running: int | None = None,
        idempotency_key: str | None = None,
        pipeline: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> BatchRef:
        """Run the tenant's pipeline once per input, ``max_running`` at once.

        Args:
            inputs: The inputs (any JSON values), or an NDJSON body (bytes, one input a line).
            tenant_id: The tenant (default: the client's).
            max_running: At most this many of its pipelines run at once (server default 100).
            idempotency_key: The same key gives the same batch (send one to make a retry safe).
            pipeline: The tenant's pipeline (default: ``default``).

        Returns:
            The batch: its id, how many inputs, its state.
        """
        data = self._request(
            "POST",
            self._url("batches"),
            params=present(
                tenant_id=self._tenant(tenant_id),
                max_running=max_running,
                idempotency_key=idempotency_key,
                pipeline=pipeline,
            ),
            content=ndjson_of(inputs),
            content_type=NDJSON,
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return BatchRef.model_validate(data)

    def get_batch(
        self,
        batch_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> BatchStatus:
        """The batch's state, its pipelines' counts by state, when it started and finished."""
        data = self._request(
            "GET", self._url("batches", batch_id), timeout=timeout, retry_policy=retry_policy
        )
        return BatchStatus.model_validate(data)

    def list_batches(
        self,
        *,
        tenant_id: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> BatchPage:
        """One page of batches, newest first."""
        data = self._request(
            "GET",
            self._url("batches"),
            params=present(
                tenant_id=self._tenant(tenant_id), page_size=page_size, page_token=page_token
            ),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return BatchPage.model_validate(data)

    def list_batch_pipelines(
        self,
        batch_id: str,
        *,
        state: PipelineState | str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> BatchPipelinePage:
        """One page of the batch's pipelines: all in input order, or those in ``state``."""
        data = self._request(
            "GET",
            self._url("batches", batch_id, "pipelines"),
            params=present(
                state=PipelineState(state).value if state is not None else None,
                page_size=page_size,
                page_token=page_token,
            ),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return BatchPipelinePage.model_validate(data)

    def cancel_batch(
        self,
        batch_id: str,
        reason: str = "",
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> BatchStatus:
        """No more of its pipelines start, and the running ones are cancelled."""
        data = self._request(
            "POST",
            self._url("batches", batch_id, "cancel"),
            json={"reason": reason},
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return BatchStatus.model_validate(data)

    def retry_failed_batch(
        self,
        batch_id: str,
        reason: str = "",
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> RetriedBatch:
        """Retry every failed stage of every failed pipeline of the batch."""
        data = self._request(
            "POST",
            self._url("batches", batch_id, "retry-failed"),
            json={"reason": reason},
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return RetriedBatch.model_validate(data)

    def batch_results(
        self, batch_id: str, *, timeout: float | None = None
    ) -> Iterator[BatchResultLine]:
        """The batch's results, one per input in input order, as the server streams them."""
        url = self._url("batches", batch_id, "results")
        try:
            with self._http.stream(
                "GET", url, headers=self._headers(), timeout=self._stream_timeout(timeout)
            ) as response:
                if not response.is_success:
                    response.read()
                    raise error_from_response(response)
                for line in response.iter_lines():
                    if line.strip():
                        yield BatchResultLine.model_validate_json(line)
        except httpx.TransportError as exc:
            raise unreachable(self._base_url, exc) from None

    # ------------------------------------------------------------------ triggers
    def put_trigger(
        self,
        trigger_id: str,
        *,
        tenant_id: str | None = None,
        input: str | None = None,
        pipeline: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> TriggerInfo:
        """Create a webhook trigger (its ``secret`` is in this answer only) or change its
        mapping (``input``: CEL over ``body`` and ``headers``; the secret is kept, not shown)."""
        tenant = self._tenant(tenant_id) or ""
        data = self._request(
            "PUT",
            self._url("tenants", tenant, "triggers", trigger_id),
            json=present(input=input, pipeline=pipeline),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return TriggerInfo.model_validate(data)

    def rotate_trigger(
        self,
        trigger_id: str,
        *,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> TriggerInfo:
        """A new secret for the trigger (in this answer only); the old one stops at once."""
        tenant = self._tenant(tenant_id) or ""
        data = self._request(
            "POST",
            self._url("tenants", tenant, "triggers", trigger_id, "rotate"),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return TriggerInfo.model_validate(data)

    # ------------------------------------------------------------------ schedules
    def create_schedule(
        self,
        schedule: ScheduleDefinition | Mapping[str, Any],
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> ScheduleStatus:
        """Create a schedule (cron or ``interval_s``); the same definition again answers it."""
        body = ScheduleDefinition.model_validate(schedule).model_dump(mode="json")
        data = self._request(
            "POST", self._url("schedules"), json=body, timeout=timeout, retry_policy=retry_policy
        )
        return ScheduleStatus.model_validate(data)

    def list_schedules(
        self,
        *,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> list[ScheduleStatus]:
        """The schedules of the caller's tenants (or of ``tenant_id``)."""
        data = self._request(
            "GET",
            self._url("schedules"),
            params=present(tenant_id=self._tenant(tenant_id)),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return [ScheduleStatus.model_validate(item) for item in data["items"]]

    def get_schedule(
        self,
        schedule_id: str,
        *,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> ScheduleStatus:
        """The schedule, its next run times and recent runs."""
        return self._schedule_call("GET", schedule_id, None, tenant_id, timeout, retry_policy)

    def pause_schedule(
        self,
        schedule_id: str,
        note: str = "",
        *,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> ScheduleStatus:
        """No run starts until it is unpaused."""
        body = {"note": note}
        return self._schedule_call(
            "POST", schedule_id, "pause", tenant_id, timeout, retry_policy, body
        )

    def unpause_schedule(
        self,
        schedule_id: str,
        note: str = "",
        *,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> ScheduleStatus:
        """Runs start again at their due times."""
        body = {"note": note}
        return self._schedule_call(
            "POST", schedule_id, "unpause", tenant_id, timeout, retry_policy, body
        )

    def trigger_schedule(
        self,
        schedule_id: str,
        *,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> ScheduleStatus:
        """Start a run now."""
        return self._schedule_call("POST", schedule_id, "trigger", tenant_id, timeout, retry_policy)

    def backfill_schedule(
        self,
        schedule_id: str,
        start: datetime,
        end: datetime,
        *,
        overlap: Overlap = "allow_all",
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> ScheduleStatus:
        """Start the runs that were due between ``start`` and ``end``."""
        body = {"start": start.isoformat(), "end": end.isoformat(), "overlap": overlap}
        return self._schedule_call(
            "POST", schedule_id, "backfill", tenant_id, timeout, retry_policy, body
        )

    def delete_schedule(
        self,
        schedule_id: str,
        *,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> None:
        """Delete the schedule (the pipelines it started stay)."""
        self._request(
            "DELETE",
            self._url("schedules", schedule_id),
            params=present(tenant_id=self._tenant(tenant_id)),
            timeout=timeout,
            retry_policy=retry_policy,
        )

    def _schedule_call(
        self,
        method: str,
        schedule_id: str,
        action: str | None,
        tenant_id: str | None,
        timeout: float | None,
        retry_policy: ClientRetryPolicy | None,
        body: dict[str, Any] | None = None,
    ) -> ScheduleStatus:
        parts = ("schedules", schedule_id, action) if action else ("schedules", schedule_id)
        data = self._request(
            method,
            self._url(*parts),
            json=body,
            params=present(tenant_id=self._tenant(tenant_id)),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return ScheduleStatus.model_validate(data)
