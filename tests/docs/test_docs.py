"""The docs stay true: the DSL reference matches the JSON Schema, the configuration reference
matches the settings, and the commands the README shows exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline_engine.cli import app
from pipeline_engine.dsl import pipeline_config_schema
from pipeline_engine.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = {
    "PipelineConfig": "## PipelineConfig",
    "Step": "### `step`",
    "Chain": "### `chain`",
    "Group": "### `group`",
    "Chord": "### `chord`",
    "Input": "### `input`",
    "Map": "### `map`",
    "Switch": "### `switch`",
    "SubPipeline": "### `pipeline`",
    "Case": "## Case",
    "Cache": "## Cache",
    "StageConfig": "## StageConfig",
    "RetryPolicy": "## RetryPolicy",
    "Resources": "## Resources",
    "Defaults": "## Defaults",
    "Hooks": "## Hooks",
}


def section(text: str, heading: str) -> str:
    start = text.index(heading + "\n")
    rest = text[start + len(heading) + 1 :]
    nxt = re.search(r"^#{2,3} ", rest, flags=re.MULTILINE)
    return rest[: nxt.start()] if nxt else rest


def documented_fields(block: str) -> set[str]:
    fields: set[str] = set()
    for line in block.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            fields |= set(re.findall(r"`([a-z_]+)`", first_cell))
    return fields


@pytest.mark.parametrize("model", sorted(SECTIONS))
def test_dsl_reference_matches_the_schema(model: str) -> None:
    schema = pipeline_config_schema()
    props = (
        schema["properties"] if model == "PipelineConfig" else schema["$defs"][model]["properties"]
    )
    text = (ROOT / "docs" / "dsl.md").read_text()
    documented = documented_fields(section(text, SECTIONS[model]))
    assert documented == set(props), f"{model}: docs {sorted(documented)} vs schema {sorted(props)}"


def test_configuration_reference_lists_every_setting() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"`(PIPELINE_ENGINE_[A-Z0-9_]+)`", text))
    expected = {f"PIPELINE_ENGINE_{name.upper()}" for name in Settings.model_fields}
    expected.add("PIPELINE_ENGINE_TOKEN")  # read by the SDK clients and the CLI
    assert expected <= documented, sorted(expected - documented)


def commands_in(path: Path) -> set[str]:
    found = set()
    for line in path.read_text().splitlines():
        for match in re.finditer(r"pipeline-engine ([a-z][a-z-]*)", line):
            found.add(match.group(1))
    return found


@pytest.mark.parametrize("doc", ["README.md", "docs/operations.md"])
def test_cli_commands_in_docs_exist(doc: str) -> None:
    runner = CliRunner()
    for command in sorted(commands_in(ROOT / doc)):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, f"pipeline-engine {command}: {result.output}"
