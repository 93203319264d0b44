"""CEL expressions: what validation catches (with the JSON path), what evaluation gives, and that
it gives the same in every process (replay-safe) within a bounded cost."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from pipeline_engine.dsl._cel import (
    MAP_VARIABLES,
    MAX_COMPREHENSION_NESTING,
    MAX_EXPRESSION_LENGTH,
    STEP_VARIABLES,
    ExpressionError,
    check_expression,
    evaluate,
    evaluate_bool,
)


def problems(source: Any, allowed: tuple[str, ...] = STEP_VARIABLES) -> list[str]:
    return [f"{p.path}: {p.message}" for p in check_expression(source, path="$.x", allowed=allowed)]


@pytest.mark.parametrize(
    ("source", "variables", "expected"),
    [
        ("previous.count > 0", {"previous": {"count": 3}}, True),
        ("settings.species == 'tomato'", {"settings": {"species": "tomato"}}, True),
        ("has(input.foo)", {"input": {}}, False),
        ("size(previous) == 0", {"previous": []}, True),
        ("previous.filter(x, x > 1)", {"previous": [1, 2, 3]}, [2, 3]),
        ("previous.map(s, s.n).exists(n, n > 2)", {"previous": [{"n": 1}, {"n": 3}]}, True),
        ("item.kind in ['a', 'b'] && index < 3", {"item": {"kind": "a"}, "index": 2}, True),
        ("previous == null", {"previous": None}, True),
        ("size(input.s) > 0 ? 'sahi' : 'plain'", {"input": {"s": [1]}}, "sahi"),
        # JSON numbers: integers are ints, the rest doubles; CEL compares across the two
        ("previous.x == 1 && 1 < 1.5", {"previous": {"x": 1.0}}, True),
        ("previous.x * 2.0", {"previous": {"x": 1.5}}, 3.0),
        ("int(previous.n) + 1", {"previous": {"n": 2.0}}, 3),
        ("{'b': previous, 'a': [1, 'x']}", {"previous": None}, {"a": [1, "x"], "b": None}),
        ("timestamp('2020-01-01T00:00:00Z')", {}, "2020-01-01T00:00:00Z"),
        ("duration('1.5s')", {}, "1.5s"),
        ("b'ab'", {}, "YWI="),
    ],
)
def test_values(source: str, variables: dict[str, Any], expected: Any) -> None:
    assert problems(source, MAP_VARIABLES) == []
    got = evaluate(source, variables, allowed=MAP_VARIABLES)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("source", "variables", "reason"),
    [
        ("previous.missing", {"previous": {}}, "no such key: missing"),
        ("previous[5]", {"previous": [1]}, "index out of bounds"),
        ("previous.x * 2", {"previous": {"x": 1.5}}, "float * int"),  # no silent coercion
        ("1 / 0", {}, "division by zero"),
        ("9223372036854775807 + 1", {}, "overflow"),
        ("double('inf')", {}, "not a JSON number"),
        ("previous.map(k, k)", {"previous": {"b": 1, "a": 2}}, "no fixed order"),
    ],
)
def test_evaluation_errors_name_the_expression(
    source: str, variables: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate(source, variables, allowed=STEP_VARIABLES)
    assert caught.value.expression == source
    assert reason in str(caught.value)
    assert repr(source) in str(caught.value)


def test_a_condition_must_be_a_bool() -> None:
    assert evaluate_bool("previous > 1", {"previous": 2}) is True
    with pytest.raises(ExpressionError, match="must be true or false, got an int"):
        evaluate_bool("previous", {"previous": 2})


def test_validation_names_the_path_and_the_reason() -> None:
    assert problems("prev.count > 0") == [
        "$.x: unknown variable 'prev' (an expression here sees: previous, input, settings)"
    ]
    assert problems("item > 0") != []  # item and index exist in a map's element only
    assert problems("item > 0", MAP_VARIABLES) == []
    assert problems("1 +")[0].startswith("$.x: syntax error at column 4:")
    assert problems("now() > 1") == ["$.x: unknown function 'now'"]
    assert problems(3) == ["$.x: an expression must be a string, got int"]
    assert problems("  ") == ["$.x: an expression cannot be empty"]
    # names bound by comprehensions are not unknown variables; text in strings is not code
    assert problems("previous.all(k, v, k == v) && previous.exists(e, e.ok)") == []
    assert problems("'prev.x.map(a, a.map(b, b.map(c, c)))' == input") == []


def test_cost_is_bounded() -> None:
    long = "1 + " * (MAX_EXPRESSION_LENGTH // 4) + "1"
    assert "over the limit" in problems(long)[0]
    nested = "previous.map(a, a.map(b, b.map(c, c)))"
    assert MAX_COMPREHENSION_NESTING == 2
    assert "3 comprehensions nest" in problems(nested)[0]
    assert problems("previous.map(a, a.map(b, b))") == []
    # the parser refuses deep nesting instead of exhausting the stack
    assert "syntax error" in problems("(" * 500 + "1" + ")" * 500)[0]
    with pytest.raises(ExpressionError):
        evaluate(nested, {"previous": []}, allowed=STEP_VARIABLES)


def test_the_same_value_in_every_process() -> None:
    """The library keeps maps in a randomly seeded hash map: results come back sorted."""
    code = (
        "import json; from pipeline_engine.dsl._cel import evaluate; "
        "print(json.dumps(evaluate(\"{'d': 1, 'b': 2, 'zz': 3, 'a': previous, 'c': 5}\", "
        "{'previous': {'y': 1, 'x': 2, 'w': 3, 'v': 4}})))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(3)
    }
    assert len(outputs) == 1
    assert list(json.loads(outputs.pop())) == ["a", "b", "c", "d", "zz"]


def test_only_the_variables_named_are_handed_over() -> None:
    # an unread variable is never converted (a large `previous` costs nothing to a `when` on input)
    class Unconvertible:
        pass

    assert evaluate("input.n > 1", {"input": {"n": 2}, "previous": Unconvertible()}) is True
