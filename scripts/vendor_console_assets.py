"""Re-vendor the console's and /docs' browser assets from the npm registry, at pinned versions.

Run ``make vendor-console`` (needs ``npm``; the only time the network is used). Each package is
fetched with ``npm pack``; the files the pages load are copied under
``api/console/static/vendor/<package>/`` with the package's licence, and ``VERSIONS.json`` records
every package's version, licence and the sha256 of each copied file (tests check them).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "api" / "console" / "static" / "vendor"

# package -> (pinned version, files the pages load, relative to the package root)
PACKAGES: dict[str, tuple[str, list[str]]] = {
    "cytoscape": ("3.34.4", ["dist/cytoscape.min.js"]),
    "cytoscape-dagre": ("4.0.1", ["dist/cytoscape-dagre.min.js"]),  # dagre is bundled in it
    "swagger-ui-dist": ("5.35.0", ["swagger-ui-bundle.js", "swagger-ui.css"]),
    "redoc": ("2.5.2", ["bundles/redoc.standalone.js"]),
}
LICENCE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "license", "NOTICE")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _unpack(package: str, version: str, work: Path) -> Path:
    out = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--silent"],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    )
    archive = work / out.stdout.strip().splitlines()[-1]
    target = work / package
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target / "package"


def vendor() -> dict[str, dict[str, object]]:
    """Fetch every package, copy its files and licence, return what VERSIONS.json records."""
    shutil.rmtree(VENDOR, ignore_errors=True)
    VENDOR.mkdir(parents=True)
    record: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for package, (version, files) in PACKAGES.items():
            root = _unpack(package, version, Path(tmp))
            meta = json.loads((root / "package.json").read_text())
            if meta["version"] != version:
                raise SystemExit(f"{package}: npm gave {meta['version']}, pinned {version}")
            dest = VENDOR / package
            dest.mkdir()
            hashes: dict[str, str] = {}
            for name in files + [n for n in LICENCE_NAMES if (root / n).is_file()]:
                target = dest / Path(name).name
                shutil.copyfile(root / name, target)
                hashes[target.name] = _sha256(target)
            record[package] = {"version": version, "license": meta["license"], "files": hashes}
    (VENDOR / "VERSIONS.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


if __name__ == "__main__":
    for name, info in vendor().items():
        print(f"{name} {info['version']} ({info['license']})", file=sys.stderr)
