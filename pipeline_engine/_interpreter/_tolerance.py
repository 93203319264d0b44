"""Tolerated failures (``tolerated_failures`` on a group or a map): how many failure markers a
fan-out's results may hold before the fan-out fails."""

from __future__ import annotations

from typing import Any

from pipeline_engine._interpreter._failure import FAILURE_MARKER
from pipeline_engine.dsl._nodes import tolerated_count
from pipeline_engine.status import ErrorInfo

__all__ = ["failed_entries", "too_many_failures"]


def failed_entries(results: list[Any]) -> list[dict[str, Any]]:
    """The failure markers among ``results``."""
    return [r for r in results if isinstance(r, dict) and r.get(FAILURE_MARKER) is True]


def too_many_failures(
    results: list[Any], tolerated: int | str | None, stage_id: str, what: str
) -> ErrorInfo | None:
    """The error of a fan-out whose failed entries are more than it tolerates, else None."""
    failed = failed_entries(results)
    allowed = tolerated_count(tolerated, len(results))
    if len(failed) <= allowed:
        return None
    shown = tolerated if isinstance(tolerated, str) else str(tolerated)
    first = failed[0].get("stage_id")
    return ErrorInfo(
        type="TooManyFailures",
        message=f"{len(failed)} of {len(results)} {what} failed, over the {allowed} tolerated "
        f"(tolerated_failures: {shown}); the first to fail: {first}",
        stage_id=stage_id,
    )
