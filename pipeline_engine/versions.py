"""Wire types of named pipelines: versions, aliases, the audit log, a run's origin.

One home for the REST API, the SDK and the engine: a run's :class:`PipelineVersionRef` travels in
its Temporal input and comes back in its status and ``pipeline.created`` event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

__all__ = [
    "AUDIT_ACTIONS",
    "DEFAULT_PIPELINE",
    "LIVE_ALIAS",
    "MAX_VERSION",
    "AuditPage",
    "AuditRecord",
    "DocumentField",
    "NamedPipeline",
    "PipelineAlias",
    "PipelineList",
    "PipelineVersion",
    "PipelineVersionRef",
    "StoredPipeline",
    "VersionPage",
]

DEFAULT_PIPELINE = "default"
"""The pipeline the seed's ``tenant_config.pipeline_definition`` is (``/v1/tenants/{t}/config``)."""
MAX_VERSION = 2**31 - 1
"""The largest version number (a 32-bit integer column)."""
LIVE_ALIAS = "live"
"""The alias ``/v1/process`` runs when it exists (else the latest version)."""
AUDIT_ACTIONS = (
    "pipeline.version_created",
    "pipeline.rolled_back",
    "pipeline.alias_set",
    "pipeline.archived",
    "tenant_config.written",
)
"""Every ``action`` an audit record can have."""

DocumentField = Literal["pipeline_definition", "config"]
"""Which field a version was written with: a DSL tree, or a whole ``PipelineConfig``."""


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class PipelineVersionRef(_Wire):
    """Where a run came from: a stored pipeline's name, version and digest.

    Attributes:
        name: The stored pipeline (``default`` for the tenant config's).
        version: Its version number (1, 2, …).
        digest: sha256 of the version's canonical document.
    """

    name: str
    version: int = Field(ge=1)
    digest: str


class PipelineVersion(_Wire):
    """One immutable version of a named pipeline (metadata only).

    Attributes:
        tenant_id: The owning tenant.
        name: The pipeline's name.
        version: Its number, from 1, never reused.
        digest: sha256 (hex) of the canonical document: equal documents, equal digests.
        schema_version: The config schema version the document was written in.
        created_at: When it was written (UTC).
        created_by: Who wrote it (the token's ``sub``).
        message: Why, as the writer said.
    """

    tenant_id: str
    name: str
    version: int
    digest: str
    schema_version: str
    created_at: datetime
    created_by: str | None = None
    message: str | None = None

    @property
    def ref(self) -> PipelineVersionRef:
        """This version as a run's origin."""
        return PipelineVersionRef(name=self.name, version=self.version, digest=self.digest)


class StoredPipeline(PipelineVersion):
    """One version with its document, in the field it was written with.

    Attributes:
        pipeline_definition: The DSL tree, when it was written as one.
        config: The whole ``PipelineConfig``, when it was written as one.
    """

    pipeline_definition: Any = None
    config: dict[str, Any] | None = None

    def metadata(self) -> PipelineVersion:
        """The version without its document."""
        return PipelineVersion.model_validate(
            {k: getattr(self, k) for k in PipelineVersion.model_fields}
        )

    @property
    def field(self) -> DocumentField:
        """The field holding the document."""
        return "config" if self.config is not None else "pipeline_definition"

    @property
    def document(self) -> Any:
        """The document, whichever field holds it."""
        return self.config if self.config is not None else self.pipeline_definition

    @model_serializer(mode="wrap")
    def _only_the_written_field(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        data.pop("pipeline_definition" if self.field == "config" else "config", None)
        return data


class VersionPage(_Wire):
    """A page of versions, newest first.

    Attributes:
        items: The versions (metadata only).
        next_page_token: Pass it as ``page_token`` for the next page; ``None`` on the last.
    """

    items: list[PipelineVersion] = Field(default_factory=list)
    next_page_token: str | None = None


class PipelineAlias(_Wire):
    """A name (like ``live``) pointing at a version, maybe sending a share of runs to a canary.

    Attributes:
        alias: The alias.
        version: The version it runs.
        canary_version: Another version some runs get instead.
        canary_percent: The share of runs (0 to 100) that get ``canary_version``, chosen by a hash
            of the input, so the same input always goes the same way.
        updated_at: When it was last pointed.
        updated_by: Who pointed it.
    """

    alias: str
    version: int
    canary_version: int | None = None
    canary_percent: float | None = None
    updated_at: datetime
    updated_by: str | None = None


class NamedPipeline(_Wire):
    """A tenant's pipeline in the list: its latest version and its aliases.

    Attributes:
        tenant_id: The owning tenant.
        name: The pipeline's name.
        latest_version: Its newest version.
        archived: Archived pipelines keep their versions readable but can no longer be run.
        updated_at: The last change (a version, an alias, the archive).
        aliases: Its aliases by name.
    """

    tenant_id: str
    name: str
    latest_version: int
    archived: bool = False
    updated_at: datetime
    aliases: dict[str, PipelineAlias] = Field(default_factory=dict)


class PipelineList(_Wire):
    """A tenant's named pipelines, by name (one page: ``next_page_token`` is always ``None``).

    Attributes:
        items: The pipelines.
        next_page_token: ``None``.
    """

    items: list[NamedPipeline] = Field(default_factory=list)
    next_page_token: str | None = None


class AuditRecord(_Wire):
    """Who changed what (read-only: nothing in the API edits or deletes these).

    Attributes:
        at: When.
        actor: Who (the token's ``sub``).
        action: One of :data:`AUDIT_ACTIONS`.
        pipeline: The pipeline it concerns.
        version: The version it concerns (written, rolled back to, aliased, archived at).
        message: The writer's message, or what changed.
    """

    at: datetime
    actor: str | None = None
    action: str
    pipeline: str | None = None
    version: int | None = None
    message: str | None = None


class AuditPage(_Wire):
    """A page of audit records, newest first.

    Attributes:
        items: The records.
        next_page_token: Pass it as ``page_token`` for the next page; ``None`` on the last.
    """

    items: list[AuditRecord] = Field(default_factory=list)
    next_page_token: str | None = None
