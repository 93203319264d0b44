"""A prepared config: compiled once, fingerprinted exactly as the config it stands for."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

import tests.support.steps  # noqa: F401  (registers the t_* steps)
from pipeline_engine._ids import DEV_IDS, canonical_json, config_fingerprint, pipeline_id_for
from pipeline_engine.dsl import parse_config
from pipeline_engine.errors import InvalidConfig
from pipeline_engine.service import PreparedConfig
from pipeline_engine.steps import default_registry

CONFIG = {
    "schema_version": "1",
    "name": "acme",
    "definition": {
        "type": "chain",
        "steps": [
            {"type": "step", "name": "t_add", "kwargs": {"n": 2}},
            {"type": "group", "steps": [{"type": "step", "name": "t_echo"}] * 2},
        ],
    },
}


def _old_fingerprint(config: Any, input: Any, settings: dict[str, Any] | None) -> str:
    """The rule as it was first written: one canonical document, hashed whole."""
    doc: dict[str, Any] = {"config": config.model_dump(mode="json", by_alias=True), "input": input}
    if settings:
        doc["settings"] = settings
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()


@pytest.mark.parametrize(
    ("input", "settings"),
    [
        (None, None),
        ({}, {}),
        ({"img": "ñandú ☃", "n": [1, 2.5, None, True]}, {"species": ["tomate"]}),
        ("text", {"z": 1, "a": {"y": 2, "b": 3}}),
    ],
)
def test_the_fingerprint_is_unchanged_by_preparing(input: Any, settings: Any) -> None:
    prepared = PreparedConfig.of(CONFIG, registry=default_registry)
    config = prepared.config
    old = _old_fingerprint(config, input, settings)
    assert config_fingerprint(config, input, settings) == old
    assert config_fingerprint(config, input, settings, canonical_config=prepared.canonical) == old
    # so pipeline ids stay what they were: a repeat after an upgrade is still a repeat
    assert pipeline_id_for(
        tenant_id="acme",
        config=config,
        input=input,
        idempotency_key=None,
        settings=settings,
        fingerprint=old,
        ids=DEV_IDS,
    ) == pipeline_id_for(
        tenant_id="acme",
        config=config,
        input=input,
        idempotency_key=None,
        settings=settings,
        ids=DEV_IDS,
    )


def test_prepared_once_and_checked_like_parse_config() -> None:
    prepared = PreparedConfig.of(CONFIG, registry=default_registry)
    assert PreparedConfig.of(prepared, registry=default_registry) is prepared
    assert prepared.plan.stages == parse_config(CONFIG, registry=default_registry).stages
    dumped = prepared.config.model_dump(mode="json", by_alias=True)
    assert prepared.canonical == canonical_json(dumped)
    with pytest.raises(InvalidConfig) as err:
        PreparedConfig.of(
            {"name": "x", "definition": {"type": "step", "name": "nope"}},
            registry=default_registry,
        )
    assert err.value.problems[0].path == "$.definition.name"
