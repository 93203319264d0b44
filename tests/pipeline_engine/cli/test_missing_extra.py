"""``pip install pipeline-engine`` without extras: the client commands work; the server commands
say in one line which extra to install (README, "Install")."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.core_venv import ROOT, core_only_venv
from tests.support.processes import WORKER_ID_SECRET
from workflows.dev_server import free_port


@pytest.fixture(scope="module")
def core_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return core_only_venv(tmp_path_factory.mktemp("core-venv") / "venv")


def run(
    python: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pipeline_engine.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_the_venv_really_lacks_the_server_extra(core_python: Path) -> None:
    probe = subprocess.run(
        [str(core_python), "-c", "import fastapi"], capture_output=True, text=True, check=False
    )
    assert "No module named 'fastapi'" in probe.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["dev", "--api-port", "1"],
        ["api"],
        ["token", "--sub", "ci", "--role", "admin", "--tenant", "acme"],
    ],
)
def test_server_commands_name_the_extra(core_python: Path, args: list[str]) -> None:
    done = run(core_python, *args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: `pipeline-engine {args[0]}` needs the server extra")
    assert lines[0].endswith("pip install 'pipeline-engine[server]'")


def test_client_and_worker_commands_work_without_it(core_python: Path) -> None:
    assert run(core_python, "--version").returncode == 0
    assert run(core_python, "steps").returncode == 0
    unreachable = run(core_python, "status", "pl-1", "--url", f"http://127.0.0.1:{free_port()}")
    assert (
        unreachable.returncode == 6 and "cannot reach the Pipeline Engine API" in unreachable.stderr
    )
    worker = run(
        core_python,
        "worker",
        env={
            "PIPELINE_ENGINE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "PIPELINE_ENGINE_ID_SECRET": WORKER_ID_SECRET,  # a production worker's own id key
        },
    )
    assert worker.returncode == 6, worker.stderr
    assert "cannot reach Temporal" in worker.stderr
