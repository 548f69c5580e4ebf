"""A scan as arrays: the colour pixels, and darkness with the lighting taken out.

Darkness is ``1 - grey / paper``, where ``paper`` is a smooth estimate of the blank paper's
brightness under the scan's own lighting (the upper envelope of the page: a large maximum
filter on a shrunken copy, then smoothed). Shadows, uneven lighting and tinted paper then all
read as darkness 0, and ink and printed lines as the share of light they absorb.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from hanzi_grader.models.preprocessing import ImageSource, load_image
from PIL import Image, ImageOps
from scipy import ndimage

from hanzi_grader.errors import InvalidImage

# The paper estimate must see past the widest patch of ink (a thick brush stroke crossing
# another): its window is this share of the page's long side.
PAPER_WINDOW = 0.03
WORKING_SIDE = 400  # the paper estimate is made on a copy about this size


@dataclass
class Page:
    """One scanned sheet: RGB pixels (uint8, rows x columns x 3)."""

    rgb: np.ndarray
    name: str = "sheet"

    @classmethod
    def open(cls, source: ImageSource, *, name: str | None = None,
             max_pixels: int | None = None) -> Page:
        """Read a scan from bytes, a path, a PIL image or an array; InvalidImage if unusable."""
        if isinstance(source, str | Path):
            name = name or str(source)
        if isinstance(source, np.ndarray) and source.ndim == 3 and source.shape[2] == 3:
            return cls(np.ascontiguousarray(source, dtype=np.uint8), name or "sheet")
        if isinstance(source, Image.Image):
            image = ImageOps.exif_transpose(source)
        else:
            # load_image applies EXIF rotation and checks size and corruption; it gives grey,
            # so colour is read again from the same decoded file when there is colour.
            grey = load_image(source, max_pixels=max_pixels)
            image = grey
            if isinstance(source, bytes | bytearray | str | Path):
                image = _colour_image(source, grey)
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
        if min(rgb.shape[:2]) < 32:
            raise InvalidImage(f"{name or 'sheet'}: {rgb.shape[1]}x{rgb.shape[0]} pixels is "
                               f"too small to hold a grid")
        return cls(rgb, name or "sheet")

    @property
    def shape(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]

    @cached_property
    def grey(self) -> np.ndarray:
        """Luminance in [0, 1] (float32)."""
        weights = np.array([0.299, 0.587, 0.114], np.float32)
        return (self.rgb.astype(np.float32) @ weights) * (1.0 / 255.0)

    @cached_property
    def darkness(self) -> np.ndarray:
        """How much light each pixel absorbs relative to the paper around it, in [0, 1]."""
        return darkness(self.grey)

    def channel_darkness(self, channel: int) -> np.ndarray:
        """``darkness`` of one colour channel (0 red, 1 green, 2 blue)."""
        return darkness(self.rgb[..., channel].astype(np.float32) * (1.0 / 255.0))


def darkness(grey: np.ndarray) -> np.ndarray:
    """``1 - grey / paper`` clipped to [0, 1]; see the module docstring."""
    paper = paper_brightness(grey)
    return np.clip(1.0 - grey / np.maximum(paper, 0.02), 0.0, 1.0).astype(np.float32)


def paper_brightness(grey: np.ndarray) -> np.ndarray:
    """A smooth estimate of the blank paper's brightness at every pixel."""
    height, width = grey.shape
    factor = max(1, round(max(height, width) / WORKING_SIDE))
    small = _shrink(grey, factor)
    window = max(3, round(PAPER_WINDOW * max(height, width) / factor)) | 1
    envelope = ndimage.maximum_filter(small, size=window, mode="nearest")
    envelope = ndimage.uniform_filter(envelope, size=window, mode="nearest")
    return _grow(envelope, factor, grey.shape)


def _shrink(image: np.ndarray, factor: int) -> np.ndarray:
    """Block means of ``factor`` x ``factor`` pixels (the edges padded by repetition)."""
    if factor == 1:
        return image.astype(np.float32)
    height, width = image.shape
    pad = ((0, -height % factor), (0, -width % factor))
    padded = np.pad(image, pad, mode="edge")
    h, w = padded.shape
    return padded.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


def _grow(image: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    if factor == 1:
        return image[: shape[0], : shape[1]]
    # Block centres sit at (k + 0.5) * factor - 0.5 in full-size coordinates.
    rows = (np.arange(shape[0]) + 0.5) / factor - 0.5
    cols = (np.arange(shape[1]) + 0.5) / factor - 0.5
    r = np.clip(rows, 0, image.shape[0] - 1)
    c = np.clip(cols, 0, image.shape[1] - 1)
    r0, c0 = np.floor(r).astype(int), np.floor(c).astype(int)
    r1 = np.minimum(r0 + 1, image.shape[0] - 1)
    c1 = np.minimum(c0 + 1, image.shape[1] - 1)
    fr, fc = (r - r0)[:, None], (c - c0)[None, :]
    top = image[r0][:, c0] * (1 - fc) + image[r0][:, c1] * fc
    bottom = image[r1][:, c0] * (1 - fc) + image[r1][:, c1] * fc
    return (top * (1 - fr) + bottom * fr).astype(np.float32)


def _colour_image(source: bytes | bytearray | str | Path, grey: Image.Image) -> Image.Image:
    try:
        data = Path(source).read_bytes() if isinstance(source, str | Path) else bytes(source)
        image = Image.open(io.BytesIO(data))
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image.convert("RGBA"))
        if image.mode in ("I;16", "I", "F"):
            return grey  # 16-bit and float scans are grey; load_image scaled them already
        return image.convert("RGB")
    except Exception:  # the grey image was readable; colour is a bonus
        return grey
