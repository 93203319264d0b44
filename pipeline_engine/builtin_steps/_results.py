"""Reading the JSON results earlier built-in steps pass along as ``ctx.previous``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline_engine.builtin_steps._boxes import Box

__all__ = ["Segment", "as_box", "detections_of", "segments_of"]


@dataclass(frozen=True)
class Segment:
    """A crate region found by ``segmentation``."""

    id: str
    type: str
    bbox: Box
    area: int

    def to_json(self) -> dict[str, Any]:
        """The segment as it appears in step results."""
        return {"id": self.id, "type": self.type, "bbox": list(self.bbox), "area": self.area}


def as_box(value: Any, what: str) -> Box:
    """``value`` as a box of four ints, or ``ValueError`` naming ``what``."""
    if (
        not isinstance(value, list | tuple)
        or len(value) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"{what}: expected a bbox [x0, y0, x1, y1] of integers, got {value!r}")
    x0, y0, x1, y1 = value
    return (x0, y0, x1, y1)


def segments_of(previous: Any, step: str) -> list[Segment]:
    """The segments in a ``segmentation``/``segment_filter`` result, or the one segment a
    ``map`` over their ``/segments`` hands each run.

    Raises ``ValueError`` (naming ``step``, the step that was handed the wrong input) otherwise.
    """
    if isinstance(previous, dict) and "bbox" in previous and "segments" not in previous:
        previous = {"segments": [previous]}
    if not isinstance(previous, dict) or not isinstance(previous.get("segments"), list):
        raise ValueError(
            f"{step} expects the result of segmentation or segment_filter as its input, "
            f"got {type(previous).__name__}"
        )
    segments = []
    for i, raw in enumerate(previous["segments"]):
        if not isinstance(raw, dict):
            raise ValueError(f"{step}: segments[{i}] is not an object")
        segments.append(
            Segment(
                id=str(raw.get("id", f"seg-{i + 1}")),
                type=str(raw.get("type", "")),
                bbox=as_box(raw.get("bbox"), f"{step}: segments[{i}].bbox"),
                area=int(raw.get("area", 0)),
            )
        )
    return segments


def detections_of(result: Any) -> list[dict[str, Any]] | None:
    """The ``detections`` list of a detection result, or ``None`` if ``result`` is not one."""
    if isinstance(result, dict) and isinstance(result.get("detections"), list):
        return [d for d in result["detections"] if isinstance(d, dict)]
    return None
