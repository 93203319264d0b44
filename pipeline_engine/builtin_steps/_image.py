"""Where the built-in steps get their pixels: the bundled image or one named by the pipeline input.

The pipeline input may carry an image as ``{"image_png_base64": "..."}`` (any format Pillow reads,
base64-encoded) or ``{"image_path": "..."}`` (a file readable by the worker). Any other input -
``None``, ``{}``, a dict without those keys - means the bundled ``data/crates.png``.
Steps do not pass pixels to each other, so every step that needs them calls :func:`load_image`;
decoding is cached so a chain reads the image once per worker.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import os
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

ALLOW_PATH_ENV = "PIPELINE_ENGINE_DEMO_ALLOW_IMAGE_PATH"

__all__ = ["BUNDLED", "LoadedImage", "load_image"]

BUNDLED = "bundled:crates.png"
_MAX_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class LoadedImage:
    """An RGB image as a read-only ``(height, width, 3)`` uint8 array, and where it came from."""

    pixels: NDArray[np.uint8]
    source: str

    @property
    def width(self) -> int:
        """Width in pixels."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Height in pixels."""
        return int(self.pixels.shape[0])

    def describe(self) -> dict[str, Any]:
        """The JSON summary steps put in their results."""
        return {"width": self.width, "height": self.height, "source": self.source}


def _to_rgb_array(data: bytes, what: str) -> NDArray[np.uint8]:
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > _MAX_PIXELS:
                raise ValueError(f"{what}: {img.width}x{img.height} is too large")
            rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{what}: not a readable image ({exc})") from None
    rgb.setflags(write=False)
    return rgb


@functools.lru_cache(maxsize=1)
def _bundled() -> NDArray[np.uint8]:
    data = resources.files(__package__).joinpath("data", "crates.png").read_bytes()
    return _to_rgb_array(data, BUNDLED)


@functools.lru_cache(maxsize=4)
def _from_base64(text: str) -> NDArray[np.uint8]:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("image_png_base64: not valid base64") from None
    return _to_rgb_array(data, "image_png_base64")


def _from_path(path: str) -> NDArray[np.uint8]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ValueError(f"image_path: cannot read {path!r} ({exc.strerror})") from None
    return _to_rgb_array(data, "image_path")


def load_image(pipeline_input: Any) -> LoadedImage:
    """The image a pipeline works on, chosen by its input (see the module docstring).

    Raises ``ValueError`` when the input names an image that cannot be read.
    """
    if isinstance(pipeline_input, dict):
        encoded = pipeline_input.get("image_png_base64")
        if encoded is not None:
            if not isinstance(encoded, str):
                raise ValueError("image_png_base64: expected a string")
            return LoadedImage(_from_base64(encoded), "input:image_png_base64")
        path = pipeline_input.get("image_path")
        if path is not None:
            if os.environ.get(ALLOW_PATH_ENV) != "1":
                raise ValueError(
                    f"image_path: reading worker files is off (set {ALLOW_PATH_ENV}=1 to allow it)"
                )
            if not isinstance(path, str):
                raise ValueError("image_path: expected a string")
            return LoadedImage(_from_path(path), f"input:image_path:{path}")
    return LoadedImage(_bundled(), BUNDLED)
