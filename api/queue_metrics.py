"""Task-queue backlog gauges on the API's ``/metrics``, read from Temporal at scrape time.

The API exports them, not the worker: a queue's backlog matters most when no worker polls it,
and then no worker would be there to be scraped; the figures are the queue's (not a process's),
so one exporter that is always up reports each once, whatever the number of workers. Several
API processes report the same figures (aggregate with ``max by (task_queue, task_type)``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import CollectorRegistry, Gauge
from temporalio.client import Client

from workflows.queue_stats import queue_backlogs

__all__ = ["QueueMetrics"]

log = logging.getLogger(__name__)


class QueueMetrics:
    """The backlog (tasks, age of the oldest) of each of ``task_queues``, by kind of task, and
    whether Temporal answered the last read (``pipeline_engine_temporal_up``).

    A read is made at most every ``min_interval_s`` (concurrent scrapes share it) and waits at
    most ``timeout_s``; when it fails, the backlog series are dropped until the next good read.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        task_queues: list[str],
        *,
        min_interval_s: float = 5.0,
        timeout_s: float = 2.0,
    ) -> None:
        self.task_queues = list(dict.fromkeys(task_queues))
        self.min_interval_s = min_interval_s
        self.timeout_s = timeout_s
        labels = ["task_queue", "task_type"]
        self.backlog = Gauge(
            "pipeline_engine_task_queue_backlog",
            "Tasks waiting in the task queue for a worker (Temporal's approximate count).",
            labels,
            registry=registry,
        )
        self.backlog_age = Gauge(
            "pipeline_engine_task_queue_backlog_age_seconds",
            "How long the oldest task of the task queue has waited (0 when none waits).",
            labels,
            unit="seconds",
            registry=registry,
        )
        self.temporal_up = Gauge(
            "pipeline_engine_temporal_up",
            "1 when Temporal answered the last read of the task queues' statistics, else 0.",
            registry=registry,
        )
        self._read_at = -float("inf")
        self._lock = asyncio.Lock()

    async def refresh(self, client: Client) -> None:
        """Read the backlogs again unless the last read is recent."""
        async with self._lock:
            if time.monotonic() - self._read_at < self.min_interval_s:
                return
            self._read_at = time.monotonic()
            try:
                backlogs = await asyncio.wait_for(
                    queue_backlogs(client, self.task_queues, timeout_s=self.timeout_s),
                    self.timeout_s + 0.5,
                )
            except Exception as exc:
                log.warning("task queue statistics not read: %s", str(exc)[:200] or type(exc))
                self.temporal_up.set(0)
                self.backlog.clear()
                self.backlog_age.clear()
                return
            self.temporal_up.set(1)
            for one in backlogs:
                self.backlog.labels(one.task_queue, one.task_type).set(one.tasks)
                self.backlog_age.labels(one.task_queue, one.task_type).set(one.age_s)
