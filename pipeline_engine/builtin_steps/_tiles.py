"""Overlapping tiles over a region, as sliced (SAHI-style) detection cuts them."""

from __future__ import annotations

from pipeline_engine.builtin_steps._boxes import Box

__all__ = ["check_tiling", "tile_starts", "tiles"]


def tile_starts(lo: int, hi: int, size: int, stride: int) -> list[int]:
    """Start offsets of tiles of ``size`` covering ``[lo, hi)`` every ``stride`` pixels.

    The last tile is shifted back to end at ``hi`` (never past it); a span shorter than ``size``
    gets one tile starting at ``lo``.
    """
    starts: list[int] = []
    start = lo
    while True:
        end = min(start + size, hi)
        first = max(lo, end - size)
        if not starts or first > starts[-1]:
            starts.append(first)
        if end >= hi:
            return starts
        start += stride


def check_tiling(size: int, overlap: float) -> None:
    """``ValueError`` unless ``size`` is at least 1 and ``overlap`` is in ``[0, 1)``."""
    if size < 1:
        raise ValueError(f"slice_size must be at least 1, got {size}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")


def tiles(region: Box, size: int, overlap: float) -> list[Box]:
    """Tiles of ``size`` x ``size`` covering ``region``, neighbours sharing ``overlap`` of a side.

    Raises ``ValueError`` for a size or overlap :func:`check_tiling` rejects.
    """
    check_tiling(size, overlap)
    stride = max(1, round(size * (1.0 - overlap)))
    x0, y0, x1, y1 = region
    xs = tile_starts(x0, x1, size, stride)
    ys = tile_starts(y0, y1, size, stride)
    return [(x, y, min(x + size, x1), min(y + size, y1)) for y in ys for x in xs]
