"""The service rules every engine applies the same way: idempotency, closed runs, paging.

Written once here so the Temporal engine and the local engine cannot drift (wording included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

from pipeline_engine.errors import Conflict, InvalidInput, InvalidState, Problem
from pipeline_engine.states import PipelineState

__all__ = [
    "Command",
    "check_same_request",
    "closed_run_verdict",
    "decode_page_token",
    "invalid_page_token",
    "page_of",
]

T = TypeVar("T")

Command = Literal["start", "cancel", "retry_stage", "retry_failed", "submit_input"]
"""A command sent to a pipeline (each is an update of the Temporal workflow)."""


def check_same_request(
    pipeline_id: str, *, fingerprint: str, stored: str | None, idempotency_key: str | None
) -> None:
    """A repeated create must carry what the first one did (``Conflict`` otherwise).

    Args:
        pipeline_id: The id both requests map to.
        fingerprint: Fingerprint of this request's config, input and settings.
        stored: Fingerprint recorded by the first request.
        idempotency_key: The key the caller sent, if any.
    """
    if stored != fingerprint:
        raise Conflict(
            "idempotency key already used with a different config or input",
            details=[{"pipeline_id": pipeline_id, "idempotency_key": idempotency_key}],
        )


def closed_run_verdict(command: Command, state: PipelineState) -> PipelineState:
    """The answer to ``command`` sent to a pipeline whose run is over (ended as ``state``).

    ``start`` answers the state; ``cancel`` answers ``CANCELLED`` if it ended so; the others raise
    ``InvalidState``.
    """
    if command == "start":
        return state
    if command == "cancel":
        if state is PipelineState.CANCELLED:
            return state
        raise InvalidState(f"pipeline already ended as {state.value}")
    if command in ("retry_stage", "retry_failed"):
        raise InvalidState(f"pipeline already ended as {state.value}; nothing to retry")
    raise InvalidState(f"pipeline already ended as {state.value}; no input is waiting")


def invalid_page_token(reason: str = "invalid") -> InvalidInput:
    """The error for a ``page_token`` the engine cannot use."""
    return InvalidInput("invalid page token", problems=[Problem("query.page_token", reason)])


def decode_page_token(token: str | None) -> bytes | None:
    """The bytes of a page token (hex on the wire); ``None`` for the first page."""
    if not token:
        return None
    try:
        return bytes.fromhex(token)
    except ValueError:
        raise invalid_page_token() from None


def page_of(items: Sequence[T], *, page_size: int, token: str | None) -> tuple[list[T], str | None]:
    """One page of an in-memory list and the token of the next (``None`` on the last page)."""
    raw = decode_page_token(token)
    start = int.from_bytes(raw, "big") if raw else 0
    end = start + page_size
    more = end < len(items)
    return list(items[start:end]), end.to_bytes(8, "big").hex() if more else None
