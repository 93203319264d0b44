"""The front door: ``POST /v1/process`` against a bare ``start_workflow``, and status reads.

A tuned Temporal dev server (``workflows/dev_server.py``, SQLite file), the API
(``pipeline-engine api``) and a worker (``python worker.py``) as their own processes, as deployed;
this process is the client. Starts alternate in blocks between the two ways, each request waited
for before the next. Status reads are sent open-loop at a fixed rate (default 100 req/s) and their
latency (request to response) is recorded, for a running pipeline (answered by its status query)
and for an ended one (read without a worker, then kept).

Run it with ``make bench-latency`` or ``python -m bench.api_latency [--starts N] [--rate R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from temporalio.client import Client

from api.auth import mint_token
from bench.overhead import markdown_table
from pipeline_engine.dsl import parse_config
from workflows import names
from workflows.dev_server import TemporalDevServer, free_port
from workflows.messages import PipelineWorkflowInput
from workflows.worker_factory import connect

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-api-latency-Hc5mQ9vN2xB7kT1wL4pR8jF0sD3gZ6aE"
TENANT = "bench"
NOOP = {"type": "step", "name": "t_noop"}
WAITING = {"type": "input", "id": "hold", "schema": {"type": "object"}}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def stack(
    temporal: str, queue: str, data: Path, port: int, api_workers: int = 1
) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "PIPELINE_ENGINE_API_WORKERS": str(api_workers),
        "PIPELINE_ENGINE_ENV": "prod",
        "PIPELINE_ENGINE_JWT_SECRET": SECRET,
        "PIPELINE_ENGINE_ID_SECRET": SECRET[::-1],
        "PIPELINE_ENGINE_TEMPORAL_ADDRESS": temporal,
        "PIPELINE_ENGINE_TASK_QUEUE": queue,
        "PIPELINE_ENGINE_DATABASE_URL": f"sqlite:///{data / 'tenants.db'}",
        "PIPELINE_ENGINE_STEP_MODULES": "tests.support.steps",
        "PIPELINE_ENGINE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    bin_dir = Path(sys.executable).parent
    out = subprocess.DEVNULL
    return [
        subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=env, cwd=ROOT, stdout=out),
        subprocess.Popen(
            [str(bin_dir / "pipeline-engine"), "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
        ),
    ]


READY_S = 180.0
"""How long the API may take to answer /readyz: 30 s was too short at load 15-19 (and under a
profiler), where importing the app alone took longer."""


async def ready(http: httpx.AsyncClient, within_s: float = READY_S) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if (await http.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the API did not answer /readyz within {within_s:g} s")


async def compare_starts(
    http: httpx.AsyncClient, client: Client, queue: str, n: int, block: int
) -> dict[str, list[float]]:
    params = PipelineWorkflowInput(
        config=parse_config({"name": "bench", "definition": NOOP}).config,
        tenant_id=TENANT,
        trace_id=uuid.uuid4().hex,
        autostart=True,
    )

    async def process() -> None:
        body = {"tenant_id": TENANT, "input": {}, "idempotency_key": uuid.uuid4().hex}
        response = await http.post("/v1/process", json=body)
        assert response.status_code == 201, response.text

    async def bare() -> None:
        await client.start_workflow(
            names.WORKFLOW_TYPE, params, id=f"bare-{uuid.uuid4().hex}", task_queue=queue
        )

    ways = {"POST /v1/process": process, "bare start_workflow": bare}
    samples: dict[str, list[float]] = {k: [] for k in ways}
    for call in ways.values():  # warm-up
        for _ in range(5):
            await call()
    order = list(ways)
    for i in range(n // block):
        for name in order if i % 2 == 0 else order[::-1]:
            for _ in range(block):
                began = time.perf_counter()
                await ways[name]()
                samples[name].append(time.perf_counter() - began)
    return samples


async def status_at_rate(
    http: httpx.AsyncClient, pipeline_id: str, rate: float, seconds: float
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0

    async def one() -> None:
        nonlocal errors
        began = time.perf_counter()
        try:
            response = await http.get(f"/v1/pipelines/{pipeline_id}")
        except httpx.TransportError:  # e.g. a keep-alive connection the server just closed
            errors += 1
            return
        latencies.append(time.perf_counter() - began)
        errors += response.status_code != 200

    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return latencies, errors


async def status_one_at_a_time(
    http: httpx.AsyncClient, pipeline_id: str, n: int
) -> tuple[list[float], int]:
    """Closed loop: the service time of one read, with nothing queued in front of it."""
    latencies, errors = [], 0
    for _ in range(n):
        began = time.perf_counter()
        response = await http.get(f"/v1/pipelines/{pipeline_id}")
        latencies.append(time.perf_counter() - began)
        errors += response.status_code != 200
    return latencies, errors


async def measure(temporal: str, queue: str, api_url: str, args: argparse.Namespace) -> None:
    token = mint_token(SECRET, sub="bench", roles=["admin"], tenants=["*"])
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=api_url, headers=headers, limits=limits, timeout=30
    ) as http:
        await ready(http)
        put = await http.put(f"/v1/tenants/{TENANT}/config", json={"pipeline_definition": NOOP})
        assert put.status_code in (200, 201), put.text
        client = await connect(temporal)
        starts = await compare_starts(http, client, queue, args.starts, args.block)
        running = await http.post(
            "/v1/pipelines",
            json={"tenant_id": TENANT, "config": {"name": "held", "definition": WAITING}},
        )
        held = running.json()["pipeline_id"]
        await http.post(f"/v1/pipelines/{held}/start")
        ended = (await http.post("/v1/process", json={"tenant_id": TENANT, "input": {}})).json()
        await asyncio.sleep(2)  # the t_noop pipeline has ended by now
        reads = {}
        for label, pid in (("running (waiting for input)", held), ("ended", ended["pipeline_id"])):
            await status_at_rate(http, pid, args.rate, 1.0)  # warm-up
            reads[f"{label}, one at a time"] = await status_one_at_a_time(http, pid, 200)
            await asyncio.sleep(2)
            reads[f"{label}, {args.rate:g} req/s"] = await status_at_rate(
                http, pid, args.rate, args.seconds
            )

    start_rows = [
        (
            name,
            str(len(xs)),
            f"{statistics.median(xs) * 1000:.1f}",
            f"{percentile(xs, 90) * 1000:.1f}",
            f"{min(xs) * 1000:.1f}",
        )
        for name, xs in starts.items()
    ]
    gap = (
        statistics.median(starts["POST /v1/process"])
        - statistics.median(starts["bare start_workflow"])
    ) * 1000
    print(markdown_table(("start", "n", "p50 ms", "p90 ms", "min ms"), start_rows))
    print(f"\n/v1/process p50 - start_workflow p50 = {gap:.1f} ms (target <= 5 ms)\n")
    read_rows = [
        (
            label,
            str(len(xs)),
            str(errors),
            f"{statistics.median(xs) * 1000:.1f}",
            f"{percentile(xs, 99) * 1000:.1f}",
            f"{max(xs) * 1000:.1f}",
        )
        for label, (xs, errors) in reads.items()
    ]
    headers = ("GET /v1/pipelines/{id}", "n answered", "errors", "p50 ms", "p99 ms", "max ms")
    print(markdown_table(headers, read_rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api_latency", description=__doc__)
    parser.add_argument("--starts", type=int, default=200, help="starts each way")
    parser.add_argument("--block", type=int, default=20, help="starts in a row each way")
    parser.add_argument("--rate", type=float, default=100.0, help="status reads per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of status reads")
    parser.add_argument("--api-workers", type=int, default=1, help="API processes (uvicorn)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        data = Path(tmp)
        server = TemporalDevServer(port=free_port(), ui_port=None, db_file=data / "temporal.db")
        server.start()
        queue, port = f"bench-api-{uuid.uuid4().hex[:8]}", free_port()
        procs = stack(server.address, queue, data, port, args.api_workers)
        try:
            asyncio.run(measure(server.address, queue, f"http://127.0.0.1:{port}", args))
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=30)
            server.stop()


if __name__ == "__main__":
    main()
