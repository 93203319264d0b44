"""``pipeline-engine dev`` (``make run``): ports checked before anything starts, a clean Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from pipeline_engine.cli import app
from pipeline_engine.cli._stack import data_dir_lock
from workflows.dev_server import free_port

ROOT = Path(__file__).parents[3]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


def dev_args(data_dir: Path, **ports: int) -> list[str]:
    chosen = {"api": free_port(), "temporal": free_port(), "ui": free_port(), **ports}
    return [
        "dev",
        "--api-port",
        str(chosen["api"]),
        "--temporal-port",
        str(chosen["temporal"]),
        "--ui-port",
        str(chosen["ui"]),
        "--data-dir",
        str(data_dir),
    ]


@pytest.mark.parametrize(
    ("which", "flag", "variable"),
    [
        ("api", "--api-port", "API_PORT"),
        ("temporal", "--temporal-port", "TEMPORAL_PORT"),
        ("ui", "--ui-port", "UI_PORT"),
    ],
)
def test_a_busy_port_fails_in_one_line_before_anything_starts(
    busy_port: int, tmp_path: Path, which: str, flag: str, variable: str
) -> None:
    result = CliRunner().invoke(app, dev_args(tmp_path, **{which: busy_port}))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    # the port's holder (this test process) is named with its pid
    begin = f"error: port {busy_port} ({_WHAT[which]}) is already in use on 127.0.0.1 by pid "
    begin += f"{os.getpid()} ("
    end = f"): stop it (kill {os.getpid()}) or set {flag} to a free port "
    end += f"(make run {variable}=<free port>)"
    assert lines[0].startswith(begin) and lines[0].endswith(end), lines[0]
    assert not (tmp_path / "temporal.db").exists() and not (tmp_path / "temporal.log").exists()


_WHAT = {"api": "API", "temporal": "Temporal frontend", "ui": "Temporal Web UI"}


def test_the_same_port_twice_is_refused(tmp_path: Path) -> None:
    port = free_port()
    result = CliRunner().invoke(app, dev_args(tmp_path, api=port, ui=port))
    assert result.exit_code == 2
    assert f"--api-port and --ui-port are both {port}" in result.output


def test_a_data_dir_in_use_by_another_stack_is_refused(tmp_path: Path) -> None:
    with data_dir_lock(tmp_path):
        result = CliRunner().invoke(app, dev_args(tmp_path))
    assert result.exit_code == 2
    assert f"{tmp_path} is used by another pipeline-engine dev (pid {os.getpid()})" in result.output
    assert "--data-dir" in result.output


def test_make_run_on_chosen_ports_beside_another_stack_and_a_clean_ctrl_c(tmp_path: Path) -> None:
    """The test session's own servers run meanwhile: this stack only uses the ports it is given."""
    api_port, temporal_port, ui_port = free_port(), free_port(), free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            "make",
            "--no-print-directory",
            "run",
            f"API_PORT={api_port}",
            f"TEMPORAL_PORT={temporal_port}",
            f"UI_PORT={ui_port}",
            f"DATA_DIR={tmp_path}",
            f"VENV={Path(sys.executable).parent.parent}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # Ctrl-C reaches the whole group, as in a terminal
    )
    out: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 180
        for line in proc.stdout:
            out.append(line)
            if "press Ctrl-C to stop" in line or time.monotonic() > deadline:
                break
        text = "".join(out)
        assert "pipeline ended SUCCEEDED" in text, text
        assert f"export PIPELINE_ENGINE_URL=http://127.0.0.1:{api_port}" in text
        assert f"export TEMPORAL_ADDRESS=127.0.0.1:{temporal_port}" in text
        assert f"Temporal: {tmp_path / 'temporal.log'}" in text
        assert httpx.get(f"http://127.0.0.1:{api_port}/healthz").status_code == 200
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # make passes Ctrl-C on by ending with SIGINT itself (as shells expect); the stack exits 0
    assert proc.returncode in (0, -signal.SIGINT), rest
    assert "Traceback" not in text
    assert rest.strip() == "stopping …", rest  # nothing else after Ctrl-C: no warning, no trace
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{api_port}/healthz")
