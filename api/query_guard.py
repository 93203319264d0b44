"""Query parameters with control characters are refused (422 naming the parameter).

A NUL in ``GET /v1/pipelines?name=%00`` reached Temporal's visibility SQL, which failed with an
error the engine then took for an outage. No parameter of this API has a use for control
characters (C0, DEL, C1), so they are refused before any route sees them.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from pipeline_engine.errors import InvalidInput, Problem

__all__ = ["QueryGuardMiddleware", "query_problems"]


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def query_problems(query_string: str) -> list[Problem]:
    """One problem per query parameter whose name or value holds a control character."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for name, value in parse_qsl(query_string, keep_blank_values=True, errors="replace"):
        if (_has_control(name) or _has_control(value)) and name not in seen:
            seen.add(name)
            shown = name if not _has_control(name) else repr(name)
            problems.append(Problem(f"query.{shown}", "control characters are not allowed"))
    return problems


class QueryGuardMiddleware:
    """Answers 422 to an HTTP request whose query string holds control characters."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            raw = scope["query_string"].decode("latin-1")
            problems = query_problems(raw)
            if problems:
                n = len(problems)
                err = InvalidInput(
                    f"invalid request ({n} problem{'s' if n != 1 else ''})", problems=problems
                )
                await error_response(err)(scope, receive, send)
                return
        await self.app(scope, receive, send)
