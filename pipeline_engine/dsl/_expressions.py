"""Where a config writes CEL: ``when`` conditions and ``{"$expr": …}`` values, found and checked
at validation, computed at run time. The CEL itself lives in :mod:`pipeline_engine.dsl._cel`."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from pipeline_engine.dsl._cel import check_expression, evaluate

__all__ = [
    "EXPR_KEY",
    "expression_problems",
    "expression_source",
    "find_expressions",
    "resolve_expressions",
    "value_problems",
]

EXPR_KEY = "$expr"


def expression_source(value: Any) -> str | None:
    """The expression of an ``{"$expr": "<CEL>"}`` value, or None for any other value."""
    if isinstance(value, Mapping) and EXPR_KEY in value:
        source = value[EXPR_KEY]
        return source if isinstance(source, str) else ""
    return None


def find_expressions(value: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every ``{"$expr": …}`` object inside ``value``, with its JSON path."""
    if isinstance(value, Mapping):
        if EXPR_KEY in value:
            yield path, value
            return
        for key, item in value.items():
            yield from find_expressions(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from find_expressions(item, f"{path}[{i}]")


def expression_problems(source: Any, path: str, allowed: Collection[str]) -> list[tuple[str, str]]:
    """The problems of one expression, as (JSON path, message)."""
    return [(p.path, p.message) for p in check_expression(source, path=path, allowed=allowed)]


def value_problems(
    value: Any, path: str, allowed: Collection[str]
) -> tuple[list[tuple[str, str]], bool]:
    """(the problems of the ``$expr`` values inside ``value``, whether it holds any)."""
    problems: list[tuple[str, str]] = []
    found = False
    for where, obj in find_expressions(value, path):
        found = True
        if len(obj) != 1:
            others = ", ".join(sorted(str(k) for k in obj if k != EXPR_KEY))
            problems.append(
                (where, f'an {{"$expr": …}} object has no other keys (found: {others})')
            )
        problems += expression_problems(obj[EXPR_KEY], f"{where}.{EXPR_KEY}", allowed)
    return problems, found


def resolve_expressions(value: Any, variables: Mapping[str, Any], allowed: Collection[str]) -> Any:
    """``value`` with every ``{"$expr": …}`` replaced by its value over ``variables``.

    Raises:
        ExpressionError: an expression fails (it names the expression).
    """
    if isinstance(value, Mapping):
        source = expression_source(value)
        if source is not None:
            return evaluate(source, variables, allowed=allowed)
        return {k: resolve_expressions(v, variables, allowed) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_expressions(v, variables, allowed) for v in value]
    return value
