"""Built-in steps ``sahi_detection`` and ``detection``: finding produce inside crates."""

from __future__ import annotations

from typing import Any

from pipeline_engine.builtin_steps._boxes import merge_groups, union
from pipeline_engine.builtin_steps._image import load_image
from pipeline_engine.builtin_steps._produce import Blob, find_produce, roundness
from pipeline_engine.builtin_steps._results import Segment, segments_of
from pipeline_engine.builtin_steps._tiles import check_tiling, tiles
from pipeline_engine.steps import StepContext, step

__all__ = ["detection", "sahi_detection"]

# Two tile detections of one label are pieces of one fruit when the smaller lies this much inside
# the other.
_MERGE_IOS = 0.5


def _check_min_area(min_area: int) -> None:
    if min_area < 1:
        raise ValueError(f"min_area must be at least 1, got {min_area}")


def _selected(previous: Any, segment_type: str, step_name: str) -> list[Segment]:
    return [s for s in segments_of(previous, step_name) if s.type == segment_type]


def _as_json(blob: Blob, segment: Segment) -> dict[str, Any]:
    return {
        "label": blob.label,
        "bbox": list(blob.bbox),
        "score": blob.score,
        "segment_id": segment.id,
    }


@step
def sahi_detection(
    ctx: StepContext,
    segment_type: str = "claro-cajon",
    slice_size: int = 64,
    overlap: float = 0.25,
    min_area: int = 30,
) -> dict[str, Any]:
    """Detect tomatoes and lettuces in crates of one type by slicing them into tiles (SAHI-style).

    For every segment of `segment_type` in the previous result (from `segment_filter`), cuts
    `slice_size` x `slice_size` tiles that overlap by `overlap` of a side, finds red
    ("tomate") and green ("lechuga") blobs of at least `min_area` pixels in each tile, maps
    them back to image coordinates and merges the pieces of one fruit seen by several tiles
    into one box (non-maximum merging by intersection over the smaller box), then rescores it.
    Tiles should overlap by at least the size of a fruit (the defaults overlap by 16 px), or a
    fruit cut by every tile it touches may be reported in pieces. Heartbeats once per segment.
    Returns `{"method": "sahi", "segment_type", "tiles", "raw_detections", "detections":
    [{"label", "bbox", "score", "segment_id"}]}`, where `raw_detections` counts the per-tile
    detections before merging.
    """
    _check_min_area(min_area)
    check_tiling(slice_size, overlap)
    segments = _selected(ctx.previous, segment_type, "sahi_detection")
    pixels = load_image(ctx.input, tenant_id=ctx.tenant_id).pixels
    detections: list[dict[str, Any]] = []
    n_tiles = n_raw = 0
    for done, segment in enumerate(segments, start=1):
        raw: list[Blob] = []
        for tile in tiles(segment.bbox, slice_size, overlap):
            raw.extend(find_produce(pixels, tile, min_area))
            n_tiles += 1
        n_raw += len(raw)
        for label in sorted({b.label for b in raw}):
            same = [b for b in raw if b.label == label]
            for group in merge_groups([b.bbox for b in same], _MERGE_IOS):
                box = union([same[i].bbox for i in group])
                merged = Blob(label, box, roundness(pixels, label, box))
                detections.append(_as_json(merged, segment))
        ctx.heartbeat({"segment_id": segment.id, "segments_done": done, "of": len(segments)})
    return {
        "method": "sahi",
        "segment_type": segment_type,
        "tiles": n_tiles,
        "raw_detections": n_raw,
        "detections": detections,
    }


@step
def detection(ctx: StepContext, segment_type: str = "cajon", min_area: int = 30) -> dict[str, Any]:
    """Detect tomatoes and lettuces in crates of one type, looking at each crate whole.

    For every segment of `segment_type` in the previous result (from `segment_filter`), finds
    red ("tomate") and green ("lechuga") blobs of at least `min_area` pixels inside the
    segment's box. Each detection's score (0-1) says how much the blob looks like one whole round
    fruit. Returns `{"method": "full", "segment_type", "detections": [{"label", "bbox",
    "score", "segment_id"}]}`.
    """
    _check_min_area(min_area)
    segments = _selected(ctx.previous, segment_type, "detection")
    pixels = load_image(ctx.input, tenant_id=ctx.tenant_id).pixels
    detections = [
        _as_json(blob, segment)
        for segment in segments
        for blob in find_produce(pixels, segment.bbox, min_area)
    ]
    return {"method": "full", "segment_type": segment_type, "detections": detections}


@step(version="1")
def detection_batch(ctx: StepContext, min_area: int = 30) -> list[dict[str, Any]]:
    """Detect tomatoes and lettuces in a batch of crates: the step of a batched ``map``.

    `previous` is a list of segments (a run of a map with `batch_size` over `/segments`); returns
    one result per segment, in order, each `{"method": "full", "segment_type", "detections":
    [...]}` as `detection` gives for that segment alone (`aggregate_detections` takes the map's
    list as it is). The image is read once per batch, not once per segment.
    """
    _check_min_area(min_area)
    if not isinstance(ctx.previous, list):
        raise ValueError(
            f"detection_batch expects a list of segments (a batched map's run), got "
            f"{type(ctx.previous).__name__}"
        )
    pixels = load_image(ctx.input, tenant_id=ctx.tenant_id).pixels
    out = []
    for raw in ctx.previous:
        (segment,) = segments_of(raw, "detection_batch")
        found = [_as_json(b, segment) for b in find_produce(pixels, segment.bbox, min_area)]
        out.append({"method": "full", "segment_type": segment.type, "detections": found})
    return out
