"""CEL expressions: checked when a config is validated, evaluated deterministically at run time.

The one place the project touches its CEL library (``common-expression-language``, a binding of a
Rust implementation of the CEL spec). Everything else (the DSL's ``when``, ``switch`` and
``$expr``, the webhook triggers' input mappings) goes through :func:`check_expression` at
validation time and :func:`evaluate` at run time.

Why the evaluation is replay-safe: CEL has no clock, no randomness and no I/O; this module
registers no function of its own, so an expression's value depends on its variables only. The one
thing the library leaves to chance is the order of a map's keys (a Rust hash map); results are
given back with their keys sorted, and iterating a map's keys in a comprehension (``m.map(k, k)``)
is refused at run time when the order could show (see :func:`evaluate`).

Why the cost is bounded: an expression is at most :data:`MAX_EXPRESSION_LENGTH` characters with at
most :data:`MAX_COMPREHENSION_NESTING` comprehensions inside one another (so a list of n items costs
at most n² steps), the parser refuses deep nesting, ``matches`` uses a linear-time regular
expression engine (no catastrophic backtracking), and only the variables an expression names are
converted into it.

Numbers: JSON integers are CEL ``int``, every other JSON number a ``double``; CEL compares the two
(``1 == 1.0``) but does not mix them in arithmetic (``double(x) * 2.5``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline_engine.errors import Problem

__all__ = [
    "MAP_VARIABLES",
    "MAX_COMPREHENSION_NESTING",
    "MAX_EXPRESSION_LENGTH",
    "STEP_VARIABLES",
    "CompiledExpression",
    "ExpressionError",
    "check_expression",
    "compile_expression",
    "evaluate",
    "evaluate_bool",
    "preload",
]

MAX_EXPRESSION_LENGTH = 2000
"""Characters in one expression."""
MAX_COMPREHENSION_NESTING = 2
"""Comprehensions (``all``, ``exists``, ``exists_one``, ``map``, ``filter``) inside one another."""

STEP_VARIABLES: tuple[str, ...] = ("previous", "input", "settings")
"""What an expression of a pipeline sees anywhere."""
MAP_VARIABLES: tuple[str, ...] = (*STEP_VARIABLES, "item", "index")
"""What it sees inside a map's element (the run's item and its position)."""

_FUNCTIONS = frozenset(
    {
        "size", "int", "uint", "double", "string", "bytes", "timestamp", "duration", "type",
        "dyn", "contains", "startsWith", "endsWith", "matches", "getFullYear", "getMonth",
        "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek", "getHours", "getMinutes",
        "getSeconds", "getMilliseconds",
    }
)  # fmt: skip
"""The CEL standard functions the library implements (operators are written ``_+_``, ``@in``)."""

_MACROS = ("all", "exists_one", "exists", "map", "filter")
_STRING = re.compile(
    r"""[rR]?[bB]?[rR]?('''.*?'''|\"\"\".*?\"\"\"|'(\\.|[^'\\])*'|"(\\.|[^"\\])*")""", re.S
)
_ORDERED_OVER = re.compile(
    r"(?<![\w.\]])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\.\s*(?:map|filter)\s*\("
)
_MACRO_CALL = re.compile(r"\.\s*(" + "|".join(_MACROS) + r")\s*\(\s*([A-Za-z_]\w*)\s*,")


class ExpressionError(Exception):
    """An expression could not be compiled or evaluated (a stage fails with this error type).

    Attributes:
        expression: The expression's source.
        reason: What went wrong, without the expression.
    """

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(f"expression {expression!r}: {reason}")
        self.expression = expression
        self.reason = reason


@functools.cache
def _lib() -> Any:
    """The CEL library, imported on first use (it costs about half a second to import)."""
    import cel

    return cel


def preload() -> None:
    """Import the CEL library now. Workflow modules call it when they are loaded: imported
    inside a workflow task instead, it can take longer than the SDK's 2 s deadlock detector
    allows on a busy machine."""
    _lib()


def _without_strings(source: str) -> str:
    """The source with string literals blanked, so their text is not read as code."""
    return _STRING.sub(lambda m: '""', source)


def _comprehension_nesting(code: str) -> int:
    """How deeply comprehension macros nest in ``code`` (string literals blanked)."""
    opens = {m.end() - 1 for m in re.finditer(r"\.\s*(?:" + "|".join(_MACROS) + r")\s*\(", code)}
    stack: list[bool] = []
    deepest = depth = 0
    for i, ch in enumerate(code):
        if ch in "([{":
            is_macro = ch == "(" and i in opens
            stack.append(is_macro)
            depth += is_macro
            deepest = max(deepest, depth)
        elif ch in ")]}" and stack:
            depth -= stack.pop()
    return deepest


@dataclass(frozen=True)
class CompiledExpression:
    """A checked expression, ready to evaluate.

    Attributes:
        source: The expression as written.
        variables: The top-level variables it reads (only these are handed to it).
    """

    source: str
    variables: frozenset[str]
    _program: Any
    _ordered_over: tuple[tuple[str, ...], ...] = ()

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """See :func:`evaluate`."""
        context = {name: variables.get(name) for name in self.variables}
        for path in self._ordered_over:
            if isinstance(_select(context, path), dict):
                raise ExpressionError(
                    self.source,
                    f"{'.'.join(path)} is a map: map() and filter() over a map's keys give them "
                    "in no fixed order; iterate a list instead",
                )
        try:
            value = self._program.execute(context)
        except Exception as exc:  # the library raises ValueError, TypeError, RuntimeError...
            raise ExpressionError(self.source, _reason(exc)) from None
        return _to_json(self.source, value)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"no such key: {exc.args[0] if exc.args else ''}"
    text = re.split(r"\. (?:Check |CEL does not coerce|Convert explicitly)", str(exc), maxsplit=1)[
        0
    ]
    return text.strip() or type(exc).__name__


def _problems(source: str, allowed: Collection[str]) -> tuple[list[str], Any]:
    """(what is wrong with ``source``, its compiled program or None)."""
    if not isinstance(source, str):
        return [f"an expression must be a string, got {type(source).__name__}"], None
    if not source.strip():
        return ["an expression cannot be empty"], None
    if len(source) > MAX_EXPRESSION_LENGTH:
        return [
            f"expression is {len(source):,} characters long, over the limit of "
            f"{MAX_EXPRESSION_LENGTH:,}"
        ], None
    code = _without_strings(source)
    nesting = _comprehension_nesting(code)
    if nesting > MAX_COMPREHENSION_NESTING:
        return [
            f"{nesting} comprehensions nest inside one another, over the limit of "
            f"{MAX_COMPREHENSION_NESTING} (each level multiplies the cost by the list's length)"
        ], None
    try:
        program = _lib().compile(source)
    except Exception as exc:
        message = str(exc)
        where = re.search(r"<input>:(\d+):(\d+): (.*?)(\n|$)", message)
        if where:
            detail = where.group(3).removeprefix("Syntax error: ")
            return [f"syntax error at column {where.group(2)}: {detail}"], None
        return [f"not a valid CEL expression: {_reason(exc)}"], None
    bound = {m.group(2) for m in _MACRO_CALL.finditer(code)}
    bound |= {m.group(1) for m in re.finditer(r",\s*([A-Za-z_]\w*)\s*,", code)}  # all(k, v, …)
    problems = []
    for name in program.variables():
        if name not in allowed and name not in bound:
            problems.append(
                f"unknown variable {name!r} (an expression here sees: {', '.join(allowed)})"
            )
    for name in program.functions():
        if name[:1].isalpha() and name not in _FUNCTIONS and name not in _MACROS:
            problems.append(f"unknown function {name!r}")
    return problems, program


def check_expression(source: Any, *, path: str, allowed: Collection[str]) -> list[Problem]:
    """Every problem of one expression, each at ``path`` (the JSON path of where it is written).

    Args:
        source: The expression (anything: a non-string is a problem too).
        path: JSON path of the expression in its document.
        allowed: The variables the expression may read, e.g. :data:`STEP_VARIABLES`.
    """
    if not isinstance(source, str):
        return [Problem(path, f"an expression must be a string, got {type(source).__name__}")]
    return [Problem(path, m) for m in _checked(source, tuple(allowed))]


@functools.lru_cache(maxsize=4096)
def _checked(source: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The problems of an expression (a config with 100,000 stages may repeat one)."""
    return tuple(_problems(source, allowed)[0])


@functools.lru_cache(maxsize=4096)
def _compiled(source: str, allowed: tuple[str, ...]) -> CompiledExpression:
    messages, program = _problems(source, allowed)
    if messages:
        raise ExpressionError(source, "; ".join(messages))
    names = frozenset(n for n in program.variables() if n in allowed)
    code = _without_strings(source)
    over = tuple(
        tuple(m.group(1).split("."))
        for m in _ORDERED_OVER.finditer(code)
        if m.group(1).split(".")[0] in names
    )
    return CompiledExpression(source, names, program, over)


def _select(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def compile_expression(source: str, *, allowed: Collection[str]) -> CompiledExpression:
    """Compile (once per source and variables) or raise :class:`ExpressionError`."""
    return _compiled(source, tuple(allowed))


def evaluate(
    source: str, variables: Mapping[str, Any], *, allowed: Collection[str] | None = None
) -> Any:
    """The JSON value of ``source`` over ``variables``.

    Deterministic: the same expression over the same variables gives the same value, in any process
    (objects come back with their keys sorted; timestamps as RFC 3339 strings, durations as
    ``"1.5s"`` and bytes as base64, as in CEL's JSON mapping).

    Args:
        source: The expression.
        variables: Name to JSON value; a name the expression reads but that is missing is null.
        allowed: The variables the expression may read (default: the names in ``variables``).

    Raises:
        ExpressionError: it does not compile, or its evaluation fails (a missing key, no such
            overload, a division by zero, an overflow), or its value is not JSON.
    """
    names = tuple(allowed) if allowed is not None else tuple(sorted(variables))
    return compile_expression(source, allowed=names).evaluate(variables)


def evaluate_bool(
    source: str, variables: Mapping[str, Any], *, allowed: Collection[str] | None = None
) -> bool:
    """:func:`evaluate`, for a condition: anything but a bool raises :class:`ExpressionError`."""
    value = evaluate(source, variables, allowed=allowed)
    if not isinstance(value, bool):
        raise ExpressionError(source, f"a condition must be true or false, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a map", list: "a list", str: "a string", int: "an int", float: "a double"}.get(
        type(value), type(value).__name__
    )


def _to_json(source: str, value: Any) -> Any:
    """A CEL value as JSON (keys sorted, so the same in every process)."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError(source, f"the value {value} is not a JSON number")
        return value
    if isinstance(value, list | tuple):
        return [_to_json(source, v) for v in value]
    if isinstance(value, dict):
        out = {}
        for key in sorted(value, key=lambda k: (type(k).__name__, k)):
            name = key if isinstance(key, str) else _to_json(source, key)
            out[name if isinstance(name, str) else str(name).lower()] = _to_json(source, value[key])
        return out
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, _dt.datetime):
        stamp = value.astimezone(_dt.UTC) if value.tzinfo else value
        return stamp.isoformat().replace("+00:00", "Z")
    if isinstance(value, _dt.timedelta):
        return f"{value.total_seconds():g}s"
    raise ExpressionError(source, f"its value ({type(value).__name__}) is not JSON")
