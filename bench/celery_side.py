"""The Celery + Redis side of ``bench.latency``; runs in its own venv (``make bench-latency``).

Celery is not a dependency of the project: ``bench/.venv-celery`` holds it. This file imports
nothing from the project. ``python bench/celery_side.py QUEUE`` reads lines ``chain N`` or
``group N`` on stdin, runs that shape of no-op tasks on queue ``QUEUE`` (served by a worker that
``bench.latency`` starts: ``celery -A celery_side worker -Q QUEUE``), and answers each line with
the wall time in seconds, from the call to the last result. A line ``seed N`` (``bench.throughput``)
sends N canvases of the seed's shape at once from 16 threads (task, task, a chord of two tasks and
a callback, task) and answers one JSON object: ``wall_s``, ``submit_s`` and each canvas's latency
(its call to the moment its last task ran, from that task's own clock reading).
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from celery import Celery, chain, chord, group

BROKER = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

app = Celery("bench", broker=BROKER, backend=BROKER)
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])


@app.task(name="bench.noop")
def noop(previous: object = None) -> None:
    """Does nothing (the chain passes the previous result in)."""
    return None


@app.task(name="bench.stamp")
def stamp(previous: object = None) -> float:
    """Returns the time it ran at (the last task of a seed canvas)."""
    return time.time()


def seed(size: int, queue: str) -> dict[str, object]:
    def canvas() -> object:
        def s(task: object) -> object:
            return task.s().set(queue=queue)  # type: ignore[attr-defined]

        return chain(s(noop), s(noop), chord([s(noop), s(noop)], s(noop)), s(stamp))

    def send(_: int) -> tuple[float, object]:
        return time.time(), canvas().apply_async()  # type: ignore[attr-defined]

    began = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        sent = list(pool.map(send, range(size)))
    submitted = time.perf_counter() - began
    latencies = [result.get(timeout=600) - at for at, result in sent]  # type: ignore[attr-defined]
    wall = time.perf_counter() - began
    return {"wall_s": wall, "submit_s": submitted, "latencies": latencies}


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
        if shape == "seed":
            print(json.dumps(seed(int(size), queue)), flush=True)
        else:
            print(f"{run(shape, int(size), queue):.6f}", flush=True)


if __name__ == "__main__":
    main()
