"""Built-in steps ``segmentation`` and ``segment_filter``: finding the crates."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline_engine.builtin_steps._colour import LIGHT_WOOD_MIN_BRIGHTNESS, brightness, wood_mask
from pipeline_engine.builtin_steps._components import components
from pipeline_engine.builtin_steps._image import load_image
from pipeline_engine.builtin_steps._produce import produce_pixels
from pipeline_engine.builtin_steps._results import Segment, segments_of
from pipeline_engine.steps import StepContext, step

__all__ = ["segment_filter", "segmentation"]

# A crate holding fewer produce-coloured pixels than this counts as empty.
_EMPTY_BELOW_PIXELS = 20


@step
def segmentation(ctx: StepContext, min_pixels: int = 50) -> dict[str, Any]:
    """Find the crates in the image by colour and tell pale crates from dark ones.

    Wood-coloured pixels (brown to tan) are grouped into connected regions; regions of fewer than
    `min_pixels` pixels are ignored as specks. Each region is a segment of type "claro-cajon"
    (pale wood) or "cajon" (dark wood), judged by its mean brightness. The image is the bundled
    example unless the pipeline input gives `image_png_base64` or `image_path`. Returns
    `{"image": {"width", "height", "source"}, "segments": [{"id", "type", "bbox", "area"}]}`
    with bbox `[x0, y0, x1, y1]` in pixels (x1/y1 exclusive) and area in pixels.
    """
    if min_pixels < 1:
        raise ValueError(f"min_pixels must be at least 1, got {min_pixels}")
    image = load_image(ctx.input, tenant_id=ctx.tenant_id)
    labels, regions = components(wood_mask(image.pixels), min_area=min_pixels)
    light = brightness(image.pixels).ravel()
    flat = labels.ravel()
    sums = np.bincount(flat, weights=light, minlength=len(regions) + 1)
    counts = np.bincount(flat, minlength=len(regions) + 1)
    segments = []
    for n, region in enumerate(regions, start=1):
        mean = sums[region.label] / counts[region.label]
        kind = "claro-cajon" if mean >= LIGHT_WOOD_MIN_BRIGHTNESS else "cajon"
        segments.append(Segment(f"seg-{n}", kind, region.bbox, region.area).to_json())
    return {"image": image.describe(), "segments": segments}


@step
def segment_filter(
    ctx: StepContext, min_area: int = 400, drop_empty: bool = True
) -> dict[str, Any]:
    """Keep only the segments that are real, non-empty crates.

    Takes the result of `segmentation` and drops segments of fewer than `min_area` pixels
    (loose planks, offcuts) and, when `drop_empty` is true, segments with no produce-coloured
    pixels inside (empty crates, which have nothing to detect). Returns the same shape as
    `segmentation`, plus `"dropped"` (how many were removed) and `"dropped_segments"`
    (`[{"id", "reason"}]`, reason "too_small" or "empty").
    """
    segments = segments_of(ctx.previous, "segment_filter")
    pixels = load_image(ctx.input, tenant_id=ctx.tenant_id).pixels if drop_empty else None
    kept: list[dict[str, Any]] = []
    dropped: list[dict[str, str]] = []
    for seg in segments:
        if seg.area < min_area:
            dropped.append({"id": seg.id, "reason": "too_small"})
        elif pixels is not None and produce_pixels(pixels, seg.bbox) < _EMPTY_BELOW_PIXELS:
            dropped.append({"id": seg.id, "reason": "empty"})
        else:
            kept.append(seg.to_json())
    return {
        "image": ctx.previous.get("image"),
        "segments": kept,
        "dropped": len(dropped),
        "dropped_segments": dropped,
    }
