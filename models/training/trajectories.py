"""Real writers' pen trajectories (CASIA-OLHWDB1.1 parts) as a training source.

A parts file (``part-NN.npz``, see ``../shared/olhwdb11/README.md``) holds ragged arrays: per
sample its character, writer and original box, its strokes, and per stroke its pen points
(uint8, the longer side spanning 0-255, y down). ``Trajectories`` keeps them in that compact
form (about 14 MB a part) and hands out one sample's strokes at a time; nothing is rasterised
until a batch asks for it. ``render_trajectory`` draws a sample as offline ink with the
synthesiser's pens (``models.training.pens``, ``.canvas``): the sparse points smoothed, the
lead-ins and hooks a real pen barely inks trimmed or faded, the writer's own size kept in the
pen width, geometric changes on the points, then paper, blur, noise and JPEG as every other
source.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from hanzi_grader.models.charset import CLASSES
from hanzi_grader.models.training.canvas import Canvas, draw_margins
from hanzi_grader.models.training.handwriting_style import HandwritingStyle, Writer
from hanzi_grader.models.training.medians import PreparedCharacter, resample_polyline
from hanzi_grader.models.training.paper import finish_ink
from hanzi_grader.models.training.pens import width_profile
from hanzi_grader.models.training.stroke_distortion import distort_strokes

from hanzi_grader.errors import HanziError

# Writers 1221-1240 (the end of part-07) are held out of training: the first half choose the
# verifier's thresholds, the second half measure the bundle (writer-independent, as the field
# measures). Every other writer is for training and for the templates.
HELDOUT_WRITERS = range(1221, 1241)
WRITER_SETS: dict[str, range | None] = {
    "training": None,
    "heldout": HELDOUT_WRITERS,
    "calibration": range(1221, 1231),
    "evaluation": range(1231, 1241),
}
# The median longer side of a sample's original box, in tablet units (the data's README).
MEDIAN_BOX = 236.0
POINTS_PER_STROKE = 24
PARTS_GLOB = "part-*.npz"
_KNOWN_CODES = np.array([ord(c) for c in CLASSES], dtype=np.uint32)
_ARRAYS = ("chars", "writers", "sizes", "stroke_offsets", "point_offsets", "points")


# What a bundle's manifest says of its training data (``training_data``): the stroke data
# and fonts always, the real writers where a run or its calibration drew on them.
SYNTHETIC_SOURCES = (
    "hanzi-writer-data stroke outlines and medians (Arphic Public License)",
    "Debian CJK fonts (each under its own licence)",
)
REAL_SOURCE = (
    "CASIA-OLHWDB1.1 training split, writers 1001-1220 (National Laboratory of Pattern "
    "Recognition, Institute of Automation, Chinese Academy of Sciences; Liu et al., ICDAR "
    "2011): released for academic research, and weights trained on it inherit that condition"
)


def training_data(record: dict, calibrated_on_real: bool) -> list[str]:
    """The data sources behind a bundle: its training record's (and every run it was
    fine-tuned from), and the calibration's."""
    real = calibrated_on_real
    while isinstance(record, dict) and not real:
        real = bool(record.get("real_fraction")) or REAL_SOURCE in (record.get("data") or [])
        record = record.get("init_from") or {}
        record = record.get("training") if isinstance(record, dict) else None
    return list(SYNTHETIC_SOURCES) + ([REAL_SOURCE] if real else [])


class TrajectoryDataError(HanziError):
    """The trajectory parts are missing or not of the documented format."""


def default_trajectory_dir() -> Path | None:
    """``HANZI_TRAJECTORIES`` if set, else ``../shared/olhwdb11`` beside the checkout."""
    env = os.environ.get("HANZI_TRAJECTORIES")
    if env:
        return Path(env)
    candidate = Path(__file__).resolve().parents[2].parent / "shared" / "olhwdb11"
    return candidate if candidate.is_dir() else None


def resolve_trajectory_dir(directory: Path | None) -> Path:
    """The olhwdb11 folder to use (``default_trajectory_dir`` when None), checked to hold
    parts, so that a run fails at once with what to do rather than deep in a worker."""
    directory = directory or default_trajectory_dir()
    if directory is None:
        raise TrajectoryDataError(
            "no real trajectories found (../shared/olhwdb11 or HANZI_TRAJECTORIES): pass "
            "--trajectories DIR, or --real-fraction 0 for the synthetic-only recipe"
        )
    part_files(directory)
    return Path(directory)


def part_files(directory: Path) -> list[Path]:
    files = sorted(Path(directory).glob(PARTS_GLOB))
    if not files:
        raise TrajectoryDataError(
            f"no trajectory parts ({PARTS_GLOB}) in {directory}: point --trajectories (or "
            "HANZI_TRAJECTORIES) at the olhwdb11 folder, or train synthetic-only with "
            "--real-fraction 0"
        )
    return files


@dataclass(frozen=True)
class Sample:
    char: str
    writer: int
    box: tuple[int, int]  # the original (width, height) in tablet units
    strokes: list[np.ndarray]


@dataclass(frozen=True)
class Part:
    """One parts file's arrays, as stored."""

    chars: np.ndarray
    writers: np.ndarray
    sizes: np.ndarray
    stroke_offsets: np.ndarray
    point_offsets: np.ndarray
    points: np.ndarray

    def __len__(self) -> int:
        return len(self.chars)

    def strokes(self, i: int) -> list[np.ndarray]:
        """Sample ``i``'s strokes: uint8 (points, 2) arrays in writing order."""
        first, last = self.stroke_offsets[i], self.stroke_offsets[i + 1]
        bounds = self.point_offsets[first : last + 1]
        return [self.points[a:b] for a, b in itertools.pairwise(bounds)]


def read_part(path: Path) -> Part:
    """Read one ``part-NN.npz``; ``TrajectoryDataError`` naming the file if it is not one."""
    try:
        with np.load(path) as data:
            missing = [name for name in _ARRAYS if name not in data.files]
            if missing:
                raise TrajectoryDataError(f"{path} lacks the arrays {', '.join(missing)}")
            part = Part(**{name: data[name] for name in _ARRAYS})
    except (OSError, ValueError) as error:
        raise TrajectoryDataError(f"cannot read trajectory part {path}: {error}") from None
    n, strokes = len(part.chars), len(part.point_offsets) - 1
    if (len(part.stroke_offsets) != n + 1 or part.stroke_offsets[-1] != strokes
            or part.point_offsets[-1] != len(part.points)):
        raise TrajectoryDataError(f"{path}: offsets do not match the arrays' lengths")
    return part


def write_part(path: Path, samples: Iterable[Sample]) -> int:
    """Write ``samples`` as a parts file in the documented format; returns the count."""
    samples = list(samples)
    strokes = [stroke for sample in samples for stroke in sample.strokes]
    np.savez_compressed(
        path,
        chars=np.array([ord(s.char) for s in samples], dtype=np.uint32),
        writers=np.array([s.writer for s in samples], dtype=np.uint16),
        sizes=np.array([s.box for s in samples], dtype=np.uint16).reshape(-1, 2),
        stroke_offsets=np.cumsum([0] + [len(s.strokes) for s in samples]).astype(np.int32),
        point_offsets=np.cumsum([0] + [len(stroke) for stroke in strokes]).astype(np.int32),
        points=(np.concatenate(strokes) if strokes else np.zeros((0, 2))).astype(np.uint8),
    )
    return len(samples)


def iter_parts(directory: Path) -> Iterator[tuple[Path, Part]]:
    """Stream the parts of ``directory`` one at a time (a part is about 14 MB in memory)."""
    for path in part_files(directory):
        yield path, read_part(path)


class Trajectories:
    """The samples of some writers, indexed by class, for drawing a sample of any class.

    ``writers`` keeps only those writers; ``exclude`` drops some (by default the validation
    writers are excluded by the callers that train). Only characters of the 3755 are kept.
    """

    def __init__(self, parts: Iterable[Part], *, writers: Iterable[int] | None = None,
                 exclude: Iterable[int] = (),
                 writer_weights: Mapping[int, float] | None = None) -> None:
        keep_writers = list(writers) if writers is not None else None
        dropped = list(exclude)
        self.parts: list[Part] = []
        rows: list[np.ndarray] = []
        codes: list[np.ndarray] = []
        row_writers: list[np.ndarray] = []
        for part in parts:
            mask = np.isin(part.chars, _KNOWN_CODES)
            if keep_writers is not None:
                mask &= np.isin(part.writers, keep_writers)
            if dropped:
                mask &= ~np.isin(part.writers, dropped)
            index = np.flatnonzero(mask)
            if len(index):
                rows.append(np.stack([np.full(len(index), len(self.parts)), index], 1))
                codes.append(part.chars[index])
                row_writers.append(part.writers[index])
                self.parts.append(part)
        if not rows:
            raise TrajectoryDataError("no trajectory samples left for these writers")
        # Sorted by character, so that a class's samples are one span of rows.
        all_codes = np.concatenate(codes)
        order = np.argsort(all_codes, kind="stable")
        self.rows = np.concatenate(rows)[order]  # (samples, 2): part number, index in it
        unique, starts = np.unique(all_codes[order], return_index=True)
        ends = np.append(starts[1:], len(order))
        self._span = {chr(int(c)): (int(s), int(e))
                      for c, s, e in zip(unique, starts, ends, strict=True)}
        self.writers = np.concatenate(row_writers)[order]  # (samples,): each row's writer
        # With writer weights, a class's sample is drawn in proportion to its writer's weight:
        # one cumulative sum over all rows serves every class, as a class is one span of it.
        self._cumulative: np.ndarray | None = None
        if writer_weights:
            lookup = np.ones(int(self.writers.max()) + 1)
            for writer, weight in writer_weights.items():
                if 0 <= writer < len(lookup):
                    lookup[writer] = weight
            self._cumulative = np.concatenate([[0.0], np.cumsum(lookup[self.writers])])

    @classmethod
    def load(cls, directory: Path, **kwargs) -> Trajectories:
        return cls((part for _, part in iter_parts(directory)), **kwargs)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def chars(self) -> list[str]:
        return list(self._span)

    def count(self, char: str) -> int:
        start, end = self._span.get(char, (0, 0))
        return end - start

    def sample(self, k: int) -> Sample:
        part_number, i = self.rows[k]
        part = self.parts[part_number]
        width, height = (int(v) for v in part.sizes[i])
        return Sample(chr(int(part.chars[i])), int(part.writers[i]), (width, height),
                      part.strokes(int(i)))

    def of_class(self, char: str, rng: np.random.Generator) -> Sample | None:
        """A random sample of ``char`` (None when no kept writer wrote it)."""
        start, end = self._span.get(char, (0, 0))
        if end <= start:
            return None
        if self._cumulative is None:
            return self.sample(int(rng.integers(start, end)))
        low, high = self._cumulative[start], self._cumulative[end]
        k = int(np.searchsorted(self._cumulative, low + rng.random() * (high - low),
                                side="right")) - 1
        return self.sample(min(max(k, start), end - 1))


def load_writer_weights(path: Path) -> dict[int, float]:
    """A JSON object of writer number to sampling weight (``hanzi writer-weights`` writes one).

    Writers it does not name weigh 1.
    """
    try:
        data = json.loads(Path(path).read_text())
        weights = {int(writer): float(weight) for writer, weight in data.items()}
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise TrajectoryDataError(
            f"{path}: not a JSON object of writer number to weight ({error})") from None
    if not all(math.isfinite(w) and w > 0 for w in weights.values()):
        raise TrajectoryDataError(f"{path}: writer weights must be positive numbers")
    return weights


@lru_cache(maxsize=4)
def shared_trajectories(directory: str, writers: str = "training",
                        writer_weights: str | None = None) -> Trajectories:
    """The samples of ``directory`` by one of the ``WRITER_SETS``, loaded once per process,
    drawn by the weights of the ``writer_weights`` file when one is given."""
    if writers not in WRITER_SETS:
        raise ValueError(f"unknown writer set {writers!r}; choose from {sorted(WRITER_SETS)}")
    chosen = WRITER_SETS[writers]
    weights = load_writer_weights(Path(writer_weights)) if writer_weights else None
    if chosen is None:
        return Trajectories.load(Path(directory), exclude=HELDOUT_WRITERS,
                                 writer_weights=weights)
    return Trajectories.load(Path(directory), writers=chosen, writer_weights=weights)


def real_style() -> HandwritingStyle:
    """The geometric and ink ranges for real trajectories: the writer already supplied the
    shape, so the stroke-level distortions are small; pens are finer than the synthesiser's
    (CASIA's scans show 1-4 pixel strokes at 64-96 pixels)."""
    return HandwritingStyle(
        pen_width=(0.03, 0.085),
        pressure_taper=(0.0, 0.6),
        stroke_width_jitter=0.1,
        stroke_shift=(0.0, 0.012),
        stroke_rotation=(0.0, 2.5),
        stroke_scale=(0.0, 0.06),
        bend=(0.0, 0.02),
        length_change=(-0.05, 0.02),
        flourish_probability=(0.0, 0.0),
        corner_rounding=(0.0, 2.0),
        wobble=(0.0, 0.004),
        component_shift=(0.0, 0.0),
        component_scale=(0.0, 0.0),
        slant=(-0.18, 0.18),
        rise=(-0.06, 0.1),
        rotation=(-5.0, 5.0),
        aspect=(0.8, 1.25),
        elastic=(0.0, 0.025),
        join_probability=(0.0, 0.0),
        hook_probability=(0.0, 0.0),
        white_paper_probability=0.6,
        ink_level=(0.0, 60.0),
        ink_texture=(0.0, 0.25),
    )


def _chaikin(points: np.ndarray, passes: int = 2) -> np.ndarray:
    """Corner cutting with the end points kept: the pen's sparse samples become a curve."""
    for _ in range(passes):
        if len(points) < 3:
            return points
        q = 0.75 * points[:-1] + 0.25 * points[1:]
        r = 0.25 * points[:-1] + 0.75 * points[1:]
        points = np.concatenate([points[:1], np.stack([q, r], 1).reshape(-1, 2), points[-1:]])
    return points


def _turn_cut(points: np.ndarray, reach: float, from_end: bool) -> int:
    """The index where a hook (or a lead-in) begins: the sharpest turn (over 100 degrees)
    within ``reach`` of the stroke's arc length from that end; 0 (or len) where none is."""
    if len(points) < 4:
        return len(points) if from_end else 0
    pts = points[::-1] if from_end else points
    steps = np.diff(pts, axis=0)
    lengths = np.linalg.norm(steps, axis=1)
    arc = np.cumsum(lengths)
    unit = steps / np.maximum(lengths[:, None], 1e-9)
    turn = (unit[:-1] * unit[1:]).sum(axis=1)  # cosine at points 1 .. len-2
    near = np.flatnonzero((arc[:-1] <= reach * arc[-1]) & (turn < -0.17))
    if not len(near):
        return len(points) if from_end else 0
    cut = int(near[np.argmin(turn[near])]) + 1
    return len(points) - cut if from_end else cut


def trajectory_points(
    strokes: Sequence[np.ndarray], rng: np.random.Generator, *, trim_probability: float = 0.5
) -> np.ndarray:
    """Strokes (0-255 points) -> (strokes, POINTS_PER_STROKE, 2) smoothed unit-box centre
    lines, a hook or lead-in cut off with ``trim_probability`` at each end where one is."""
    out = np.empty((len(strokes), POINTS_PER_STROKE, 2))
    trims = rng.random((len(strokes), 2)) < trim_probability
    for s, stroke in enumerate(strokes):
        pts = np.asarray(stroke, dtype=np.float64) / 255.0
        start = _turn_cut(pts, 0.3, from_end=False) if trims[s, 0] else 0
        end = _turn_cut(pts, 0.3, from_end=True) if trims[s, 1] else len(pts)
        if end - start >= 2:
            pts = pts[start:end]
        out[s] = resample_polyline(_chaikin(pts), POINTS_PER_STROKE)
    return out


def render_trajectory(
    sample: Sample | Sequence[np.ndarray],
    rng: np.random.Generator,
    *,
    size: int = 96,
    omit_strokes: Sequence[int] = (),
    style: HandwritingStyle | None = None,
) -> np.ndarray:
    """One real sample as scanned ink: uint8 grey, dark on light, longest side ``size``.

    ``omit_strokes`` leaves those pen strokes (writing order, from 0) out; every random number
    is drawn as if none were, so the result is the whole sample minus those strokes' ink.
    """
    style = style or real_style()
    strokes = sample.strokes if isinstance(sample, Sample) else list(sample)
    if not strokes:
        raise ValueError("a trajectory with no strokes cannot be drawn")
    writer = Writer.draw(rng, style)
    centre_lines = trajectory_points(strokes, rng)
    n, k = centre_lines.shape[:2]
    prepared = PreparedCharacter(centre_lines, np.zeros(n, dtype=np.int64), 1)
    pts, _ = distort_strokes(prepared, rng, writer)
    # A character written small looks bolder once normalised, as on a scanned page.
    own = max(sample.box) if isinstance(sample, Sample) else MEDIAN_BOX
    bold = float(np.clip(MEDIAN_BOX / max(own, 1.0), 0.7, 2.0)) ** rng.uniform(0.5, 1.0)
    widths = (
        writer.pen_width * bold
        * np.exp(rng.normal(0.0, writer.stroke_width_jitter, n))[:, None]
        * width_profile(writer, k)[None, :]
    )
    canvas = Canvas.fit(pts, writer.pen_width * bold / 2, size, draw_margins(rng, style))
    canvas.strokes(canvas.to_pixels(pts), widths, [255] * n, set(omit_strokes))
    return finish_ink(canvas.coverage(), rng, style)
