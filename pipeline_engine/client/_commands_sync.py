"""Pipeline commands: the methods :class:`AsyncPipelineClient` has to create, start, cancel and
retry pipelines and to answer their inputs.

GENERATED from ``_commands_async.py`` by ``scripts/generate_sync_client.py``: do not edit it,
edit ``_commands_async.py`` and run the script.
"""

from __future__ import annotations

from typing import Any

from pipeline_engine.client._base import ConfigLike, config_to_wire, present
from pipeline_engine.client._retry import ClientRetryPolicy
from pipeline_engine.client._transport_sync import ClientTransport
from pipeline_engine.resources import PipelineCreated
from pipeline_engine.states import PipelineState

__all__ = ["PipelineCommands"]


class PipelineCommands(ClientTransport):
    """Create, start, cancel, retry and submit input (mixed into the client; see it for
    ``timeout`` and ``retry_policy``)."""

    def create_pipeline(
        self,
        config: ConfigLike,
        *,
        input: Any = None,
        tenant_id: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> str:
        """Create a pipeline (in ``PENDING``); idempotent.

        The id is derived from (tenant, config, input, idempotency key): repeating a call returns
        the same id and creates nothing (:meth:`create_pipeline_detailed` says when).

        Args:
            config: A :class:`PipelineConfig` (e.g. from :func:`pipeline_engine.pipeline`), a
                JSON-like mapping, or JSON text.
            input: The pipeline's input, any JSON value (every step sees it).
            tenant_id: The owning tenant (default: the client's ``tenant_id``).
            idempotency_key: Makes the id depend on (tenant, key) only.

        Returns:
            The pipeline id.

        Raises:
            InvalidConfig: The config is not valid (``problems`` lists each, with its JSON path).
            Conflict: The idempotency key was used with another config or input.
            PermissionDenied: The caller is not an operator of the tenant.
        """
        created = self.create_pipeline_detailed(
            config,
            input=input,
            tenant_id=tenant_id,
            idempotency_key=idempotency_key,
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return created.pipeline_id

    def create_pipeline_detailed(
        self,
        config: ConfigLike,
        *,
        input: Any = None,
        tenant_id: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineCreated:
        """:meth:`create_pipeline`, answering the id, the state and whether it was reused.

        Returns:
            ``reused`` is ``True`` when a pipeline with the same arguments existed: nothing was
            created, and ``state`` is that pipeline's current state.
        """
        body = {
            "config": config_to_wire(config),
            "input": input,
            **present(tenant_id=self._tenant(tenant_id), idempotency_key=idempotency_key),
        }
        data = self._request(
            "POST", self._url("pipelines"), json=body, timeout=timeout, retry_policy=retry_policy
        )
        return PipelineCreated.model_validate(data)

    def start_pipeline(
        self,
        pipeline_id: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Start a ``PENDING`` pipeline; a repeat returns the current state.

        Args:
            pipeline_id: The pipeline.

        Returns:
            The state after the call (``RUNNING`` unless it already moved on).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
        """
        data = self._request(
            "POST",
            self._pipeline_url(pipeline_id, "start"),
            json={},
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )
        return PipelineState(data["state"])

    def cancel_pipeline(
        self,
        pipeline_id: str,
        reason: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Cancel a pipeline and return once it has stopped; a repeat returns ``CANCELLED``.

        Args:
            pipeline_id: The pipeline.
            reason: Why (recorded in the ``pipeline.cancel_requested`` event).

        Returns:
            ``CANCELLED``.

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
            InvalidState: The pipeline already ended otherwise (succeeded, failed for good).
        """
        data = self._request(
            "POST",
            self._pipeline_url(pipeline_id, "cancel"),
            json={"reason": reason},
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )
        return PipelineState(data["state"])

    def retry_stage(
        self,
        pipeline_id: str,
        stage_id: str,
        reason: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Re-run a stage that failed for good; stages that succeeded are not run again.

        Args:
            pipeline_id: The pipeline (``FAILED``, within its ``failure_hold_s``).
            stage_id: The failed stage.
            reason: Why (recorded in the ``stage.retry_requested`` event).

        Returns:
            The state after the call (``RUNNING`` when the retry was accepted).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
            StageNotFound: The pipeline has no such stage.
            InvalidState: The stage did not fail for good, or the pipeline has ended.
        """
        data = self._request(
            "POST",
            self._pipeline_url(pipeline_id, "stages", stage_id, "retry"),
            json={"reason": reason},
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )
        return PipelineState(data["state"])

    def retry_failed(
        self,
        pipeline_id: str,
        reason: str,
        *,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Re-run every stage that failed for good, at once; stages that succeeded are not run
        again (``POST /v1/pipelines/{id}/retry``, the ``retry_failed`` update).

        Args:
            pipeline_id: The pipeline (``FAILED``, within its ``failure_hold_s``).
            reason: Why (recorded in each ``stage.retry_requested`` event).

        Returns:
            The state after the call (``RUNNING`` when the retry was accepted).

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
            InvalidState: No stage is held in FAILED, or the pipeline has ended.
        """
        data = self._request(
            "POST",
            self._pipeline_url(pipeline_id, "retry"),
            json={"reason": reason},
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )
        return PipelineState(data["state"])

    def submit_input(
        self,
        pipeline_id: str,
        payload: Any,
        responder: str,
        *,
        stage_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineState:
        """Give a ``WAITING_INPUT`` pipeline the payload its input element waits for.

        Args:
            pipeline_id: The pipeline.
            payload: The payload; it must satisfy the input element's JSON Schema.
            responder: Who answers (recorded in the ``pipeline.input_received`` event).
            stage_id: The input element, needed only when several wait at once.

        Returns:
            The state after the call.

        Raises:
            PipelineNotFound: No such pipeline among the caller's tenants.
            InvalidInput: The payload does not match the schema (``problems`` says where).
            InvalidState: No input is waiting.
        """
        body: dict[str, Any] = {"payload": payload, "responder": responder}
        if stage_id is not None:
            body["stage_id"] = stage_id
        data = self._request(
            "POST",
            self._pipeline_url(pipeline_id, "input"),
            json=body,
            timeout=timeout,
            retry_policy=retry_policy,
            pipeline_id=pipeline_id,
        )
        return PipelineState(data["state"])
