"""A worker made ready ahead of its turn: ``python -m bench.standby_worker <gate file>``.

It runs ``pipeline-engine worker`` (settings from the environment) up to the moment it would
poll: imports, the connection to Temporal, the search-attribute check and the worker built (its
workflows validated in the sandbox). Then it waits until the gate file exists, and polls from
that moment. ``bench/batch_reliability.py`` keeps one such process ready and opens its gate when
it SIGKILLs the running worker, so one worker polls at a time and a restart does not wait for the
start-up (on this machine, at load 14: 25-33 s for a cold ``python worker.py``, and still 21-23 s
after the imports alone: a third of each 60 s kill cycle with no worker).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

# what the worker command imports, before the gate opens
import pipeline_engine.builtin_steps
import pipeline_engine.observability  # noqa: F401
import workflows.payload_retention
import workflows.payload_store
import workflows.worker_factory
from pipeline_engine.cli import main


def run(gate: Path) -> None:
    """Build the worker, wait for ``gate``, then let the worker command poll."""
    build = workflows.worker_factory.build_worker

    def build_then_wait(*args: Any, **kwargs: Any) -> Any:
        worker = build(*args, **kwargs)
        while not gate.exists():  # blocks the loop: nothing runs on it before the worker does
            time.sleep(0.1)
        return worker

    workflows.worker_factory.build_worker = build_then_wait
    main(["worker"])


if __name__ == "__main__":
    import bench.reliability_steps  # noqa: F401  (the steps, loaded again by name: cached)

    run(Path(sys.argv[1]))
