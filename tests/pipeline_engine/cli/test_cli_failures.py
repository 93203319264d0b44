"""Every way a command commonly fails ends in one actionable line and the documented exit code.

The commands run as the real console script (a subprocess), so what is asserted is exactly what a
user sees on the terminal; ``--debug`` (or ``PIPELINE_ENGINE_DEBUG``) adds the traceback.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.auth import mint_token
from tests.support.live_stack import LiveStack
from tests.support.processes import WORKER_ID_SECRET
from workflows.dev_server import free_port

ROOT = Path(__file__).parents[3]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline_engine.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        # a production worker refuses the dev id key: these workers get one of their own
        env={**os.environ, "PIPELINE_ENGINE_ID_SECRET": WORKER_ID_SECRET, **(env or {})},
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line on stderr (and no traceback anywhere)."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def not_the_api() -> Iterator[str]:
    """An HTTP server that is not the Pipeline Engine API (a static file server)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_worker_with_temporal_down_exits_6() -> None:
    address = f"127.0.0.1:{free_port()}"
    done = cli("worker", env={"PIPELINE_ENGINE_TEMPORAL_ADDRESS": address})
    assert done.returncode == 6
    line = one_line(done)
    assert f"cannot reach Temporal at {address}" in line
    assert "PIPELINE_ENGINE_TEMPORAL_ADDRESS" in line


def test_worker_with_a_step_module_that_does_not_import_exits_2() -> None:
    done = cli("worker", env={"PIPELINE_ENGINE_STEP_MODULES": "tests.support.steps,no_such_steps"})
    assert done.returncode == 2
    line = one_line(done)
    assert "step module 'no_such_steps'" in line and "No module named 'no_such_steps'" in line


def test_the_cli_pointed_at_a_non_api_url_exits_6(not_the_api: str) -> None:
    done = cli("status", "pl-0123", "--url", not_the_api, "--token", "x")
    assert done.returncode == 6
    assert "is not an answer of the Pipeline Engine API" in one_line(done)


def test_the_cli_pointed_at_nothing_exits_6() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = cli("status", "pl-0123", "--url", url, "--token", "x")
    assert done.returncode == 6
    assert f"cannot reach the Pipeline Engine API at {url}" in one_line(done)


def test_forged_and_malformed_tokens_exit_4(live_stack: LiveStack) -> None:
    forged = mint_token("another-secret-" + "z" * 40, sub="eve", roles=["admin"], tenants=["*"])
    done = cli("status", "pl-0123", "--url", live_stack.base_url, "--token", forged)
    assert done.returncode == 4
    assert "signature does not verify" in one_line(done)
    assert "PIPELINE_ENGINE_TOKEN" in one_line(done)
    for garbled in ("t_8.e30.x", "not-a-jwt"):  # the first's header is not UTF-8
        done = cli("status", "pl-0123", "--url", live_stack.base_url, "--token", garbled)
        assert done.returncode == 4
        assert "not a well-formed JWT" in one_line(done)
    pasted = cli("status", "pl-0123", "--url", live_stack.base_url, "--token", "eyJ\xb7.x.y")
    assert pasted.returncode == 4
    assert "the bearer token has characters no token has" in one_line(pasted)


def test_debug_shows_the_traceback() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for done in (
        cli("--debug", "status", "pl-0123", "--url", url, "--token", "x"),
        cli("status", "pl-0123", "--url", url, "--token", "x", env={"PIPELINE_ENGINE_DEBUG": "1"}),
    ):
        assert done.returncode == 6
        assert "Traceback (most recent call last)" in done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith("error: cannot reach")


def test_bad_json_argument_exits_2() -> None:
    config = ROOT / "pipeline_engine" / "examples" / "cultivos-abc.json"
    done = cli(
        "run", str(config), "--input", "{nope", "--url", "http://127.0.0.1:9", "--token", "x"
    )
    assert done.returncode == 2
    assert "--input is not valid JSON" in one_line(done)
