"""``pipeline-engine dev`` lets pipeline inputs name image files only in its data dir's
``images`` folder, and says so on screen (a production worker reads none unless configured)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from workflows.dev_server import free_port


def test_dev_says_which_worker_files_it_lets_pipelines_read(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_ENGINE_IMAGE_DIR"}
    cli = Path(sys.executable).parent / "pipeline-engine"
    args = ["--temporal-port", str(free_port()), "--api-port", str(free_port())]
    args += ["--ui-port", str(free_port()), "--data-dir", str(tmp_path)]
    proc = subprocess.Popen(
        [str(cli), "dev", *args],
        env={**env, "COLUMNS": "400"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    images = tmp_path.resolve() / "images"
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 180
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line.strip())
            if "press Ctrl-C" in line:  # serving: Ctrl-C now stops everything it started
                break
    finally:
        proc.send_signal(signal.SIGINT)  # by its pid
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    screen = " ".join(seen)
    assert f"pipeline inputs may name image files in {images}" in screen, screen
    assert "PIPELINE_ENGINE_IMAGE_DIR" in screen
