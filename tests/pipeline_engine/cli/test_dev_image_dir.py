"""``pipeline-engine dev`` lets pipeline inputs name image files only in its data dir's
``images`` folder, and says so on screen (a production worker reads none unless configured)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from workflows.dev_server import free_port


def test_dev_says_which_worker_files_it_lets_pipelines_read(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_ENGINE_IMAGE_DIR"}
    cli = Path(sys.executable).parent / "pipeline-engine"
    with socket.socket() as taken:  # Temporal's port is taken: dev stops right after the notice
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [
                str(cli),
                "dev",
                "--temporal-port",
                str(port),
                "--api-port",
                str(free_port()),
                "--ui-port",
                str(free_port()),
                "--data-dir",
                str(tmp_path),
            ],
            env={**env, "COLUMNS": "400"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    screen = " ".join((out.stdout + out.stderr).split())
    images = tmp_path.resolve() / "images"
    assert f"pipeline inputs may name image files in {images}" in screen, screen
    assert "PIPELINE_ENGINE_IMAGE_DIR" in screen
    assert out.returncode != 0  # the port was taken
