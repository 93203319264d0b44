"""What the pre-secret id lookup costs a create (issue 19).

A create first looks for the id the same request had before ids were keyed by the server secret
(``PIPELINE_ENGINE_ID_LEGACY_LOOKUP``, on by default): one more Temporal call, a describe that
answers NOT_FOUND. On one headless, in-memory dev server, rounds of ``--creates`` creates (new
idempotency key each, no start, no worker) with the lookup on and off, the order alternating per
round; per-create medians and minimums, and their ratio.

Run it with ``python -m bench.id_lookup [--repeat N] [--creates N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

from pipeline_engine._ids import IdRule
from workflows.dev_server import TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.worker_factory import connect

SECRET = "bench-ids-Jq4vX9nB2mQ7wZ1kL8pR5tJ3sD6gF0aEyU"
CONFIG = {"name": "ids", "definition": {"type": "step", "name": "noop"}}


async def _round(engine: TemporalPipelineEngine, creates: int) -> list[float]:
    times = []
    for _ in range(creates):
        began = time.perf_counter()
        await engine.create_pipeline(CONFIG, tenant_id="bench", idempotency_key=uuid.uuid4().hex)
        times.append(time.perf_counter() - began)
    return times


async def main(repeat: int, creates: int) -> None:
    server = TemporalDevServer(port=free_port(), ui_port=None)
    server.start()
    try:
        client = await connect(server.address)
        queue = f"ids-{uuid.uuid4().hex[:8]}"
        engines = {
            lookup: TemporalPipelineEngine(
                client, task_queue=queue, ids=IdRule.of(SECRET, legacy_lookup=lookup)
            )
            for lookup in (True, False)
        }
        await _round(engines[False], 20)  # warm up the connection and the server
        samples: dict[bool, list[float]] = {True: [], False: []}
        for r in range(repeat):
            for lookup in (True, False) if r % 2 == 0 else (False, True):
                samples[lookup] += await _round(engines[lookup], creates)
        load = os.getloadavg()
        on, off = samples[True], samples[False]
        loads = " ".join(f"{x:.1f}" for x in load)
        print(f"creates per side: {len(on)}; load average {loads}")
        for name, values in (("lookup on ", on), ("lookup off", off)):
            print(
                f"{name}: median {statistics.median(values) * 1000:.2f} ms, "
                f"min {min(values) * 1000:.2f} ms"
            )
        ratio = statistics.median(on) / statistics.median(off)
        print(f"median ratio on/off: {ratio:.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=6)
    parser.add_argument("--creates", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.repeat, args.creates))
