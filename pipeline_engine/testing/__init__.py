"""Offline testing of client code: an in-memory engine that is a drop-in for the clients.

:class:`FakePipelineEngine` (sync, for :class:`~pipeline_engine.PipelineClient`) and
:class:`AsyncFakePipelineEngine` (for :class:`~pipeline_engine.AsyncPipelineClient`) have the
clients' methods, semantics and exceptions, and run the registered steps in-process on the same
interpreter as the Temporal workflow — no server, no Temporal, no network. Test controls:
``fail_step`` (fail attempts on demand), ``hold_step`` (keep attempts waiting until released)
and ``calls`` (every attempt, with its arguments).
"""

from pipeline_engine.testing._fake import (
    AsyncFakePipelineEngine,
    FakePipelineEngine,
    Hold,
    RecordedCall,
)

__all__ = ["AsyncFakePipelineEngine", "FakePipelineEngine", "Hold", "RecordedCall"]
