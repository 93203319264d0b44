"""Issue 24, finding 6: a wrong PIPELINE_ENGINE_URL is refused at once, saying what to change."""

from __future__ import annotations

import time

import pytest

from pipeline_engine import InvalidInput, PipelineClient
from tests.pipeline_engine.cli.test_cli_failures import cli, one_line


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("127.0.0.1:8000", "is not an http:// or https:// URL"),
        ("localhost:8000/", "e.g. http://localhost:8000"),
        ("http://127.0.0.1:8000/v1", "ends in /v1: give the API's root (http://127.0.0.1:8000)"),
        ("http://127.0.0.1:8000/v1/", "the client adds /v1 itself"),
    ],
)
def test_a_wrong_url_exits_2_at_once(url: str, says: str) -> None:
    started = time.monotonic()
    done = cli("status", "pl-x", env={"PIPELINE_ENGINE_URL": url, "PIPELINE_ENGINE_TOKEN": "t"})
    assert done.returncode == 2, done.stderr
    line = one_line(done)
    assert says in line and "PIPELINE_ENGINE_URL" in line, line
    assert time.monotonic() - started < 10  # no retries (the process start is most of it)


def test_the_sdk_refuses_it_too() -> None:
    with pytest.raises(InvalidInput, match="ends in /v1"):
        PipelineClient("http://127.0.0.1:8000/v1")
