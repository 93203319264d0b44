"""Offline testing of client code: the real clients, served in-process.

:class:`FakePipelineEngine` *is* a :class:`~pipeline_engine.PipelineClient` and
:class:`AsyncFakePipelineEngine` an :class:`~pipeline_engine.AsyncPipelineClient`, talking to the
real REST API app over an in-memory transport (no socket, no Temporal): the API's own routes,
rules and errors, the client's own retries, error decoding and stream resumption. Pipelines run
in-process on the same interpreter as the Temporal workflow. Named pipelines (immutable versions,
``If-Match``, rollbacks, aliases and their canary hash, archives, the audit log) are the API's own,
in an in-memory tenant store: ``process(tenant, input, pipeline=, version=, alias=)`` runs them.
Test controls: ``fail_step`` (fail attempts on demand), ``hold_step`` (keep attempts waiting
until released), ``calls`` (every attempt, with its arguments), ``fail_requests`` (an auth error,
a transient 503…) and ``drop_streams`` (cut event streams).

Needs the ``server`` extra (``pip install 'pipeline-engine[server]'``): importing this module
without it raises an ``ImportError`` that says so.
"""

from pipeline_engine.testing._controls import Hold, RecordedCall
from pipeline_engine.testing._fake import AsyncFakePipelineEngine, FakePipelineEngine

__all__ = ["AsyncFakePipelineEngine", "FakePipelineEngine", "Hold", "RecordedCall"]
