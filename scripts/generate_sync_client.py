"""Generate the synchronous client from the asynchronous one (``--check``: fail on drift).

``pipeline_engine/client/_async.py`` is written by hand; ``_sync.py`` is its ``unasync``
translation (``async``/``await`` dropped, names mapped below), with its prose adjusted and
formatted by ruff. ``make lint`` runs ``--check``.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import unasync

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "pipeline_engine" / "client" / "_async.py"
TARGET = ROOT / "pipeline_engine" / "client" / "_sync.py"

NAMES = {
    "AsyncPipelineClient": "PipelineClient",
    "AsyncClient": "Client",
    "AsyncBaseTransport": "BaseTransport",
    "AsyncSubscription": "Subscription",
    "AsyncEventCallback": "EventCallback",
    "aiter_sse": "iter_sse",
    "aread": "read",
    "aclose": "close",
    "asyncio": "time",
    "AsyncEndCheck": "EndCheck",
}
PROSE = [  # (pattern, replacement) applied to the generated text: docstrings and comments
    (
        r"The hand-written half of the twin:.*?once, here\.",
        "GENERATED from ``_async.py`` by ``scripts/generate_sync_client.py``: do not edit it,\n"
        "edit ``_async.py`` and run the script.",
    ),
    (r"``AsyncPipelineClient``: the asyncio client", "``PipelineClient``: the synchronous client"),
    (
        r"Asyncio client of the Pipeline Engine REST API; the twin of :class:`PipelineClient`",
        "Synchronous client of the Pipeline Engine REST API; the twin of "
        ":class:`AsyncPipelineClient`",
    ),
    (
        r"\(a function or a coroutine function\) runs in a task on this event loop; keep\n"
        r"(\s+)plain functions quick",
        r"runs on the subscription's own thread, never on the\n\1caller's",
    ),
    (r"``await wait\(\)``", "``wait()``"),
]


def generate() -> str:
    """The generated module's text."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "_async.py"
        source.write_text(SOURCE.read_text())
        unasync.unasync_files([str(source)], [unasync.Rule("_async.py", "_sync.py", NAMES)])
        text = (Path(tmp) / "_sync.py").read_text()
    text = text.replace("async with", "with").replace("async for", "for")
    for pattern, replacement in PROSE:
        text = re.sub(pattern, replacement, text, flags=re.S)
    for command in (["check", "--fix", "--select", "I", "--quiet"], ["format"]):
        text = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--stdin-filename", str(TARGET), "-"],
            input=text,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if _sync.py is not current")
    args = parser.parse_args()
    text = generate()
    if args.check:
        current = TARGET.read_text()
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(), text.splitlines(), str(TARGET), "generated", lineterm=""
            )
            print("\n".join(list(diff)[:60]))
            print(f"{TARGET} is stale: run scripts/generate_sync_client.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
