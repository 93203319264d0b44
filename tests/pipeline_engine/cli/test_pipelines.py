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

TENANT = "cli-t"


@pytest.fixture(scope="module")
def _tenant_stored(live_stack: LiveStack) -> None:
    with PipelineClient(live_stack.base_url, token=live_stack.token) as client:
        client.put_tenant_config(
            TENANT,
            {
                "tenant_id": TENANT,
                "pipeline_definition": {"type": "step", "name": "t_add"},
                "settings": {},
            },
        )


@pytest.fixture
def cli(live_stack: LiveStack, _tenant_stored: None, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
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
    assert "SUCCEEDED" in result.output and "result: 42" in result.output
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
    # piped (not a terminal): the table once, and the summary on a line of its own
    assert "┘state" not in result.output and "\nstate: FAILED" in result.output, result.output


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


def test_graph_and_validate_follow_sub_pipelines_in_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "sizing.json").write_text(json.dumps({"type": "step", "name": "t_add"}))
    crate = {
        "name": "crate",
        "definition": {"type": "chain", "steps": [{"type": "pipeline", "name": "sizing"}]},
    }
    path = str(write(tmp_path, crate))
    drawn = CliRunner().invoke(app, ["graph", path, "--pipelines", str(folder)])
    assert drawn.exit_code == 0, drawn.output
    assert 'subgraph n_sizing["sizing (pipeline)"]' in drawn.output
    assert 'n_sizing_t_add["t_add"]' in drawn.output  # the child's stage inside
    ok = CliRunner().invoke(app, ["validate", path, "--pipelines", str(folder)])
    assert ok.exit_code == 0, ok.output
    crate["definition"]["steps"].append({"type": "pipeline", "name": "sizing", "version": 2})
    bad_path = str(write(tmp_path, crate))
    bad = CliRunner().invoke(app, ["validate", bad_path, "--pipelines", str(folder)])
    assert bad.exit_code != 0 and "$.definition.steps[1].version" in bad.output, bad.output
    assert "has no version 2" in bad.output


def test_the_sub_pipeline_example_validates_and_draws_with_its_child() -> None:
    folder = Path(__file__).parents[3] / "examples" / "sub-pipelines"
    args = [str(folder / "crate.json"), "--pipelines", str(folder)]
    ok = CliRunner().invoke(app, ["validate", *args])
    assert ok.exit_code == 0, ok.output
    drawn = CliRunner().invoke(app, ["graph", *args])
    assert "n_detection --> n_sizing" in drawn.output
    assert 'n_sizing_aggregate_detections["aggregate_detections"]' in drawn.output


ADD = {"name": "cli-add", "definition": {"type": "step", "name": "t_add", "kwargs": {"n": 1}}}


def test_run_makes_a_new_pipeline_unless_a_key_is_given(cli: CliRunner, tmp_path: Path) -> None:
    path = str(write(tmp_path, ADD))
    first = cli.invoke(app, ["run", path, "--tenant", TENANT, "--input", "{}"])
    second = cli.invoke(app, ["run", path, "--tenant", TENANT, "--input", "{}"])
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert pipeline_id(first.output) != pipeline_id(second.output)
    assert "reused" not in second.output
    keyed = ["run", path, "--tenant", TENANT, "--idempotency-key", uuid.uuid4().hex, "--follow"]
    made = cli.invoke(app, keyed)
    again = cli.invoke(app, keyed)
    assert made.exit_code == again.exit_code == 0, made.output + again.output
    assert pipeline_id(made.output) == pipeline_id(again.output)
    assert "reused" not in made.output and "reused" in again.output
    assert "--idempotency-key" in again.output


def test_run_refuses_a_tenant_without_config(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["run", str(write(tmp_path, ADD)), "--tenant", "no-such-tenant"])
    assert result.exit_code == 3, result.output
    assert "'no-such-tenant' has no config" in result.output
    assert "pl-" not in result.output


def test_run_follow_prints_a_summary_and_writes_the_result_on_request(
    cli: CliRunner, tmp_path: Path
) -> None:
    big = {
        "name": "cli-big",
        "definition": {"type": "step", "name": "t_echo", "kwargs": {"tag": "x" * 500}},
    }
    path = str(write(tmp_path, big))
    shown = cli.invoke(app, ["run", path, "--tenant", TENANT, "--input", "{}", "--follow"])
    assert shown.exit_code == 0, shown.output
    assert "x" * 500 not in shown.output and "--output FILE" in shown.output
    out = tmp_path / "result.json"
    written = cli.invoke(
        app, ["run", path, "--tenant", TENANT, "--input", "{}", "--follow", "--output", str(out)]
    )
    assert written.exit_code == 0, written.output
    assert json.loads(out.read_text())["tag"] == "x" * 500
    assert f"result written to {out}" in written.output


def test_json_output_of_every_data_command(cli: CliRunner, tmp_path: Path) -> None:
    path = str(write(tmp_path, ADD))
    ran = cli.invoke(app, ["run", path, "--tenant", TENANT, "--input", "{}", "--json"])
    assert ran.exit_code == 0, ran.output
    created = json.loads(ran.output)
    assert created["reused"] is False and created["state"] in {"RUNNING", "SUCCEEDED"}
    pid = created["pipeline_id"]
    followed = cli.invoke(
        app, ["run", path, "--tenant", TENANT, "--input", "{}", "--json", "--follow"]
    )
    assert json.loads(followed.output)["state"] == "SUCCEEDED"
    status = json.loads(cli.invoke(app, ["status", pid, "--json"]).output)
    assert status["pipeline_id"] == pid
    listed = cli.invoke(app, ["list", "--tenant", TENANT, "--json", "--page-size", "2"])
    page = json.loads(listed.output)
    assert len(page["items"]) == 2 and page["next_page_token"]
    assert all(item["tenant_id"] == TENANT for item in page["items"])
    steps = json.loads(CliRunner().invoke(app, ["steps", "--json"]).output)
    assert "t_add" in {row["name"] for row in steps}
    valid = json.loads(CliRunner().invoke(app, ["validate", path, "--json"]).output)
    assert valid == {"name": "cli-add", "valid": True, "stages": ["t_add"]}
    slow = {
        "name": "cli-slow",
        "definition": {"type": "step", "name": "t_sleep", "kwargs": {"seconds": 30}},
    }
    running = cli.invoke(app, ["run", str(write(tmp_path, slow)), "--tenant", TENANT, "--json"])
    slow_id = json.loads(running.output)["pipeline_id"]
    cancelled = cli.invoke(app, ["cancel", slow_id, "--json"])
    assert json.loads(cancelled.output) == {"pipeline_id": slow_id, "state": "CANCELLED"}


def test_list_pages_and_filters(cli: CliRunner, tmp_path: Path) -> None:
    path = str(write(tmp_path, ADD))
    for _ in range(3):
        assert cli.invoke(app, ["run", path, "--tenant", TENANT, "--input", "{}"]).exit_code == 0
    first = cli.invoke(app, ["list", "--tenant", TENANT, "--page-size", "2"])
    assert first.exit_code == 0, first.output
    assert "next page: --page-token " in first.output
    token = first.output.split("--page-token ")[1].split()[0]
    second = cli.invoke(
        app, ["list", "--tenant", TENANT, "--page-size", "2", "--page-token", token]
    )
    assert second.exit_code == 0, second.output
    ids = {w for w in first.output.split() + second.output.split() if w.startswith("pl-")}
    assert len(ids) == 4
    failed = cli.invoke(app, ["list", "--tenant", TENANT, "--state", "FAILED", "--json"])
    assert all(i["state"] == "FAILED" for i in json.loads(failed.output)["items"])
    named = {**ADD, "name": f"cli-named-{uuid.uuid4().hex[:6]}"}
    made = cli.invoke(app, ["run", str(write(tmp_path, named)), "--tenant", TENANT, "--json"])
    by_name = cli.invoke(app, ["list", "--tenant", TENANT, "--name", named["name"], "--json"])
    items = json.loads(by_name.output)["items"]
    assert [i["pipeline_id"] for i in items] == [json.loads(made.output)["pipeline_id"]]


def test_status_shows_prompts_durations_and_errors(
    cli: CliRunner, live_stack: LiveStack, tmp_path: Path
) -> None:
    config = {
        "name": "cli-status",
        "definition": {
            "type": "chain",
            "steps": [
                {
                    "type": "step",
                    "name": "t_fail",
                    "id": "broken",
                    "on_failure": "continue",
                    "retry": {"max_attempts": 1},
                    "kwargs": {"message": "disk on fire"},
                },
                {
                    "type": "input",
                    "id": "approve",
                    "prompt": "Ship the crates?",
                    "schema": {"type": "object"},
                },
            ],
        },
    }
    pid = pipeline_id(
        cli.invoke(app, ["run", str(write(tmp_path, config)), "--tenant", TENANT]).output
    )
    with PipelineClient(live_stack.base_url, token=live_stack.token) as client:
        client.wait_for(pid, PipelineState.WAITING_INPUT, timeout=30)
    shown = cli.invoke(app, ["status", pid])
    assert shown.exit_code == 0, shown.output
    assert "Ship the crates?" in shown.output and f"pipeline-engine input {pid}" in shown.output
    assert "disk on fire" in shown.output
    assert " ms" in shown.output or " s" in shown.output  # the failed stage's duration
    cli.invoke(app, ["cancel", pid])


def test_piped_output_is_not_wrapped(cli: CliRunner, live_stack: LiveStack, tmp_path: Path) -> None:
    """The console script with stdout to a pipe: long lines stay whole."""
    import os
    import subprocess
    import sys

    long_name = "cli-" + "n" * 150
    path = write(tmp_path, {**ADD, "name": long_name})
    env = {
        **os.environ,
        "PIPELINE_ENGINE_URL": live_stack.base_url,
        "PIPELINE_ENGINE_TOKEN": live_stack.token,
        "COLUMNS": "80",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline_engine.cli",
            "validate",
            str(path),
            "--step-modules",
            "tests.support.steps",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        cwd=Path(__file__).parents[3],
    )
    assert done.returncode == 0, done.stderr
    assert f"{long_name}: 1 stages valid" in done.stdout
