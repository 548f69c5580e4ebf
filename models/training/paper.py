"""Ink on paper, as scanned: ink coverage turned into the grey image a scanner would give.

Every source of samples (synthesised pens and brushes, real trajectories, fonts, Unknowns)
ends in ``finish_ink``, so their ink and paper levels, ink texture, practice-paper grid
lines, blur, scanner noise and JPEG artefacts share one distribution and no brightness
shortcut tells the classes apart.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

import numpy as np
from hanzi_grader.models.training.handwriting_style import HandwritingStyle, draw_uniform
from PIL import Image


@lru_cache(maxsize=64)
def _upsampling(length: int, knots: int = 4) -> np.ndarray:
    """(length, knots) linear-interpolation weights from ``knots`` evenly spaced values."""
    position = np.linspace(0.0, knots - 1.0, length)
    return np.maximum(0.0, 1.0 - np.abs(position[:, None] - np.arange(knots)[None, :])).astype(
        np.float32
    )


def _low_frequency_field(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A smooth random field in [0, 1] of ``shape``: a 4x4 random grid, bilinearly upsampled."""
    grid = rng.random((4, 4), dtype=np.float32)
    return _upsampling(shape[0]) @ grid @ _upsampling(shape[1]).T


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """A fixed bank of standard normal numbers; a sample's noise is a random slice of it
    (drawing fresh normals per pixel costs more than the rest of the finishing)."""
    return np.random.default_rng(12345).standard_normal(1 << 20, dtype=np.float32)


def _pixel_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    bank = _noise_bank()
    count = shape[0] * shape[1]
    start = int(rng.integers(0, len(bank) - count))
    return bank[start : start + count].reshape(shape)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A separable 3-tap Gaussian blur (enough for sigma up to about 1 pixel)."""
    side = math.exp(-0.5 / (sigma * sigma))
    centre, side = 1.0 / (1.0 + 2.0 * side), side / (1.0 + 2.0 * side)
    for axis in (0, 1):
        out = image * centre
        if axis == 0:
            out[1:] += side * image[:-1]
            out[:-1] += side * image[1:]
        else:
            out[:, 1:] += side * image[:, :-1]
            out[:, :-1] += side * image[:, 1:]
        image = out
    return image


def _grid_lines(paper: np.ndarray, rng: np.random.Generator) -> None:
    """Faint practice-paper lines (a cell border or the dashed cross of a 田字格)."""
    h, w = paper.shape
    depth = rng.uniform(15, 60)
    # Clipped: a narrow render (a punctuation mark, "1") can be only a few pixels wide.
    if rng.random() < 0.5:
        paper[int(np.clip(h // 2 + rng.integers(-2, 3), 0, h - 1)), ::2] -= depth
        paper[::2, int(np.clip(w // 2 + rng.integers(-2, 3), 0, w - 1))] -= depth
    else:
        edge = int(rng.integers(0, 3))
        paper[min(edge, h - 1), :] -= depth
        paper[:, min(edge, w - 1)] -= depth


def finish_ink(
    coverage: np.ndarray, rng: np.random.Generator, style: HandwritingStyle | None = None
) -> np.ndarray:
    """Ink coverage in [0, 1] -> a scanned-looking uint8 grey image (shared by all sources).

    Handwriting, fonts and Unknown samples all go through here, so their ink, paper, blur and
    noise statistics match and no brightness shortcut separates the classes.
    """
    style = style or HandwritingStyle()
    shape = coverage.shape
    sigma = draw_uniform(rng, style.blur)
    if sigma > 0.3:
        coverage = _blur(coverage, sigma)
    texture = draw_uniform(rng, style.ink_texture)
    if texture > 0.05:
        coverage = coverage * (1.0 - texture * _low_frequency_field(rng, shape))
    ink_level = draw_uniform(rng, style.ink_level)
    if rng.random() < style.white_paper_probability:
        paper = np.full(shape, 255.0, dtype=np.float32)
    else:
        paper = np.float32(draw_uniform(rng, style.paper_level)) - np.float32(
            rng.uniform(0, 20)
        ) * _low_frequency_field(rng, shape)
    if rng.random() < style.grid_probability:
        _grid_lines(paper, rng)
    image = paper - coverage * (paper - np.float32(ink_level))
    noise = draw_uniform(rng, style.noise)
    if noise > 0.5:
        image = image + np.float32(noise) * _pixel_noise(rng, shape)
    out = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < style.jpeg_probability:
        out = _jpeg(out, int(draw_uniform(rng, style.jpeg_quality)))
    return out


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("L"))
