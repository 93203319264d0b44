"""CPU seconds and peak memory of a process and its descendants, read from Linux's ``/proc``.

Benchmarks measure the worker, the API, the Temporal server and the other side's processes apart,
without a dependency: ``/proc/<pid>/stat`` gives user and system time in clock ticks,
``/proc/<pid>/status`` the peak resident set (``VmHWM``), which writing ``5`` to
``/proc/<pid>/clear_refs`` resets (so each row of a benchmark reports its own peak).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields after "(comm)", from the state on


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


class ProcessTree:
    """A process and whatever it has started since (a prefork pool, uvicorn's workers)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def pids(self) -> list[int]:
        tree, out, todo = _children(), [], [self.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(tree.get(pid, []))
        return out

    def cpu_s(self) -> float:
        """User + system CPU seconds of every live process in the tree (and reaped children)."""
        total = 0
        for pid in self.pids():
            if (fields := _stat(pid)) is not None:
                # utime, stime, cutime, cstime are fields 14-17 of stat; 11-14 after the state
                total += sum(int(x) for x in fields[11:15])
        return total / TICKS

    def reset_peak(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(OSError):  # it ended meanwhile
                (PROC / str(pid) / "clear_refs").write_text("5")

    def peak_rss_mib(self) -> float:
        """The largest peak resident set of one process in the tree since the last reset."""
        peak = 0
        for pid in self.pids():
            try:
                lines = (PROC / str(pid) / "status").read_text().splitlines()
            except OSError:
                continue
            for line in lines:
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        return peak / 1024
