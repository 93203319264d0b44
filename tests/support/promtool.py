"""``promtool check metrics`` (Debian's ``prometheus`` package; ``.ci/run`` installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["assert_documented", "assert_promtool_accepts"]

OPERATIONS_MD = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def assert_promtool_accepts(page: str) -> None:
    """Fail unless ``promtool check metrics`` finds nothing to say about the metrics page."""
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing: apt-get install prometheus (see .ci/run)"
    done = subprocess.run(
        [promtool, "check", "metrics"],
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
    text = OPERATIONS_MD.read_text()
    first_cells = re.findall(r"^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \|", text, flags=re.MULTILINE)
    documented = {name for cell in first_cells for name in re.findall(r"`([a-z_]+)`", cell)}
    assert ours <= documented, sorted(ours - documented)
