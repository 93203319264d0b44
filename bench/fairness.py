"""A small tenant's pipeline latency with and without another tenant's flood, fairness on and off.

Two headless, in-memory Temporal dev servers from ``workflows/dev_server.py`` run side by side: the
tuned one (``matching.enableFairness``) and the same without fairness. On each, with one worker of
few activity slots: the small tenant's chain of 3 steps alone, then again while another tenant's
group of N sleeping steps is backlogged. The order of servers alternates per repetition.

Run it with ``python -m bench.fairness [--repeat N] [--flood N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass, field

from temporalio.client import Client

import tests.support.steps  # noqa: F401  (registers t_add, t_sleep)
from pipeline_engine.states import PipelineState, StageState
from pipeline_engine.steps import default_registry
from workflows.dev_server import DYNAMIC_CONFIG, TemporalDevServer, free_port
from workflows.engine import TemporalPipelineEngine
from workflows.worker_factory import build_worker, connect

SLOTS = 4
SMALL = {"type": "chain", "steps": [{"type": "step", "name": "t_add"}] * 3}


@dataclass
class Samples:
    alone: list[float] = field(default_factory=list)
    flooded: list[float] = field(default_factory=list)
    flood_done_first: list[int] = field(default_factory=list)  # flood steps done before small


async def _wait(engine: TemporalPipelineEngine, pid: str) -> None:
    while (await engine.get_pipeline(pid)).state not in (
        PipelineState.SUCCEEDED,
        PipelineState.FAILED,
    ):
        await asyncio.sleep(0.02)


async def _small(engine: TemporalPipelineEngine) -> float:
    began = time.perf_counter()
    created = await engine.create_pipeline(
        {"name": "small", "definition": SMALL},
        tenant_id="small",
        idempotency_key=uuid.uuid4().hex,
        start=True,
    )
    await _wait(engine, created.pipeline_id)
    return time.perf_counter() - began


async def one_round(client: Client, flood: int, samples: Samples) -> None:
    queue = f"fair-{uuid.uuid4().hex[:8]}"
    engine = TemporalPipelineEngine(client, task_queue=queue, registry=default_registry)
    worker = build_worker(
        client, task_queue=queue, registry=default_registry, max_concurrent_activities=SLOTS
    )
    async with worker:
        await _small(engine)  # warm-up
        samples.alone.append(await _small(engine))
        step = {"type": "step", "name": "t_sleep", "kwargs": {"seconds": 0.05}}
        big = await engine.create_pipeline(
            {"name": "flood", "definition": {"type": "group", "steps": [step] * flood}},
            tenant_id="flood",
            idempotency_key=uuid.uuid4().hex,
            start=True,
        )
        while not any(
            s.state is StageState.SUCCEEDED
            for s in (await engine.get_pipeline(big.pipeline_id)).stages
        ):
            await asyncio.sleep(0.02)
        samples.flooded.append(await _small(engine))
        status = await engine.get_pipeline(big.pipeline_id)
        samples.flood_done_first.append(sum(s.state is StageState.SUCCEEDED for s in status.stages))
        await _wait(engine, big.pipeline_id)


async def measure(addresses: dict[str, str], repeat: int, flood: int) -> dict[str, Samples]:
    clients = {name: await connect(addr) for name, addr in addresses.items()}
    results = {name: Samples() for name in addresses}
    names = list(addresses)
    for i in range(repeat):
        for name in names if i % 2 == 0 else names[::-1]:
            await asyncio.sleep(1.0)  # let the servers settle between runs
            await one_round(clients[name], flood, results[name])
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fairness", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--flood", type=int, default=300, help="steps in the flooding fan-out")
    args = parser.parse_args(argv)
    unfair = {**DYNAMIC_CONFIG, "matching.enableFairness": False}
    servers = {
        "fairness on": TemporalDevServer(port=free_port(), ui_port=None),
        "fairness off": TemporalDevServer(port=free_port(), ui_port=None, dynamic_config=unfair),
    }
    for server in servers.values():
        server.start()
    try:
        results = asyncio.run(
            measure({n: s.address for n, s in servers.items()}, args.repeat, args.flood)
        )
    finally:
        for server in servers.values():
            server.stop()
    print(
        f"| server | small alone, median s | small during a flood of {args.flood}, median s "
        "| (min s) | flood steps done before the small chain ended, median |"
    )
    print("|---|---|---|---|---|")
    for name, s in results.items():
        print(
            f"| {name} | {statistics.median(s.alone):.3f} | {statistics.median(s.flooded):.3f} "
            f"| {min(s.flooded):.3f} | {statistics.median(s.flood_done_first):.0f} "
            f"of {args.flood} |"
        )


if __name__ == "__main__":
    main()
