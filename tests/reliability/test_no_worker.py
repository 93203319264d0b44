"""No worker running (all crashed, or a deploy in between): every route still answers in bounded
time. Status reads answer from what Temporal recorded; a cancel is recorded durably and applied
when a worker is back; other commands are a clear 503; nothing is a 500 or a hang."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pipeline_engine import PipelineClient
from tests.reliability.conftest import Stack
from tests.support.steps import calls_of

QUERY_S, COMMAND_S = 2.0, 3.0  # the stack's PIPELINE_ENGINE_STATUS_QUERY/COMMAND_TIMEOUT_S
SLACK_S = 8.0  # a loaded, shared machine (a hang would be the client's 60 s timeout)


def _config(name: str, seconds: float) -> dict[str, object]:
    step = {
        "type": "step",
        "name": "t_work",
        "kwargs": {"seconds": seconds},
        "heartbeat_timeout_s": 2,  # a killed worker's step is given up on quickly
    }
    return {"name": name, "definition": {"type": "chain", "steps": [step]}}


def _store_tenant_config(stack: Stack, config: dict[str, object]) -> None:
    put = {"pipeline_definition": config["definition"]}
    r, _ = stack.request("PUT", f"/v1/tenants/{stack.tenant}/config", json=put)
    assert r.status_code == 200, r.text


def _wait(stack: Stack, pid: str, state: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        body = stack.request("GET", f"/v1/pipelines/{pid}")[0].json()
        if body.get("state") == state or time.monotonic() > deadline:
            return dict(body)
        time.sleep(0.2)


def test_every_route_answers_in_bounded_time_with_no_worker(stack: Stack) -> None:
    busy = _config("busy", 60)
    put = {"pipeline_definition": busy["definition"]}
    assert (
        stack.request("PUT", f"/v1/tenants/{stack.tenant}/config", json=put)[0].status_code == 200
    )
    r, _ = stack.request("POST", "/v1/process", json={"tenant_id": stack.tenant, "input": 0})
    assert r.status_code == 201, r.text
    pid = r.json()["pipeline_id"]
    deadline = time.monotonic() + 60
    while not calls_of(stack.calls_dir, pid):
        assert time.monotonic() < deadline, stack.log_tail()
        time.sleep(0.1)
    r, _ = stack.request(
        "POST", "/v1/pipelines", json={"config": _config("idle", 1), "tenant_id": stack.tenant}
    )
    pending = r.json()["pipeline_id"]
    stack.kill_worker()

    # status: what Temporal recorded, in bounded time, saying so
    r, took = stack.request("GET", f"/v1/pipelines/{pid}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert took < QUERY_S + SLACK_S, took
    assert body["state"] == "RUNNING" and body["note"], body
    # RUNNING, or PENDING again once its heartbeat timeout (2 s) let Temporal schedule a retry
    assert [s["stage_id"] for s in body["stages"]] == ["t_work"], body["stages"]
    r, again = stack.request("GET", f"/v1/pipelines/{pid}")
    assert r.status_code == 200 and again < QUERY_S, again  # no second wait for the worker
    stack.timings["status, no worker (first, then next)"] = [took, again]

    # the events need the workflow: a clear 503, in bounded time
    r, took = stack.request("GET", f"/v1/pipelines/{pid}/history")
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, r.text
    assert "no worker" in r.json()["message"] and took < QUERY_S + SLACK_S

    # /v1/process says what the list says
    definition = _config("x", 0.1)["definition"]
    put = {"pipeline_definition": definition}
    assert (
        stack.request("PUT", f"/v1/tenants/{stack.tenant}/config", json=put)[0].status_code == 200
    )
    r, _ = stack.request("POST", "/v1/process", json={"tenant_id": stack.tenant, "input": 1})
    assert r.status_code == 201, r.text
    processed = r.json()
    listed = stack.request("GET", "/v1/pipelines", params={"tenant_id": stack.tenant})[0].json()
    states = {i["pipeline_id"]: i["state"] for i in listed["items"]}
    assert states[processed["pipeline_id"]] == processed["state"] == "RUNNING"

    # start and cancel: recorded durably (202 with the current state), applied when a worker is
    # back; retry_stage and submit_input: a clear 503 after the command timeout, not a hang
    r, took = stack.request("POST", f"/v1/pipelines/{pending}/start")
    assert r.status_code == 202 and r.json()["state"] == "PENDING", r.text
    assert took < COMMAND_S + SLACK_S, took
    stack.timings["start, no worker"] = [took]
    r, took = stack.request("POST", f"/v1/pipelines/{pid}/input", json={"payload": {}})
    assert r.status_code == 503 and r.headers["retry-after"], r.text
    assert took < COMMAND_S + SLACK_S, took
    stack.timings["submit_input, no worker"] = [took]

    r, took = stack.request("POST", f"/v1/pipelines/{pid}/cancel", json={"reason": "no worker"})
    assert r.status_code == 202 and r.json()["state"] == "RUNNING", r.text
    assert took < COMMAND_S + SLACK_S, took
    stack.timings["cancel, no worker"] = [took]

    # the SDK and the CLI are bounded the same way
    token = stack.headers["Authorization"].split()[1]
    started = time.monotonic()
    with PipelineClient(stack.api_url, token=token) as client:
        assert client.get_pipeline(pid).note
    assert time.monotonic() - started < QUERY_S + SLACK_S
    env = {**os.environ, "PIPELINE_ENGINE_URL": stack.api_url, "PIPELINE_ENGINE_TOKEN": token}
    cli = Path(sys.executable).parent / "pipeline-engine"
    started = time.monotonic()
    out = subprocess.run(
        [str(cli), "status", pid], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "RUNNING" in out.stdout, out.stdout + out.stderr
    assert time.monotonic() - started < QUERY_S + SLACK_S + 10  # + the CLI's own start

    stack.start_worker()
    assert _wait(stack, pid, "CANCELLED")["state"] == "CANCELLED", stack.log_tail()
    assert _wait(stack, processed["pipeline_id"], "SUCCEEDED")["state"] == "SUCCEEDED"
    assert _wait(stack, pending, "SUCCEEDED")["state"] == "SUCCEEDED"
    print("no worker:", stack.timings)
