"""Write pipelines in Python instead of JSON, in the spirit of Celery's canvas.

Every builder returns the DSL's pydantic models, so the result *is* the wire format of DESIGN §2::

    from pipeline_engine import chain, chord, group, pipeline, step

    config = pipeline(
        "cultivos-abc",
        chain(
            step("segmentation"),
            chord(
                group(
                    step("sahi_detection", segment_type="claro-cajon"),
                    step("detection", segment_type="cajon"),
                ),
                step("aggregate_detections"),
            ),
            step("size_calculator"),
        ),
    )
    to_wire(config)  # the JSON document, exactly as a user would write it

Wherever an element is expected, a bare string is shorthand for ``step(name)``. Only the fields you
give are written: :func:`to_wire` dumps what was set (``exclude_unset``), so a built tree is
byte-for-byte the document you would have written by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from pipeline_engine.dsl import (
    SCHEMA_VERSION,
    Chain,
    Chord,
    Defaults,
    Element,
    Group,
    Hooks,
    Input,
    Map,
    PipelineConfig,
    Resources,
    RetryPolicy,
    StageConfig,
    Step,
)

__all__ = [
    "ElementLike",
    "chain",
    "chord",
    "dag",
    "for_each",
    "group",
    "human_input",
    "pipeline",
    "stage",
    "task",
    "to_wire",
]

ElementLike = Step | Chain | Group | Chord | Input | Map | str
"""What builders accept as an element: a DSL element model, or a step name."""

_NOT_SET: Any = object()


def _element(value: ElementLike) -> Element:
    if isinstance(value, str):
        return task(value)
    if isinstance(value, Step | Chain | Group | Chord | Input | Map):
        return value
    raise TypeError(
        f"expected a pipeline element (step, chain, group, chord, input, map) or a step name, "
        f"got {type(value).__name__}"
    )


def _options(**options: Any) -> dict[str, Any]:
    """Only the options actually given (so ``exclude_unset`` dumps stay minimal)."""
    return {k: v for k, v in options.items() if v is not _NOT_SET}


def _retry(value: RetryPolicy | Mapping[str, Any] | None) -> RetryPolicy | None:
    if value is None or isinstance(value, RetryPolicy):
        return value
    return RetryPolicy.model_validate(dict(value))


def _resources(value: Resources | Mapping[str, Any] | None) -> Resources | None:
    if value is None or isinstance(value, Resources):
        return value
    return Resources.model_validate(dict(value))


def task(
    name: str,
    /,
    kwargs: Mapping[str, Any] | None = None,
    *,
    id: str | None = _NOT_SET,
    retry: RetryPolicy | Mapping[str, Any] | None = _NOT_SET,
    timeout_s: float | None = _NOT_SET,
    heartbeat_timeout_s: float | None = _NOT_SET,
    on_failure: str = _NOT_SET,
    resources: Resources | Mapping[str, Any] | None = _NOT_SET,
    local: bool | None = _NOT_SET,
    **step_kwargs: Any,
) -> Step:
    """A ``step`` element: run the registered step ``name``.

    The step's keyword arguments come from ``kwargs`` and from any extra keyword argument; the
    named options below are element options, not step arguments (pass a step argument that has one
    of these names through ``kwargs``).

    Args:
        name: The registered step name.
        kwargs: The step's keyword arguments.
        id: Stage id (default: the step name, made unique in document order).
        retry: Retry policy of the step's attempts (a model or a dict of its fields).
        timeout_s: Timeout of one attempt, in seconds.
        heartbeat_timeout_s: A worker silent this long is presumed dead.
        on_failure: ``"fail"``, ``"continue"``, or the name of a step run as failure handler.
        resources: Task queue and concurrency cap (a model or a dict of its fields).
        local: Run as a Temporal local activity (short, idempotent steps; docs/dsl.md).
        **step_kwargs: More keyword arguments for the step.

    Returns:
        The :class:`~pipeline_engine.dsl.Step` element.
    """
    merged = {**(kwargs or {}), **step_kwargs}
    fields: dict[str, Any] = {"type": "step", "name": name}
    if merged or kwargs is not None:
        fields["kwargs"] = merged
    fields.update(
        _options(
            id=id,
            timeout_s=timeout_s,
            heartbeat_timeout_s=heartbeat_timeout_s,
            on_failure=on_failure,
            local=local,
        )
    )
    if retry is not _NOT_SET:
        fields["retry"] = _retry(retry)
    if resources is not _NOT_SET:
        fields["resources"] = _resources(resources)
    return Step(**fields)


def chain(*elements: ElementLike) -> Chain:
    """A ``chain``: run the elements one after another, each getting the previous result.

    Args:
        *elements: The elements, in order (a string is a step name).

    Returns:
        The :class:`~pipeline_engine.dsl.Chain` element.
    """
    return Chain(type="chain", steps=[_element(e) for e in elements])


def group(*elements: ElementLike, max_concurrency: int | None = _NOT_SET) -> Group:
    """A ``group``: run the elements at once; the result is the ordered list of their results.

    Args:
        *elements: The members (a string is a step name).
        max_concurrency: At most this many members run at the same time.

    Returns:
        The :class:`~pipeline_engine.dsl.Group` element.
    """
    return Group(
        type="group",
        steps=[_element(e) for e in elements],
        **_options(max_concurrency=max_concurrency),
    )


def chord(
    header: Group | Iterable[ElementLike],
    callback: Step | str | None = _NOT_SET,
    *,
    on_error: Literal["fail", "continue"] = _NOT_SET,
) -> Chord:
    """A ``chord``: a group whose list of results goes to a callback step.

    Args:
        header: The group, or its members.
        callback: The step receiving the list of results (a string is a step name).
        on_error: ``"fail"`` (the callback never runs if a member fails for good) or
            ``"continue"`` (the callback gets the list with failures marked).

    Returns:
        The :class:`~pipeline_engine.dsl.Chord` element.
    """
    head = header if isinstance(header, Group) else group(*header)
    fields: dict[str, Any] = {"type": "chord", "group": head}
    if callback is not _NOT_SET:
        fields["callback"] = task(callback) if isinstance(callback, str) else callback
    fields.update(_options(on_error=on_error))
    return Chord(**fields)


def for_each(
    element: ElementLike,
    *,
    items: str = _NOT_SET,
    id: str | None = _NOT_SET,
    max_concurrency: int | None = _NOT_SET,
    on_error: Literal["fail", "continue"] = _NOT_SET,
) -> Map:
    """A ``map`` element: run ``element`` once per item of a list produced at run time.

    Each run receives its item as ``previous``; the result is the ordered list of the runs'
    results. The stages of run ``i`` are the element's stage ids with ``[i]`` appended.

    Args:
        element: What runs per item (a string is a step name).
        items: JSON Pointer (RFC 6901) to the list in the map's previous value, e.g.
            ``"/segments"``; ``""`` (the default) is the previous value itself.
        id: Stage id of the map itself (default ``"map"``, made unique).
        max_concurrency: At most this many runs at the same time.
        on_error: ``"fail"`` (a run failing for good fails the map) or ``"continue"`` (its
            place in the list holds a failure marker).

    Returns:
        The :class:`~pipeline_engine.dsl.Map` element.
    """
    fields: dict[str, Any] = {"type": "map", "element": _element(element)}
    fields.update(_options(items=items, id=id, max_concurrency=max_concurrency, on_error=on_error))
    return Map(**fields)


def human_input(
    id: str,
    schema: Mapping[str, Any],
    *,
    prompt: str | None = _NOT_SET,
    timeout_s: float | None = _NOT_SET,
    on_failure: str = _NOT_SET,
) -> Input:
    """An ``input`` element: wait for a human to submit a payload that satisfies ``schema``.

    Args:
        id: The stage id (name it in ``submit_input(..., stage_id=)`` when several wait).
        schema: JSON Schema of the payload.
        prompt: What to ask.
        timeout_s: How long to wait before the element fails.
        on_failure: What a timeout does (as for a step).

    Returns:
        The :class:`~pipeline_engine.dsl.Input` element; its result is the submitted payload.
    """
    fields: dict[str, Any] = {"type": "input", "id": id, "schema": dict(schema)}
    fields.update(_options(prompt=prompt, timeout_s=timeout_s, on_failure=on_failure))
    return Input(**fields)


def stage(
    id: str,
    step: str,
    /,
    kwargs: Mapping[str, Any] | None = None,
    *,
    depends_on: Sequence[str] = (),
    retry: RetryPolicy | Mapping[str, Any] | None = _NOT_SET,
    timeout_s: float | None = _NOT_SET,
    heartbeat_timeout_s: float | None = _NOT_SET,
    on_failure: str = _NOT_SET,
    resources: Resources | Mapping[str, Any] | None = _NOT_SET,
    local: bool | None = _NOT_SET,
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
        _options(
            timeout_s=timeout_s,
            heartbeat_timeout_s=heartbeat_timeout_s,
            on_failure=on_failure,
            local=local,
        )
    )
    if retry is not _NOT_SET:
        fields["retry"] = _retry(retry)
    if resources is not _NOT_SET:
        fields["resources"] = _resources(resources)
    return StageConfig(**fields)


def _config_options(
    description: str | None,
    defaults: Defaults | Mapping[str, Any] | None,
    timeout_s: float | None,
    failure_hold_s: float,
    hooks: Hooks | Mapping[str, Any] | None,
) -> dict[str, Any]:
    fields = _options(description=description, timeout_s=timeout_s, failure_hold_s=failure_hold_s)
    if defaults is not _NOT_SET and defaults is not None:
        fields["defaults"] = (
            defaults if isinstance(defaults, Defaults) else Defaults.model_validate(dict(defaults))
        )
    if hooks is not _NOT_SET and hooks is not None:
        fields["hooks"] = hooks if isinstance(hooks, Hooks) else Hooks.model_validate(dict(hooks))
    return fields


def pipeline(
    name: str,
    root: ElementLike,
    *,
    description: str | None = _NOT_SET,
    defaults: Defaults | Mapping[str, Any] | None = _NOT_SET,
    timeout_s: float | None = _NOT_SET,
    failure_hold_s: float = _NOT_SET,
    hooks: Hooks | Mapping[str, Any] | None = _NOT_SET,
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
        definition=_element(root),
        **_config_options(description, defaults, timeout_s, failure_hold_s, hooks),
    )


def dag(
    name: str,
    *stages: StageConfig,
    description: str | None = _NOT_SET,
    defaults: Defaults | Mapping[str, Any] | None = _NOT_SET,
    timeout_s: float | None = _NOT_SET,
    failure_hold_s: float = _NOT_SET,
    hooks: Hooks | Mapping[str, Any] | None = _NOT_SET,
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


def to_wire(model: BaseModel) -> dict[str, Any]:
    """The JSON document of a config or element: the fields that were set, by wire name.

    ``type`` tags (and a config's ``schema_version``) are always written, so a model built by hand
    without them still reads back the same.

    Args:
        model: A :class:`~pipeline_engine.dsl.PipelineConfig` or any DSL element.

    Returns:
        A JSON-ready dict, equal to the document one would have written by hand.
    """
    data: dict[str, Any] = _dump(model)
    return data


_ALWAYS = ("type", "schema_version")


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        wanted = value.model_fields_set | {n for n in _ALWAYS if n in fields}
        out: dict[str, Any] = {}
        for name in (*(n for n in _ALWAYS if n in fields), *fields):
            if name in wanted and (fields[name].alias or name) not in out:
                out[fields[name].alias or name] = _dump(getattr(value, name))
        return out
    if isinstance(value, Mapping):
        return {str(k): _dump(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    return to_jsonable_python(value)
