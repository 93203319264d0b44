"""The Celery + Redis side of ``bench.latency``; runs in its own venv (``make bench-latency``).

Celery is not a dependency of the project: ``bench/.venv-celery`` holds it. This file imports
nothing from the project. ``python bench/celery_side.py QUEUE`` reads lines ``chain N`` or
``group N`` on stdin, runs that shape of no-op tasks on queue ``QUEUE`` (served by a worker that
``bench.latency`` starts: ``celery -A celery_side worker -Q QUEUE``), and answers each line with
the wall time in seconds, from the call to the last result.
"""

from __future__ import annotations

import os
import sys
import time

from celery import Celery, chain, group

BROKER = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

app = Celery("bench", broker=BROKER, backend=BROKER)
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])


@app.task(name="bench.noop")
def noop(previous: object = None) -> None:
    """Does nothing (the chain passes the previous result in)."""
    return None


def run(shape: str, size: int, queue: str) -> float:
    began = time.perf_counter()
    if shape == "chain":
        chain(*(noop.s().set(queue=queue) for _ in range(size))).apply_async().get(timeout=300)
    else:
        group(noop.s().set(queue=queue) for _ in range(size)).apply_async().get(timeout=300)
    return time.perf_counter() - began


def main() -> None:
    queue = sys.argv[1]
    for line in sys.stdin:
        shape, size = line.split()
        print(f"{run(shape, int(size), queue):.6f}", flush=True)


if __name__ == "__main__":
    main()
