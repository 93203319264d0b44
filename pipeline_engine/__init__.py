"""Pipeline Engine: multi-tenant pipelines of Python steps on Temporal — the Python SDK.

Everything listed in ``__all__`` is the public, supported surface; everything else (modules and
names starting with ``_``) is private. The SDK follows semantic versioning: **a breaking change to
the public surface — a removed or renamed name, a changed signature or return type, an exception
no longer raised where documented — only ships in a new major version of the SDK** (see
``pipeline_engine.__version__``). Additions (new methods, new optional keyword arguments, new
event types) can come in minor versions. A test locks ``__all__`` so no change slips by.

The pieces:

* clients of the REST API: :class:`PipelineClient` and its async twin
  :class:`AsyncPipelineClient`, retried per :class:`ClientRetryPolicy`;
* the DSL models (:class:`PipelineConfig`, :class:`StageConfig`, elements) and builders to write
  pipelines in Python (:func:`chain`, :func:`group`, :func:`chord`, :func:`step`, :func:`pipeline`,
  :func:`dag`...);
* states, events, statuses and the one error hierarchy rooted at :class:`PipelineError`;
* steps: :func:`step` registers a function (``@step``) or builds a step element (``step("x")``);
* ``pipeline_engine.testing``: :class:`~pipeline_engine.testing.FakePipelineEngine`, an offline,
  in-memory drop-in for the clients.

Importing this package is cheap: it does not import Temporal or the server stack.
"""

from pipeline_engine._step_dispatch import step
from pipeline_engine._version import __version__
from pipeline_engine.builders import (
    case,
    chain,
    chord,
    dag,
    expr,
    for_each,
    group,
    human_input,
    pipeline,
    stage,
    sub_pipeline,
    switch,
    task,
    to_wire,
)
from pipeline_engine.client import (
    AsyncPipelineClient,
    AsyncSubscription,
    ClientRetryPolicy,
    PipelineClient,
    PipelineCreated,
    PipelinePage,
    PipelineSummary,
    StepInfo,
    Subscription,
    TenantConfig,
)
from pipeline_engine.dsl import (
    Cache,
    Case,
    Chain,
    Chord,
    Defaults,
    Group,
    Hooks,
    Input,
    Map,
    PipelineConfig,
    Resources,
    RetryPolicy,
    StageConfig,
    Step,
    SubPipeline,
    Switch,
    parse_config,
)
from pipeline_engine.errors import (
    AuthenticationError,
    Conflict,
    DefinitionNotFound,
    EngineUnavailable,
    InvalidConfig,
    InvalidInput,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    PipelineError,
    PipelineNotFound,
    Problem,
    StageNotFound,
    TenantNotFound,
    TimeoutError,
)
from pipeline_engine.events import Event, EventType, MetricPoint
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.status import ErrorInfo, PendingInput, PipelineStatus, StagePage, StageStatus
from pipeline_engine.steps import StepContext, StepRegistry, default_registry

__all__ = [
    "AsyncPipelineClient",
    "AsyncSubscription",
    "AuthenticationError",
    "Cache",
    "Case",
    "Chain",
    "Chord",
    "ClientRetryPolicy",
    "Conflict",
    "Defaults",
    "DefinitionNotFound",
    "EngineUnavailable",
    "ErrorInfo",
    "Event",
    "EventType",
    "Group",
    "Hooks",
    "Input",
    "InvalidConfig",
    "InvalidInput",
    "InvalidState",
    "Map",
    "MetricPoint",
    "NotFound",
    "PayloadTooLarge",
    "PendingInput",
    "PermissionDenied",
    "PipelineClient",
    "PipelineConfig",
    "PipelineCreated",
    "PipelineError",
    "PipelineNotFound",
    "PipelinePage",
    "PipelineState",
    "PipelineStatus",
    "PipelineSummary",
    "Problem",
    "Resources",
    "RetryPolicy",
    "StageConfig",
    "StageNotFound",
    "StagePage",
    "StageState",
    "StageStatus",
    "Step",
    "StepContext",
    "StepInfo",
    "StepRegistry",
    "SubPipeline",
    "Subscription",
    "Switch",
    "TenantConfig",
    "TenantNotFound",
    "TimeoutError",
    "__version__",
    "case",
    "chain",
    "chord",
    "dag",
    "default_registry",
    "expr",
    "for_each",
    "group",
    "human_input",
    "parse_config",
    "pipeline",
    "stage",
    "step",
    "sub_pipeline",
    "switch",
    "task",
    "to_wire",
]
