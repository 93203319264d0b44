"""Where the built-in steps get their pixels: the bundled image or one named by the pipeline input.

The pipeline input may carry an image as ``{"image_png_base64": "..."}`` (any format Pillow reads,
base64-encoded) or ``{"image_path": "..."}``: a file in the pipeline's tenant's folder of the
worker's image directory, ``<PIPELINE_ENGINE_IMAGE_DIR>/<tenant id>/`` (``_no_tenant`` for a
pipeline without a tenant; the variable unset, the default, refuses every path). Only a regular
file of at most ``MAX_IMAGE_BYTES`` under that folder (after resolving links) is read, so a
pipeline cannot name another tenant's file (``../tenant-a/x.png``, an absolute path, a link out);
whatever is refused (another tenant's, outside it, missing, a directory, a FIFO, a device, too
big, not an image) gets the same error, so the answers tell nothing about the worker's files.
Any other input - ``None``, ``{}``, a dict without those keys - means the bundled
``data/crates.png``.
Steps do not pass pixels to each other, so every step that needs them calls :func:`load_image`;
decoding is cached so a chain reads the image once per worker.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import os
import re
import stat
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

IMAGE_DIR_ENV = "PIPELINE_ENGINE_IMAGE_DIR"
MAX_IMAGE_BYTES = 32 * 1024 * 1024
REFUSED = "image_path: no readable image at that path in the worker's image directory"

__all__ = [
    "BUNDLED",
    "IMAGE_DIR_ENV",
    "MAX_IMAGE_BYTES",
    "NO_TENANT",
    "REFUSED",
    "LoadedImage",
    "load_image",
    "tenant_image_dir",
]

BUNDLED = "bundled:crates.png"
_MAX_PIXELS = 4096 * 4096
NO_TENANT = "_no_tenant"
"""The image folder of pipelines without a tenant (no tenant id starts with ``_``)."""
_TENANT_FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")


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


def _read_allowed(root: str, path: str) -> bytes | None:
    """The bytes of ``path`` if it is a regular file under ``root`` within the size limit."""
    try:
        base = Path(root).resolve(strict=True)
        target = (base / path).resolve(strict=True)  # an absolute path replaces the base
        if not target.is_relative_to(base):
            return None
        # O_NONBLOCK: a FIFO must not block the worker; O_NOFOLLOW: no link swapped in since
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except (OSError, RuntimeError, ValueError):
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_IMAGE_BYTES:
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MAX_IMAGE_BYTES + 1)
    return data if len(data) <= MAX_IMAGE_BYTES else None


def tenant_image_dir(root: str | Path, tenant_id: str | None) -> Path | None:
    """The folder of ``root`` whose images a tenant's pipelines may read (``None``: a tenant id
    that cannot be one folder name, which the API never lets through)."""
    name = NO_TENANT if tenant_id is None else tenant_id
    if name != NO_TENANT and not _TENANT_FOLDER.fullmatch(name):
        return None
    return Path(root) / name


def _from_path(path: str, tenant_id: str | None) -> NDArray[np.uint8]:
    root = os.environ.get(IMAGE_DIR_ENV)
    if not root:
        raise ValueError(
            f"image_path: reading worker files is off (set {IMAGE_DIR_ENV} to a directory of "
            "images to allow it)"
        )
    folder = tenant_image_dir(root, tenant_id)
    data = _read_allowed(str(folder), path) if folder is not None else None
    if data is None:
        raise ValueError(REFUSED)
    try:
        return _to_rgb_array(data, "image_path")
    except ValueError:
        raise ValueError(REFUSED) from None


def load_image(pipeline_input: Any, *, tenant_id: str | None) -> LoadedImage:
    """The image a pipeline of ``tenant_id`` works on, chosen by its input (see the module
    docstring): an ``image_path`` is read from that tenant's folder only.

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
            if not isinstance(path, str):
                raise ValueError("image_path: expected a string")
            return LoadedImage(_from_path(path, tenant_id), f"input:image_path:{path}")
    return LoadedImage(_bundled(), BUNDLED)
