"""The builders of what decides at run time: ``switch`` and its ``case``s, ``sub_pipeline``, and
``expr`` (a value computed when a stage starts)."""

from __future__ import annotations

from typing import Any

from pipeline_engine.builders._elements import NOT_SET, ElementLike, as_element, options
from pipeline_engine.dsl import Case, SubPipeline, Switch

__all__ = ["case", "expr", "sub_pipeline", "switch"]


def expr(source: str) -> dict[str, str]:
    """A value computed when the stage starts: ``{"$expr": source}``.

    Use it as a step keyword argument (``task("detection", min_area=expr("settings.min_area"))``)
    or as a sub-pipeline's ``input``.

    Args:
        source: A CEL expression over ``previous``, ``input`` and ``settings`` (and ``item`` and
            ``index`` inside a map's element).

    Returns:
        The ``{"$expr": …}`` object of the wire format.
    """
    return {"$expr": source}


def case(when: str, element: ElementLike) -> Case:
    """One branch of a :func:`switch`: ``element`` runs when ``when`` is the first true condition.

    Args:
        when: A CEL condition.
        element: What runs (a string is a step name).

    Returns:
        The :class:`~pipeline_engine.dsl.Case`.
    """
    return Case(when=when, element=as_element(element))


def switch(
    *cases: Case | tuple[str, ElementLike],
    default: ElementLike | None = NOT_SET,
    id: str | None = NOT_SET,
    when: str | None = NOT_SET,
) -> Switch:
    """A ``switch``: run the first case whose condition is true, else ``default``, else nothing.

    Args:
        *cases: :func:`case` objects, or ``(condition, element)`` pairs, in order.
        default: What runs when no case's condition is true (none: the result is null).
        id: Stage id of the switch (default ``"switch"``, made unique); its status says which
            branch ran.
        when: A CEL condition; false skips the whole switch.

    Returns:
        The :class:`~pipeline_engine.dsl.Switch` element.
    """
    built = [c if isinstance(c, Case) else case(*c) for c in cases]
    fields: dict[str, Any] = {"type": "switch", "cases": built}
    if default is not NOT_SET:
        fields["default"] = None if default is None else as_element(default)
    fields.update(options(id=id, when=when))
    return Switch(**fields)


def sub_pipeline(
    name: str,
    *,
    version: int | None = NOT_SET,
    input: Any = NOT_SET,
    id: str | None = NOT_SET,
    on_failure: str = NOT_SET,
    when: str | None = NOT_SET,
) -> SubPipeline:
    """A ``pipeline`` element: run another pipeline of the same tenant as a child workflow.

    Args:
        name: The pipeline's name in the tenant's store.
        version: Its version (default: the latest when the run starts).
        input: The child's input: JSON, or :func:`expr` (default: this element's previous value).
        id: Stage id (default: the pipeline's name, made unique).
        on_failure: ``"fail"`` (default), ``"continue"``, or a failure handler step, as a step's.
        when: A CEL condition; false skips it.

    Returns:
        The :class:`~pipeline_engine.dsl.SubPipeline` element; its result is the child's.
    """
    fields: dict[str, Any] = {"type": "pipeline", "name": name}
    fields.update(options(version=version, input=input, id=id, on_failure=on_failure, when=when))
    return SubPipeline(**fields)
