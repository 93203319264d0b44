"""``pipeline-engine batch …`` and ``schedule …`` against the live API."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pipeline_engine.cli import app
from pipeline_engine.client import AsyncPipelineClient, PipelineClient
from tests.support.live_stack import LiveStack

TENANT = "cli-batch"
ITEM = {"type": "step", "name": "t_batch_item", "retry": {"max_attempts": 1}}


def _json(output: str) -> object:
    """The JSON document a --json command printed (the in-process worker may log around it)."""
    return json.loads(output[output.index("{\n") : output.rindex("\n}") + 2])


@pytest.fixture(scope="module")
def _tenant_stored(live_stack: LiveStack) -> None:
    with PipelineClient(live_stack.base_url, token=live_stack.token) as client:
        client.put_tenant_config(
            TENANT, {"tenant_id": TENANT, "pipeline_definition": ITEM, "settings": {}}
        )


@pytest.fixture
def cli(live_stack: LiveStack, _tenant_stored: None, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("PIPELINE_ENGINE_URL", live_stack.base_url)
    monkeypatch.setenv("PIPELINE_ENGINE_TOKEN", live_stack.token)
    return CliRunner()


def test_batch_submit_follow_summary_retry_and_results(cli: CliRunner, tmp_path: Path) -> None:
    fix = f"cli-{uuid.uuid4().hex[:6]}"
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(
        "".join(json.dumps({"n": i, "fail": i == 4, "fix": fix}) + "\n" for i in range(12))
    )
    result = cli.invoke(
        app, ["batch", "submit", str(inputs), "--tenant", TENANT, "--max-running", "5", "--follow"]
    )
    assert result.exit_code == 1, result.output  # a pipeline failed
    assert "FAILED" in result.output and "SUCCEEDED 11" in result.output, result.output
    assert "failed: input 4" in result.output and "batch retry-failed" in result.output
    batch_id = next(w for w in result.output.split() if w.startswith("bt-")).rstrip(":")

    status = cli.invoke(app, ["batch", "status", batch_id, "--json"])
    assert _json(status.output)["counts"]  # type: ignore[index] == {"SUCCEEDED": 11, "FAILED": 1}
    listed = cli.invoke(app, ["batch", "list", "--tenant", TENANT])
    assert batch_id in listed.output
    out = tmp_path / "results.jsonl"
    assert cli.invoke(app, ["batch", "results", batch_id, "-o", str(out)]).exit_code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(12))
    retried = cli.invoke(app, ["batch", "retry-failed", batch_id, "--json"])
    assert _json(retried.output) == {"retried_pipelines": 1, "retried_stages": 1}
    cancelled = cli.invoke(app, ["batch", "cancel", batch_id])
    assert cancelled.exit_code == 0, cancelled.output


def test_schedule_commands(cli: CliRunner) -> None:
    sid = f"s-{uuid.uuid4().hex[:6]}"
    made = cli.invoke(
        app, ["schedule", "create", sid, "--tenant", TENANT, "--cron", "0 6 * * *",
              "--timezone", "America/Bogota", "--input", '{"n": 1}']
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "active" in made.output and "next:" in made.output
    assert sid in cli.invoke(app, ["schedule", "list", "--tenant", TENANT]).output
    paused = cli.invoke(app, ["schedule", "pause", sid, "--tenant", TENANT])
    assert "paused" in paused.output, paused.output
    assert "active" in cli.invoke(app, ["schedule", "unpause", sid, "--tenant", TENANT]).output
    assert cli.invoke(app, ["schedule", "trigger", sid, "--tenant", TENANT]).exit_code == 0
    assert "deleted" in cli.invoke(app, ["schedule", "delete", sid, "--tenant", TENANT]).output
    bad = cli.invoke(app, ["schedule", "create", "x", "--tenant", TENANT])
    assert bad.exit_code == 2 and "exactly one of cron and interval_s" in bad.output


async def test_async_client_batch(live_stack: LiveStack, _tenant_stored: None) -> None:
    async with AsyncPipelineClient(live_stack.base_url, token=live_stack.token) as client:
        ref = await client.submit_batch([{"n": 1}, {"n": 2}], tenant_id=TENANT, max_running=2)
        assert ref.total == 2
        page = await client.list_batch_pipelines(ref.batch_id)
        assert [p.index for p in page.items] == [0, 1]
        status = await client.get_batch(ref.batch_id)
        assert status.tenant_id == TENANT


def test_trigger_create_and_rotate(cli: CliRunner) -> None:
    tid = f"t-{uuid.uuid4().hex[:6]}"
    made = cli.invoke(app, ["trigger", "create", tid, "--tenant", TENANT, "--input", "body"])
    assert made.exit_code == 0 and "secret (shown once" in made.output, made.output
    first = made.output.split("keep it): ")[1].split()[0]
    again = cli.invoke(app, ["trigger", "create", tid, "--tenant", TENANT])
    assert "secret unchanged" in again.output and first not in again.output
    rotated = cli.invoke(app, ["trigger", "rotate", tid, "--tenant", TENANT])
    assert rotated.exit_code == 0 and first not in rotated.output, rotated.output
    assert "secret (shown once" in rotated.output


@pytest.mark.parametrize("group", ["batch", "schedule", "trigger"])
def test_subcommand_help(group: str) -> None:
    command = typer.main.get_command(app).commands[group]  # type: ignore[attr-defined]
    for name, sub in command.commands.items():
        result = CliRunner().invoke(app, [group, name, "--help"], terminal_width=200)
        assert result.exit_code == 0, result.output
        assert sub.help and sub.help.strip().endswith("."), (group, name)
        for param in sub.params:
            if param.name != "help":
                assert param.help, f"{group} {name} {param.name} has no help"
