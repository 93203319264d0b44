"""The public surface is locked: a change here is a deliberate (and versioned) decision."""

from __future__ import annotations

import builtins
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline_engine
import pipeline_engine.client
import pipeline_engine.testing

# Changing these lists changes the SDK's public contract: removing or renaming a name is a breaking
# change and needs a new major version (see pipeline_engine's docstring).
TOP_LEVEL = [
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
    "EngineUnavailable",
    "ErrorInfo",
    "Event",
    "EventType",
    "Group",
    "Hooks",
    "Input",
    "Map",
    "InvalidConfig",
    "InvalidInput",
    "InvalidState",
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
    "StepInfo",
    "TenantConfig",
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
    "StepRegistry",
    "SubPipeline",
    "Subscription",
    "Switch",
    "TenantNotFound",
    "DefinitionNotFound",
    "TimeoutError",
    "__version__",
    "case",
    "chain",
    "chord",
    "dag",
    "expr",
    "for_each",
    "default_registry",
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
CLIENT = [
    "TOKEN_ENV",
    "URL_ENV",
    "AsyncEventCallback",
    "AsyncPipelineClient",
    "AuditPage",
    "AuditRecord",
    "NamedPipeline",
    "PipelineAlias",
    "PipelineList",
    "PipelineVersion",
    "PipelineVersionRef",
    "StoredPipeline",
    "VersionPage",
    "AsyncSubscription",
    "ClientRetryPolicy",
    "ConfigLike",
    "EventCallback",
    "PipelineClient",
    "PipelineCreated",
    "PipelinePage",
    "PipelineSummary",
    "StepInfo",
    "TenantConfig",
    "Subscription",
    "TokenSource",
]
TESTING = ["AsyncFakePipelineEngine", "FakePipelineEngine", "Hold", "RecordedCall"]

CLIENT_METHODS = [
    "create_pipeline",
    "create_pipeline_detailed",
    "process_detailed",
    "start_pipeline",
    "get_status",
    "get_pipeline",
    "get_history",
    "cancel_pipeline",
    "retry_stage",
    "retry_failed",
    "submit_input",
    "subscribe_events",
    "watch_metrics",
    "stream_events",
    "process",
    "list_pipelines",
    "wait_for",
    "put_tenant_config",
    "get_tenant_config",
    "delete_tenant_config",
    "list_steps",
    "push_pipeline_version",
    "rollback_pipeline",
    "set_pipeline_alias",
    "archive_pipeline",
    "list_named_pipelines",
    "get_pipeline_version",
    "list_pipeline_versions",
    "diff_pipeline_versions",
    "get_audit",
]


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (pipeline_engine, TOP_LEVEL),
        (pipeline_engine.client, CLIENT),
        (pipeline_engine.testing, TESTING),
    ],
)
def test_all_is_locked(module: object, names: list[str]) -> None:
    assert sorted(module.__all__) == sorted(names)  # type: ignore[attr-defined]
    for name in names:
        assert hasattr(module, name), name


def test_version_and_py_typed() -> None:
    major, minor, patch = pipeline_engine.__version__.split(".")
    assert major.isdigit() and minor.isdigit() and patch.isdigit()
    assert (Path(pipeline_engine.__file__).parent / "py.typed").exists()
    assert "new major version" in (pipeline_engine.__doc__ or "")


def test_timeout_error_is_also_the_builtin() -> None:
    assert issubclass(pipeline_engine.TimeoutError, builtins.TimeoutError)
    assert issubclass(pipeline_engine.TimeoutError, pipeline_engine.PipelineError)


def _public_callables() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for module in (pipeline_engine, pipeline_engine.client, pipeline_engine.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found.append((f"{module.__name__}.{name}", obj))
                if inspect.isclass(obj) and obj.__module__.startswith("pipeline_engine"):
                    for attr, member in vars(obj).items():
                        if attr.startswith("_") or not callable(member):
                            continue
                        found.append((f"{module.__name__}.{name}.{attr}", member))
    return found


def test_public_api_has_docstrings() -> None:
    missing = [name for name, obj in _public_callables() if not inspect.getdoc(obj)]
    assert missing == []


@pytest.mark.parametrize("cls_name", ["PipelineClient", "AsyncPipelineClient"])
def test_clients_have_the_seed_operations_with_timeout_and_retry_policy(cls_name: str) -> None:
    cls = getattr(pipeline_engine, cls_name)
    for method in CLIENT_METHODS:
        params = inspect.signature(getattr(cls, method)).parameters
        assert params["timeout"].kind is inspect.Parameter.KEYWORD_ONLY, (cls_name, method)
        assert params["retry_policy"].kind is inspect.Parameter.KEYWORD_ONLY, (cls_name, method)


@pytest.mark.parametrize(
    ("client", "fake"),
    [("PipelineClient", "FakePipelineEngine"), ("AsyncPipelineClient", "AsyncFakePipelineEngine")],
)
def test_fakes_are_drop_ins_for_the_clients(client: str, fake: str) -> None:
    client_cls = getattr(pipeline_engine, client)
    fake_cls = getattr(pipeline_engine.testing, fake)
    for method in CLIENT_METHODS:
        real = inspect.signature(getattr(client_cls, method))
        double = inspect.signature(getattr(fake_cls, method))
        assert list(real.parameters) == list(double.parameters), method
        for name, param in real.parameters.items():
            assert double.parameters[name].kind == param.kind, (method, name)
            assert double.parameters[name].default == param.default, (method, name)
        is_async = inspect.iscoroutinefunction(
            getattr(client_cls, method)
        ) or inspect.isasyncgenfunction(getattr(client_cls, method))
        fake_async = inspect.iscoroutinefunction(
            getattr(fake_cls, method)
        ) or inspect.isasyncgenfunction(getattr(fake_cls, method))
        assert is_async == fake_async, method


def test_import_is_cheap() -> None:
    code = (
        "import sys, pipeline_engine, pipeline_engine.testing;"
        "bad = [m for m in ('temporalio', 'fastapi', 'uvicorn', 'sqlalchemy') if m in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
