"""The backlog of task queues, from Temporal's task-queue statistics (``DescribeTaskQueue`` with
``report_stats``): how many tasks wait for a worker and how long the oldest has waited."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

__all__ = ["TASK_TYPES", "QueueBacklog", "queue_backlogs"]

#: The label value of each kind of task a queue holds.
TASK_TYPES = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}


@dataclass(frozen=True)
class QueueBacklog:
    """One task queue's backlog of one kind of task (Temporal's approximate figures)."""

    task_queue: str
    task_type: str
    tasks: int
    age_s: float


async def queue_backlogs(
    client: Client, task_queues: list[str], *, timeout_s: float = 5.0
) -> list[QueueBacklog]:
    """The backlog of workflow and activity tasks of each queue (one call per queue and kind,
    all at once).

    Raises:
        temporalio.service.RPCError: Temporal did not answer one of them.
    """

    async def one(queue: str, task_type: str) -> QueueBacklog:
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=TASK_TYPES[task_type],
                report_stats=True,
            ),
            timeout=timedelta(seconds=timeout_s),
        )
        stats = answer.stats
        age = stats.approximate_backlog_age
        return QueueBacklog(
            task_queue=queue,
            task_type=task_type,
            tasks=int(stats.approximate_backlog_count),
            age_s=age.seconds + age.nanos / 1e9,
        )

    return list(
        await asyncio.gather(*(one(queue, kind) for queue in task_queues for kind in TASK_TYPES))
    )
