"""The config builders: ``pipeline`` (a tree), ``dag`` and its ``stage``s."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline_engine.builders._elements import (
    NOT_SET,
    ElementLike,
    as_element,
    options,
    resources_of,
    retry_of,
)
from pipeline_engine.dsl import (
    SCHEMA_VERSION,
    Defaults,
    Hooks,
    PipelineConfig,
    Resources,
    RetryPolicy,
    StageConfig,
)

__all__ = ["dag", "pipeline", "stage"]


def stage(
    id: str,
    step: str,
    /,
    kwargs: Mapping[str, Any] | None = None,
    *,
    depends_on: Sequence[str] = (),
    retry: RetryPolicy | Mapping[str, Any] | None = NOT_SET,
    timeout_s: float | None = NOT_SET,
    heartbeat_timeout_s: float | None = NOT_SET,
    on_failure: str = NOT_SET,
    resources: Resources | Mapping[str, Any] | None = NOT_SET,
    local: bool | None = NOT_SET,
    **step_kwargs: Any,
) -> StageConfig:
    """One stage of a DAG: a step and the stages it depends on.

    A stage receives ``{dep_id: result}`` of its dependencies as ``previous``.

    Args:
        id: The stage id.
        step: The registered step name.
        kwargs: The step's keyword arguments.
        depends_on: Ids of the stages that must succeed first.
        retry: Retry policy (a model or a dict of its fields).
        timeout_s: Timeout of one attempt, in seconds.
        heartbeat_timeout_s: A worker silent this long is presumed dead.
        on_failure: ``"fail"``, ``"continue"``, or a failure-handler step name.
        resources: Task queue and concurrency cap.
        local: Run as a Temporal local activity (short, idempotent steps; docs/dsl.md).
        **step_kwargs: More keyword arguments for the step.

    Returns:
        The :class:`~pipeline_engine.dsl.StageConfig`.
    """
    merged = {**(kwargs or {}), **step_kwargs}
    fields: dict[str, Any] = {"id": id, "step": step}
    if merged or kwargs is not None:
        fields["kwargs"] = merged
    if depends_on:
        fields["depends_on"] = list(depends_on)
    fields.update(
        options(
            timeout_s=timeout_s,
            heartbeat_timeout_s=heartbeat_timeout_s,
            on_failure=on_failure,
            local=local,
        )
    )
    if retry is not NOT_SET:
        fields["retry"] = retry_of(retry)
    if resources is not NOT_SET:
        fields["resources"] = resources_of(resources)
    return StageConfig(**fields)


def _config_options(
    description: str | None,
    defaults: Defaults | Mapping[str, Any] | None,
    timeout_s: float | None,
    failure_hold_s: float,
    hooks: Hooks | Mapping[str, Any] | None,
) -> dict[str, Any]:
    fields = options(description=description, timeout_s=timeout_s, failure_hold_s=failure_hold_s)
    if defaults is not NOT_SET and defaults is not None:
        fields["defaults"] = (
            defaults if isinstance(defaults, Defaults) else Defaults.model_validate(dict(defaults))
        )
    if hooks is not NOT_SET and hooks is not None:
        fields["hooks"] = hooks if isinstance(hooks, Hooks) else Hooks.model_validate(dict(hooks))
    return fields


def pipeline(
    name: str,
    root: ElementLike,
    *,
    description: str | None = NOT_SET,
    defaults: Defaults | Mapping[str, Any] | None = NOT_SET,
    timeout_s: float | None = NOT_SET,
    failure_hold_s: float = NOT_SET,
    hooks: Hooks | Mapping[str, Any] | None = NOT_SET,
) -> PipelineConfig:
    """A :class:`~pipeline_engine.dsl.PipelineConfig` whose definition is a tree.

    Args:
        name: The pipeline's name.
        root: The root element (often a :func:`chain`).
        description: Free text.
        defaults: Step defaults (``timeout_s``, ``heartbeat_timeout_s``, ``retry``, ``task_queue``).
        timeout_s: Timeout of the whole pipeline.
        failure_hold_s: How long a FAILED pipeline stays retryable.
        hooks: Steps run at transitions (``on_start``, ``on_success``, ``on_failure``,
            ``on_cancel``).

    Returns:
        The config, ready for ``create_pipeline``.
    """
    return PipelineConfig(
        schema_version=SCHEMA_VERSION,
        name=name,
        definition=as_element(root),
        **_config_options(description, defaults, timeout_s, failure_hold_s, hooks),
    )


def dag(
    name: str,
    *stages: StageConfig,
    description: str | None = NOT_SET,
    defaults: Defaults | Mapping[str, Any] | None = NOT_SET,
    timeout_s: float | None = NOT_SET,
    failure_hold_s: float = NOT_SET,
    hooks: Hooks | Mapping[str, Any] | None = NOT_SET,
) -> PipelineConfig:
    """A :class:`~pipeline_engine.dsl.PipelineConfig` in DAG form (see :func:`stage`).

    Args:
        name: The pipeline's name.
        *stages: The stages; each names the stages it depends on.
        description: Free text.
        defaults: Step defaults.
        timeout_s: Timeout of the whole pipeline.
        failure_hold_s: How long a FAILED pipeline stays retryable.
        hooks: Steps run at transitions.

    Returns:
        The config, ready for ``create_pipeline``.
    """
    return PipelineConfig(
        schema_version=SCHEMA_VERSION,
        name=name,
        stages=list(stages),
        **_config_options(description, defaults, timeout_s, failure_hold_s, hooks),
    )
