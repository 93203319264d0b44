"""Reliability of a batch under faults: ``pipeline-engine batch submit … --follow`` while the worker
is SIGKILLed every ``--kill-every`` seconds and the Temporal server is restarted once.

Starts its own stack in a temporary directory, each part a separate process stopped by its pid:
a Temporal dev server (SQLite file, so a restart keeps its state), the API (``pipeline-engine
api``) and a worker (``python worker.py``) with :mod:`bench.reliability_steps` loaded. The tenant
runs a seed-shaped pipeline (a step, a chord of two steps and a callback, a last step: five
stages) whose steps record each execution's start and end. Then it submits ``--size`` inputs as
one batch through the CLI and, while the CLI follows it, kills the worker (and starts a new one)
every ``--kill-every`` seconds and restarts Temporal once, ``--restart-at`` seconds in.

At the end it counts, from the steps' own records and the batch's results: pipelines (one per
input, all SUCCEEDED), lost stage completions (a stage of a pipeline with no finished execution),
duplicated completions (a stage whose step finished more than once) and re-executions (a stage
whose step started more than once: a kill between start and report, retried by Temporal). Prints
one JSON report. Not part of ``make test``: run it with ``python -m bench.batch_reliability
--size 1000``. The figures are in docs/reliability.md and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from api.auth import mint_token
from tests.support.processes import ROOT, signal_and_wait, start_api, start_python
from workflows.dev_server import TemporalDevServer, free_port

SECRET = "batch-reliability-" + "r" * 48
TENANT = "reliability"
STAGE = {"type": "step", "name": "rel_count"}
DEFINITION = {
    "type": "chain",
    "steps": [
        {**STAGE, "kwargs": {"tag": "segmentation"}},
        {
            "type": "chord",
            "group": {
                "type": "group",
                "steps": [
                    {**STAGE, "kwargs": {"tag": "sahi_detection"}},
                    {**STAGE, "kwargs": {"tag": "detection"}},
                ],
            },
            "callback": {**STAGE, "kwargs": {"tag": "aggregate_detections"}},
        },
        {**STAGE, "kwargs": {"tag": "size_calculator"}},
    ],
}
STAGES = 5


class Stack:
    """Temporal, the API and a worker, each a process of its own."""

    def __init__(self, work: Path, *, max_concurrent_activities: int) -> None:
        self.work = work
        self.counts = work / "counts.txt"
        self.temporal = TemporalDevServer(
            port=free_port(), ui_port=None, db_file=work / "temporal.db",
            log_file=work / "temporal.log",
        )  # fmt: skip
        self.env = {
            "PIPELINE_ENGINE_ENV": "prod",
            "PIPELINE_ENGINE_JWT_SECRET": SECRET,
            "PIPELINE_ENGINE_ID_SECRET": "batch-ids-Vx3nQ8wZ1cK6mT4pL9hR2bJ7sF0dG5aYeU",
            "PIPELINE_ENGINE_TEMPORAL_ADDRESS": self.temporal.address,
            "PIPELINE_ENGINE_TASK_QUEUE": "reliability",
            "PIPELINE_ENGINE_DATABASE_URL": f"sqlite:///{work / 'tenants.db'}",
            "PIPELINE_ENGINE_PAYLOAD_STORE": str(work / "payloads"),
            "PIPELINE_ENGINE_STEP_MODULES": "bench.reliability_steps",
            "PIPELINE_ENGINE_RELIABILITY_COUNTS": str(self.counts),
            "PIPELINE_ENGINE_MAX_CONCURRENT_ACTIVITIES": str(max_concurrent_activities),
        }
        self.api_port = free_port()
        self.api: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.kills = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        self.temporal.start()
        self.api = start_api(self.env, port=self.api_port, log=self.work / "api.log")
        self.start_worker()

    def start_worker(self) -> None:
        self.worker = start_python(["worker.py"], env=self.env, log=self.work / "worker.log")

    def kill_worker(self) -> None:
        if self.worker is not None:
            signal_and_wait(self.worker, signal.SIGKILL)
            self.kills += 1
        self.start_worker()

    def restart_temporal(self) -> float:
        started = time.monotonic()
        self.temporal.stop()
        self.temporal.start()
        return time.monotonic() - started

    def stop(self) -> None:
        for proc in (self.worker, self.api):
            if proc is not None:
                signal_and_wait(proc, signal.SIGTERM, timeout=20)
        self.temporal.stop()


def _chaos_until_done(
    stack: Stack,
    follow: subprocess.Popen[bytes],
    *,
    kill_every: float,
    restart_at: float,
    log: list[str],
) -> int:
    """Kill the worker every ``kill_every`` s and restart Temporal once, until the CLI exits.

    On this thread: the dev server dies with the thread that launched it (PR_SET_PDEATHSIG).
    """
    started = time.monotonic()
    next_kill = started + kill_every
    restarted = False
    while follow.poll() is None:
        time.sleep(1.0)
        now = time.monotonic()
        if not restarted and now - started >= restart_at:
            took = stack.restart_temporal()
            restarted = True
            log.append(f"{now - started:.0f}s: Temporal restarted ({took:.1f} s down)")
        if now >= next_kill and follow.poll() is None:
            stack.kill_worker()
            next_kill = now + kill_every
            log.append(f"{now - started:.0f}s: worker SIGKILLed and started again")
    return follow.returncode


def _analyse(stack: Stack, lines: list[dict[str, Any]]) -> dict[str, Any]:
    starts: Counter[tuple[str, str]] = Counter()
    ends: Counter[tuple[str, str]] = Counter()
    for line in stack.counts.read_text().splitlines():
        kind, pid, stage, _attempt = line.split()
        (starts if kind == "S" else ends)[(pid, stage)] += 1
    pids = {line["pipeline_id"] for line in lines}
    states = Counter(line["state"] for line in lines)
    by_pipeline: Counter[str] = Counter(pid for pid, _ in ends)
    lost = sum(max(0, STAGES - by_pipeline.get(pid, 0)) for pid in pids)
    return {
        "inputs": len(lines),
        "distinct_pipelines": len(pids),
        "states": dict(states),
        "stage_completions_expected": STAGES * len(pids),
        "stages_completed": len(ends),
        "lost_stage_completions": lost,
        "duplicated_stage_completions": sum(n - 1 for n in ends.values() if n > 1),
        "re_executed_stages": sum(1 for n in starts.values() if n > 1),
        "stage_executions_started": sum(starts.values()),
        "started_never_finished": sum(1 for key in starts if key not in ends),
    }


def _get(url: str, headers: dict[str, str]) -> httpx.Response:
    """GET until it answers 200 (the API fails fast for a few seconds after Temporal was down)."""
    deadline = time.monotonic() + 120
    while True:
        r = httpx.get(url, headers=headers, timeout=600)
        if r.status_code == 200 or time.monotonic() > deadline:
            r.raise_for_status()
            return r
        time.sleep(2)


def run(size: int, *, kill_every: float, restart_at: float, max_running: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="batch-reliability-"))
    stack = Stack(work, max_concurrent_activities=64)
    stack.start()
    try:
        return _run(stack, size, kill_every=kill_every, restart_at=restart_at,
                    max_running=max_running)  # fmt: skip
    finally:
        stack.stop()


def _run(
    stack: Stack, size: int, *, kill_every: float, restart_at: float, max_running: int
) -> dict[str, Any]:
    work = stack.work
    token = mint_token(SECRET, sub="reliability", roles=["admin"], tenants=["*"])
    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.put(
        f"{stack.url}/v1/tenants/{TENANT}/config",
        json={"pipeline_definition": DEFINITION},
        headers=headers,
        timeout=30,
    )
    r.raise_for_status()
    inputs = work / "inputs.jsonl"
    inputs.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(size)))
    cli = Path(sys.executable).parent / "pipeline-engine"
    env = {**os.environ, "PIPELINE_ENGINE_URL": stack.url, "PIPELINE_ENGINE_TOKEN": token}
    events: list[str] = []
    started = time.monotonic()
    with (work / "cli.log").open("wb") as out:
        follow = subprocess.Popen(
            [str(cli), "batch", "submit", str(inputs), "--tenant", TENANT,
             "--max-running", str(max_running), "--idempotency-key", "reliability-run",
             "--follow"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        code = _chaos_until_done(
            stack, follow, kill_every=kill_every, restart_at=restart_at, log=events
        )
    wall = time.monotonic() - started
    batch_id = next(
        w.rstrip(":") for w in (work / "cli.log").read_text().split() if w.startswith("bt-")
    )
    status = _get(f"{stack.url}/v1/batches/{batch_id}", headers).json()
    results = _get(f"{stack.url}/v1/batches/{batch_id}/results", headers).text
    lines = [json.loads(line) for line in results.splitlines() if line.strip()]
    report = {
        "size": size,
        "max_running": max_running,
        "cli_exit_code": code,
        "wall_s": round(wall, 1),
        "pipelines_per_s": round(size / wall, 2),
        "stage_completions_per_s": round(size * STAGES / wall, 1),
        "worker_kills": stack.kills,
        "batch": {k: status.get(k) for k in ("batch_id", "state", "counts")},
        **_analyse(stack, lines),
        "faults": events,
        "work_dir": str(work),
        "cli_tail": (work / "cli.log").read_text()[-600:],
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="Inputs in the batch.")
    parser.add_argument("--kill-every", type=float, default=60.0, help="Seconds between kills.")
    parser.add_argument("--restart-at", type=float, default=90.0, help="Restart Temporal then.")
    parser.add_argument("--max-running", type=int, default=100, help="The batch's max_running.")
    args = parser.parse_args()
    report = run(
        args.size,
        kill_every=args.kill_every,
        restart_at=args.restart_at,
        max_running=args.max_running,
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
