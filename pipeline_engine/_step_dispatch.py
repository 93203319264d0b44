"""``pipeline_engine.step``: one name for the step decorator and the step element builder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from pipeline_engine import builders
from pipeline_engine.dsl import Step
from pipeline_engine.steps import StepRegistry
from pipeline_engine.steps import step as _register

__all__ = ["step"]

F = TypeVar("F", bound=Callable[..., Any])


@overload
def step(fn: F, /) -> F: ...
@overload
def step(
    *,
    name: str | None = None,
    registry: StepRegistry | None = None,
    local: bool = False,
    version: str | None = None,
) -> Callable[[F], F]: ...
@overload
def step(element_name: str, /, kwargs: dict[str, Any] | None = None, **options: Any) -> Step: ...
def step(target: Any = None, /, *args: Any, **options: Any) -> Any:
    """Register a step function, or build a step element, depending on the first argument.

    Three forms:

    * ``@step`` on a function registers it under its own name in the default registry;
    * ``@step(name="x", registry=None, local=False, version=None)`` registers it under ``x`` (in
      ``registry`` if given; ``local=True``: run it as a Temporal local activity unless a
      pipeline says not; ``version="2"``: cached results of other versions are not reused);
    * ``step("x", **kwargs)`` (a string first) builds the ``{"type": "step", "name": "x", ...}``
      element for a pipeline, exactly like :func:`pipeline_engine.builders.task` (element options
      ``id``, ``retry``, ``timeout_s``, ``heartbeat_timeout_s``, ``on_failure``, ``resources``,
      ``local``, ``when``, ``cache``;
      every other keyword argument is a step argument)::

          @step
          def detect(ctx: StepContext, segment_type: str) -> dict: ...

          chain(step("segmentation"), step("detect", segment_type="cajon"))

    Returns:
        The function itself (registration), a decorator, or a :class:`~pipeline_engine.dsl.Step`.
    """
    if isinstance(target, str):
        return builders.task(target, *args, **options)
    if args:
        raise TypeError("step() takes a function, or a step name followed by keyword arguments")
    unknown = set(options) - {"name", "registry", "local", "version"}
    if unknown:
        raise TypeError(
            f"step() got unexpected keyword arguments {sorted(unknown)}; to build a step element, "
            "pass the step name first: step('name', ...)"
        )
    if target is None:
        return _register(**options)
    if callable(target):
        return _register(target, **options)
    raise TypeError(f"step() takes a function or a step name, not {type(target).__name__}")
