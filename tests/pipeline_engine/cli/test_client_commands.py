"""The CLI against the live API: what it prints and the exit codes scripts rely on."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipeline_engine.cli import app
from pipeline_engine.client import PipelineClient
from pipeline_engine.states import PipelineState
from tests.support.live_stack import LiveStack


@pytest.fixture
def cli(live_stack: LiveStack, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("PIPELINE_ENGINE_URL", live_stack.base_url)
    monkeypatch.setenv("PIPELINE_ENGINE_TOKEN", live_stack.token)
    return CliRunner()


def write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / f"{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(config))
    return path


def pipeline_id(output: str) -> str:
    for word in output.split():
        if word.startswith("pl-"):
            return word
    raise AssertionError(f"no pipeline id in {output!r}")


def test_run_follow_succeeds_with_exit_0(cli: CliRunner, tmp_path: Path) -> None:
    config = {
        "name": "cli",
        "definition": {
            "type": "chain",
            "steps": [
                {"type": "step", "name": "t_add", "kwargs": {"n": 20}},
                {"type": "step", "name": "t_add", "kwargs": {"n": 22}},
            ],
        },
    }
    result = cli.invoke(
        app, ["run", str(write(tmp_path, config)), "--input", "{}", "--tenant", "cli-t", "--follow"]
    )
    assert result.exit_code == 0, result.output
    assert "SUCCEEDED" in result.output and "42" in result.output
    pid = pipeline_id(result.output)
    status = cli.invoke(app, ["status", pid, "--json"])
    assert status.exit_code == 0
    assert json.loads(status.output)["result"] == 42
    history = cli.invoke(app, ["history", pid, "--json"])
    types = [json.loads(line)["type"] for line in history.output.splitlines()]
    assert types[0] == "pipeline.created" and types[-1] == "pipeline.succeeded"


def test_run_follow_of_a_failing_pipeline_exits_1(cli: CliRunner, tmp_path: Path) -> None:
    config = {
        "name": "cli-fail",
        "failure_hold_s": 0,
        "definition": {"type": "step", "name": "t_fail", "retry": {"max_attempts": 1}},
    }
    result = cli.invoke(app, ["run", str(write(tmp_path, config)), "--tenant", "cli-t", "--follow"])
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output


def test_invalid_config_exits_2_with_paths(cli: CliRunner, tmp_path: Path) -> None:
    bad = write(tmp_path, {"name": "bad", "definition": {"type": "step", "name": "nope"}})
    for command in (["validate", str(bad)], ["run", str(bad), "--tenant", "cli-t"]):
        result = cli.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert "definition.name" in result.output and "nope" in result.output


def test_not_found_exits_3_and_bad_token_exits_4(cli: CliRunner) -> None:
    assert cli.invoke(app, ["status", "pl-000000000000000000000000"]).exit_code == 3
    result = cli.invoke(app, ["status", "pl-000000000000000000000000", "--token", "not-a-jwt"])
    assert result.exit_code == 4, result.output


def test_input_retry_cancel_commands(cli: CliRunner, live_stack: LiveStack, tmp_path: Path) -> None:
    config = {
        "name": "cli-ops",
        "definition": {
            "type": "chain",
            "steps": [
                {
                    "type": "input",
                    "id": "ok",
                    "schema": {
                        "type": "object",
                        "required": ["approved"],
                        "properties": {"approved": {"type": "boolean"}},
                    },
                },
                {
                    "type": "step",
                    "name": "t_flaky",
                    "kwargs": {"fail_times": 1},
                    "retry": {"max_attempts": 1},
                },
                {"type": "step", "name": "t_sleep", "kwargs": {"seconds": 30}},
            ],
        },
    }
    started = cli.invoke(app, ["run", str(write(tmp_path, config)), "--tenant", "cli-t"])
    pid = pipeline_id(started.output)
    with PipelineClient(live_stack.base_url, token=live_stack.token) as client:
        client.wait_for(pid, PipelineState.WAITING_INPUT, timeout=30)
        bad = cli.invoke(app, ["input", pid, '{"approved": "x"}', "--responder", "ana"])
        assert bad.exit_code == 2 and "$.payload" in bad.output
        wrong_state = cli.invoke(app, ["retry", pid, "ok", "--reason", "x"])
        assert wrong_state.exit_code == 5, wrong_state.output
        good = cli.invoke(app, ["input", pid, '{"approved": true}', "--responder", "ana"])
        assert good.exit_code == 0 and "RUNNING" in good.output
        client.wait_for(pid, PipelineState.FAILED, timeout=30)
        retried = cli.invoke(app, ["retry", pid, "t_flaky", "--reason", "fixed"])
        assert retried.exit_code == 0, retried.output
        client.wait_for(pid, PipelineState.RUNNING, timeout=30)
    cancelled = cli.invoke(app, ["cancel", pid, "--reason", "enough"])
    assert cancelled.exit_code == 0 and "CANCELLED" in cancelled.output


def test_graph_prints_mermaid(tmp_path: Path) -> None:
    from pipeline_engine.examples import seed_pipeline_config

    result = CliRunner().invoke(app, ["graph", str(write(tmp_path, seed_pipeline_config()))])
    assert result.exit_code == 0
    assert result.output.startswith("flowchart LR")
    assert "n_segment_filter --> n_sahi_detection" in result.output
    assert "n_detection --> n_aggregate_detections" in result.output
