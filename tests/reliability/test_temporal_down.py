"""Temporal killed (SIGKILL) and restarted on its database file: while it is down every route is a
503 with Retry-After within about a second; once it is back, nothing was lost."""

from __future__ import annotations

import statistics
import time

from tests.reliability.conftest import Stack

SLACK_S = 2.0  # a loaded, shared machine; the target is ~1 s


def _run_to_success(stack: Stack, pid: str) -> None:
    # 202: the worker (busy on a loaded machine) did not apply it within the command timeout
    assert stack.request("POST", f"/v1/pipelines/{pid}/start")[0].status_code in (200, 202)
    deadline = time.monotonic() + 60
    while stack.request("GET", f"/v1/pipelines/{pid}")[0].json()["state"] != "SUCCEEDED":
        assert time.monotonic() < deadline, stack.log_tail()
        time.sleep(0.2)


def test_temporal_down_is_a_fast_503_and_nothing_is_lost(stack: Stack) -> None:
    config = {
        "name": "before-the-crash",
        "definition": {"type": "step", "name": "t_add", "kwargs": {"n": 2}},
    }
    body = {"config": config, "tenant_id": stack.tenant, "input": 1}
    r, _ = stack.request("POST", "/v1/pipelines", json=body)
    pid = r.json()["pipeline_id"]
    _run_to_success(stack, pid)

    stack.temporal.kill()
    r, _ = stack.request("GET", f"/v1/pipelines/{pid}")  # an ended one's status is kept a while
    assert r.status_code in (200, 503), r.text
    routes = [
        ("GET", f"/v1/pipelines/pl-{'0' * 24}", None),
        ("GET", "/v1/pipelines", None),
        ("POST", "/v1/pipelines", {**body, "idempotency_key": "while-down"}),
        ("POST", f"/v1/pipelines/{pid}/cancel", {"reason": "down"}),
        ("GET", f"/v1/pipelines/{pid}/history", None),
    ]
    times = []
    for _ in range(3):
        for method, path, payload in routes:
            r, took = stack.request(method, path, json=payload)
            assert r.status_code == 503, (method, path, r.status_code, r.text)
            assert int(r.headers["retry-after"]) >= 1 and r.json()["error"] == "unavailable"
            times.append(took)
    ready, _ = stack.request("GET", "/readyz")
    assert ready.status_code == 503
    print(
        f"Temporal down: {len(times)} calls, first {times[0]:.2f} s, "
        f"median {statistics.median(times):.3f} s, max {max(times):.2f} s"
    )
    assert max(times) < 1.0 + SLACK_S, times
    assert statistics.median(times) < 0.5, times

    stack.temporal.start()
    started = time.monotonic()
    while True:
        r, _ = stack.request("GET", f"/v1/pipelines/{pid}")
        if r.status_code == 200:
            break
        assert r.status_code == 503 and time.monotonic() - started < 30, r.text
        time.sleep(0.2)
    print(f"Temporal back: the API answered again {time.monotonic() - started:.2f} s after restart")
    assert r.json()["state"] == "SUCCEEDED" and r.json()["result"] == 2
    if stack.worker is not None and stack.worker.poll() is not None:
        stack.start_worker()
    # the read above may come from the API's cache of ended pipelines, so Temporal can still be
    # starting: a create answers the documented 503 until it is up, as a client's retry would see
    started = time.monotonic()
    while True:
        r, _ = stack.request("POST", "/v1/pipelines", json={**body, "idempotency_key": "after"})
        if r.status_code != 503 or time.monotonic() - started > 30:
            break
        time.sleep(0.2)
    assert r.status_code == 201, r.text
    after = r.json()["pipeline_id"]
    _run_to_success(stack, after)
