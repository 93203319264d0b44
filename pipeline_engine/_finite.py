"""Non-finite numbers (NaN, Infinity) are not JSON: find them, with their paths, to refuse them.

Python's ``json`` reads and writes them, but Temporal's converter would turn them into ``null``
and other languages refuse them, so configs, step kwargs, inputs, settings and payloads carrying
one are refused (every such number named by its JSON path) instead of changing on the way.
"""

from __future__ import annotations

import math
from typing import Any

from pipeline_engine.errors import InvalidInput, Problem

__all__ = ["non_finite_problems", "refuse_non_finite"]

_MESSAGE = "not a finite number (NaN and Infinity are not JSON)"


def non_finite_problems(value: Any, path: str = "$") -> list[Problem]:
    """A problem for every NaN or infinite float in a JSON-like value, named by its path."""
    problems: list[Problem] = []
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            problems.append(Problem(where, _MESSAGE))
        elif isinstance(node, dict):
            stack.extend((v, f"{where}.{k}") for k, v in reversed(node.items()))
        elif isinstance(node, list | tuple):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(node))))
    return problems


def refuse_non_finite(**values: Any) -> None:
    """Raise ``InvalidInput`` if any of the named values (``$.<name>…``) holds a NaN/Infinity."""
    problems = [p for name, v in values.items() for p in non_finite_problems(v, f"$.{name}")]
    if problems:
        n = len(problems)
        raise InvalidInput(
            f"{n} non-finite number{'s' if n != 1 else ''} (NaN/Infinity) refused",
            problems=problems,
        )
