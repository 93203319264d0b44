"""The chain of schema-version upgraders: each step has its own test (the guard below)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from pipeline_engine import schema_versions as sv
from pipeline_engine.dsl import parse_config
from pipeline_engine.errors import InvalidConfig
from pipeline_engine.service.named_pipelines import run_config

TREE = {"type": "chain", "steps": [{"type": "step", "name": "segmentation"}]}


def test_a_current_document_is_read_as_it_is() -> None:
    doc = {"schema_version": sv.CURRENT_SCHEMA_VERSION, "name": "p", "definition": TREE}
    assert sv.upgrade_config(doc) is doc
    assert sv.known_schema_versions()[-1] == sv.CURRENT_SCHEMA_VERSION
    assert sv.schema_for("1")["title"] == "PipelineConfig"


def test_an_unknown_version_names_its_path() -> None:
    with pytest.raises(InvalidConfig) as err:
        sv.upgrade_config({"schema_version": "7", "definition": TREE}, path="$.config")
    assert err.value.details[0]["path"] == "$.config.schema_version"
    with pytest.raises(InvalidConfig):
        sv.schema_for("7")


def test_the_chain_runs_every_step_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """How a new version is added: the chain goes 0 -> 0.5 -> 1, never touching its input."""

    def zero(doc: dict[str, Any]) -> dict[str, Any]:
        rest = {k: v for k, v in doc.items() if k != "tree"}
        return {**rest, "schema_version": "0.5", "definition": doc["tree"]}

    def half(doc: dict[str, Any]) -> dict[str, Any]:
        return {**doc, "schema_version": "1", "name": doc["name"].upper()}

    monkeypatch.setitem(sv.UPGRADERS, "0", zero)
    monkeypatch.setitem(sv.UPGRADERS, "0.5", half)
    monkeypatch.setitem(sv.SCHEMAS, "0", dict)
    monkeypatch.setitem(sv.SCHEMAS, "0.5", dict)
    old = {"schema_version": "0", "name": "p", "tree": TREE}
    new = sv.upgrade_config(old)
    assert new == {"schema_version": "1", "name": "P", "definition": TREE}
    assert old == {"schema_version": "0", "name": "p", "tree": TREE}
    parse_config(new)
    # a stored version of an old schema runs upgraded (the document in the store is unchanged)
    assert run_config("t", "crates", "config", old, "0")["definition"] == TREE


def test_every_upgrader_has_its_own_test() -> None:
    """``UPGRADERS["1"]`` needs a ``test_upgrade_from_1`` here (dots as underscores)."""
    module = sys.modules[__name__]
    for version in sv.UPGRADERS:
        name = "test_upgrade_from_" + version.replace(".", "_")
        assert hasattr(module, name), f"add {name} for the upgrader from {version!r}"


def test_a_tree_is_wrapped_in_the_current_version() -> None:
    doc = run_config("tenant-a", "default", "pipeline_definition", TREE, "1")
    assert doc == {"schema_version": "1", "name": "tenant-a", "definition": TREE}
    assert run_config("tenant-a", "crates", "pipeline_definition", TREE, "1")["name"] == "crates"
