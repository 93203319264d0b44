"""A fresh virtualenv holding only what ``pip install pipeline-engine`` (no extras, or the extras
given) installs.

Built in a second, offline: the core requirement closure of this checkout's distribution is linked
from the test environment's site-packages into a new ``venv --without-pip``, and the checkout is
put on its path, as an editable install would.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

__all__ = ["core_only_venv", "extras_only_venv"]

ROOT = Path(__file__).parents[2]


def _core_closure(root: str, extras: tuple[str, ...] = ()) -> list[metadata.Distribution]:
    """The distributions ``root[extras]`` needs (``root`` left out), extras of theirs included."""
    seen: dict[str, metadata.Distribution] = {}
    walked: set[tuple[str, str]] = set()
    todo = [(root, extra) for extra in ("", *extras)]
    while todo:
        name, extra = todo.pop()
        key = canonicalize_name(name)
        if (key, extra) in walked:
            continue
        walked.add((key, extra))
        dist = seen.setdefault(key, metadata.distribution(name))
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                todo += [(req.name, sub) for sub in ("", *req.extras)]
    return [d for k, d in seen.items() if k != canonicalize_name(root)]


def core_only_venv(target: Path) -> Path:
    """Create the venv at ``target``; its python."""
    return extras_only_venv(target, ())


def extras_only_venv(target: Path, extras: tuple[str, ...]) -> Path:
    """Create the venv at ``target`` with the core and ``extras`` (e.g. ``("server",)``, what
    ``make run`` installs); its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    python = target / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    for dist in _core_closure("pipeline-engine", extras):
        tops = {f.parts[0] for f in dist.files or [] if f.parts and f.parts[0] != ".."}
        for top in tops:
            link = site / top
            if not link.exists():
                link.symlink_to(Path(str(dist.locate_file(top))))
    (site / "pipeline_engine_checkout.pth").write_text(f"{ROOT}\n")
    return python
