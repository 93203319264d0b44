"""What to change when a request body could not be read: malformed JSON (with its line and
column) or a body sent without ``content-type: application/json``."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from pipeline_engine.errors import Problem

__all__ = ["CONTENT_TYPE_HINT", "content_type_problem", "malformed_json_problem"]

CONTENT_TYPE_HINT = (
    "the body was not read as JSON: send the header 'content-type: application/json' "
    "(curl -d sends application/x-www-form-urlencoded; add -H 'content-type: application/json')"
)


def _where(document: str, pos: int) -> tuple[int, int]:
    """1-based line and column of character ``pos`` of ``document``."""
    pos = max(0, min(pos, len(document)))
    line = document.count("\n", 0, pos) + 1
    column = pos - (document.rfind("\n", 0, pos) + 1) + 1
    return line, column


def malformed_json_problem(err: dict[str, Any], body: Any) -> Problem | None:
    """For a ``json_invalid`` error: the problem at ``$`` saying where the JSON breaks."""
    if err.get("type") != "json_invalid":
        return None
    loc = tuple(err.get("loc", ()))
    pos = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else 0
    reason = (err.get("ctx") or {}).get("error") or err.get("msg") or "not valid JSON"
    document = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    line, column = _where(document, pos)
    return Problem("$", f"malformed JSON at line {line}, column {column}: {reason}")


def _is_json(content_type: str) -> bool:
    if not content_type.strip():  # FastAPI reads a body without a content type as JSON
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def content_type_problem(request: Request, errors: list[Any]) -> Problem | None:
    """The hint for a body that arrived without a JSON content type (so it was never parsed)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    if _is_json(request.headers.get("content-type", "")):
        return None
    body_errors = [
        e for e in errors if isinstance(e, dict) and tuple(e.get("loc", ()))[:1] == ("body",)
    ]
    if not body_errors:
        return None
    return Problem("$", CONTENT_TYPE_HINT)
