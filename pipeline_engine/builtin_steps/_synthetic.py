"""The bundled example image: crates ("cajones") of tomatoes and lettuces, drawn from a seed.

:func:`ground_truth` lays the scene out (what is where, as plain data) and :func:`make_image`
paints it, so tests can compare what the built-in steps find with what was drawn. Run this module
to (re)write ``data/crates.png``::

    python -m pipeline_engine.builtin_steps._synthetic

Boxes are ``(x0, y0, x1, y1)`` in pixels, half-open (``x1``/``y1`` are one past the last pixel).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["HEIGHT", "WIDTH", "Crate", "Produce", "Scene", "ground_truth", "make_image"]

WIDTH = 320
HEIGHT = 240

Box = tuple[int, int, int, int]
Colour = tuple[int, int, int]

_FRAME = 4  # crate wall thickness, px
_PITCH = 22  # distance between produce slots inside a crate, px
_RADIUS = {"tomate": 5, "lechuga": 8}
_PRODUCE_COLOUR: dict[str, Colour] = {"tomate": (210, 36, 30), "lechuga": (84, 172, 64)}
_CRATE_COLOUR: dict[str, tuple[Colour, Colour]] = {  # (wall, floor)
    "claro-cajon": ((196, 160, 112), (222, 190, 140)),
    "cajon": ((92, 58, 32), (122, 80, 46)),
}
_BACKGROUND: Colour = (96, 104, 112)
_NOISE_SIGMA = 3.0

# (kind, box, empty?) - the empty crate is the one segment_filter drops for holding nothing.
_CRATES: tuple[tuple[str, Box, bool], ...] = (
    ("claro-cajon", (6, 6, 106, 82), False),
    ("cajon", (112, 6, 212, 82), False),
    ("claro-cajon", (218, 6, 314, 82), False),
    ("cajon", (6, 90, 106, 166), False),
    ("claro-cajon", (112, 90, 212, 166), True),
    ("cajon", (218, 90, 314, 166), False),
    ("claro-cajon", (6, 174, 126, 234), False),
)
# Loose planks: crate-coloured but too small to be a crate.
_DEBRIS: tuple[tuple[str, Box], ...] = (
    ("claro-cajon", (150, 200, 166, 208)),
    ("cajon", (190, 182, 202, 192)),
)
# Produce lying on the floor, outside every crate.
_LOOSE: tuple[tuple[str, int, int], ...] = (("tomate", 290, 212), ("lechuga", 250, 214))


@dataclass(frozen=True)
class Produce:
    """One tomato or lettuce: a disc of ``radius`` around ``(cx, cy)``."""

    label: str
    cx: int
    cy: int
    radius: int

    @property
    def bbox(self) -> Box:
        """The disc's bounding box."""
        r = self.radius
        return (self.cx - r, self.cy - r, self.cx + r + 1, self.cy + r + 1)


@dataclass(frozen=True)
class Crate:
    """A crate of ``kind`` ("claro-cajon" or "cajon") and the produce inside it."""

    kind: str
    bbox: Box
    items: tuple[Produce, ...]


@dataclass(frozen=True)
class Scene:
    """Everything drawn in the image."""

    width: int
    height: int
    crates: tuple[Crate, ...]
    debris: tuple[tuple[str, Box], ...]
    loose: tuple[Produce, ...]


def _slot_centres(box: Box) -> list[tuple[int, int]]:
    """Centres of the produce slots of a crate: a grid of ``_PITCH`` inside the walls."""
    x0, y0, x1, y1 = box
    inner_w, inner_h = x1 - x0 - 2 * _FRAME, y1 - y0 - 2 * _FRAME
    cols, rows = inner_w // _PITCH, inner_h // _PITCH
    left = x0 + _FRAME + (inner_w - cols * _PITCH) // 2 + _PITCH // 2
    top = y0 + _FRAME + (inner_h - rows * _PITCH) // 2 + _PITCH // 2
    return [(left + c * _PITCH, top + r * _PITCH) for r in range(rows) for c in range(cols)]


def _fill_crate(box: Box, rng: np.random.Generator) -> tuple[Produce, ...]:
    """Random produce for the slots of one crate (at least one item), jittered by a pixel."""
    items: list[Produce] = []
    for cx, cy in _slot_centres(box):
        pick = rng.random()
        dx, dy = (int(v) for v in rng.integers(-1, 2, size=2))
        if pick < 0.45:
            items.append(Produce("tomate", cx + dx, cy + dy, _RADIUS["tomate"]))
        elif pick < 0.8:
            items.append(Produce("lechuga", cx + dx, cy + dy, _RADIUS["lechuga"]))
    if not items:
        cx, cy = _slot_centres(box)[0]
        items.append(Produce("tomate", cx, cy, _RADIUS["tomate"]))
    return tuple(items)


def ground_truth(seed: int = 7) -> Scene:
    """The scene :func:`make_image` draws for ``seed``: crates, their produce, debris."""
    rng = np.random.default_rng(seed)
    crates = tuple(
        Crate(kind, box, () if empty else _fill_crate(box, rng)) for kind, box, empty in _CRATES
    )
    loose = tuple(Produce(label, cx, cy, _RADIUS[label]) for label, cx, cy in _LOOSE)
    return Scene(WIDTH, HEIGHT, crates, _DEBRIS, loose)


def _paint_box(img: NDArray[np.float64], box: Box, colour: Colour) -> None:
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = colour


def _paint_crate(img: NDArray[np.float64], crate: Crate) -> None:
    """Walls, a lighter floor and darker slat lines across it."""
    wall, floor = _CRATE_COLOUR[crate.kind]
    x0, y0, x1, y1 = crate.bbox
    _paint_box(img, crate.bbox, wall)
    _paint_box(img, (x0 + _FRAME, y0 + _FRAME, x1 - _FRAME, y1 - _FRAME), floor)
    for y in range(y0 + _FRAME + 10, y1 - _FRAME, 12):
        _paint_box(img, (x0 + _FRAME, y, x1 - _FRAME, y + 2), wall)


def _paint_produce(img: NDArray[np.float64], item: Produce, tint: float) -> None:
    """A disc shaded darker towards its rim, so it reads as round."""
    x0, y0, x1, y1 = item.bbox
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d2 = (xx - item.cx) ** 2 + (yy - item.cy) ** 2
    inside = d2 <= item.radius**2
    shade = tint * (1.0 - 0.25 * d2 / item.radius**2)
    colour = np.asarray(_PRODUCE_COLOUR[item.label], dtype=np.float64)
    patch = img[y0:y1, x0:x1]
    patch[inside] = shade[inside, None] * colour


def make_image(seed: int = 7) -> NDArray[np.uint8]:
    """Paint :func:`ground_truth` for ``seed`` as an ``(HEIGHT, WIDTH, 3)`` RGB array.

    Deterministic: the same seed always gives the same pixels (layout and sensor noise).
    """
    scene = ground_truth(seed)
    rng = np.random.default_rng([seed, 1])
    img = np.empty((scene.height, scene.width, 3), dtype=np.float64)
    img[:] = _BACKGROUND
    img += np.linspace(-8.0, 8.0, scene.height)[:, None, None]  # uneven lighting
    for crate in scene.crates:
        _paint_crate(img, crate)
    for kind, box in scene.debris:
        _paint_box(img, box, _CRATE_COLOUR[kind][0])
    for crate in scene.crates:
        for item in crate.items:
            _paint_produce(img, item, float(rng.uniform(0.92, 1.05)))
    for item in scene.loose:
        _paint_produce(img, item, 1.0)
    img += rng.normal(0.0, _NOISE_SIGMA, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_png(path: Path, seed: int = 7) -> None:
    """Write :func:`make_image` for ``seed`` to ``path`` as a PNG."""
    from PIL import Image

    Image.fromarray(make_image(seed)).save(path, format="PNG", optimize=True)


if __name__ == "__main__":
    target = Path(__file__).with_name("data") / "crates.png"
    write_png(target)
    print(f"wrote {target}")
