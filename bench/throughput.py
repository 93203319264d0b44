"""Throughput: many seed-shaped pipelines at once, and wide groups, against the floor and Celery.

One run, side by side, on one tuned Temporal dev server (``workflows/dev_server.py``, SQLite file):

- the project as deployed: the API (``pipeline-engine api``) and a worker (``python worker.py``)
  as their own processes; N pipelines of the seed's shape (step, step, a chord of two steps and a
  callback, step: 6 no-op steps) submitted at once from 16 tasks, through ``POST /v1/process``
  and through the SDK (``AsyncPipelineClient.process``), with regular and with local steps;
- the hand-written Temporal floor (``bench/throughput_hand.py``, its own process): one workflow
  per pipeline of the same shape, eager start, activities or local activities;
- Celery 5 on Redis (``bench/celery_side.py`` in ``bench/.venv-celery``, a prefork worker, one
  process per core): the same canvas;
- one group of G no-op steps (project, regular steps) against a Celery group of G.

Per row: wall (first submit to last pipeline ended), pipelines/s (or steps/s), p50/p99 latency of
one pipeline (its submit to its end: the workflow's close time for Temporal, the last task's own
clock for Celery), submit rate, CPU seconds of the worker, the API and the Temporal server, and
the worker's peak RSS (reset before each row). Every repetition runs every row once, in an order
rotated each time; medians and minimums over the repetitions.

Run it with ``make bench-throughput`` or ``python -m bench.throughput [--pipelines 1000,10000]
[--groups 10000,100000] [--repeat 3] [--markdown]``. The figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from temporalio.client import Client

from api.auth import mint_token
from bench.api_latency import SECRET, ready, stack
from bench.latency import CelerySide
from bench.overhead import markdown_table
from bench.proc_stats import ProcessTree
from pipeline_engine.client import AsyncPipelineClient
from workflows.dev_server import TemporalDevServer, free_port
from workflows.worker_factory import connect

HERE = Path(__file__).parent
SUBMITTERS = 16
SEED_STEPS = 6
POLL_S = 0.25
WARM_UP = 20
"""Pipelines per row in the warm-up round before the measured repetitions."""


def seed_definition(*, local: bool) -> dict[str, Any]:
    """The seed's shape (the README's example pipeline) with no-op steps."""
    step: dict[str, Any] = {"type": "step", "name": "t_noop"}
    if local:
        step["local"] = True
    # Stage ids default to the step name made unique; the shape is what matters here.
    return {
        "type": "chain",
        "steps": [
            step,
            step,
            {"type": "chord", "group": {"type": "group", "steps": [step, step]}, "callback": step},
            step,
        ],
    }


@dataclass
class Sample:
    """One row's measurement in one repetition."""

    wall_s: float
    submit_s: float
    latencies: list[float]
    cpu: dict[str, float] = field(default_factory=dict)
    worker_peak_mib: float | None = None
    failed: int = 0


Runner = Callable[[], Awaitable[Sample]]


class Side:
    """A line-protocol subprocess (the hand-written floor or Celery's driver)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    async def ask(self, line: str) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline()
            if not answer:
                raise RuntimeError(f"{self.proc.args!r} ended without answering {line!r}")
            return dict(json.loads(answer))

        return await asyncio.to_thread(call)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Project:
    """The API and worker processes, driven over HTTP; completion read from Temporal visibility."""

    def __init__(self, http: httpx.AsyncClient, sdk: AsyncPipelineClient, client: Client) -> None:
        self.http, self.sdk, self.client = http, sdk, client

    async def tenant(self, *, local: bool) -> str:
        tenant = f"tp-{uuid.uuid4().hex[:10]}"
        body = {"pipeline_definition": seed_definition(local=local)}
        response = await self.http.put(f"/v1/tenants/{tenant}/config", json=body)
        response.raise_for_status()
        return tenant

    async def seed(self, n: int, *, local: bool, via_sdk: bool) -> Sample:
        tenant = await self.tenant(local=local)
        sent: dict[str, float] = {}
        todo = iter(range(n))

        async def submit() -> None:
            for i in todo:
                key = f"{tenant}-{i}"
                at = time.time()
                if via_sdk:
                    pid = await self.sdk.process(tenant, {"i": i}, idempotency_key=key)
                else:
                    body = {"tenant_id": tenant, "input": {"i": i}, "idempotency_key": key}
                    response = await self.http.post("/v1/process", json=body)
                    response.raise_for_status()
                    pid = response.json()["pipeline_id"]
                sent[pid] = at

        began = time.perf_counter()
        await asyncio.gather(*(submit() for _ in range(SUBMITTERS)))
        submitted = time.perf_counter() - began
        await self.until_ended(tenant)
        wall = time.perf_counter() - began
        latencies, failed = await self.latencies(tenant, sent)
        return Sample(wall_s=wall, submit_s=submitted, latencies=latencies, failed=failed)

    async def group(self, size: int) -> Sample:
        tenant = f"tg-{uuid.uuid4().hex[:10]}"
        config = {
            "name": "bench-group",
            "definition": {"type": "group", "steps": [{"type": "step", "name": "t_noop"}] * size},
        }
        at = time.time()
        began = time.perf_counter()
        response = await self.http.post(
            "/v1/pipelines", json={"tenant_id": tenant, "config": config}, timeout=120
        )
        response.raise_for_status()
        pid = response.json()["pipeline_id"]
        start = await self.http.post(f"/v1/pipelines/{pid}/start", timeout=120)
        start.raise_for_status()
        submitted = time.perf_counter() - began
        await self.until_ended(tenant)
        wall = time.perf_counter() - began
        latencies, failed = await self.latencies(tenant, {pid: at})
        return Sample(wall_s=wall, submit_s=submitted, latencies=latencies, failed=failed)

    async def until_ended(self, tenant: str) -> None:
        query = f"TenantId='{tenant}' AND ExecutionStatus='Running'"
        await asyncio.sleep(POLL_S)
        while (await self.client.count_workflows(query)).count:
            await asyncio.sleep(POLL_S)

    async def latencies(self, tenant: str, sent: dict[str, float]) -> tuple[list[float], int]:
        latencies, failed = [], 0
        async for wf in self.client.list_workflows(f"TenantId='{tenant}'", page_size=1000):
            if wf.id not in sent or wf.close_time is None:
                continue
            latencies.append(_epoch(wf.close_time) - sent[wf.id])
            state = (wf.search_attributes or {}).get("PipelineState", [""])
            failed += state != ["SUCCEEDED"]
        return latencies, failed


def server_pid(server: TemporalDevServer) -> int:
    proc = server._proc  # the dev server's process, for its CPU time
    assert proc is not None
    return proc.pid


def _epoch(at: datetime) -> float:
    return at.timestamp()


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def side_sample(answer: dict[str, Any]) -> Sample:
    return Sample(
        wall_s=float(answer["wall_s"]),
        submit_s=float(answer.get("submit_s", 0.0)),
        latencies=[float(x) for x in answer.get("latencies", [answer["wall_s"]])],
    )


def rows_for(
    args: argparse.Namespace, project: Project, hand: Side, celery: CelerySide
) -> dict[str, tuple[int, str, Runner]]:
    """Row label → (units per run, unit, runner)."""
    rows: dict[str, tuple[int, str, Runner]] = {}
    celery_side = Side(celery.driver)
    for n in args.pipelines:
        for local in (False, True):
            kind = "local" if local else "regular"
            for via_sdk in (False, True):
                label = f"{n:,} seed · project {kind} · {'SDK' if via_sdk else '/v1/process'}"
                rows[label] = (
                    n,
                    "pipelines",
                    partial(project.seed, n, local=local, via_sdk=via_sdk),
                )
        for mode in ("activity", "local"):
            runner = partial(_side, hand, f"seed {n} {mode}")
            rows[f"{n:,} seed · hand-written Temporal ({mode})"] = (n, "pipelines", runner)
        rows[f"{n:,} seed · Celery"] = (n, "pipelines", partial(_side, celery_side, f"seed {n}"))
    for g in args.groups:
        rows[f"group of {g:,} · project regular"] = (g, "steps", partial(project.group, g))
        rows[f"group of {g:,} · Celery"] = (g, "steps", partial(_celery_group, celery, g))
    return rows


async def _side(side: Side, line: str) -> Sample:
    return side_sample(await side.ask(line))


async def _celery_group(celery: CelerySide, size: int) -> Sample:
    from bench.overhead import Shape

    wall = await celery.run(Shape("group", size))
    return Sample(wall_s=wall, submit_s=0.0, latencies=[wall])


async def measure(
    args: argparse.Namespace,
    server: TemporalDevServer,
    procs: dict[str, ProcessTree],
    api_url: str,
    queue: str,
    log: Console,
) -> dict[str, list[Sample]]:
    token = mint_token(SECRET, sub="bench", roles=["admin"], tenants=["*"])
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    headers = {"Authorization": f"Bearer {token}"}
    client = await connect(server.address)
    hand = Side(
        subprocess.Popen(
            [sys.executable, "-m", "bench.throughput_hand", server.address, f"{queue}-hand"],
            cwd=HERE.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
    )
    celery = CelerySide()
    procs["hand-written"] = ProcessTree(hand.proc.pid)
    procs["celery worker"] = ProcessTree(celery.worker.pid)
    results: dict[str, list[Sample]] = {}
    try:
        async with (
            httpx.AsyncClient(base_url=api_url, headers=headers, limits=limits, timeout=60) as http,
            AsyncPipelineClient(api_url, token=token) as sdk,
        ):
            await ready(http)
            project = Project(http, sdk, client)
            warm = argparse.Namespace(pipelines=[WARM_UP], groups=[])
            for label, (_, _, run) in rows_for(warm, project, hand, celery).items():
                sample = await run()  # imports, connections, task queues, caches
                log.print(f"warm-up {label:<52} wall {sample.wall_s:8.2f} s", soft_wrap=True)
            rows = rows_for(args, project, hand, celery)
            labels = list(rows)
            results = {label: [] for label in labels}
            for i in range(args.repeat):
                order = labels[i % len(labels) :] + labels[: i % len(labels)]
                for label in order:
                    await asyncio.sleep(args.pause)
                    for tree in procs.values():
                        tree.reset_peak()
                    before = {name: tree.cpu_s() for name, tree in procs.items()}
                    sample = await rows[label][2]()
                    sample.cpu = {n: t.cpu_s() - before[n] for n, t in procs.items()}
                    sample.worker_peak_mib = procs["worker"].peak_rss_mib()
                    results[label].append(sample)
                    log.print(
                        f"run {i + 1}/{args.repeat} {label:<52} wall {sample.wall_s:8.2f} s"
                        f"  p50 {statistics.median(sample.latencies):7.2f} s"
                        + f"  peak {sample.worker_peak_mib or 0:.0f} MiB  CPU "
                        + " ".join(f"{k} {v:.1f}" for k, v in sample.cpu.items())
                        + f"  load {os.getloadavg()[0]:.1f}"
                        + (f"  ({sample.failed} not SUCCEEDED)" if sample.failed else ""),
                        soft_wrap=True,
                    )
    finally:
        hand.stop()
        celery.stop()
    return results


def report(results: dict[str, list[Sample]], units: dict[str, tuple[int, str]]) -> None:
    headers = (
        "row", "wall s (median / min)", "rate (median)", "latency p50 / p99 s", "submit /s",
        "CPU s: worker / API / server / own", "worker peak MiB",
    )  # fmt: skip
    rows: list[tuple[str, ...]] = []
    for label, samples in results.items():
        if not samples:
            continue
        n, unit = units[label]
        walls = [s.wall_s for s in samples]
        med = statistics.median(walls)
        lat = [x for s in samples for x in s.latencies]
        submit = [n / s.submit_s for s in samples if s.submit_s > 0]
        cpu = {k: statistics.median(s.cpu.get(k, 0.0) for s in samples) for k in samples[0].cpu}
        own = cpu.get("hand-written", 0.0) + cpu.get("celery worker", 0.0)
        peaks = [s.worker_peak_mib for s in samples if s.worker_peak_mib is not None]
        is_project = "project" in label
        failed = sum(s.failed for s in samples)
        rows.append(
            (
                label + (f" ({failed} not SUCCEEDED)" if failed else ""),
                f"{med:.2f} / {min(walls):.2f}",
                f"{n / med:,.1f} {unit}/s",
                f"{percentile(lat, 50):.2f} / {percentile(lat, 99):.2f}",
                f"{statistics.median(submit):,.0f}" if submit else "-",
                f"{cpu.get('worker', 0):.1f} / {cpu.get('api', 0):.1f} / "
                f"{cpu.get('temporal server', 0):.1f} / {own:.1f}",
                f"{max(peaks):.0f}" if peaks and is_project else "-",
            )
        )
    print(markdown_table(headers, rows))


def sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip() and int(x) > 0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__)
    parser.add_argument("--pipelines", type=sizes, default=[1000, 10000])
    parser.add_argument("--groups", type=sizes, default=[10000, 100000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pause", type=float, default=3.0, help="seconds of pause before a row")
    args = parser.parse_args(argv)
    log = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        data = Path(tmp)
        server = TemporalDevServer(port=free_port(), ui_port=None, db_file=data / "temporal.db")
        server.start()
        queue, port = f"bench-tp-{uuid.uuid4().hex[:8]}", free_port()
        os.environ.setdefault("PIPELINE_ENGINE_PAYLOAD_STORE", str(data / "payloads"))
        worker, api = stack(server.address, queue, data, port)
        procs = {
            "worker": ProcessTree(worker.pid),
            "api": ProcessTree(api.pid),
            "temporal server": ProcessTree(server_pid(server)),
        }
        try:
            results = asyncio.run(
                measure(args, server, procs, f"http://127.0.0.1:{port}", queue, log)
            )
        finally:
            for proc in (worker, api):
                proc.terminate()
                proc.wait(timeout=30)
            server.stop()
    units: dict[str, tuple[int, str]] = {}
    for n in args.pipelines:
        for label in results:
            if label.startswith(f"{n:,} seed"):
                units[label] = (n, "pipelines")
    for g in args.groups:
        for label in results:
            if label.startswith(f"group of {g:,}"):
                units[label] = (g, "steps")
    report(results, units)


if __name__ == "__main__":
    main()
