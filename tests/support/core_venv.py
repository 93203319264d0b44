"""A fresh virtualenv holding only what ``pip install pipeline-engine`` (no extras) installs.

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

__all__ = ["core_only_venv"]

ROOT = Path(__file__).parents[2]


def _core_closure(root: str) -> list[metadata.Distribution]:
    seen: dict[str, metadata.Distribution] = {}
    todo = [(root, "")]
    while todo:
        name, extra = todo.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        dist = metadata.distribution(name)
        seen[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                todo.append((req.name, ""))
    return [d for k, d in seen.items() if k != canonicalize_name(root)]


def core_only_venv(target: Path) -> Path:
    """Create the venv at ``target``; its python."""
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
    for dist in _core_closure("pipeline-engine"):
        tops = {f.parts[0] for f in dist.files or [] if f.parts and f.parts[0] != ".."}
        for top in tops:
            link = site / top
            if not link.exists():
                link.symlink_to(Path(str(dist.locate_file(top))))
    (site / "pipeline_engine_checkout.pth").write_text(f"{ROOT}\n")
    return python
