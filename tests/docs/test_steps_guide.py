"""docs/steps.md, followed from a fresh directory: a ``mysteps.py`` beside you (no PYTHONPATH),
``pipeline-engine dev --steps mysteps``, and the step running in a pipeline; without the module,
the refusal says how steps are loaded (issue 24, finding 4)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from workflows.dev_server import free_port

ROOT = Path(__file__).parents[2]
GUIDE = (ROOT / "docs/steps.md").read_text()
BIN = Path(sys.executable).parent


def _block(kind: str, after: str) -> str:
    found = re.search(rf"```{kind}\n(.*?)```", GUIDE[GUIDE.index(after) :], re.DOTALL)
    assert found, (kind, after)
    return found.group(1)


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PIPELINE_ENGINE_STEP_MODULES")
    }
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def _cli(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "pipeline-engine"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def test_the_guide_from_a_fresh_directory_to_your_step_in_a_pipeline(tmp_path: Path) -> None:
    project = tmp_path / "myproject"
    project.mkdir()
    (project / "mysteps.py").write_text(_block("python", "## 1. Write a step module"))
    (project / "greet.json").write_text(_block("json", "## 3. Run it in a pipeline"))

    offline = _cli(project, "validate", "greet.json", "--step-modules", "mysteps", env=_env())
    assert offline.returncode == 0, offline.stderr
    refused = _cli(project, "validate", "greet.json", env=_env())
    assert refused.returncode == 2
    assert (
        "unknown steps: greet (steps are loaded when the API and the worker start" in refused.stderr
    )
    assert "PIPELINE_ENGINE_STEP_MODULES or --steps" in refused.stderr

    ports = {"--api-port": free_port(), "--temporal-port": free_port(), "--ui-port": free_port()}
    args = [f"{flag}={port}" for flag, port in ports.items()]
    proc = subprocess.Popen(
        [str(BIN / "pipeline-engine"), "dev", "--steps", "mysteps", *args, "--data-dir", ".data"],
        cwd=project, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    out: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 180
        for line in proc.stdout:
            out.append(line)
            if "press Ctrl-C to stop" in line or time.monotonic() > deadline:
                break
        text = "".join(out)
        exports = dict(re.findall(r"^export (PIPELINE_ENGINE_\w+)=(\S+)$", text, re.MULTILINE))
        assert set(exports) == {"PIPELINE_ENGINE_URL", "PIPELINE_ENGINE_TOKEN"}, text
        env = _env(**exports)
        url, auth = exports["PIPELINE_ENGINE_URL"], exports["PIPELINE_ENGINE_TOKEN"]
        steps = httpx.get(f"{url}/v1/steps", headers={"Authorization": f"Bearer {auth}"})
        assert '"greet"' in steps.text, steps.text
        stored = httpx.put(
            f"{url}/v1/tenants/acme/config",
            json={"pipeline_definition": {"type": "step", "name": "greet"}, "settings": {}},
            headers={"Authorization": f"Bearer {auth}"},
        )
        assert stored.status_code in (200, 201), stored.text
        ran = _cli(
            project, "run", "greet.json", "--tenant", "acme", "--input", '{"name": "Ana"}',
            "--follow", env=env,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "state: SUCCEEDED" in ran.stdout
        assert '"message": "hola, Ana"' in ran.stdout, ran.stdout
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
