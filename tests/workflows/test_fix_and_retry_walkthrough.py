"""The README's operator story: a stage fails for a real reason, the operator fixes the cause and
retries that stage; nothing that succeeded runs again."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import pytest

from pipeline_engine.builtin_steps._image import REFUSED
from pipeline_engine.examples import seed_pipeline_config, seed_tenant_config
from pipeline_engine.states import PipelineState, StageState
from tests.support.waiting import wait_for_state
from workflows.engine import TemporalPipelineEngine

ROOT = Path(__file__).resolve().parents[2]


def test_example_file_is_the_seed() -> None:
    assert (
        json.loads((ROOT / "examples" / "seed-pipeline.json").read_text()) == seed_pipeline_config()
    )


async def test_missing_image_then_fixed_then_retried(
    engine: TemporalPipelineEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_ENGINE_IMAGE_DIR", str(tmp_path))
    (tmp_path / "cultivos-abc").mkdir()
    image = tmp_path / "cultivos-abc" / "crates.png"  # the tenant's own folder
    config = {
        **seed_pipeline_config(),
        "defaults": {"retry": {"max_attempts": 2, "initial_interval_s": 0.1}},
    }
    created = await engine.create_pipeline(
        config,
        input={"image_path": "crates.png"},
        tenant_id="cultivos-abc",
        settings=seed_tenant_config()["settings"],
        start=True,
    )
    failed = await wait_for_state(engine, created.pipeline_id, PipelineState.FAILED)
    stage = failed.stage("segmentation")
    assert stage.state is StageState.FAILED and stage.attempts == 2
    assert stage.error.message == REFUSED

    bundled = resources.files("pipeline_engine.builtin_steps").joinpath("data/crates.png")
    with resources.as_file(bundled) as source:
        shutil.copy(source, image)
    await engine.retry_stage(created.pipeline_id, "segmentation", "image uploaded")
    done = await wait_for_state(engine, created.pipeline_id)
    assert done.state is PipelineState.SUCCEEDED
    assert done.stage("segmentation").attempts == 3
    assert set(done.result["summary"]["by_label"]) == {"tomate", "lechuga"}


async def test_a_tenant_reads_only_its_own_images(
    engine: TemporalPipelineEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19: tenant B read tenant A's image from the one shared directory, and a missing file
    answered differently (an existence check). Now each tenant has its folder, and every refusal
    is the same."""
    monkeypatch.setenv("PIPELINE_ENGINE_IMAGE_DIR", str(tmp_path))
    bundled = resources.files("pipeline_engine.builtin_steps").joinpath("data/crates.png")
    (tmp_path / "tenant-a").mkdir()
    (tmp_path / "tenant-b").mkdir()
    with resources.as_file(bundled) as source:
        shutil.copy(source, tmp_path / "tenant-a" / "crates.png")
    (tmp_path / "tenant-b" / "link.png").symlink_to(tmp_path / "tenant-a" / "crates.png")
    config = {**seed_pipeline_config(), "failure_hold_s": 0}
    config["defaults"] = {"retry": {"max_attempts": 1}}
    settings = seed_tenant_config()["settings"]

    async def segmentation(tenant: str, path: str) -> tuple[PipelineState, str | None]:
        created = await engine.create_pipeline(
            config, input={"image_path": path}, tenant_id=tenant, settings=settings, start=True
        )
        status = await wait_for_state(engine, created.pipeline_id)
        stage = status.stage("segmentation")
        return status.state, stage.error.message if stage.error else None

    assert (await segmentation("tenant-a", "crates.png"))[0] is PipelineState.SUCCEEDED
    answers = {
        path: await segmentation("tenant-b", path)
        for path in (
            "crates.png",  # A's name, in B's folder: not there
            "../tenant-a/crates.png",
            str(tmp_path / "tenant-a" / "crates.png"),
            "link.png",  # a link out of B's folder
            "../tenant-a/missing.png",  # does not exist anywhere
            "missing.png",
        )
    }
    assert set(answers.values()) == {(PipelineState.FAILED, REFUSED)}, answers
