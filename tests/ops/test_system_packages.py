"""``make test`` on a fresh machine: scripts/system_packages.sh installs Debian's chromium,
chromium-driver and prometheus (promtool) when they are missing, or stops in one line naming them.

The install itself runs for real on a machine without them (``make test`` does it first); here
the other paths are taken with a ``PATH`` that hides some commands, nothing is uninstalled.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "system_packages.sh"
BASICS = ("sh", "id", "tail", "cat")


def path_with(tmp_path: Path, *commands: str) -> str:
    """A PATH of one directory holding only ``commands`` (and a shell's basics)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name in (*BASICS, *commands):
        found = shutil.which(name)
        assert found is not None, f"{name} must be installed for this test"
        (folder / name).symlink_to(found)
    return str(folder)


def run(
    path: str, *args: str, prefix: tuple[str, ...] = (), script: Path = SCRIPT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, "/bin/sh", str(script), *args],
        env={"PATH": path},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_all_present_says_nothing() -> None:
    done = run("/usr/local/bin:/usr/bin:/bin", "--check")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_without_promtool_and_apt_get_it_stops_in_one_line_naming_the_package(
    tmp_path: Path,
) -> None:
    done = run(path_with(tmp_path, "chromium", "chromedriver"))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "make test needs promtool: install them with apt-get install -y prometheus "
        "(no apt-get here: install them with your system's package manager)"
    ]


def test_not_root_it_says_what_to_install_as_root(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is missing")
    # somewhere the unprivileged user can read: the script and the commands it may see
    shared = Path(tempfile.mkdtemp(prefix="system-packages-"))
    try:
        shared.chmod(0o755)
        script = shared / "system_packages.sh"
        shutil.copy(SCRIPT, script)
        path = path_with(shared, "apt-get")
        (shared / "bin").chmod(0o755)
        done = run(
            path,
            prefix=(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"),
            script=script,
        )
    finally:
        shutil.rmtree(shared)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "make test needs chromium chromedriver promtool: install them with apt-get install -y "
        "chromium chromium-driver prometheus (as root: this is not root, so make test does not "
        "do it)"
    ]


def test_make_test_checks_them_before_anything_else() -> None:
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", "test", "VENV=/nonexistent-venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert dry[0] == "sh scripts/system_packages.sh", dry
    assert dry[-1] == "/nonexistent-venv/bin/python -m pytest -q", dry
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test\nmake lint\n" in ci and "apt-get" not in ci.replace("apt-get)", "")
