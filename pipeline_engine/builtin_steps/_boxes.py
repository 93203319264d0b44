"""Axis-aligned boxes ``(x0, y0, x1, y1)`` (half-open): overlap measures, NMS, and merging.

* :func:`nms` - classic non-maximum suppression: keep the best-scored box, drop the others that
  overlap it by IoU, repeat.
* :func:`merge_groups` - non-maximum *merging*, what sliced detection needs: boxes that are pieces
  of one object cut by tile edges overlap a lot relative to the smaller piece (but not
  necessarily by IoU), so they are grouped by intersection-over-smaller and replaced by their
  union.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["Box", "area", "intersection", "ios", "iou", "merge_groups", "nms", "union"]

Box = tuple[int, int, int, int]


def area(box: Box) -> int:
    """Pixels covered by ``box`` (0 for an empty box)."""
    x0, y0, x1, y1 = box
    return max(0, x1 - x0) * max(0, y1 - y0)


def intersection(a: Box, b: Box) -> int:
    """Pixels covered by both boxes."""
    return area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def iou(a: Box, b: Box) -> float:
    """Intersection over union, in [0, 1] (0 when both boxes are empty)."""
    inter = intersection(a, b)
    total = area(a) + area(b) - inter
    return inter / total if total else 0.0


def ios(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area, in [0, 1]: 1 when one box lies inside the other."""
    smaller = min(area(a), area(b))
    return intersection(a, b) / smaller if smaller else 0.0


def union(boxes: Sequence[Box]) -> Box:
    """The smallest box containing all ``boxes`` (at least one)."""
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def nms(boxes: Sequence[Box], scores: Sequence[float], iou_threshold: float) -> list[int]:
    """Indices of the boxes kept by greedy NMS, best score first (ties: earlier index first).

    A box is dropped when its IoU with an already kept box is ``>= iou_threshold``.
    """
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    kept: list[int] = []
    for i in order:
        if all(iou(boxes[i], boxes[k]) < iou_threshold for k in kept):
            kept.append(i)
    return kept


def merge_groups(boxes: Sequence[Box], ios_threshold: float) -> list[list[int]]:
    """Group boxes that overlap by intersection-over-smaller ``>= ios_threshold``, transitively.

    Returns the groups as lists of indices (each sorted, groups ordered by their first index).
    Overlap is also checked between the unions of groups, until no two groups overlap, so a
    chain of pieces of one object ends up in one group.
    """
    groups = [[i] for i in range(len(boxes))]
    hulls = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if groups[i] and groups[j] and ios(hulls[i], hulls[j]) >= ios_threshold:
                    groups[i] += groups[j]
                    groups[j] = []
                    hulls[i] = union([hulls[i], hulls[j]])
                    changed = True
    return [sorted(g) for g in groups if g]
