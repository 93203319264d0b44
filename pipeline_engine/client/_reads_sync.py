"""Pipeline reads: the methods :class:`AsyncPipelineClient` has to read a pipeline, its result,
status and history, to list pipelines and to wait for one.

GENERATED from ``_reads_async.py`` by ``scripts/generate_sync_client.py``: do not edit it,
edit ``_reads_async.py`` and run the script.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pipeline_engine.client._base import present, state_set
from pipeline_engine.client._retry import ClientRetryPolicy
from pipeline_engine.client._transport_sync import ClientTransport
from pipeline_engine.events import Event
from pipeline_engine.pages import PipelinePage
from pipeline_engine.states import PipelineState
from pipeline_engine.status import PipelineStatus, StagePage

__all__ = ["PipelineReads"]


class PipelineReads(ClientTransport):
    """Read, list and wait for pipelines (mixed into the client; see it for ``timeout`` and
    ``retry_policy``)."""

    def get_pipeline(
        self,
        pipeline_id: str,
        *,
        page: StagePage | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineStatus:
        """The whole picture: state, stages (state, attempts, error, result), result, error.

        A pipeline with many stages answers with counts by state (``stage_counts``) and a page of
        its stages (the first 1,000 by default; ``stages_total`` say how many match).

        Args:
            pipeline_id: The pipeline.
            page: Which stages to return (offset, limit, state filter).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
        """
        data = self._request(
            "GET",
            self._pipeline_url(pipeline_id),
            params=None
            if page is None
            else present(
                stage_offset=page.offset,
                stage_limit=page.limit,
                stage_state=page.state.value if page.state else None,
            ),
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )
        return PipelineStatus.model_validate(data)

    def get_result(
        self,
        pipeline_id: str,
        *,
        stage_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> Any:
        """The whole result of the pipeline, or of one stage, however large.

        In :meth:`get_pipeline` a result of 32 KiB or more (the server's
        ``PIPELINE_ENGINE_PAYLOAD_THRESHOLD_BYTES``) comes as
        ``{"$ref": "<path>", "size_bytes": N}``, so a status read stays small; this reads the value.

        Args:
            pipeline_id: The pipeline.
            stage_id: A stage of it; ``None`` for the pipeline's own result.

        Returns:
            The result (``None`` until the pipeline or stage succeeded).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
            StageNotFound: The pipeline has no stage ``stage_id``.
        """
        rest = ("result",) if stage_id is None else ("stages", stage_id, "result")
        return self._request(
            "GET",
            self._pipeline_url(pipeline_id, *rest),
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )

    def get_status(
        self,
        pipeline_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """The pipeline's state.

        Args:
            pipeline_id: The pipeline.

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
        """
        status = self.get_pipeline(
            pipeline_id, page=StagePage(limit=0), timeout=timeout, retry_policy=retry_policy
        )
        return status.state

    def get_history(
        self,
        pipeline_id: str,
        since: datetime | None = None,
        *,
        after_id: int | None = None,
        limit: int | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> list[Event]:
        """The pipeline's events, in order.

        Args:
            pipeline_id: The pipeline.
            since: Keep events at or after this time.
            after_id: Keep events after this event id.
            limit: At most this many events (page on with the last id as ``after_id``).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
        """
        data = self._request(
            "GET",
            self._pipeline_url(pipeline_id, "history"),
            params=present(
                since=since.isoformat() if since else None, after_id=after_id, limit=limit
            ),
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )
        return [Event.model_validate(e) for e in data]

    def list_pipelines(
        self,
        *,
        tenant_id: str | None = None,
        state: PipelineState | str | None = None,
        name: str | None = None,
        pipeline: str | None = None,
        version: int | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelinePage:
        """One page of pipelines, newest first.

        Args:
            tenant_id: Only this tenant's (default: the client's ``tenant_id``; else all the
                caller may see).
            state: Only pipelines in this state.
            name: Only pipelines whose config name starts with this.
            pipeline: Only runs of this stored pipeline (``default``: the tenant config's).
            version: Only runs of this version (with ``pipeline``: of that pipeline).
            page_size: Items per page.
            page_token: ``next_page_token`` of the previous page.
        """
        data = self._request(
            "GET",
            self._url("pipelines"),
            params=present(
                tenant_id=self._tenant(tenant_id),
                state=PipelineState(state).value if state is not None else None,
                name=name or None,
                pipeline=pipeline,
                version=version,
                page_size=page_size,
                page_token=page_token,
            ),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return PipelinePage.model_validate(data)

    def wait_for(
        self,
        pipeline_id: str,
        states: PipelineState | str | Iterable[PipelineState | str] | None = None,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineStatus:
        """Wait until the pipeline is in one of ``states``.

        Args:
            pipeline_id: The pipeline.
            states: The states to wait for (default: any of ``SUCCEEDED``, ``FAILED``,
                ``CANCELLED``).
            timeout: Seconds to wait at most (``None``: the client's default).
            retry_policy: Retries of transient failures of each poll (``None``: the client's).

        Returns:
            The pipeline's status once it is in one of ``states``.

        Raises:
            TimeoutError: It did not get there in time.
            PipelineNotFound: No such pipeline among the caller's tenants.
        """
        wanted = state_set(states)
        deadline = self._deadline(timeout)
        interval = 0.05
        while True:
            left = deadline.remaining()
            status = self.get_pipeline(
                pipeline_id,
                timeout=left if left is not None else self._timeout,
                retry_policy=retry_policy,
            )
            if status.state in wanted:
                return status
            if not deadline.allows(interval):
                raise deadline.timeout_error(
                    f"waiting for {pipeline_id} to reach {'/'.join(sorted(wanted))} "
                    f"(it is {status.state.value})"
                )
            time.sleep(interval)
            interval = min(interval * 1.5, 1.0)
