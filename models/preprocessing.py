"""From whatever a user sends to the network's input: loading, then Melnyk-Net preprocessing.

``load_image`` turns bytes, paths, PIL images or arrays into an upright 8-bit greyscale PIL
image (EXIF orientation applied, transparency composited on white, 16-bit scaled down), and
refuses empty, corrupt and oversized inputs with ``InvalidImage``.

``preprocess`` follows SEEDS.md: grey; Otsu threshold; the larger class is background, made pure
white with the ink dark (ink keeps its grey levels); crop to the ink; pad to a square with white;
resize to size*88/96; add a size*4/96 white border; invert (ink bright on black). The crop is
what real inputs need beyond CASIA's pre-cropped images: a character in a larger page or grid
cell, with specks of noise and ruled lines around it. It also runs for every synthetic training
sample, so it is written for speed (about 0.1 ms for a 100x100 input).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from hanzi_grader.errors import InvalidImage

ImageSource = bytes | bytearray | str | Path | Image.Image | np.ndarray

# Below this grey-level gap between the two Otsu classes the "ink" is paper texture or noise.
MIN_CONTRAST = 32
# A component smaller than this share of the largest one is a speck, not part of a stroke.
SPECK_FRACTION = 0.02
# A row or column this full of ink is a ruled line (grid cell, page border), not handwriting.
LINE_COVERAGE = 0.98
# ... and no thicker than this share of the image side (pen strokes are thicker).
LINE_MAX_THICKNESS = 0.03

# Handwriting is ink on paper, and paper is near-neutral (white, cream, a yellow pad at 0.4): when
# the lightest half of a colour image is more saturated than this, it is a photo of something else.
MAX_PAPER_SATURATION = 0.45

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def _describe(source: object) -> str:
    if isinstance(source, str | Path):
        return str(source)
    if isinstance(source, bytes | bytearray):
        return f"{len(source)} bytes starting {bytes(source[:8])!r}"
    if isinstance(source, np.ndarray):
        return f"array of shape {source.shape} and dtype {source.dtype}"
    return type(source).__name__


def _open_bytes(data: bytes, what: str, max_pixels: int | None) -> Image.Image:
    if not data:
        raise InvalidImage(f"empty image: {what} has 0 bytes")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise InvalidImage(f"not an image: {what}") from None
    except Image.DecompressionBombError as error:
        raise InvalidImage(f"image too large: {what}: {error}") from None
    _check_pixels(image, what, max_pixels)  # before decoding: guards against decompression bombs
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise InvalidImage(f"corrupt or truncated image: {what}: {error}") from None
    return image


def _check_pixels(image: Image.Image, what: str, max_pixels: int | None) -> None:
    width, height = image.size
    if width == 0 or height == 0:
        raise InvalidImage(f"empty image: {what} is {width}x{height}")
    if max_pixels is not None and width * height > max_pixels:
        raise InvalidImage(
            f"image too large: {what} is {width}x{height} = {width * height} pixels, "
            f"over the limit of {max_pixels}"
        )


def _array_to_image(array: np.ndarray) -> Image.Image:
    if array.size == 0:
        raise InvalidImage(f"empty image: {_describe(array)}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InvalidImage(f"not an image: {_describe(array)}; expected HxW, HxWx3 or HxWx4")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype == np.uint16:
        array = (array // 257).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        scale = 255.0 if float(np.nanmax(array)) <= 1.0 else 1.0
        array = np.clip(np.nan_to_num(array) * scale, 0, 255).round().astype(np.uint8)
    elif array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(array))


def _to_grey(image: Image.Image) -> Image.Image:
    """8-bit greyscale, with any transparency composited on white."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        # 16-bit data stored in 32-bit modes too: scale by the range the values actually use.
        top = 255.0 if values.max(initial=0) <= 255 else 65535.0
        return Image.fromarray((np.clip(values, 0, top) * (255.0 / top)).round().astype(np.uint8))
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L")
    if image.mode == "L":
        return image
    if image.mode not in ("RGB", "1", "P"):
        image = image.convert("RGB")  # CMYK, YCbCr and friends go through RGB
    return image.convert("L")


def load_image(
    source: ImageSource,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    reject_colour_photos: bool = False,
) -> Image.Image:
    """Load ``source`` as an upright 8-bit greyscale (mode "L") PIL image.

    Raises ``InvalidImage`` naming the source for missing, empty, corrupt, truncated or
    non-image input, and for input over ``max_bytes`` or ``max_pixels`` (checked before the
    pixels are decoded); with ``reject_colour_photos``, also for a colour image whose lightest
    half is not near-neutral paper (``MAX_PAPER_SATURATION``).
    """
    what = _describe(source)
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            size = path.stat().st_size
            if max_bytes is not None and size > max_bytes:
                raise InvalidImage(f"file too large: {path} has {size} bytes, limit {max_bytes}")
            data = path.read_bytes()
        except IsADirectoryError:
            raise InvalidImage(f"not an image file: {path} is a directory") from None
        except OSError as error:
            raise InvalidImage(f"cannot read {path}: {error.strerror or error}") from None
        image = _open_bytes(data, what, max_pixels)
    elif isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if max_bytes is not None and len(data) > max_bytes:
            raise InvalidImage(f"image too large: {len(data)} bytes, limit {max_bytes}")
        image = _open_bytes(data, what, max_pixels)
    elif isinstance(source, Image.Image):
        image = source
        _check_pixels(image, what, max_pixels)
    elif isinstance(source, np.ndarray):
        image = _array_to_image(source)
        _check_pixels(image, what, max_pixels)
    else:
        raise InvalidImage(f"not an image: received {type(source).__name__}")
    try:
        image = ImageOps.exif_transpose(image) or image
        if reject_colour_photos:
            _check_paper(image, what)
        return _to_grey(image)
    except (OSError, ValueError) as error:
        raise InvalidImage(f"cannot convert image {what} ({image.mode}): {error}") from None


def paper_saturation(image: Image.Image) -> float:
    """Median HSV saturation (0-1) of the lightest half of ``image``, where paper would be."""
    small = image.convert("RGB")
    small.thumbnail((64, 64))
    hsv = np.asarray(small.convert("HSV"), dtype=np.float32).reshape(-1, 3)
    lightest = hsv[hsv[:, 2] >= np.median(hsv[:, 2])]
    return float(np.median(lightest[:, 1])) / 255


def _check_paper(image: Image.Image, what: str) -> None:
    if image.mode in ("1", "L", "LA", "La", "I", "F") or image.mode.startswith("I;"):
        return  # no colour to judge
    saturation = paper_saturation(image)
    if saturation > MAX_PAPER_SATURATION:
        raise InvalidImage(
            f"not a character on paper: {what} looks like a colour photo (the median "
            f"saturation of its lightest half is {saturation:.2f}, over {MAX_PAPER_SATURATION})"
        )


def otsu_threshold(grey: np.ndarray) -> tuple[int, float]:
    """Otsu's threshold of a uint8 image: (t, gap between the two class means).

    Pixels <= t form the dark class. Hand-written over a 256-bin histogram because it is ten
    lines of numpy and the project has no image-processing library that offers it (and this is
    faster than a generic one on small images).
    """
    hist = np.bincount(grey.ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    weight_dark = np.cumsum(hist)
    weight_light = weight_dark[-1] - weight_dark
    sum_dark = np.cumsum(hist * levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_dark = sum_dark / weight_dark
        mean_light = (sum_dark[-1] - sum_dark) / weight_light
        between = weight_dark * weight_light * (mean_dark - mean_light) ** 2
    between = np.nan_to_num(between, nan=-1.0)
    threshold = int(np.argmax(between))
    if between[threshold] <= 0:
        return threshold, 0.0  # a single grey level: no two classes
    return threshold, float(mean_light[threshold] - mean_dark[threshold])


def _line_mask(coverage: np.ndarray) -> np.ndarray:
    """Rows (or columns) of straight ruled lines: nearly full, in bands at most ~3 % thick."""
    full = coverage >= LINE_COVERAGE
    if not full.any():
        return full
    max_band = max(2, round(LINE_MAX_THICKNESS * full.size))
    labels, _ = ndimage.label(full)
    widths = np.bincount(labels)
    too_thick = np.flatnonzero(widths > max_band)
    return full & ~np.isin(labels, too_thick[too_thick > 0])


def _without_ruled_lines(ink: np.ndarray) -> np.ndarray:
    """``ink`` without ruled lines (grid cell or page border) that the character does not touch.

    A ruled line is straight, thin and crosses the whole image, with a gap between it and the
    character. A pen stroke that spans a tight crop (the top of 口) is thicker and touches the
    rest of the character, so it is kept. A tight crop of an enclosure drawn with ruler-thin
    straight strokes would still lose its frame: that is the price of this heuristic.
    """
    line_rows = _line_mask(ink.mean(axis=1))
    line_cols = _line_mask(ink.mean(axis=0))
    if not (line_rows.any() or line_cols.any()):
        return ink
    rest = ink.copy()
    rest[line_rows, :] = False
    rest[:, line_cols] = False
    if not rest.any():
        return ink
    for lines_mask, rest_lines in ((line_rows, rest), (line_cols, rest.T)):
        # A line's neighbours (rows or columns beside it that are not lines themselves) must be
        # empty, up to a speck of dust.
        lines = np.flatnonzero(lines_mask)
        neighbours = np.concatenate([lines - 1, lines + 1])
        neighbours = neighbours[(neighbours >= 0) & (neighbours < lines_mask.size)]
        neighbours = neighbours[~lines_mask[neighbours]]
        if np.count_nonzero(rest_lines[neighbours]) > 2:
            return ink
    return rest


def _without_specks(ink: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(ink, structure=_EIGHT_CONNECTED)
    if count <= 1:
        return ink
    areas = np.bincount(labels.ravel())
    areas[0] = 0
    keep = areas >= max(2, SPECK_FRACTION * areas.max())
    keep[0] = False
    return keep[labels]


def _ink_only(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(grey with white background and dark ink, cleaned ink mask); InvalidImage if no ink."""
    threshold, contrast = otsu_threshold(grey)
    if contrast < MIN_CONTRAST:
        raise InvalidImage(
            f"no ink found: the image is flat (grey-level contrast {contrast:.0f} < {MIN_CONTRAST})"
        )
    dark = grey <= threshold
    dark_count = int(np.count_nonzero(dark))
    if dark_count * 2 <= dark.size:  # dark ink on a light background
        ink = dark
    else:  # light ink on a dark background: invert so the ink is dark
        ink = ~dark
        grey = 255 - grey
    ink = _without_specks(_without_ruled_lines(ink))
    if np.count_nonzero(ink) < max(4, 1e-4 * ink.size):
        raise InvalidImage("no ink found: only specks of noise on a blank background")
    return np.where(ink, grey, 255).astype(np.uint8), ink


def _square_crop(grey: np.ndarray, ink: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    crop = grey[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = crop.shape
    side = max(height, width)
    square = np.full((side, side), 255, dtype=np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = crop
    return square


def border_for(size: int) -> int:
    """The white border SEEDS.md gives a 96-pixel input (4 pixels), scaled to ``size``."""
    return round(size * 4 / 96)


def preprocess(image_or_array: ImageSource, size: int = 96) -> np.ndarray:
    """The network input for one image: float32 (size, size, 1) in [0, 1], ink bright on black.

    A 2-D uint8 array (how synthetic training samples arrive) skips the loader; anything else
    goes through ``load_image``. Raises ``InvalidImage`` when there is no ink.
    """
    fast_path = isinstance(image_or_array, np.ndarray) and image_or_array.dtype == np.uint8
    if fast_path and image_or_array.ndim == 2:
        grey = image_or_array
        if grey.size == 0:
            raise InvalidImage(f"empty image: {_describe(grey)}")
    else:
        grey = np.asarray(load_image(image_or_array))
    white_background, ink = _ink_only(grey)
    square = _square_crop(white_background, ink)
    border = border_for(size)
    inner = size - 2 * border
    resized = Image.fromarray(square).resize((inner, inner), Image.Resampling.BILINEAR)
    out = np.zeros((size, size, 1), dtype=np.float32)
    out[border : border + inner, border : border + inner, 0] = (
        255.0 - np.asarray(resized, dtype=np.float32)
    ) / 255.0
    return out


def preprocess_batch(images: Iterable[ImageSource], size: int = 96) -> np.ndarray:
    """``preprocess`` for each image, stacked as (n, size, size, 1); the first bad one raises."""
    arrays = [preprocess(image, size) for image in images]
    if not arrays:
        return np.zeros((0, size, size, 1), dtype=np.float32)
    return np.stack(arrays)
