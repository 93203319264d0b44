"""The help text of every command: it renders, says what the command does, documents each option."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from pipeline_engine._version import __version__
from pipeline_engine.cli import app

COMMAND = typer.main.get_command(app)
NAMES = sorted(COMMAND.commands)  # type: ignore[attr-defined]


def test_every_expected_command_is_registered() -> None:
    assert set(NAMES) == {
        "run", "list", "status", "history", "cancel", "retry", "input",
        "validate", "graph", "steps", "token", "api", "dev", "worker", "setup",
        "batch", "schedule", "trigger", "pipelines",
    }  # fmt: skip


SUBGROUPS = {"batch", "schedule", "trigger", "pipelines"}
PIPELINES = COMMAND.commands["pipelines"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(PIPELINES.commands))
def test_help_of_pipelines(name: str) -> None:
    result = CliRunner().invoke(app, ["pipelines", name, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    command = PIPELINES.commands[name]
    assert command.help and command.help.strip().endswith(".")
    for param in command.params:
        if param.name != "help":
            assert param.help, f"pipelines {name} {param.opts} has no help"


@pytest.mark.parametrize("name", [n for n in NAMES if n not in SUBGROUPS])
def test_help_of(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: pipeline-engine {name} ")
    command = COMMAND.commands[name]  # type: ignore[attr-defined]
    assert command.help and command.help.strip().endswith(".")
    for param in command.params:
        if param.param_type_name == "option" and param.name != "help":
            assert param.help, f"{name} {param.opts} has no help"
            assert param.opts[0] in result.output
        if param.param_type_name == "argument":
            assert param.help, f"{name} argument {param.name} has no help"
    if any(p.name == "url" for p in command.params):
        assert "PIPELINE_ENGINE_URL" in result.output


def test_top_level_help_lists_exit_codes_and_version() -> None:
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for name in NAMES:
        assert f"  {name} " in result.output
    assert "Exit codes: 0 done" in result.output and "--debug" in result.output
    version = CliRunner().invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output == f"pipeline-engine {__version__}\n"
