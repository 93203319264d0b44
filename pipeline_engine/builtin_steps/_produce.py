"""Finding produce (tomatoes, lettuces) in a window of an image by colour blobs.

A detection's score says how much its blob looks like a whole round fruit: the blob should fill
about pi/4 of its box (a disc in a square) and the box should be square. A fruit cut in half by a
tile edge fills its box as well but is twice as long as it is wide, so it scores about 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline_engine.builtin_steps._boxes import Box
from pipeline_engine.builtin_steps._colour import PRODUCE_MASKS
from pipeline_engine.builtin_steps._components import components

__all__ = ["LABELS", "Blob", "find_produce", "produce_pixels", "roundness"]

LABELS = tuple(PRODUCE_MASKS)
_DISC_FILL = math.pi / 4


@dataclass(frozen=True)
class Blob:
    """A produce detection in image coordinates."""

    label: str
    bbox: Box
    score: float


def _crop(rgb: NDArray[np.uint8], box: Box) -> NDArray[np.uint8]:
    x0, y0, x1, y1 = box
    return rgb[y0:y1, x0:x1]


def roundness(rgb: NDArray[np.uint8], label: str, box: Box) -> float:
    """Score in [0, 1] of the ``label``-coloured pixels in ``box`` being one whole round fruit."""
    patch = PRODUCE_MASKS[label](_crop(rgb, box))
    if patch.size == 0:
        return 0.0
    h, w = int(patch.shape[0]), int(patch.shape[1])
    fill = min(1.0, float(patch.mean()) / _DISC_FILL)
    return round(fill * min(w, h) / max(w, h), 3)


def find_produce(rgb: NDArray[np.uint8], window: Box, min_area: int) -> list[Blob]:
    """Produce blobs of at least ``min_area`` pixels inside ``window`` (clipped to it).

    Blobs are 4-connected regions of tomato-red or lettuce-green pixels; boxes are returned in
    image coordinates, ordered by label then raster order.
    """
    crop = _crop(rgb, window)
    ox, oy = window[0], window[1]
    found: list[Blob] = []
    for label, mask_of in PRODUCE_MASKS.items():
        _, blobs = components(mask_of(crop), min_area=min_area)
        for blob in blobs:
            x0, y0, x1, y1 = blob.bbox
            box = (x0 + ox, y0 + oy, x1 + ox, y1 + oy)
            found.append(Blob(label, box, roundness(rgb, label, box)))
    return found


def produce_pixels(rgb: NDArray[np.uint8], window: Box) -> int:
    """How many pixels in ``window`` have a produce colour."""
    crop = _crop(rgb, window)
    return int(sum(int(np.count_nonzero(mask_of(crop))) for mask_of in PRODUCE_MASKS.values()))
