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
CLIENT = ROOT / "pipeline_engine" / "client"
PAIRS = (
    (CLIENT / "_async.py", CLIENT / "_sync.py"),
    (CLIENT / "_volume_async.py", CLIENT / "_volume_sync.py"),
    (CLIENT / "_named_async.py", CLIENT / "_named_sync.py"),
    (CLIENT / "_transport_async.py", CLIENT / "_transport_sync.py"),
    (CLIENT / "_commands_async.py", CLIENT / "_commands_sync.py"),
    (CLIENT / "_reads_async.py", CLIENT / "_reads_sync.py"),
    (CLIENT / "_streams_async.py", CLIENT / "_streams_sync.py"),
)
"""Each hand-written asynchronous module and the synchronous one generated from it."""

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
    "AsyncVolumeMethods": "VolumeMethods",
    "_volume_async": "_volume_sync",
    "AsyncNamedMethods": "NamedMethods",
    "_named_async": "_named_sync",
    "aiter_lines": "iter_lines",
    "AsyncClientTransport": "ClientTransport",
    "_transport_async": "_transport_sync",
    "AsyncPipelineCommands": "PipelineCommands",
    "_commands_async": "_commands_sync",
    "AsyncPipelineReads": "PipelineReads",
    "_reads_async": "_reads_sync",
    "AsyncStreamMethods": "StreamMethods",
    "_streams_async": "_streams_sync",
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


def generate(source_path: Path, target_path: Path) -> str:
    """The text generated from ``source_path`` (to be ``target_path``)."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / source_path.name
        source.write_text(source_path.read_text())
        rule = unasync.Rule(source_path.name, target_path.name, NAMES)
        unasync.unasync_files([str(source)], [rule])
        text = (Path(tmp) / target_path.name).read_text()
    text = text.replace("async with", "with").replace("async for", "for")
    for pattern, replacement in PROSE:
        text = re.sub(pattern, replacement, text, flags=re.S)
    text = text.replace("``_async.py``", f"``{source_path.name}``")
    for command in (["check", "--fix", "--select", "I", "--quiet"], ["format"]):
        text = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--stdin-filename", str(target_path), "-"],
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
    stale = 0
    for source, target in PAIRS:
        text = generate(source, target)
        if not args.check:
            target.write_text(text)
            continue
        current = target.read_text() if target.exists() else ""
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(), text.splitlines(), str(target), "generated", lineterm=""
            )
            print("\n".join(list(diff)[:60]))
            print(f"{target} is stale: run scripts/generate_sync_client.py", file=sys.stderr)
            stale = 1
    return stale


if __name__ == "__main__":
    raise SystemExit(main())
