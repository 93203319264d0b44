"""Run a Pipeline Engine worker: ``python worker.py`` is ``pipeline-engine worker``.

Settings come from ``PIPELINE_ENGINE_*`` variables (``docs/configuration.md``); the command's
flags (``python worker.py --help``) choose the task queue.
"""

from __future__ import annotations

import sys

from pipeline_engine.cli import main

if __name__ == "__main__":
    main(["worker", *sys.argv[1:]])
