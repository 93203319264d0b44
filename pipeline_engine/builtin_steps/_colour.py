"""Colour thresholds: which pixels look like crate wood, tomato red or lettuce green.

Every function takes an ``(h, w, 3)`` uint8 RGB array and returns an ``(h, w)`` array. The
thresholds are channel differences, so they tolerate uneven lighting and mild noise.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "LIGHT_WOOD_MIN_BRIGHTNESS",
    "PRODUCE_MASKS",
    "brightness",
    "green_mask",
    "red_mask",
    "wood_mask",
]

# Mean brightness (0-255) above which a wooden region counts as pale ("claro") wood.
LIGHT_WOOD_MIN_BRIGHTNESS = 120.0

BoolMask = NDArray[np.bool_]


def _channels(rgb: NDArray[np.uint8]) -> tuple[NDArray[np.int16], ...]:
    wide = rgb.astype(np.int16)
    return wide[..., 0], wide[..., 1], wide[..., 2]


def wood_mask(rgb: NDArray[np.uint8]) -> BoolMask:
    """Brown/tan pixels: clearly more red than blue, but not as red as a tomato."""
    r, g, b = _channels(rgb)
    mask: BoolMask = ((r - b) > 30) & ((r - g) < 80) & (r >= g)
    return mask


def red_mask(rgb: NDArray[np.uint8]) -> BoolMask:
    """Tomato-red pixels."""
    r, g, b = _channels(rgb)
    mask: BoolMask = (r > 100) & ((r - g) > 60) & ((r - b) > 60)
    return mask


def green_mask(rgb: NDArray[np.uint8]) -> BoolMask:
    """Lettuce-green pixels."""
    r, g, b = _channels(rgb)
    mask: BoolMask = ((g - r) > 40) & ((g - b) > 40)
    return mask


def brightness(rgb: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Per-pixel mean of the three channels."""
    out: NDArray[np.float64] = rgb.mean(axis=-1, dtype=np.float64)
    return out


# Produce label -> the mask that finds it.
PRODUCE_MASKS = {"tomate": red_mask, "lechuga": green_mask}
