"""Named pipelines: the methods :class:`AsyncPipelineClient` adds for
``/v1/tenants/{t}/pipelines``, ``/v1/tenants/{t}/audit`` and ``/v1/process``.

GENERATED from ``_named_async.py`` by ``scripts/generate_sync_client.py``: do not edit it,
edit ``_named_async.py`` and run the script.

The server holds every rule (digests, equal documents, ``If-Match``, canaries, archives).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from pipeline_engine.builders import to_wire
from pipeline_engine.client._base import config_to_wire, present
from pipeline_engine.client._retry import ClientRetryPolicy
from pipeline_engine.client._transport_sync import ClientTransport
from pipeline_engine.resources import PipelineCreated
from pipeline_engine.versions import (
    AuditPage,
    PipelineAlias,
    PipelineList,
    PipelineVersion,
    StoredPipeline,
    VersionPage,
)

__all__ = ["NamedMethods"]


def definition_to_wire(definition: Any) -> Any:
    """The JSON value sent as ``pipeline_definition`` (a DSL element, or its JSON already)."""
    return to_wire(definition) if isinstance(definition, BaseModel) else definition


class NamedMethods(ClientTransport):
    """Named-pipeline operations (mixed into the client; see it for ``timeout`` and
    ``retry_policy``). ``tenant_id`` defaults to the client's everywhere."""

    def _named_url(self, tenant_id: str | None, *parts: str) -> str:
        tenant = self._tenant(tenant_id)
        if not tenant:
            raise ValueError("no tenant: pass tenant_id=, or give the client a tenant_id")
        return self._url("tenants", tenant, *parts)

    # ------------------------------------------------------------------ runs
    def process(
        self,
        tenant_id: str,
        input: Any = None,
        *,
        pipeline: str | None = None,
        version: int | None = None,
        alias: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> str:
        """Create and start a pipeline from one of the tenant's stored pipelines; the same
        tenant, input and key give the same pipeline (:meth:`process_detailed` says when).

        Args:
            tenant_id: The tenant whose pipeline runs.
            input: The pipeline's input.
            pipeline: The tenant's named pipeline (default: ``default``, the tenant config's).
            version: Run this version (not with ``alias``).
            alias: Run the version this alias points at (a canary share is chosen by a hash of
                the input). Neither: the alias ``live`` when it exists, else the latest version.
            idempotency_key: Makes the id depend on (tenant, key) only.

        Returns:
            The pipeline id.

        Raises:
            TenantNotFound: The tenant has no config (for ``default``).
            DefinitionNotFound: No such pipeline, version or alias.
            Conflict: The pipeline is archived.
        """
        created = self.process_detailed(
            tenant_id,
            input,
            pipeline=pipeline,
            version=version,
            alias=alias,
            idempotency_key=idempotency_key,
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return created.pipeline_id

    def process_detailed(
        self,
        tenant_id: str,
        input: Any = None,
        *,
        pipeline: str | None = None,
        version: int | None = None,
        alias: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineCreated:
        """:meth:`process`, answering the id, the state and whether it was reused.

        Returns:
            ``reused`` is ``True`` when the same run existed (same tenant, config, input and key):
            nothing new ran; pass another ``idempotency_key`` to run again.
        """
        data = self._request(
            "POST",
            self._url("process"),
            json={
                "tenant_id": tenant_id,
                "input": input,
                **present(
                    pipeline=pipeline,
                    version=version,
                    alias=alias,
                    idempotency_key=idempotency_key,
                ),
            },
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return PipelineCreated.model_validate(data)

    # ------------------------------------------------------------------ writes
    def push_pipeline_version(
        self,
        name: str,
        *,
        pipeline_definition: Any = None,
        config: Any = None,
        message: str | None = None,
        if_match: int | None = None,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineVersion:
        """Write the next version of a named pipeline (validated like a pipeline's creation).

        A document equal to the latest version makes no new version: the answer is that
        version (compare its ``version`` with the one you had to tell).

        Args:
            name: The pipeline's name (``default`` is the tenant config's).
            pipeline_definition: A DSL element (e.g. from :func:`pipeline_engine.chain`) or its
                JSON; give this or ``config``.
            config: A whole :class:`PipelineConfig`, a mapping or JSON text.
            message: Why (kept with the version and in the audit log).
            if_match: Write only if this is the latest version (``0``: only if the name is new).

        Returns:
            The version written (or the equal latest one).

        Raises:
            InvalidConfig: The document is not valid (``problems`` lists each).
            InvalidInput: Neither or both of ``pipeline_definition`` and ``config``.
            Conflict: ``if_match`` is not the latest version (someone wrote in between).
            PermissionDenied: The caller is not an admin of the tenant.
        """
        body: dict[str, Any] = present(message=message)
        if pipeline_definition is not None:
            body["pipeline_definition"] = definition_to_wire(pipeline_definition)
        if config is not None:
            body["config"] = config_to_wire(config)
        data = self._request(
            "PUT",
            self._named_url(tenant_id, "pipelines", name),
            json=body,
            headers={"If-Match": str(if_match)} if if_match is not None else None,
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return PipelineVersion.model_validate(data)

    def rollback_pipeline(
        self,
        name: str,
        to: int,
        *,
        message: str | None = None,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineVersion:
        """Write a new version equal to version ``to`` (with its digest); none when the latest
        already is.

        Args:
            name: The pipeline.
            to: The version to copy.
            message: Why (kept with the version and in the audit log).

        Raises:
            DefinitionNotFound: No such pipeline or version.
        """
        data = self._request(
            "POST",
            self._named_url(tenant_id, "pipelines", name, "rollback"),
            json={"to": to, **present(message=message)},
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return PipelineVersion.model_validate(data)

    def set_pipeline_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        canary_version: int | None = None,
        canary_percent: float | None = None,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineAlias:
        """Point an alias (e.g. ``live``) at a version, maybe sending a share of runs elsewhere.

        Args:
            name: The pipeline.
            alias: The alias.
            version: The version the alias runs.
            canary_version: Another version a share of runs gets instead.
            canary_percent: That share, 0 to 100, chosen by a hash of the input (the same
                input always runs the same version).

        Raises:
            InvalidInput: A canary version without a share, or the other way round.
            DefinitionNotFound: No such pipeline or version.
        """
        data = self._request(
            "PUT",
            self._named_url(tenant_id, "pipelines", name, "aliases", alias),
            json={
                "version": version,
                **present(canary_version=canary_version, canary_percent=canary_percent),
            },
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return PipelineAlias.model_validate(data)

    def archive_pipeline(
        self,
        name: str,
        *,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> None:
        """Archive pipeline ``name``: its versions stay readable, running it is a ``Conflict``."""
        self._request(
            "DELETE",
            self._named_url(tenant_id, "pipelines", name),
            timeout=timeout,
            retry_policy=retry_policy,
        )

    # ------------------------------------------------------------------ reads
    def list_named_pipelines(
        self,
        *,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> PipelineList:
        """The tenant's named pipelines: names, latest versions, aliases (archived marked)."""
        data = self._request(
            "GET",
            self._named_url(tenant_id, "pipelines"),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return PipelineList.model_validate(data)

    def get_pipeline_version(
        self,
        name: str,
        version: int | None = None,
        *,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> StoredPipeline:
        """Version ``version`` (default: the latest) of pipeline ``name``, with its document in
        the field it was written with.

        Raises:
            DefinitionNotFound: No such pipeline or version.
        """
        data = self._request(
            "GET",
            self._named_url(tenant_id, "pipelines", name),
            params=present(version=version),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return StoredPipeline.model_validate(data)

    def list_pipeline_versions(
        self,
        name: str,
        *,
        page_size: int | None = None,
        page_token: str | None = None,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> VersionPage:
        """A page of the pipeline's versions (metadata only), newest first.

        Args:
            name: The pipeline.
            page_size: Items per page (server default 50).
            page_token: ``next_page_token`` of the previous page.
        """
        data = self._request(
            "GET",
            self._named_url(tenant_id, "pipelines", name, "versions"),
            params=present(page_size=page_size, page_token=page_token),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return VersionPage.model_validate(data)

    def diff_pipeline_versions(
        self,
        name: str,
        from_version: int,
        to_version: int,
        *,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> list[dict[str, Any]]:
        """The RFC 6902 JSON Patch that turns version ``from_version``'s document into
        ``to_version``'s (``[]``: equal documents).

        Raises:
            DefinitionNotFound: No such pipeline or version.
        """
        data: list[dict[str, Any]] = self._request(
            "GET",
            self._named_url(tenant_id, "pipelines", name, "diff"),
            params={"from": str(from_version), "to": str(to_version)},
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return data

    def get_audit(
        self,
        *,
        pipeline: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        tenant_id: str | None = None,
        timeout: float | None = None,
        retry_policy: ClientRetryPolicy | None = None,
    ) -> AuditPage:
        """A page of the tenant's audit log, newest first: every version written, rollback,
        alias change, archive and tenant-config write (admins only; read-only).

        Args:
            pipeline: Only this pipeline's records.
            page_size: Items per page (server default 100).
            page_token: ``next_page_token`` of the previous page.
        """
        data = self._request(
            "GET",
            self._named_url(tenant_id, "audit"),
            params=present(pipeline=pipeline, page_size=page_size, page_token=page_token),
            timeout=timeout,
            retry_policy=retry_policy,
        )
        return AuditPage.model_validate(data)
