"""Built-in step ``aggregate_detections``: one de-duplicated list from several detectors."""

from __future__ import annotations

from typing import Any

from pipeline_engine.builtin_steps._boxes import nms
from pipeline_engine.builtin_steps._results import as_box, detections_of
from pipeline_engine.steps import StepContext, step

__all__ = ["aggregate_detections"]


def _inputs(previous: Any) -> list[Any]:
    """The chord's list of member results (a lone detection result counts as a list of one; a
    map's list of per-segment lists is flattened)."""
    if isinstance(previous, list):
        return [x for entry in previous for x in (entry if isinstance(entry, list) else [entry])]
    if detections_of(previous) is not None:
        return [previous]
    raise ValueError(
        "aggregate_detections expects the list of detection results of a chord's group, "
        f"got {type(previous).__name__}"
    )


def _skip_reason(entry: Any) -> dict[str, Any] | None:
    """Why a group member's result cannot be used, or ``None`` if it can."""
    if isinstance(entry, dict) and entry.get("__failed__"):
        reason: dict[str, Any] = {"reason": "failed"}
        if isinstance(entry.get("error"), str | dict):
            reason["error"] = entry["error"]
        return reason
    if entry is None:
        return {"reason": "no_result"}
    if detections_of(entry) is None:
        return {"reason": "not_a_detection_result"}
    return None


def _species(settings: dict[str, Any]) -> list[str] | None:
    """The tenant's ``species`` setting as a list of labels, or ``None`` when not set."""
    value = settings.get("species") if isinstance(settings, dict) else None
    if value is None or value == []:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"settings.species must be a list of names, got {value!r}")


def _clean(det: dict[str, Any], method: Any, where: str) -> dict[str, Any]:
    score = det.get("score", 0.0)
    if not isinstance(score, int | float) or isinstance(score, bool):
        raise ValueError(f"{where}.score: expected a number, got {score!r}")
    return {
        "label": str(det.get("label")),
        "bbox": list(as_box(det.get("bbox"), f"{where}.bbox")),
        "score": float(score),
        "segment_id": det.get("segment_id"),
        "method": method if isinstance(method, str) else None,
    }


@step
def aggregate_detections(ctx: StepContext, iou_threshold: float = 0.5) -> dict[str, Any]:
    """Merge the detections of several detectors into one list without duplicates.

    Takes the list of results of a chord's group (e.g. `sahi_detection` and `detection`).
    Members that failed (`{"__failed__": true, ...}`), produced nothing, or are not detection
    results are skipped and listed in `"skipped_inputs"` (`[{"index", "reason"}]`). When the
    tenant settings name `species` (e.g. `["tomate", "lechuga"]`), other labels are left out.
    Boxes of the same label overlapping by IoU >= `iou_threshold` are duplicates: the
    best-scored one is kept. Returns `{"detections": [{"label", "bbox", "score", "segment_id",
    "method"}], "counts": {label: n}, "duplicates_removed", "filtered_out", "skipped_inputs"}`.
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    species = _species(ctx.settings)
    merged: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for index, entry in enumerate(_inputs(ctx.previous)):
        reason = _skip_reason(entry)
        if reason is not None:
            skipped.append({"index": index, **reason})
            continue
        for k, det in enumerate(detections_of(entry) or []):
            merged.append(_clean(det, entry.get("method"), f"previous[{index}].detections[{k}]"))
    wanted = [d for d in merged if species is None or d["label"] in species]
    kept: list[dict[str, Any]] = []
    for label in sorted({d["label"] for d in wanted}):
        same = [d for d in wanted if d["label"] == label]
        boxes = [as_box(d["bbox"], "bbox") for d in same]
        keep = nms(boxes, [d["score"] for d in same], iou_threshold)
        kept.extend(same[i] for i in keep)
    kept.sort(key=lambda d: (d["bbox"][1], d["bbox"][0], d["label"]))
    counts = dict.fromkeys(species or [], 0)
    for d in kept:
        counts[d["label"]] = counts.get(d["label"], 0) + 1
    return {
        "detections": kept,
        "counts": counts,
        "duplicates_removed": len(wanted) - len(kept),
        "filtered_out": len(merged) - len(wanted),
        "skipped_inputs": skipped,
    }
