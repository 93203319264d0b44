"""Issue 24, finding 3: the terminal shows one line per failed attempt (stage, step, attempt,
error); the traceback goes to the JSON log, and to the terminal only with --debug."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline_engine.observability import configure_logging
from pipeline_engine.states import PipelineState
from tests.support.waiting import wait_for_state
from workflows.engine import TemporalPipelineEngine


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _config(name: str) -> dict[str, object]:
    return {
        "schema_version": "1",
        "name": name,
        "definition": {
            "type": "step",
            "id": "flaky",
            "name": "t_flaky",
            "kwargs": {"fail_times": 2},
            "retry": {"max_attempts": 3, "initial_interval_s": 0.05},
        },
    }


@pytest.mark.parametrize("debug", [False, True])
async def test_one_line_per_failed_attempt_and_the_traceback_in_the_json_log(
    engine: TemporalPipelineEngine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
    debug: bool,
) -> None:
    log_file = tmp_path / "pipeline-engine.log"
    configure_logging(fmt="text", level="WARNING", file=log_file, tracebacks=debug)
    created = await engine.create_pipeline(
        _config(f"lines-{uuid.uuid4().hex[:6]}"), input={}, start=True
    )
    await wait_for_state(engine, created.pipeline_id, PipelineState.SUCCEEDED)
    logging.getLogger().handlers[0].flush()
    terminal = capsys.readouterr().err
    failed = [line for line in terminal.splitlines() if " failed: " in line]
    assert len(failed) == 2, terminal
    for attempt, line in enumerate(failed, start=1):
        assert f"stage flaky (step t_flaky) attempt {attempt} failed: ValueError: " in line, line
        assert f"attempt {attempt} failed on purpose" in line
    assert ("Traceback" in terminal) is debug, terminal
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    with_tracebacks = [r for r in records if "Traceback" in r.get("exc", "")]
    assert len(with_tracebacks) == 2, records


def test_no_asyncio_warnings_for_a_client_that_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    log_file = tmp_path / "pipeline-engine.log"
    configure_logging(fmt="text", level="WARNING", file=log_file)
    for _ in range(10):  # what asyncio logs per write to a socket its peer reset
        logging.getLogger("asyncio").warning("socket.send() raised exception.")
    logging.getLogger("asyncio").warning("something else")
    terminal = capsys.readouterr().err
    assert "socket.send()" not in terminal and "something else" in terminal
    assert "socket.send()" not in log_file.read_text()
