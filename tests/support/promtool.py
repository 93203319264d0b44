"""``promtool check metrics`` (Debian's ``prometheus`` package; ``make test`` installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

__all__ = [
    "assert_documented",
    "assert_promtool_accepts",
    "documented_metrics",
    "metric_value",
    "promtool",
]

OPERATIONS_MD = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def promtool() -> str:
    """The ``promtool`` command (``make test`` installs it: scripts/system_packages.sh)."""
    found = shutil.which("promtool")
    assert found is not None, "promtool is missing: apt-get install prometheus (make test does)"
    return found


def assert_promtool_accepts(page: str) -> None:
    """Fail unless ``promtool check metrics`` finds nothing to say about the metrics page."""
    done = subprocess.run(
        [promtool(), "check", "metrics"],
        input=page,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def assert_documented(page: str, *, prefixes: tuple[str, ...]) -> None:
    """Every metric family on the page whose name starts with one of ``prefixes`` is in the
    metrics tables of ``docs/operations.md``."""
    families = set(re.findall(r"^# TYPE (\S+) ", page, flags=re.MULTILINE))
    ours = {name for name in families if name.startswith(prefixes)}
    assert ours, f"no {prefixes} metrics on the page"
    documented = documented_metrics()
    assert ours <= documented, sorted(ours - documented)


def documented_metrics() -> set[str]:
    """The metric names in the first cells of the tables of ``docs/operations.md``."""
    text = OPERATIONS_MD.read_text()
    first_cells = re.findall(r"^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \|", text, flags=re.MULTILINE)
    return {name for cell in first_cells for name in re.findall(r"`([a-z_]+)`", cell)}


def metric_value(page: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` on a Prometheus page whose labels include ``labels``
    (0 when there is none): read before and after, so a test sees a counter move."""
    total = 0.0
    for match in re.finditer(
        rf"^{re.escape(name)}(?:\{{(?P<labels>[^}}]*)\}})? (?P<value>\S+)$", page, re.MULTILINE
    ):
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group("labels") or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group("value"))
    return total
