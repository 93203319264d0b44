"""Reliability of a batch under faults: ``pipeline-engine batch submit … --follow`` while the worker
is SIGKILLed every ``--kill-every`` seconds and the Temporal server is restarted once.

Starts its own stack in a temporary directory, each part a separate process stopped by its pid:
a Temporal dev server (SQLite file, so a restart keeps its state), the API (``pipeline-engine
api``) and a worker with :mod:`bench.reliability_steps` loaded (``pipeline-engine worker`` through
:mod:`bench.standby_worker`: the next worker is always started and imported ahead, and polls from
the moment the killed one is dead). The tenant
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
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.auth import mint_token
from tests.support.processes import ROOT, signal_and_wait, start_api, start_python
from workflows.dev_server import TemporalDevServer, free_port

SECRET = secrets.token_urlsafe(48)  # production settings refuse a predictable one
TENANT = "reliability"
HEARTBEAT_TIMEOUT_S = 10
"""How long a step of a killed worker waits before Temporal runs it again (the DSL's default is
60 s: with a kill every 60 s, most of the run would be spent waiting it out)."""
STAGE = {"type": "step", "name": "rel_count", "heartbeat_timeout_s": HEARTBEAT_TIMEOUT_S}
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
        self.standby: tuple[subprocess.Popen[bytes], Path] | None = None
        self.kills = 0
        self._gates = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        self.temporal.start()
        # start-up takes minutes on a loaded machine
        self.api = start_api(self.env, port=self.api_port, log=self.work / "api.log", wait_s=300)
        self.start_worker()

    def _spawn_standby(self) -> None:
        """A worker process that imports everything now and polls once its gate opens."""
        self._gates += 1
        gate = self.work / f"gate-{self._gates}"
        proc = start_python(
            ["-m", "bench.standby_worker", str(gate)], env=self.env, log=self.work / "worker.log"
        )
        self.standby = (proc, gate)

    def start_worker(self) -> None:
        """The standby worker takes over (polls from now), and a new standby gets ready."""
        if self.standby is None:
            self._spawn_standby()
        assert self.standby is not None
        self.worker, gate = self.standby
        gate.touch()
        self._spawn_standby()

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
        standby = self.standby[0] if self.standby is not None else None
        for proc in (standby, self.worker, self.api):
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
    stop_after: float | None = None,
) -> int | None:
    """Kill the worker every ``kill_every`` s and restart Temporal once, until the CLI exits.

    With ``stop_after``, the CLI still following then is stopped (SIGTERM, by its pid) and
    ``None`` returned: the batch is measured as far as it got. On this thread: the dev server
    dies with the thread that launched it (PR_SET_PDEATHSIG).
    """
    started = time.monotonic()
    next_kill = started + kill_every
    restarted = False
    while follow.poll() is None:
        time.sleep(1.0)
        now = time.monotonic()
        if stop_after is not None and now - started >= stop_after:
            log.append(f"{now - started:.0f}s: stopped before the end (--stop-after)")
            signal_and_wait(follow, signal.SIGTERM, timeout=20)
            return None
        if not restarted and now - started >= restart_at:
            took = stack.restart_temporal()
            restarted = True
            log.append(f"{now - started:.0f}s: Temporal restarted ({took:.1f} s down)")
            _note(stack, log[-1])
        if now >= next_kill and follow.poll() is None:
            stack.kill_worker()
            next_kill = now + kill_every
            log.append(f"{now - started:.0f}s: worker SIGKILLed and started again")
            _note(stack, log[-1])
    return follow.returncode


def _note(stack: Stack, line: str) -> None:
    """One line of progress in ``<work>/faults.log`` (a long run is followed from there)."""
    with (stack.work / "faults.log").open("a") as out:
        out.write(f"{time.strftime('%H:%M:%S')} {line}\n")


def _analyse(stack: Stack, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Executions from the steps' own records, completions from the pipelines' results."""
    starts: Counter[tuple[str, str]] = Counter()
    ends: Counter[tuple[str, str]] = Counter()
    finished_tokens: set[tuple[str, str, str]] = set()
    for record in stack.counts.read_text().splitlines():
        kind, pid, stage, _attempt, token = record.split()
        (starts if kind == "S" else ends)[(pid, stage)] += 1
        if kind == "D":
            finished_tokens.add((pid, stage, token))
    pids = {line["pipeline_id"] for line in lines}
    succeeded = {line["pipeline_id"] for line in lines if line["state"] == "SUCCEEDED"}
    states = Counter(line["state"] for line in lines)
    # completions as the pipeline counted them: the [stage, token] pairs its final result carries
    completions: Counter[tuple[str, str]] = Counter()
    unknown_tokens = 0
    for line in lines:
        result = line.get("result")
        if not isinstance(result, dict):
            continue
        for stage, token in result.get("completions") or []:
            completions[(line["pipeline_id"], stage)] += 1
            unknown_tokens += (line["pipeline_id"], stage, token) not in finished_tokens
    per_pipeline: Counter[str] = Counter(pid for pid, _ in completions)
    return {
        "inputs": len(lines),
        "distinct_pipelines": len(pids),
        "indexes_in_order": [line["index"] for line in lines] == list(range(len(lines))),
        "states": dict(states),
        "stage_completions_expected": STAGES * len(succeeded),
        # completions: counted from the pipelines' results (one [stage, token] pair per stage)
        "stage_completions_in_results": sum(completions.values()),
        "lost_stage_completions": sum(max(0, STAGES - per_pipeline.get(p, 0)) for p in succeeded),
        "duplicated_stage_completions": sum(n - 1 for n in completions.values() if n > 1),
        "completions_of_no_recorded_execution": unknown_tokens,
        # executions: counted by the steps themselves (a start and an end record each)
        "stage_executions_started": sum(starts.values()),
        "stage_executions_finished": sum(ends.values()),
        "stages_executed_more_than_once": sum(1 for n in ends.values() if n > 1),
        "extra_executions": sum(n - 1 for n in ends.values() if n > 1),
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


@dataclass(frozen=True)
class Plan:
    """What one run does: the batch's size and ``max_running``, the faults, when to give up."""

    size: int
    max_running: int = 100
    kill_every: float = 60.0
    restart_at: float = 90.0
    stop_after: float | None = None
    max_concurrent_activities: int = 64


def run(plan: Plan) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="batch-reliability-"))
    print(f"work directory: {work} (faults.log, cli.log, report.json)", flush=True)
    stack = Stack(work, max_concurrent_activities=plan.max_concurrent_activities)
    stack.start()
    try:
        report = _run(stack, plan)
    finally:
        stack.stop()
    (work / "report.json").write_text(json.dumps(report, indent=2))
    return report


def _run(stack: Stack, plan: Plan) -> dict[str, Any]:
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
    inputs.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(plan.size)))
    cli = Path(sys.executable).parent / "pipeline-engine"
    env = {**os.environ, "PIPELINE_ENGINE_URL": stack.url, "PIPELINE_ENGINE_TOKEN": token}
    events: list[str] = []
    started = time.monotonic()
    _note(stack, f"submitting {plan.size} inputs")
    with (work / "cli.log").open("wb") as out:
        follow = subprocess.Popen(
            [str(cli), "batch", "submit", str(inputs), "--tenant", TENANT,
             "--max-running", str(plan.max_running), "--idempotency-key", "reliability-run",
             "--follow"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        code = _chaos_until_done(
            stack, follow, kill_every=plan.kill_every, restart_at=plan.restart_at, log=events,
            stop_after=plan.stop_after,
        )  # fmt: skip
    wall = time.monotonic() - started
    _note(stack, f"CLI exited ({code}) after {wall:.0f} s; reading the results")
    batch_id = next(
        w.rstrip(":") for w in (work / "cli.log").read_text().split() if w.startswith("bt-")
    )
    status = _get(f"{stack.url}/v1/batches/{batch_id}", headers).json()
    read = time.monotonic()
    results = _get(f"{stack.url}/v1/batches/{batch_id}/results", headers).text
    read = time.monotonic() - read
    lines = [json.loads(line) for line in results.splitlines() if line.strip()]
    ended = sum(1 for line in lines if line["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"))
    return {
        "size": plan.size,
        "max_running": plan.max_running,
        "cli_exit_code": code,
        "wall_s": round(wall, 1),
        "pipelines_ended": ended,
        "pipelines_per_s": round(ended / wall, 2),
        "stage_completions_per_s": round(ended * STAGES / wall, 1),
        "results_read_s": round(read, 1),
        "worker_kills": stack.kills,
        "batch": {k: status.get(k) for k in ("batch_id", "state", "counts")},
        **_analyse(stack, lines),
        "faults": events,
        "work_dir": str(work),
        "cli_tail": (work / "cli.log").read_text()[-600:],
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="Inputs in the batch.")
    parser.add_argument("--kill-every", type=float, default=60.0, help="Seconds between kills.")
    parser.add_argument("--restart-at", type=float, default=90.0, help="Restart Temporal then.")
    parser.add_argument("--max-running", type=int, default=100, help="The batch's max_running.")
    parser.add_argument(
        "--max-concurrent-activities", type=int, default=64, help="The worker's activity slots."
    )
    parser.add_argument(
        "--stop-after", type=float, default=None,
        help="Stop following after this many seconds and measure the batch as far as it got.",
    )  # fmt: skip
    args = parser.parse_args()
    plan = Plan(
        size=args.size,
        max_running=args.max_running,
        kill_every=args.kill_every,
        restart_at=args.restart_at,
        stop_after=args.stop_after,
        max_concurrent_activities=args.max_concurrent_activities,
    )
    print(json.dumps(run(plan), indent=2))


if __name__ == "__main__":
    main()
