"""The element builders: ``task`` (a step), ``chain``, ``group``, ``chord``, ``for_each`` (a map)
and ``human_input``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pipeline_engine.dsl import (
    Cache,
    Chain,
    Chord,
    Element,
    Group,
    Input,
    Map,
    Resources,
    RetryPolicy,
    Step,
    SubPipeline,
    Switch,
)

__all__ = [
    "NOT_SET",
    "ElementLike",
    "as_element",
    "chain",
    "chord",
    "for_each",
    "group",
    "human_input",
    "options",
    "resources_of",
    "retry_of",
    "task",
]

ElementLike = Step | Chain | Group | Chord | Input | Map | Switch | SubPipeline | str
"""What builders accept as an element: a DSL element model, or a step name."""

NOT_SET: Any = object()
"""The default of every builder option: the field is left out of the document."""
_ELEMENTS = (Step, Chain, Group, Chord, Input, Map, Switch, SubPipeline)


def as_element(value: ElementLike) -> Element:
    """``value`` as an element (a string is ``task(value)``)."""
    if isinstance(value, str):
        return task(value)
    if isinstance(value, _ELEMENTS):
        return value
    raise TypeError(
        "expected a pipeline element (step, chain, group, chord, input, map, switch, pipeline) "
        f"or a step name, got {type(value).__name__}"
    )


def options(**given: Any) -> dict[str, Any]:
    """Only the options actually given (so ``exclude_unset`` dumps stay minimal)."""
    return {k: v for k, v in given.items() if v is not NOT_SET}


def retry_of(value: RetryPolicy | Mapping[str, Any] | None) -> RetryPolicy | None:
    """A retry policy from a model or a dict of its fields."""
    if value is None or isinstance(value, RetryPolicy):
        return value
    return RetryPolicy.model_validate(dict(value))


def resources_of(value: Resources | Mapping[str, Any] | None) -> Resources | None:
    """Resources from a model or a dict of their fields."""
    if value is None or isinstance(value, Resources):
        return value
    return Resources.model_validate(dict(value))


def _cache(value: Cache | Mapping[str, Any] | float | None) -> Cache | None:
    if value is None or isinstance(value, Cache):
        return value
    if isinstance(value, int | float):
        return Cache(ttl_s=value)
    return Cache.model_validate(dict(value))


def task(
    name: str,
    /,
    kwargs: Mapping[str, Any] | None = None,
    *,
    id: str | None = NOT_SET,
    retry: RetryPolicy | Mapping[str, Any] | None = NOT_SET,
    timeout_s: float | None = NOT_SET,
    heartbeat_timeout_s: float | None = NOT_SET,
    on_failure: str = NOT_SET,
    resources: Resources | Mapping[str, Any] | None = NOT_SET,
    local: bool | None = NOT_SET,
    when: str | None = NOT_SET,
    cache: Cache | Mapping[str, Any] | float | None = NOT_SET,
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
        when: A CEL condition; false skips the step (SKIPPED, result null).
        cache: Reuse a result computed for the same inputs: seconds to keep it, or
            ``{"ttl_s": ..., "key": "<CEL>"}``.
        **step_kwargs: More keyword arguments for the step (a value may be :func:`expr`).

    Returns:
        The :class:`~pipeline_engine.dsl.Step` element.
    """
    merged = {**(kwargs or {}), **step_kwargs}
    fields: dict[str, Any] = {"type": "step", "name": name}
    if merged or kwargs is not None:
        fields["kwargs"] = merged
    fields.update(
        options(
            id=id,
            timeout_s=timeout_s,
            heartbeat_timeout_s=heartbeat_timeout_s,
            on_failure=on_failure,
            local=local,
            when=when,
        )
    )
    if retry is not NOT_SET:
        fields["retry"] = retry_of(retry)
    if resources is not NOT_SET:
        fields["resources"] = resources_of(resources)
    if cache is not NOT_SET:
        fields["cache"] = _cache(cache)
    return Step(**fields)


def chain(*elements: ElementLike, when: str | None = NOT_SET) -> Chain:
    """A ``chain``: run the elements one after another, each getting the previous result.

    Args:
        *elements: The elements, in order (a string is a step name).
        when: A CEL condition; false skips the whole chain.

    Returns:
        The :class:`~pipeline_engine.dsl.Chain` element.
    """
    return Chain(type="chain", steps=[as_element(e) for e in elements], **options(when=when))


def group(
    *elements: ElementLike,
    max_concurrency: int | None = NOT_SET,
    tolerated_failures: int | str | None = NOT_SET,
    when: str | None = NOT_SET,
) -> Group:
    """A ``group``: run the elements at once; the result is the ordered list of their results.

    Args:
        *elements: The members (a string is a step name).
        max_concurrency: At most this many members run at the same time.
        tolerated_failures: Members that may fail (N, or ``"P%"`` of them) with the group
            succeeding; their places hold failure markers.
        when: A CEL condition; false skips the whole group.

    Returns:
        The :class:`~pipeline_engine.dsl.Group` element.
    """
    return Group(
        type="group",
        steps=[as_element(e) for e in elements],
        **options(
            max_concurrency=max_concurrency, tolerated_failures=tolerated_failures, when=when
        ),
    )


def chord(
    header: Group | Iterable[ElementLike],
    callback: Step | str | None = NOT_SET,
    *,
    on_error: Literal["fail", "continue"] = NOT_SET,
    when: str | None = NOT_SET,
) -> Chord:
    """A ``chord``: a group whose list of results goes to a callback step.

    Args:
        header: The group, or its members.
        callback: The step receiving the list of results (a string is a step name).
        on_error: ``"fail"`` (the callback never runs if a member fails for good) or
            ``"continue"`` (the callback gets the list with failures marked).
        when: A CEL condition; false skips the whole chord.

    Returns:
        The :class:`~pipeline_engine.dsl.Chord` element.
    """
    head = header if isinstance(header, Group) else group(*header)
    fields: dict[str, Any] = {"type": "chord", "group": head}
    if callback is not NOT_SET:
        fields["callback"] = task(callback) if isinstance(callback, str) else callback
    fields.update(options(on_error=on_error, when=when))
    return Chord(**fields)


def for_each(
    element: ElementLike,
    *,
    items: str = NOT_SET,
    id: str | None = NOT_SET,
    max_concurrency: int | None = NOT_SET,
    on_error: Literal["fail", "continue"] = NOT_SET,
    batch_size: int | None = NOT_SET,
    tolerated_failures: int | str | None = NOT_SET,
    when: str | None = NOT_SET,
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
        batch_size: Each run gets a list of up to this many items and returns a list as long;
            the runs are numbered by batch.
        tolerated_failures: Items that may fail (N, or ``"P%"`` of them) with the map
            succeeding; their places hold failure markers.
        when: A CEL condition; false skips the map.

    Returns:
        The :class:`~pipeline_engine.dsl.Map` element.
    """
    fields: dict[str, Any] = {"type": "map", "element": as_element(element)}
    fields.update(
        options(
            items=items,
            id=id,
            max_concurrency=max_concurrency,
            on_error=on_error,
            batch_size=batch_size,
            tolerated_failures=tolerated_failures,
            when=when,
        )
    )
    return Map(**fields)


def human_input(
    id: str,
    schema: Mapping[str, Any],
    *,
    prompt: str | None = NOT_SET,
    timeout_s: float | None = NOT_SET,
    on_failure: str = NOT_SET,
    when: str | None = NOT_SET,
) -> Input:
    """An ``input`` element: wait for a human to submit a payload that satisfies ``schema``.

    Args:
        id: The stage id (name it in ``submit_input(..., stage_id=)`` when several wait).
        schema: JSON Schema of the payload.
        prompt: What to ask.
        timeout_s: How long to wait before the element fails.
        on_failure: What a timeout does (as for a step).
        when: A CEL condition; false skips the input (nobody is asked).

    Returns:
        The :class:`~pipeline_engine.dsl.Input` element; its result is the submitted payload.
    """
    fields: dict[str, Any] = {"type": "input", "id": id, "schema": dict(schema)}
    fields.update(options(prompt=prompt, timeout_s=timeout_s, on_failure=on_failure, when=when))
    return Input(**fields)
