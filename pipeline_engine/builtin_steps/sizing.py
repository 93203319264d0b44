"""Built-in step ``size_calculator``: physical sizes of the detected produce."""

from __future__ import annotations

import math
from typing import Any

from pipeline_engine.builtin_steps._results import as_box, detections_of
from pipeline_engine.steps import StepContext, step

__all__ = ["size_calculator"]


def _measure(det: dict[str, Any], mm_per_pixel: float, where: str) -> dict[str, Any]:
    """One item: the box read as an ellipse, its mean axis as the diameter."""
    x0, y0, x1, y1 = as_box(det.get("bbox"), where)
    w, h = max(0, x1 - x0), max(0, y1 - y0)
    return {
        "label": det.get("label"),
        "bbox": [x0, y0, x1, y1],
        "segment_id": det.get("segment_id"),
        "diameter_mm": round((w + h) / 2 * mm_per_pixel, 2),
        "area_mm2": round(math.pi / 4 * w * h * mm_per_pixel**2, 2),
    }


def _stats(diameters: list[float]) -> dict[str, Any]:
    return {
        "count": len(diameters),
        "mean_diameter_mm": round(sum(diameters) / len(diameters), 2),
        "min_diameter_mm": min(diameters),
        "max_diameter_mm": max(diameters),
    }


@step
def size_calculator(ctx: StepContext, mm_per_pixel: float = 1.5) -> dict[str, Any]:
    """Turn detection boxes into physical sizes.

    Takes a result with a `detections` list (e.g. from `aggregate_detections`) and, with the
    camera scale `mm_per_pixel`, reads each box as an ellipse: `diameter_mm` is its mean axis,
    `area_mm2` its area. Returns `{"items": [{"label", "bbox", "segment_id", "diameter_mm",
    "area_mm2"}], "summary": {"count", "mm_per_pixel", "by_label": {label: {"count",
    "mean_diameter_mm", "min_diameter_mm", "max_diameter_mm"}}}}`.
    """
    if not mm_per_pixel > 0 or not math.isfinite(mm_per_pixel):
        raise ValueError(f"mm_per_pixel must be a positive number, got {mm_per_pixel}")
    detections = detections_of(ctx.previous)
    if detections is None:
        raise ValueError(
            "size_calculator expects a result with a 'detections' list, "
            f"got {type(ctx.previous).__name__}"
        )
    items = [
        _measure(det, mm_per_pixel, f"detections[{i}].bbox") for i, det in enumerate(detections)
    ]
    by_label: dict[str, list[float]] = {}
    for item in items:
        by_label.setdefault(str(item["label"]), []).append(item["diameter_mm"])
    return {
        "items": items,
        "summary": {
            "count": len(items),
            "mm_per_pixel": mm_per_pixel,
            "by_label": {label: _stats(d) for label, d in sorted(by_label.items())},
        },
    }
