"""The built-in example steps, run directly on the bundled image and on generated ones."""

from __future__ import annotations

import base64
import io
import json
import os
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import pipeline_engine.builtin_steps as builtin
from pipeline_engine.builtin_steps._boxes import ios, iou, merge_groups, nms
from pipeline_engine.builtin_steps._components import components, label
from pipeline_engine.builtin_steps._image import MAX_IMAGE_BYTES, NO_TENANT, REFUSED, load_image
from pipeline_engine.builtin_steps._synthetic import Scene, ground_truth, make_image
from pipeline_engine.builtin_steps._tiles import tiles
from pipeline_engine.steps import StepContext, default_registry

STEP_NAMES = (
    "segmentation",
    "segment_filter",
    "sahi_detection",
    "detection",
    "aggregate_detections",
    "size_calculator",
)
SEED_PIPELINE: dict[str, Any] = {
    "type": "chain",
    "steps": [
        {"type": "step", "name": "segmentation"},
        {"type": "step", "name": "segment_filter"},
        {
            "type": "chord",
            "group": {
                "type": "group",
                "steps": [
                    {
                        "type": "step",
                        "name": "sahi_detection",
                        "kwargs": {"segment_type": "claro-cajon"},
                    },
                    {"type": "step", "name": "detection", "kwargs": {"segment_type": "cajon"}},
                ],
            },
            "callback": {"type": "step", "name": "aggregate_detections"},
        },
        {"type": "step", "name": "size_calculator"},
    ],
}
SPECIES = {"species": ["tomate", "lechuga"]}


# --- helpers ------------------------------------------------------------------------------------


def ctx(
    previous: Any = None,
    *,
    input: Any = None,
    settings: dict[str, Any] | None = None,
    heartbeats: list[Any] | None = None,
) -> StepContext:
    extra: dict[str, Any] = {}
    if heartbeats is not None:
        extra["_heartbeat"] = heartbeats.append
    return StepContext(
        previous=previous,
        input={} if input is None else input,
        settings=settings or {},
        pipeline_id="p",
        tenant_id="t",
        stage_id="s",
        step="x",
        attempt=1,
        **extra,
    )


def png_base64(pixels: np.ndarray[Any, Any]) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def run_element(
    element: dict[str, Any], previous: Any, input: Any, settings: dict[str, Any]
) -> Any:
    """A tiny sequential interpreter for the seed pipeline's canvas (chain/group/chord/step)."""
    kind = element["type"]
    if kind == "step":
        definition = default_registry.get(element["name"])
        kwargs = definition.bind_kwargs(element.get("kwargs", {}))
        result = definition.fn(ctx(previous, input=input, settings=settings), **kwargs)
        assert json.loads(json.dumps(result)) == result, f"{element['name']} is not plain JSON"
        return result
    if kind == "chain":
        for member in element["steps"]:
            previous = run_element(member, previous, input, settings)
        return previous
    if kind == "group":
        return [run_element(m, previous, input, settings) for m in element["steps"]]
    if kind == "chord":
        results = run_element(element["group"], previous, input, settings)
        return run_element(element["callback"], results, input, settings)
    raise AssertionError(kind)


def run_seed(input: Any = None, settings: dict[str, Any] | None = None) -> Any:
    return run_element(SEED_PIPELINE, None, input, SPECIES if settings is None else settings)


def produce_in(scene: Scene, kind: str | None = None) -> Counter[str]:
    return Counter(i.label for c in scene.crates if kind in (None, c.kind) for i in c.items)


def found(result: dict[str, Any]) -> list[tuple[str, tuple[int, ...]]]:
    return sorted((d["label"], tuple(d["bbox"])) for d in result["detections"])


def expected(scene: Scene, kind: str) -> list[tuple[str, tuple[int, ...]]]:
    return sorted((i.label, i.bbox) for c in scene.crates if c.kind == kind for i in c.items)


@pytest.fixture(scope="module")
def scene() -> Scene:
    return ground_truth()


@pytest.fixture(scope="module")
def segmented() -> dict[str, Any]:
    return builtin.segmentation(ctx())


@pytest.fixture(scope="module")
def filtered(segmented: dict[str, Any]) -> dict[str, Any]:
    return builtin.segment_filter(ctx(segmented))


@pytest.fixture(scope="module")
def sahi(filtered: dict[str, Any]) -> dict[str, Any]:
    return builtin.sahi_detection(ctx(filtered), segment_type="claro-cajon")


@pytest.fixture(scope="module")
def full(filtered: dict[str, Any]) -> dict[str, Any]:
    return builtin.detection(ctx(filtered), segment_type="cajon")


# --- the bundled image --------------------------------------------------------------------------


def test_bundled_png_is_what_the_generator_draws() -> None:
    data = resources.files("pipeline_engine.builtin_steps").joinpath("data", "crates.png")
    with Image.open(io.BytesIO(data.read_bytes())) as img:
        on_disk = np.asarray(img.convert("RGB"))
    drawn = make_image()
    assert on_disk.shape == drawn.shape == (240, 320, 3)
    assert np.array_equal(on_disk, drawn)


def test_generator_is_deterministic_and_seeded() -> None:
    assert np.array_equal(make_image(3), make_image(3))
    assert ground_truth(3) == ground_truth(3)
    assert not np.array_equal(make_image(3), make_image(4))


def test_generator_puts_produce_across_tile_borders(scene: Scene) -> None:
    # A default sahi tile (64 px, stride 48) ends at offset 64 and the next starts at 48 from a
    # crate's corner: some produce must straddle one of those lines.
    def straddles(lo: int, hi: int, origin: int) -> bool:
        return any(lo < origin + line < hi for line in (48, 64))

    crossing = [
        item
        for crate in scene.crates
        if crate.kind == "claro-cajon"
        for item in crate.items
        if straddles(item.bbox[0], item.bbox[2], crate.bbox[0])
        or straddles(item.bbox[1], item.bbox[3], crate.bbox[1])
    ]
    assert len(crossing) >= 5


# --- all six steps are registered, documented and typed -----------------------------------------


def test_import_registers_the_six_steps() -> None:
    for name in STEP_NAMES:
        definition = default_registry.get(name)
        assert definition.fn is getattr(builtin, name)
        assert definition.description and len(definition.description) > 80
        assert not definition.is_async


def test_parameters_are_type_checked_by_the_registry() -> None:
    sahi_def = default_registry.get("sahi_detection")
    schema = sahi_def.parameters_schema()["properties"]
    assert schema["slice_size"]["type"] == "integer"
    assert schema["overlap"]["type"] == "number"
    assert sahi_def.check_kwargs({"segment_type": "cajon", "slice_size": 32}) == []
    assert sahi_def.check_kwargs({"slice_size": "big"})
    assert sahi_def.check_kwargs({"nope": 1}) == [(".nope", "unknown parameter")]


# --- segmentation / segment_filter --------------------------------------------------------------


def test_segmentation_finds_every_crate_and_plank(scene: Scene, segmented: dict[str, Any]) -> None:
    assert segmented["image"] == {"width": 320, "height": 240, "source": "bundled:crates.png"}
    drawn = Counter(c.kind for c in scene.crates) + Counter(kind for kind, _ in scene.debris)
    assert Counter(s["type"] for s in segmented["segments"]) == drawn
    boxes = {(s["type"], tuple(s["bbox"])) for s in segmented["segments"]}
    assert boxes == {(c.kind, c.bbox) for c in scene.crates} | set(scene.debris)
    assert len({s["id"] for s in segmented["segments"]}) == len(segmented["segments"])


def test_segment_areas_count_wood_pixels_only(scene: Scene, segmented: dict[str, Any]) -> None:
    by_box = {tuple(s["bbox"]): s["area"] for s in segmented["segments"]}
    for crate in scene.crates:
        x0, y0, x1, y1 = crate.bbox
        produce = sum(int(np.pi * i.radius**2) for i in crate.items)
        assert by_box[crate.bbox] == pytest.approx((x1 - x0) * (y1 - y0) - produce, rel=0.02)


def test_segment_filter_keeps_full_crates_only(scene: Scene, filtered: dict[str, Any]) -> None:
    kept = {(s["type"], tuple(s["bbox"])) for s in filtered["segments"]}
    assert kept == {(c.kind, c.bbox) for c in scene.crates if c.items}
    empty = sum(1 for c in scene.crates if not c.items)
    assert empty == 1
    assert filtered["dropped"] == len(scene.debris) + empty
    reasons = Counter(d["reason"] for d in filtered["dropped_segments"])
    assert reasons == {"too_small": len(scene.debris), "empty": empty}
    assert filtered["image"]["source"] == "bundled:crates.png"


def test_segment_filter_options(segmented: dict[str, Any], scene: Scene) -> None:
    keep_all = builtin.segment_filter(ctx(segmented), min_area=1, drop_empty=False)
    assert keep_all["dropped"] == 0
    assert len(keep_all["segments"]) == len(segmented["segments"])
    strict = builtin.segment_filter(ctx(segmented), min_area=10_000)
    assert strict["segments"] == []
    assert strict["dropped"] == len(segmented["segments"])


def test_segment_filter_rejects_wrong_input() -> None:
    with pytest.raises(ValueError, match="segment_filter expects"):
        builtin.segment_filter(ctx([1, 2]))


# --- detection ----------------------------------------------------------------------------------


def test_sahi_detection_finds_the_produce_of_pale_crates(
    scene: Scene, filtered: dict[str, Any], sahi: dict[str, Any]
) -> None:
    assert sahi["method"] == "sahi"
    assert sahi["segment_type"] == "claro-cajon"
    assert Counter(d["label"] for d in sahi["detections"]) == produce_in(scene, "claro-cajon")
    assert found(sahi) == expected(scene, "claro-cajon")
    pale = {s["id"] for s in filtered["segments"] if s["type"] == "claro-cajon"}
    assert {d["segment_id"] for d in sahi["detections"]} == pale
    assert all(0.8 < d["score"] <= 1.0 for d in sahi["detections"])


def test_sahi_detection_needs_and_does_deduplication(sahi: dict[str, Any]) -> None:
    # Tiles overlap, so fruit near tile borders is seen more than once (whole or in pieces).
    assert sahi["tiles"] > 3
    assert sahi["raw_detections"] > len(sahi["detections"]) + 10


@pytest.mark.parametrize(("slice_size", "overlap"), [(32, 0.25), (48, 0.5), (40, 0.45), (256, 0.0)])
def test_sahi_detection_is_exact_for_other_tilings(
    scene: Scene, filtered: dict[str, Any], slice_size: int, overlap: float
) -> None:
    result = builtin.sahi_detection(
        ctx(filtered), segment_type="claro-cajon", slice_size=slice_size, overlap=overlap
    )
    assert found(result) == expected(scene, "claro-cajon")


def test_sahi_detection_heartbeats_once_per_segment(filtered: dict[str, Any]) -> None:
    beats: list[Any] = []
    builtin.sahi_detection(ctx(filtered, heartbeats=beats), segment_type="cajon")
    dark = [s["id"] for s in filtered["segments"] if s["type"] == "cajon"]
    assert [b["segment_id"] for b in beats] == dark
    assert beats[-1]["segments_done"] == beats[-1]["of"] == len(dark)


def test_sahi_detection_rejects_bad_tiling(filtered: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="overlap"):
        builtin.sahi_detection(ctx(filtered), overlap=1.0)
    with pytest.raises(ValueError, match="slice_size"):
        builtin.sahi_detection(ctx(filtered), slice_size=0)


def test_full_detection_finds_the_produce_of_dark_crates(
    scene: Scene, full: dict[str, Any]
) -> None:
    assert full["method"] == "full"
    assert full["segment_type"] == "cajon"
    assert Counter(d["label"] for d in full["detections"]) == produce_in(scene, "cajon")
    assert found(full) == expected(scene, "cajon")


def _as_key(d: dict[str, Any]) -> tuple[Any, ...]:
    return (d["label"], d["bbox"], d["score"], d["segment_id"])


def test_sliced_and_whole_detection_agree(filtered: dict[str, Any]) -> None:
    for kind in ("cajon", "claro-cajon"):
        sliced = builtin.sahi_detection(ctx(filtered), segment_type=kind)
        whole = builtin.detection(ctx(filtered), segment_type=kind)
        assert sorted(map(_as_key, sliced["detections"])) == sorted(
            map(_as_key, whole["detections"])
        )


def test_produce_outside_crates_is_not_detected(
    scene: Scene, sahi: dict[str, Any], full: dict[str, Any]
) -> None:
    boxes = [d["bbox"] for d in sahi["detections"] + full["detections"]]
    for item in scene.loose:
        assert all(iou(tuple(b), item.bbox) == 0 for b in boxes)


def test_min_area_drops_small_blobs(filtered: dict[str, Any], scene: Scene) -> None:
    # Tomatoes are 81 px, lettuces 197 px: a 100 px minimum keeps only the lettuces.
    result = builtin.detection(ctx(filtered), segment_type="cajon", min_area=100)
    assert Counter(d["label"] for d in result["detections"]) == {
        "lechuga": produce_in(scene, "cajon")["lechuga"]
    }


# --- aggregate_detections -----------------------------------------------------------------------


def test_aggregate_merges_both_detectors(
    scene: Scene, sahi: dict[str, Any], full: dict[str, Any]
) -> None:
    result = builtin.aggregate_detections(ctx([sahi, full], settings=SPECIES))
    assert result["counts"] == dict(produce_in(scene))
    assert result["duplicates_removed"] == 0
    assert result["skipped_inputs"] == []
    assert len(result["detections"]) == len(sahi["detections"]) + len(full["detections"])
    assert {d["method"] for d in result["detections"]} == {"sahi", "full"}


def test_aggregate_removes_exact_duplicates(sahi: dict[str, Any], full: dict[str, Any]) -> None:
    once = builtin.aggregate_detections(ctx([sahi, full]))
    twice = builtin.aggregate_detections(ctx([sahi, full, sahi, full]))
    assert twice["counts"] == once["counts"]
    assert twice["detections"] == once["detections"]
    assert twice["duplicates_removed"] == len(once["detections"])


def test_aggregate_removes_overlapping_boxes_of_two_methods(filtered: dict[str, Any]) -> None:
    sliced = builtin.sahi_detection(ctx(filtered), segment_type="cajon")
    whole = builtin.detection(ctx(filtered), segment_type="cajon")
    shifted = {
        **whole,
        "detections": [{**d, "bbox": [v + 1 for v in d["bbox"]]} for d in whole["detections"]],
    }
    result = builtin.aggregate_detections(ctx([sliced, shifted]))
    assert result["duplicates_removed"] == len(whole["detections"])
    assert len(result["detections"]) == len(sliced["detections"])
    # With a threshold above the shifted boxes' IoU nothing counts as a duplicate.
    strict = builtin.aggregate_detections(ctx([sliced, shifted]), iou_threshold=0.95)
    assert strict["duplicates_removed"] == 0


def test_aggregate_keeps_different_labels_in_the_same_place() -> None:
    a = {"method": "full", "detections": [{"label": "tomate", "bbox": [0, 0, 10, 10], "score": 1}]}
    b = {"method": "full", "detections": [{"label": "lechuga", "bbox": [0, 0, 10, 10], "score": 1}]}
    result = builtin.aggregate_detections(ctx([a, b]))
    assert result["counts"] == {"lechuga": 1, "tomate": 1}
    assert result["duplicates_removed"] == 0


def test_aggregate_species_filter(scene: Scene, sahi: dict[str, Any], full: dict[str, Any]) -> None:
    result = builtin.aggregate_detections(ctx([sahi, full], settings={"species": ["tomate"]}))
    truth = produce_in(scene)
    assert result["counts"] == {"tomate": truth["tomate"]}
    assert {d["label"] for d in result["detections"]} == {"tomate"}
    assert result["filtered_out"] == truth["lechuga"]
    none = builtin.aggregate_detections(ctx([sahi, full], settings={"species": ["pepino"]}))
    assert none["detections"] == []
    assert none["counts"] == {"pepino": 0}
    everything = builtin.aggregate_detections(ctx([sahi, full], settings={}))
    assert everything["counts"] == dict(truth)


def test_aggregate_skips_failed_and_missing_inputs(sahi: dict[str, Any]) -> None:
    marker = {"__failed__": True, "error": "boom"}
    result = builtin.aggregate_detections(ctx([marker, sahi, None, {"x": 1}]))
    assert result["skipped_inputs"] == [
        {"index": 0, "reason": "failed", "error": "boom"},
        {"index": 2, "reason": "no_result"},
        {"index": 3, "reason": "not_a_detection_result"},
    ]
    assert len(result["detections"]) == len(sahi["detections"])
    all_failed = builtin.aggregate_detections(ctx([marker, marker]))
    assert all_failed["detections"] == []
    assert all_failed["counts"] == {}


def test_aggregate_rejects_wrong_input() -> None:
    with pytest.raises(ValueError, match="aggregate_detections expects"):
        builtin.aggregate_detections(ctx("nope"))
    with pytest.raises(ValueError, match="species"):
        builtin.aggregate_detections(ctx([], settings={"species": 3}))


# --- size_calculator ----------------------------------------------------------------------------


def test_size_calculator_measures_each_item(scene: Scene) -> None:
    final = run_seed()
    truth = produce_in(scene)
    assert final["summary"]["count"] == sum(truth.values())
    by_label = final["summary"]["by_label"]
    # A disc of radius r spans 2r + 1 pixels.
    assert by_label["tomate"]["count"] == truth["tomate"]
    assert by_label["tomate"]["mean_diameter_mm"] == pytest.approx(11 * 1.5)
    assert by_label["lechuga"]["max_diameter_mm"] == pytest.approx(17 * 1.5)
    item = final["items"][0]
    assert set(item) == {"label", "bbox", "segment_id", "diameter_mm", "area_mm2"}


def test_size_calculator_scale_and_shape() -> None:
    dets = {
        "detections": [
            {"label": "lechuga", "bbox": [0, 0, 10, 20], "segment_id": "s"},
            {"label": "lechuga", "bbox": [0, 0, 30, 30], "segment_id": "s"},
        ]
    }
    result = builtin.size_calculator(ctx(dets), mm_per_pixel=2.0)
    assert [i["diameter_mm"] for i in result["items"]] == [30.0, 60.0]
    assert result["items"][0]["area_mm2"] == pytest.approx(np.pi / 4 * 20 * 40, abs=0.01)
    assert result["summary"]["by_label"] == {
        "lechuga": {
            "count": 2,
            "mean_diameter_mm": 45.0,
            "min_diameter_mm": 30.0,
            "max_diameter_mm": 60.0,
        }
    }
    with pytest.raises(ValueError, match="mm_per_pixel"):
        builtin.size_calculator(ctx(dets), mm_per_pixel=0.0)
    with pytest.raises(ValueError, match="detections"):
        builtin.size_calculator(ctx(None))


# --- whole pipeline, other images ---------------------------------------------------------------


def test_seed_pipeline_on_bundled_image(scene: Scene) -> None:
    final = run_seed()
    assert final["summary"]["by_label"]["lechuga"]["count"] == produce_in(scene)["lechuga"]
    json.dumps(final)


def test_every_result_is_plain_json(
    segmented: dict[str, Any], filtered: dict[str, Any], sahi: dict[str, Any], full: dict[str, Any]
) -> None:
    aggregated = builtin.aggregate_detections(ctx([sahi, full]))
    sized = builtin.size_calculator(ctx(aggregated))
    for result in (segmented, filtered, sahi, full, aggregated, sized):
        assert json.loads(json.dumps(result, allow_nan=False)) == result


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seed_pipeline_on_a_base64_input_image(seed: int) -> None:
    truth = ground_truth(seed)
    image_input = {"image_png_base64": png_base64(make_image(seed))}
    segments = builtin.segmentation(ctx(input=image_input))
    assert segments["image"]["source"] == "input:image_png_base64"
    final = run_seed(input=image_input)
    counts = {k: v["count"] for k, v in final["summary"]["by_label"].items()}
    assert counts == dict(produce_in(truth))


def test_image_path_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPELINE_ENGINE_IMAGE_DIR", raising=False)
    with pytest.raises(ValueError, match="reading worker files is off"):
        builtin.segmentation(ctx(input={"image_path": "/etc/passwd"}))


def test_image_paths_outside_the_image_dir_or_not_images_get_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No existence oracle, no blocking on a FIFO, no endless read of a device, no other tenant's
    file (``ctx`` runs as tenant ``t``: its folder is ``<image dir>/t``)."""
    images = tmp_path / "images" / "t"
    images.mkdir(parents=True)
    other = tmp_path / "images" / "other"
    other.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(images / "ok.png")
    (images / "notes.txt").write_text("not an image")
    (images / "sub").mkdir()
    os.mkfifo(images / "pipe")
    with (images / "huge.png").open("wb") as fh:
        fh.truncate(MAX_IMAGE_BYTES + 1)
    (images / "to-passwd").symlink_to("/etc/passwd")
    (images / "to-zero").symlink_to("/dev/zero")
    (tmp_path / "secret.png").write_bytes((images / "ok.png").read_bytes())
    (other / "theirs.png").write_bytes((images / "ok.png").read_bytes())
    (images / "to-theirs").symlink_to(other / "theirs.png")
    monkeypatch.setenv("PIPELINE_ENGINE_IMAGE_DIR", str(images.parent))
    assert builtin.segmentation(ctx(input={"image_path": "ok.png"}))["image"]["width"] == 4
    refused = [
        "/etc/passwd",
        "/dev/zero",
        "/nonexistent/x.png",
        "missing.png",
        "../secret.png",
        str(tmp_path / "secret.png"),
        "notes.txt",
        "sub",
        "pipe",
        "huge.png",
        "to-passwd",
        "to-zero",
        "ok.png\x00.txt",
        "",
        "../other/theirs.png",
        "../other/missing.png",
        str(other / "theirs.png"),
        "to-theirs",
        "../t/../other/theirs.png",
    ]
    for path in refused:
        started = time.monotonic()
        with pytest.raises(ValueError) as err:
            builtin.segmentation(ctx(input={"image_path": path}))
        assert str(err.value) == REFUSED, (path, str(err.value))
        assert time.monotonic() - started < 5, path  # the FIFO did not block
    assert builtin.segmentation(ctx(input={"image_path": "../t/ok.png"}))["image"]["width"] == 4
    for tenant in ("../t", "a/b", ".."):  # not one folder name: refused alike
        with pytest.raises(ValueError) as err:
            load_image({"image_path": "ok.png"}, tenant_id=tenant)
        assert str(err.value) == REFUSED
    (images.parent / NO_TENANT).mkdir()
    (images.parent / NO_TENANT / "mine.png").write_bytes((images / "ok.png").read_bytes())
    assert load_image({"image_path": "mine.png"}, tenant_id=None).width == 4


def test_input_image_path_and_other_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_ENGINE_IMAGE_DIR", str(tmp_path))
    (tmp_path / "t").mkdir()  # the folder of ctx's tenant
    pixels = np.zeros((50, 80, 3), dtype=np.uint8)
    pixels[:] = (96, 104, 112)
    pixels[5:45, 5:75] = (122, 80, 46)  # one dark crate
    yy, xx = np.mgrid[0:50, 0:80]
    pixels[(xx - 20) ** 2 + (yy - 25) ** 2 <= 36] = (210, 36, 30)
    pixels[(xx - 50) ** 2 + (yy - 25) ** 2 <= 100] = (84, 172, 64)
    path = tmp_path / "t" / "one.png"
    Image.fromarray(pixels).save(path)
    final = run_seed(input={"image_path": "one.png"}, settings={})
    assert {k: v["count"] for k, v in final["summary"]["by_label"].items()} == {
        "lechuga": 1,
        "tomate": 1,
    }
    assert [i["diameter_mm"] for i in final["items"]] == [21 * 1.5, 13 * 1.5]


def test_bad_input_images_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_ENGINE_IMAGE_DIR", "/")
    with pytest.raises(ValueError, match="not valid base64"):
        builtin.segmentation(ctx(input={"image_png_base64": "***"}))
    with pytest.raises(ValueError, match="not a readable image"):
        builtin.segmentation(ctx(input={"image_png_base64": base64.b64encode(b"hi").decode()}))
    with pytest.raises(ValueError, match="no readable image"):
        builtin.segmentation(ctx(input={"image_path": "/nonexistent/x.png"}))


def test_inputs_without_an_image_use_the_bundled_one() -> None:
    for value in (None, {}, {"batch": 3}, "hello", [1]):
        assert builtin.segmentation(ctx(input=value))["image"]["source"] == "bundled:crates.png"


# --- helpers: labelling, boxes, tiles -----------------------------------------------------------


def _flood_fill_labels(mask: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], int]:
    h, w = mask.shape
    out = np.zeros((h, w), dtype=np.int32)
    n = 0
    for y in range(h):
        for x in range(w):
            if mask[y, x] and not out[y, x]:
                n += 1
                out[y, x] = n
                stack = [(y, x)]
                while stack:
                    cy, cx = stack.pop()
                    for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
                        if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not out[ny, nx]:
                            out[ny, nx] = n
                            stack.append((ny, nx))
    return out, n


def test_labelling_matches_a_flood_fill() -> None:
    rng = np.random.default_rng(0)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 25, size=2))
        mask = rng.random((h, w)) < rng.random()
        labels, n = label(mask)
        want, m = _flood_fill_labels(mask)
        assert n == m
        assert np.array_equal(labels, want)


def test_components_measure_boxes_and_areas() -> None:
    mask = np.zeros((10, 12), dtype=bool)
    mask[1:4, 2:6] = True
    mask[6:9, 8:11] = True
    mask[0, 11] = True
    _, comps = components(mask, min_area=2)
    assert [(c.bbox, c.area) for c in comps] == [((2, 1, 6, 4), 12), ((8, 6, 11, 9), 9)]
    assert comps[0].centroid == (3.5, 2.0)


def test_box_measures_and_nms() -> None:
    a, b = (0, 0, 10, 10), (5, 0, 15, 10)
    assert iou(a, b) == pytest.approx(50 / 150)
    assert ios(a, (2, 2, 4, 4)) == 1.0
    assert nms([a, b, (0, 0, 10, 9)], [0.5, 0.9, 0.8], 0.5) == [1, 2]
    assert merge_groups([a, (8, 0, 12, 10), (20, 20, 30, 30)], 0.5) == [[0, 1], [2]]
    assert merge_groups([a, (9, 0, 12, 10)], 0.5) == [[0], [1]]


def test_tiles_cover_the_region_with_overlap() -> None:
    region = (6, 6, 106, 82)
    cut = tiles(region, 64, 0.25)
    covered = np.zeros((100, 120), dtype=bool)
    for x0, y0, x1, y1 in cut:
        assert x1 - x0 == 64 and y1 - y0 == 64
        assert region[0] <= x0 and x1 <= region[2] and region[1] <= y0 and y1 <= region[3]
        covered[y0:y1, x0:x1] = True
    assert covered[6:82, 6:106].all()
    assert tiles((0, 0, 10, 10), 64, 0.25) == [(0, 0, 10, 10)]
