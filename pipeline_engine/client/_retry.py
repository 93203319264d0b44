"""How the clients retry transient failures."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["ClientRetryPolicy"]

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True, kw_only=True)
class ClientRetryPolicy:
    """Retries of one client call after a transient failure.

    Transient failures are connection errors, ``429 Too Many Requests`` and ``502``/``503``/``504``.
    Retrying them is safe because every operation of the engine is idempotent. A ``Retry-After``
    header is honoured (capped by ``max_retry_after_s``); otherwise the wait grows exponentially.
    No retry ever outlives the call's ``timeout``.

    Attributes:
        max_attempts: Attempts in all, the first included (``1`` disables retries).
        initial_backoff_s: Wait before the second attempt.
        backoff: Multiplier of the wait per attempt.
        max_backoff_s: Cap on the computed wait.
        max_retry_after_s: Cap on a server's ``Retry-After``.
        jitter: Fraction of random spread added to computed waits (``0`` for none).
    """

    max_attempts: int = 4
    initial_backoff_s: float = 0.25
    backoff: float = 2.0
    max_backoff_s: float = 5.0
    max_retry_after_s: float = 30.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0 or self.max_retry_after_s < 0:
            raise ValueError("waits must not be negative")
        if self.backoff < 1:
            raise ValueError("backoff must be at least 1")

    @classmethod
    def never(cls) -> ClientRetryPolicy:
        """A policy that makes a single attempt."""
        return cls(max_attempts=1)

    def delay(self, attempt: int, *, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (from 1).

        Args:
            attempt: The attempt that just failed.
            retry_after: The server's ``Retry-After``, in seconds, if it sent one.

        Returns:
            The wait before the next attempt.
        """
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after_s))
        base = min(self.initial_backoff_s * self.backoff ** (attempt - 1), self.max_backoff_s)
        if self.jitter:
            base *= 1 + random.uniform(0, self.jitter)
        return float(base)
