"""Registered steps: the ``@step`` decorator, the registry, parameter checking."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib
import inspect
import os
import sys
import typing
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic_core import to_jsonable_python

from pipeline_engine.steps._context import StepContext

__all__ = [
    "StepDefinition",
    "StepRegistry",
    "default_registry",
    "load_step_modules",
    "step",
]

F = TypeVar("F", bound=Callable[..., Any])


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


def _json_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


@dataclass(frozen=True)
class StepDefinition:
    """A registered step: its name, function and declared parameters."""

    name: str
    fn: Callable[..., Any]
    is_async: bool
    description: str | None
    params_model: type[BaseModel]
    local: bool = False
    """Run as a Temporal local activity unless a pipeline's step element says otherwise."""
    version: str | None = None
    """The step's version (``@step(version="2")``): part of a cached result's key, so a new
    version never reuses results of the old one (docs/dsl.md, ``cache``)."""

    def check_kwargs(self, kwargs: dict[str, Any]) -> list[tuple[str, str]]:
        """Problems with ``kwargs`` against the declared parameters, as (sub-path, message)."""
        try:
            self.params_model.model_validate(kwargs)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                msg = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
                if err["type"] == "missing":
                    msg = "required parameter missing"
                problems.append((_json_path(tuple(err["loc"])), msg))
            return problems
        return []

    def bind_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Validated (and coerced) keyword arguments; raises ``pydantic.ValidationError``."""
        model = self.params_model.model_validate(kwargs)
        values = {name: getattr(model, name) for name in type(model).model_fields}
        values.update(model.model_extra or {})
        return values

    def parameters_schema(self) -> dict[str, Any]:
        """JSON Schema of the step's keyword arguments."""
        return self.params_model.model_json_schema()

    async def invoke(
        self, ctx: StepContext, kwargs: dict[str, Any], *, executor: Executor | None = None
    ) -> Any:
        """Run the step: async steps natively, sync steps in a thread. Returns a JSON value."""
        bound = self.bind_kwargs(kwargs)
        if self.is_async:
            result = await self.fn(ctx, **bound)
        else:
            loop = asyncio.get_running_loop()
            call = functools.partial(contextvars.copy_context().run, self.fn, ctx, **bound)
            try:
                result = await loop.run_in_executor(executor, call)
            except asyncio.CancelledError:
                ctx._cancelled.set()
                raise
        return to_jsonable_python(result)


def _params_model(fn: Callable[..., Any], name: str) -> type[BaseModel]:
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if not params or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise TypeError(f"step {name!r}: the first parameter must be the StepContext")
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotations: accept any value
        hints = {}
    fields: dict[str, Any] = {}
    open_kwargs = False
    for p in params[1:]:
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            open_kwargs = True
            continue
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        annotation = hints.get(p.name, Any)
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (annotation, default)
    base = _Open if open_kwargs else _Closed
    model: type[BaseModel] = create_model(f"{name}_params", __base__=base, **fields)
    return model


class StepRegistry:
    """Step functions by name."""

    def __init__(self) -> None:
        self._steps: dict[str, StepDefinition] = {}

    def register(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        local: bool = False,
        version: str | None = None,
    ) -> StepDefinition:
        """Register ``fn`` as a step (under its own name unless ``name`` is given).

        ``local``: by default, run it as a Temporal local activity (docs/dsl.md, ``local``).
        ``version``: the step's version, part of the key of its cached results.
        """
        if version is not None and not (isinstance(version, str) and 0 < len(version) <= 100):
            raise ValueError(f"step {name or fn.__name__!r}: version must be a non-empty string")
        step_name = name or fn.__name__
        existing = self._steps.get(step_name)
        if existing is not None and existing.fn is not fn:
            same_origin = (existing.fn.__module__, existing.fn.__qualname__) == (
                fn.__module__,
                fn.__qualname__,
            )
            if not same_origin:
                raise ValueError(f"a different step is already registered as {step_name!r}")
        definition = StepDefinition(
            name=step_name,
            fn=fn,
            is_async=inspect.iscoroutinefunction(fn),
            description=inspect.getdoc(fn),
            params_model=_params_model(fn, step_name),
            local=local,
            version=version,
        )
        self._steps[step_name] = definition
        return definition

    def get(self, name: str) -> StepDefinition:
        """The step registered under ``name`` (``KeyError`` if none)."""
        return self._steps[name]

    def __contains__(self, name: object) -> bool:
        return name in self._steps

    def local_steps(self) -> frozenset[str]:
        """Names of the steps registered as local by default."""
        return frozenset(n for n, d in self._steps.items() if d.local)

    def names(self) -> list[str]:
        """Registered step names, sorted."""
        return sorted(self._steps)

    def definitions(self) -> list[StepDefinition]:
        """Registered steps, sorted by name."""
        return [self._steps[n] for n in self.names()]

    def copy(self) -> StepRegistry:
        """An independent registry holding the same steps."""
        other = StepRegistry()
        other._steps = dict(self._steps)
        return other


default_registry = StepRegistry()


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
def step(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    registry: StepRegistry | None = None,
    local: bool = False,
    version: str | None = None,
) -> F | Callable[[F], F]:
    """Register a function as a pipeline step.

    Use bare (``@step``) or with options (``@step(name="x")``). The function takes a
    :class:`StepContext` and keyword arguments (the element's ``kwargs``) and returns a JSON value;
    it may be sync (run in a thread) or async. Raising an exception fails the attempt.
    ``@step(local=True)`` runs it as a Temporal local activity by default, for short, idempotent
    work (docs/dsl.md, ``local``). ``@step(version="2")`` names the step's version: a cached
    result (docs/dsl.md, ``cache``) is reused only by the same version.
    """

    def decorate(f: F) -> F:
        (registry or default_registry).register(f, name=name, local=local, version=version)
        return f

    return decorate(fn) if fn is not None else decorate


def load_step_modules(modules: str | Iterable[str] | None) -> list[str]:
    """Import step modules (comma-separated import paths) so their ``@step`` functions register.

    The current directory is searched too (after everything else), as ``python -m`` does: a
    ``mysteps.py`` beside you loads as ``mysteps`` without setting ``PYTHONPATH``.
    """
    if modules is None:
        return []
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.append(here)
    names = modules.split(",") if isinstance(modules, str) else list(modules)
    loaded = []
    for raw in names:
        mod = raw.strip()
        if mod:
            importlib.import_module(mod)
            loaded.append(mod)
    return loaded
