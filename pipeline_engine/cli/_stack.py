"""What the commands that run the stack share: step modules, Temporal, ports, the data dir.

Each turns the usual ways of failing into a :class:`CliFailure` that names the cause and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pipeline_engine.cli._failures import EXIT_INVALID, EXIT_UNAVAILABLE, CliFailure

if TYPE_CHECKING:
    from temporalio.client import Client

    from pipeline_engine.settings import Settings

__all__ = [
    "Port",
    "StepsOption",
    "check_ports",
    "connect_temporal",
    "data_dir_lock",
    "exit_without_finalizing",
    "listener_of",
    "load_steps",
    "with_steps",
]

_temporal_used = False

StepsOption: Any = typer.Option(
    None,
    "--steps",
    help="Your step modules (comma-separated import paths, added to "
    "PIPELINE_ENGINE_STEP_MODULES); a mysteps.py in the current directory is --steps mysteps.",
)


def with_steps(settings: Settings, steps: str | None) -> Settings:
    """``settings`` with the ``--steps`` modules added to ``step_modules``."""
    if not steps:
        return settings
    modules = ",".join(m for m in (settings.step_modules, steps) if m)
    os.environ["PIPELINE_ENGINE_STEP_MODULES"] = modules  # for the API's worker processes too
    return settings.model_copy(update={"step_modules": modules})


def load_steps(modules: str | None) -> list[str]:
    """Import step modules (comma-separated); one that does not import is a one-line failure."""
    from pipeline_engine.steps import load_step_modules

    loaded: list[str] = []
    for name in (modules or "").split(","):
        name = name.strip()
        if not name:
            continue
        try:
            loaded += load_step_modules(name)
        except Exception as exc:
            raise CliFailure(
                f"step module {name!r} (PIPELINE_ENGINE_STEP_MODULES or --step-modules) does not "
                f"import: {type(exc).__name__}: {exc}",
                exit_code=EXIT_INVALID,
            ) from exc
    return loaded


_REASON = re.compile(r'message: "([^"]+)"')


async def connect_temporal(address: str, namespace: str, **options: Any) -> Client:
    """:func:`workflows.worker_factory.connect`, failing in one line when Temporal is not there."""
    from workflows.worker_factory import connect

    global _temporal_used
    _temporal_used = True
    try:
        return await connect(address, namespace, **options)
    except RuntimeError as exc:
        found = _REASON.search(str(exc))
        reason = found.group(1) if found else str(exc).split(":", 1)[-1].strip()[:200]
        raise CliFailure(
            f"cannot reach Temporal at {address} ({reason}): start it (pipeline-engine dev "
            "starts one) or set PIPELINE_ENGINE_TEMPORAL_ADDRESS",
            exit_code=EXIT_UNAVAILABLE,
        ) from exc


@dataclass(frozen=True)
class Port:
    """A port the stack will bind, and how the user changes it."""

    number: int
    what: str
    flag: str
    make_variable: str | None = None
    host: str = "127.0.0.1"


def _in_use(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def check_ports(ports: list[Port]) -> None:
    """Fail before anything starts when a port is taken (or named twice)."""
    seen: dict[int, Port] = {}
    for port in ports:
        if port.number in seen:
            raise CliFailure(
                f"{port.flag} and {seen[port.number].flag} are both {port.number}: "
                "give each its own port",
                exit_code=EXIT_INVALID,
            )
        seen[port.number] = port
        if _in_use(port.host, port.number):
            make = f" (make run {port.make_variable}=<free port>)" if port.make_variable else ""
            owner = listener_of(port.number)
            by = stop = ""
            if owner is not None:
                by = f" by pid {owner[0]} ({owner[1]})"
                stop = f"stop it (kill {owner[0]}) or "
            raise CliFailure(
                f"port {port.number} ({port.what}) is already in use on {port.host}{by}: "
                f"{stop}set {port.flag} to a free port{make}",
                exit_code=EXIT_INVALID,
            )


def listener_of(port: int) -> tuple[int, str] | None:
    """The pid and command line of the process listening on TCP ``port`` (Linux ``/proc``);
    ``None`` when it cannot be told (another OS, or another user's process)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                # local address "0100007F:1C91", state 0A = LISTEN, inode in column 10
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    raw = (proc / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
                    words = [Path(raw[0].decode(errors="replace")).name]
                    words += [w.decode(errors="replace") for w in raw[1:4]]
                    return int(proc.name), " ".join(" ".join(words).split())[:100]
    return None


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold ``data_dir`` for this process: two dev stacks must not share their SQLite files."""
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "dev.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            raise CliFailure(
                f"{data_dir} is used by another pipeline-engine dev (pid {owner}): stop it, or "
                "pass --data-dir <dir> (make run DATA_DIR=<dir>)",
                exit_code=EXIT_INVALID,
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def exit_without_finalizing(code: int | str | None) -> None:
    """End the process now when this command used Temporal's client.

    The Temporal SDK's native runtime threads can outlive the interpreter's finalization and
    abort the process (``Fatal Python error: PyGILState_Release``, temporalio/sdk-python#300),
    turning a clean exit into SIGABRT. Exit handlers and logging are flushed first.
    """
    if not _temporal_used:
        return
    import atexit
    import logging
    import sys

    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if isinstance(code, str):
        code = 1
    os._exit(code or 0)
