"""Synthetic scanned practice sheets with their ground truth, for tests, benchmarks and demos.

A sheet is drawn on a white page at its final resolution: a header, the grid (田字格, 米字格 or
plain squares; solid cell borders, dashed guides), printed model characters in Kai, and the
project's synthetic handwriting in the other cells: some correct, some a wrong character, some
with strokes left out, some blank. Then the scan's artefacts, scaled by ``level`` (0 a clean
flatbed scan, 1 a poor phone photo): paper tint, shadows, rotation up to 7 degrees, perspective,
blur, noise and JPEG. The ground truth (layout, what each cell holds, and each cell's corners
in the final image) is written beside the image as JSON.

Needs the stroke data (``hanzi fetch-strokes``).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from hanzi_grader.models.charset import is_known
from hanzi_grader.models.training.handwriting_style import HandwritingStyle
from hanzi_grader.models.training.medians import prepared_character
from hanzi_grader.models.training.samples import incomplete_sample
from hanzi_grader.models.training.strokes import shared_stroke_data
from hanzi_grader.models.training.synth import render_character
from hanzi_grader.producer.sheets.fonts import kai_font
from hanzi_grader.scans.geometry import apply_homography, fit_homography, warp
from hanzi_grader.scans.layout import Layout, layout_from_dict
from PIL import Image, ImageDraw, ImageFilter

# Common characters, most frequent first; the ones the stroke data lacks are skipped.
COMMON = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学"
    "对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头"
    "面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向"
    "情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信"
    "北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难"
)
KINDS = ("correct", "wrong_character", "incomplete", "blank")
KIND_WEIGHTS = (0.55, 0.15, 0.14, 0.16)
# The verdict a perfect grader would give each kind of cell.
TRUE_VERDICT = {"correct": "correct", "wrong_character": "wrong_character",
                "incomplete": "incomplete_or_unclear", "blank": "blank"}
GRID_COLOURS = {"black": (35, 35, 40), "grey": (120, 120, 125), "red": (205, 70, 70),
                "green": (60, 150, 95)}
PEN_INKS = ((20, 20, 28), (28, 38, 115), (45, 45, 50))
MIN_CELL, MAX_CELL = 40, 200
MAX_GRID_WIDTH, MAX_GRID_HEIGHT = 1700, 1900  # pixels: keeps a sheet under ~6 megapixels


@dataclass(frozen=True)
class Artefacts:
    """What the scan did to the page."""

    rotation: float = 0.0  # degrees, counter-clockwise
    perspective: float = 0.0  # largest corner displacement, share of the page's long side
    blur: float = 0.0  # Gaussian radius in pixels
    noise: float = 0.0  # grey levels (standard deviation)
    jpeg_quality: int | None = None
    shadow: float = 0.0  # deepest darkening of the lighting, 0..1
    tint: tuple[int, int, int] = (255, 255, 255)  # the paper's colour

    @classmethod
    def draw(cls, rng: np.random.Generator, level: float, cell_px: float) -> Artefacts:
        """Random artefacts whose strength grows with ``level`` in [0, 1]."""
        level = float(np.clip(level, 0.0, 1.0))
        tints = ((255, 255, 255), (250, 246, 232), (238, 238, 232), (246, 240, 226))
        tint = tints[int(rng.integers(len(tints)))]
        jpeg = rng.random() < 0.3 + 0.6 * level
        return cls(
            rotation=float(rng.uniform(-7.0, 7.0) * level),
            perspective=float(rng.uniform(0.3, 1.0) * 0.025 * level),
            blur=float(rng.uniform(0.2, 1.0) * level * max(1.0, cell_px / 80)),
            noise=float(rng.uniform(1.0, 12.0) * level),
            jpeg_quality=int(rng.uniform(95 - 60 * level, 95 - 25 * level)) if jpeg else None,
            shadow=float(rng.uniform(0.2, 0.55) * level),
            tint=tint,
        )


@dataclass(frozen=True)
class SheetDesign:
    """How the page looks before the scan."""

    cell_px: int = 80
    grid: str = "tian"  # tian, mi or square
    grid_colour: str = "black"
    pencil: bool = False
    header: bool = True

    @classmethod
    def draw(cls, rng: np.random.Generator, cell_px: int | None = None) -> SheetDesign:
        cell = cell_px or round(math.exp(rng.uniform(math.log(MIN_CELL),
                                                         math.log(MAX_CELL))))
        return cls(
            cell_px=int(np.clip(cell, MIN_CELL, MAX_CELL)),
            grid=str(rng.choice(["tian", "mi", "square"], p=[0.5, 0.3, 0.2])),
            grid_colour=str(rng.choice(list(GRID_COLOURS), p=[0.35, 0.2, 0.25, 0.2])),
            pencil=bool(rng.random() < 0.4),
            header=bool(rng.random() < 0.8),
        )


@dataclass
class GeneratedSheet:
    """A generated scan (RGB uint8) and its ground truth (JSON-ready)."""

    image: np.ndarray
    truth: dict[str, Any]

    def write(self, folder: Path | str, name: str) -> tuple[Path, Path]:
        """Write ``NAME.png`` (or ``.jpg`` when the scan was JPEG) and ``NAME.truth.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        quality = self.truth["artefacts"]["jpeg_quality"]
        image = Image.fromarray(self.image, "RGB")
        if quality is not None:
            path = folder / f"{name}.jpg"
            image.save(path, format="JPEG", quality=int(quality))
        else:
            path = folder / f"{name}.png"
            image.save(path, format="PNG", optimize=False, compress_level=6)
        truth_path = folder / f"{name}.truth.json"
        truth = self.truth | {"image": path.name}
        truth_path.write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
        return path, truth_path


def generate_sheet(
    rng: np.random.Generator,
    *,
    layout: Layout | None = None,
    design: SheetDesign | None = None,
    level: float = 0.5,
    artefacts: Artefacts | None = None,
    kinds: dict[tuple[int, int], str] | None = None,
) -> GeneratedSheet:
    """One practice sheet: ``layout`` (random if None) written and scanned with artefacts.

    ``kinds`` fixes what chosen cells hold (``correct``, ``wrong_character``, ``incomplete`` or
    ``blank``); the rest are drawn at random.
    """
    design = design or SheetDesign.draw(rng)
    layout = layout or random_layout(rng, design.cell_px)
    columns = layout.columns or _default_columns(rng, design.cell_px)
    if layout.grid in ("tian", "mi", "square") and layout.grid != design.grid:
        design = dataclasses.replace(design, grid=layout.grid)
    artefacts = artefacts or Artefacts.draw(rng, level, design.cell_px)
    page, grid_box = _blank_page(rng, design, layout.rows, columns)
    _draw_grid(page, design, grid_box, layout.rows, columns)
    cells = _fill_cells(page, rng, design, grid_box, layout, columns, kinds or {})
    image, to_scan = _scan(page, rng, artefacts)
    for cell in cells:
        cell["quad"] = np.round(apply_homography(to_scan, np.array(cell["quad"])), 3).tolist()
    truth = {
        "layout": layout.to_dict() | {"columns": columns},
        "rows": layout.rows,
        "columns": columns,
        "design": dataclasses.asdict(design),
        "artefacts": dataclasses.asdict(artefacts),
        "level": level,
        "cells": cells,
    }
    return GeneratedSheet(image, truth)


def make_sheets(folder: Path | str, count: int, *, seed: int = 0,
                level_range: tuple[float, float] = (0.0, 1.0), layout: Layout | None = None,
                cell_px: int | None = None,
                on_written: Callable[[Path], None] | None = None) -> list[Path]:
    """Write ``count`` sheets whose artefact level spreads evenly over ``level_range``."""
    paths = []
    low, high = level_range
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        level = low + (high - low) * (i / max(1, count - 1))
        design = SheetDesign.draw(rng, cell_px)
        sheet = generate_sheet(rng, layout=layout, design=design, level=level)
        path, _ = sheet.write(folder, f"sheet-{seed}-{i:03d}")
        paths.append(path)
        if on_written is not None:
            on_written(path)
    return paths


def random_layout(rng: np.random.Generator, cell_px: int) -> Layout:
    """A practice sheet (a character per row, often a printed model first) or a dictation."""
    rows = int(rng.integers(3, 9))
    rows = max(1, min(rows, MAX_GRID_HEIGHT // cell_px))
    columns = _default_columns(rng, cell_px)
    pool = usable_characters()
    if rng.random() < 0.7:
        chars = "".join(rng.choice(list(pool), rows, replace=False))
        models = [0] if rng.random() < 0.6 else []
        return layout_from_dict({"expect": chars, "columns": columns, "model_columns": models})
    cells = ["".join(rng.choice(list(pool), columns)) for _ in range(rows)]
    return layout_from_dict({"cells": cells})


def _default_columns(rng: np.random.Generator, cell_px: int) -> int:
    return max(2, min(int(rng.integers(4, 11)), MAX_GRID_WIDTH // cell_px))


@lru_cache(maxsize=1)
def usable_characters() -> str:
    """The common characters the stroke data can write (StrokeDataMissing if it is absent)."""
    data = shared_stroke_data()
    return "".join(dict.fromkeys(c for c in COMMON if is_known(c) and data.has(c)))


# -- the page ------------------------------------------------------------------------------


def _blank_page(rng: np.random.Generator, design: SheetDesign, rows: int,
                columns: int) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    cell = design.cell_px
    side = max(30.0, cell * rng.uniform(0.5, 1.2))
    header = max(40.0, cell * rng.uniform(1.0, 1.6)) if design.header else side
    width = round(2 * side + columns * cell)
    height = round(header + side + rows * cell)
    page = np.ones((height, width, 3), np.float32)
    left, top = side + 0.5, header + 0.5  # line centres off the pixel grid on purpose
    if design.header:
        _draw_header(page, rng, left, header, cell)
    return page, (left, top, left + columns * cell, top + rows * cell)


def _draw_header(page: np.ndarray, rng: np.random.Generator, left: float, header: float,
                 cell: float) -> None:
    size = int(np.clip(cell * 0.4, 14, 48))
    text = f"姓名：________    日期：________    第 {int(rng.integers(1, 20))} 课"
    mask = Image.new("L", (page.shape[1], page.shape[0]), 0)
    ImageDraw.Draw(mask).text((left, header * 0.35), text, fill=255, font=kai_font(size))
    _apply_ink(page, np.asarray(mask, np.float32) / 255.0, (30, 30, 35))


def _draw_grid(page: np.ndarray, design: SheetDesign, box: tuple[float, float, float, float],
               rows: int, columns: int) -> None:
    cell = design.cell_px
    left, top, right, bottom = box
    colour = GRID_COLOURS[design.grid_colour]
    border = max(1.0, cell * 0.028)
    ys = [top + r * cell for r in range(rows + 1)]
    xs = [left + c * cell for c in range(columns + 1)]
    coverage = np.zeros(page.shape[:2], np.float32)
    for i, y in enumerate(ys):
        thick = border * (1.5 if i in (0, rows) else 1.0)
        _horizontal(coverage, y, left - thick / 2, right + thick / 2, thick)
    for i, x in enumerate(xs):
        thick = border * (1.5 if i in (0, columns) else 1.0)
        _vertical(coverage, x, top - thick / 2, bottom + thick / 2, thick)
    _apply_ink(page, coverage, colour)
    if design.grid == "square":
        return
    guides = np.zeros(page.shape[:2], np.float32)
    guide = max(1.0, cell * 0.012)
    period, duty = cell / 9, 0.55
    for r in range(rows):
        _horizontal(guides, top + (r + 0.5) * cell, left, right, guide, period, duty)
    for c in range(columns):
        _vertical(guides, left + (c + 0.5) * cell, top, bottom, guide, period, duty)
    if design.grid == "mi":
        for r in range(rows):
            for c in range(columns):
                x0, y0 = left + c * cell, top + r * cell
                _diagonal(guides, (x0, y0), (x0 + cell, y0 + cell), guide, period, duty)
                _diagonal(guides, (x0 + cell, y0), (x0, y0 + cell), guide, period, duty)
    light = tuple(int(255 - (255 - v) * 0.75) for v in colour)
    _apply_ink(page, np.minimum(guides, 1.0), light)


def _overlap(positions: np.ndarray, low: float, high: float) -> np.ndarray:
    """How much of each pixel [p - 0.5, p + 0.5] lies inside [low, high]."""
    return np.clip(np.minimum(positions + 0.5, high) - np.maximum(positions - 0.5, low), 0, 1)


def _dashes(positions: np.ndarray, start: float, period: float | None, duty: float) -> np.ndarray:
    if period is None:
        return np.ones_like(positions)
    phase = np.mod(positions - start, period) / period
    return (phase < duty).astype(np.float32)


def _horizontal(coverage: np.ndarray, y: float, x0: float, x1: float, thick: float,
                period: float | None = None, duty: float = 1.0) -> None:
    rows = np.arange(max(0, int(y - thick) - 1), min(coverage.shape[0], int(y + thick) + 2))
    cols = np.arange(max(0, int(x0) - 1), min(coverage.shape[1], int(x1) + 2))
    across = _overlap(rows.astype(np.float32), y - thick / 2, y + thick / 2)
    along = _overlap(cols.astype(np.float32), x0, x1) * _dashes(cols, x0, period, duty)
    block = coverage[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    np.maximum(block, across[:, None] * along[None, :], out=block)


def _vertical(coverage: np.ndarray, x: float, y0: float, y1: float, thick: float,
              period: float | None = None, duty: float = 1.0) -> None:
    _horizontal(coverage.T, x, y0, y1, thick, period, duty)


def _diagonal(coverage: np.ndarray, start: tuple[float, float], end: tuple[float, float],
              thick: float, period: float, duty: float) -> None:
    (x0, y0), (x1, y1) = start, end
    r0, r1 = int(min(y0, y1)), int(max(y0, y1)) + 1
    c0, c1 = int(min(x0, x1)), int(max(x0, x1)) + 1
    ys, xs = np.mgrid[r0:r1 + 1, c0:c1 + 1].astype(np.float32)
    direction = np.array([x1 - x0, y1 - y0]) / math.hypot(x1 - x0, y1 - y0)
    along = (xs - x0) * direction[0] + (ys - y0) * direction[1]
    across = -(xs - x0) * direction[1] + (ys - y0) * direction[0]
    value = np.clip(thick / 2 + 0.5 - np.abs(across), 0, 1) * _dashes(along, 0.0, period, duty)
    value *= (along >= 0) & (along <= math.hypot(x1 - x0, y1 - y0))
    block = coverage[r0:r1 + 1, c0:c1 + 1]
    np.maximum(block, value[: block.shape[0], : block.shape[1]], out=block)


def _apply_ink(page: np.ndarray, coverage: np.ndarray, colour: tuple[int, int, int],
               origin: tuple[int, int] = (0, 0)) -> None:
    """Ink absorbs light multiplicatively, as pigment on paper does."""
    r, c = origin
    h, w = coverage.shape
    region = page[r:r + h, c:c + w]
    absorb = 1.0 - np.asarray(colour, np.float32) / 255.0
    region *= 1.0 - coverage[: region.shape[0], : region.shape[1], None] * absorb


# -- the cells -----------------------------------------------------------------------------


def _clean_style() -> HandwritingStyle:
    # The synthesiser's own paper effects are off: the sheet's scan adds its own.
    return dataclasses.replace(
        HandwritingStyle(), blur=(0.0, 0.0), noise=(0.0, 0.0), jpeg_probability=0.0,
        grid_probability=0.0, white_paper_probability=1.0, ink_level=(0.0, 0.0),
        ink_texture=(0.0, 0.0), margin=(0.0, 0.06),
    )


def _fill_cells(page: np.ndarray, rng: np.random.Generator, design: SheetDesign,
                box: tuple[float, float, float, float], layout: Layout, columns: int,
                kinds: dict[tuple[int, int], str]) -> list[dict[str, Any]]:
    cell = design.cell_px
    left, top = box[0], box[1]
    pool = usable_characters()
    style = _clean_style()
    ink = (int(rng.uniform(70, 125)),) * 3 if design.pencil else PEN_INKS[
        int(rng.integers(len(PEN_INKS)))]
    out = []
    for spec in layout.cells(columns):
        x0, y0 = left + spec.col * cell, top + spec.row * cell
        quad = [[x0, y0], [x0 + cell, y0], [x0 + cell, y0 + cell], [x0, y0 + cell]]
        entry: dict[str, Any] = {"row": spec.row, "col": spec.col, "expected": spec.expected,
                                 "quad": quad, "written": None, "missing_strokes": []}
        if spec.model:
            entry["kind"] = "model"
            if spec.expected:
                _print_model(page, spec.expected, x0, y0, cell, GRID_COLOURS[design.grid_colour])
        elif spec.expected is None:
            entry["kind"] = "blank"
        else:
            kind = kinds.get((spec.row, spec.col)) or str(rng.choice(KINDS, p=KIND_WEIGHTS))
            if kind == "incomplete" and prepared_character(spec.expected).n_strokes < 3:
                kind = "correct"  # nothing sensible to leave out of a one- or two-stroke char
            entry["kind"] = kind
            if kind != "blank":
                written, coverage, missing = _handwriting(rng, kind, spec.expected, pool, cell,
                                                          style)
                entry["written"], entry["missing_strokes"] = written, list(missing)
                _place(page, rng, coverage, x0, y0, cell, ink, design.pencil)
        entry["verdict"] = TRUE_VERDICT.get(entry["kind"])
        out.append(entry)
    return out


def _handwriting(rng: np.random.Generator, kind: str, expected: str, pool: str, cell: int,
                 style: HandwritingStyle) -> tuple[str, np.ndarray, tuple[int, ...]]:
    size = round(cell * rng.uniform(0.6, 0.82))
    missing: tuple[int, ...] = ()
    written = expected
    if kind == "wrong_character":
        written = expected
        while written == expected:
            written = pool[int(rng.integers(len(pool)))]
        image = render_character(written, rng, size=size, style=style)
    elif kind == "incomplete":
        strokes = prepared_character(expected).n_strokes
        n_missing = 1 if strokes < 6 else int(rng.integers(1, 3))
        image, missing = incomplete_sample(expected, rng, n_missing, size=size, style=style)
    else:
        image = render_character(expected, rng, size=size, style=style)
    return written, 1.0 - image.astype(np.float32) / 255.0, missing


def _place(page: np.ndarray, rng: np.random.Generator, coverage: np.ndarray, x0: float,
           y0: float, cell: int, ink: tuple[int, ...], pencil: bool) -> None:
    h, w = coverage.shape
    jitter = rng.uniform(-0.05, 0.05, 2) * cell
    r = round(y0 + (cell - h) / 2 + jitter[1])
    c = round(x0 + (cell - w) / 2 + jitter[0])
    if pencil:
        grain = 1.0 - 0.35 * rng.random(coverage.shape, dtype=np.float32)
        coverage = coverage * rng.uniform(0.75, 1.0) * grain
    _apply_ink(page, coverage, ink, (r, c))


def _print_model(page: np.ndarray, char: str, x0: float, y0: float, cell: int,
                 colour: tuple[int, int, int]) -> None:
    side = int(cell)
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).text((side / 2, side / 2), char, fill=255,
                              font=kai_font(int(side * 0.72)), anchor="mm")
    tone = tuple(min(v, 90) for v in colour)
    _apply_ink(page, np.asarray(mask, np.float32) / 255.0, tone, (int(y0), int(x0)))


# -- the scan ------------------------------------------------------------------------------


def _scan(page: np.ndarray, rng: np.random.Generator,
          artefacts: Artefacts) -> tuple[np.ndarray, np.ndarray]:
    """The page as scanned; returns the image and the page -> image homography."""
    height, width = page.shape[:2]
    page = page * (np.asarray(artefacts.tint, np.float32) / 255.0)
    if artefacts.shadow > 0:
        page *= _lighting(rng, (height, width), artefacts.shadow)[..., None]
    pixels = np.clip(page * 255.0 + 0.5, 0, 255).astype(np.uint8)
    to_scan, shape = _camera(rng, (height, width), artefacts)
    fill = tuple(int(v * 0.96) for v in artefacts.tint)
    scanned = Image.fromarray(pixels, "RGB")
    out_to_in = np.linalg.inv(to_scan)
    warped = warp(np.asarray(scanned), out_to_in, shape, fill=0.0)
    # Outside the page: the scanner's lid (warp fills black; paint it the lid's colour).
    inside = warp(np.full((height, width), 255, np.uint8), out_to_in, shape) > 127
    warped = np.where(inside[..., None], warped, np.asarray(fill, np.uint8))
    image = Image.fromarray(warped.astype(np.uint8), "RGB")
    if artefacts.blur > 0.25:
        image = image.filter(ImageFilter.GaussianBlur(artefacts.blur))
    out = np.asarray(image).astype(np.int16)
    if artefacts.noise > 0.5:
        noise = rng.normal(0.0, artefacts.noise, out.shape[:2]).astype(np.int16)
        out = out + noise[..., None]
    out = np.clip(out, 0, 255).astype(np.uint8)
    if artefacts.jpeg_quality is not None:
        buffer = io.BytesIO()
        Image.fromarray(out, "RGB").save(buffer, format="JPEG", quality=artefacts.jpeg_quality)
        out = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return out, to_scan


def _lighting(rng: np.random.Generator, shape: tuple[int, int], depth: float) -> np.ndarray:
    """Uneven light: a smooth random field plus a soft-edged shadow from one side."""
    height, width = shape
    grid = rng.random((4, 4)).astype(np.float32)
    ys = np.linspace(0, 3, height, dtype=np.float32)
    xs = np.linspace(0, 3, width, dtype=np.float32)
    field = _bilinear(grid, ys, xs)
    yy, xx = np.meshgrid(np.linspace(-1, 1, height, dtype=np.float32),
                         np.linspace(-1, 1, width, dtype=np.float32), indexing="ij")
    angle = rng.uniform(0, 2 * math.pi)
    edge = math.cos(angle) * xx + math.sin(angle) * yy
    offset = rng.uniform(0.2, 0.9)
    shadow = 1.0 / (1.0 + np.exp(-(edge - offset) / 0.08))
    return 1.0 - depth * (0.5 * field + 0.5 * shadow)


def _bilinear(grid: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    y0 = np.minimum(ys.astype(int), grid.shape[0] - 2)
    x0 = np.minimum(xs.astype(int), grid.shape[1] - 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _camera(rng: np.random.Generator, shape: tuple[int, int],
            artefacts: Artefacts) -> tuple[np.ndarray, tuple[int, int]]:
    """Rotation about the centre and corner displacements: page -> image homography."""
    height, width = shape
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], float)
    centre = corners.mean(axis=0)
    angle = math.radians(artefacts.rotation)
    rotation = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    moved = (corners - centre) @ rotation.T + centre
    moved += rng.uniform(-1, 1, (4, 2)) * artefacts.perspective * max(height, width)
    low = moved.min(axis=0) - 4
    moved -= low
    size = np.ceil(moved.max(axis=0) + 4).astype(int)
    return fit_homography(corners, moved), (int(size[1]), int(size[0]))
