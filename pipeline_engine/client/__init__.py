"""Clients of the Pipeline Engine REST API: :class:`PipelineClient` and its async twin."""

from pipeline_engine.client._async import AsyncPipelineClient
from pipeline_engine.client._base import TOKEN_ENV, URL_ENV, ConfigLike, TokenSource
from pipeline_engine.client._retry import ClientRetryPolicy
from pipeline_engine.client._subscription import (
    AsyncEventCallback,
    AsyncSubscription,
    EventCallback,
    Subscription,
)
from pipeline_engine.client._sync import PipelineClient
from pipeline_engine.pages import PipelinePage, PipelineSummary
from pipeline_engine.resources import PipelineCreated, StepInfo, TenantConfig
from pipeline_engine.versions import (
    AuditPage,
    AuditRecord,
    NamedPipeline,
    PipelineAlias,
    PipelineList,
    PipelineVersion,
    PipelineVersionRef,
    StoredPipeline,
    VersionPage,
)

__all__ = [
    "TOKEN_ENV",
    "URL_ENV",
    "AsyncEventCallback",
    "AsyncPipelineClient",
    "AsyncSubscription",
    "AuditPage",
    "AuditRecord",
    "ClientRetryPolicy",
    "ConfigLike",
    "EventCallback",
    "NamedPipeline",
    "PipelineAlias",
    "PipelineClient",
    "PipelineCreated",
    "PipelineList",
    "PipelinePage",
    "PipelineSummary",
    "PipelineVersion",
    "PipelineVersionRef",
    "StepInfo",
    "StoredPipeline",
    "Subscription",
    "TenantConfig",
    "TokenSource",
    "VersionPage",
]
