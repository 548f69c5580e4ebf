"""Stroke data: the npm package ``hanzi-writer-data`` (Make Me a Hanzi), fetched and cached.

Per character the package has the stroke outlines (SVG paths), the stroke medians (centre
lines, in a 1024-unit box with y pointing up, baseline at about -124 and top at about 900) and
``radStrokes`` (the indices of the strokes of the character's radical). ``fetch_strokes`` packs
the pinned version with ``npm pack`` into the cache directory and builds one ``.npz`` file from
the ~9,500 per-character JSON files, so that later loads take a fraction of a second.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from hanzi_grader.errors import HanziError
from hanzi_grader.settings import get_settings

logger = logging.getLogger(__name__)

PACKAGE_NAME = "hanzi-writer-data"
PACKAGE_VERSION = "2.0.1"
PACKAGE_DIR_NAME = f"{PACKAGE_NAME}-{PACKAGE_VERSION}"
CACHE_FILE_NAME = "strokes.npz"
LICENCE_FILES = ("ARPHICPL.TXT", "APL", "README.md", "package.json")

# Medians live in a 1024-unit box whose y axis points up; the glyph box runs from y=-124 to 900.
BOX_SIZE = 1024
Y_TOP = 900


class StrokeDataMissing(HanziError):
    """The stroke data cache is absent or unreadable: run ``hanzi fetch-strokes``."""


def default_cache_dir() -> Path:
    return get_settings().cache_dir / PACKAGE_DIR_NAME


def fetch_strokes(cache_dir: Path | None = None) -> Path:
    """Fetch the pinned package with ``npm pack``, unpack it and build the cache file.

    Returns the path of the cache file. The licence files stay beside the data.
    """
    target = Path(cache_dir) if cache_dir else default_cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    package_dir = target / "package"
    if not (package_dir / "package.json").exists():
        _npm_pack_into(target)
    return build_cache(package_dir, target / CACHE_FILE_NAME)


def _npm_pack_into(target: Path) -> None:
    if shutil.which("npm") is None:
        raise HanziError("npm is not installed; it is needed to fetch the stroke data")
    spec = f"{PACKAGE_NAME}@{PACKAGE_VERSION}"
    with tempfile.TemporaryDirectory(dir=target) as scratch:
        result = subprocess.run(
            ["npm", "pack", spec, "--silent", "--pack-destination", scratch],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise HanziError(f"npm pack {spec} failed: {result.stderr.strip()[-500:]}")
        tarballs = list(Path(scratch).glob("*.tgz"))
        if len(tarballs) != 1:
            raise HanziError(f"npm pack {spec} produced {len(tarballs)} tarballs, expected 1")
        unpacked = Path(scratch) / "unpacked"
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(unpacked, filter="data")
        shutil.rmtree(target / "package", ignore_errors=True)
        (unpacked / "package").rename(target / "package")
    logger.info("unpacked %s into %s", spec, target / "package")


def build_cache(package_dir: Path, cache_file: Path) -> Path:
    """Build the compact ``.npz`` cache from the package's per-character JSON files."""
    chars: list[str] = []
    points: list[list[int]] = []  # every median point, flat
    stroke_point_ends: list[int] = []  # per stroke: end offset into points
    char_stroke_ends: list[int] = []  # per character: end offset into strokes
    radical: list[bool] = []  # per stroke: part of the radical
    outlines: list[bytes] = []
    for path in sorted(package_dir.glob("*.json")):
        char = path.stem
        if len(char) != 1:
            continue  # package.json and the like
        data = json.loads(path.read_text(encoding="utf-8"))
        rad = set(data.get("radStrokes") or ())
        for index, (median, outline) in enumerate(
            zip(data["medians"], data["strokes"], strict=True)
        ):
            points.extend(median)
            stroke_point_ends.append(len(points))
            radical.append(index in rad)
            outlines.append(outline.encode("ascii"))
        chars.append(char)
        char_stroke_ends.append(len(stroke_point_ends))
    if not chars:
        raise StrokeDataMissing(f"no character JSON files in {package_dir}")
    outline_ends = np.cumsum([len(o) for o in outlines], dtype=np.int64)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    # A name of this process's own: two checkouts sharing the cache may build it at once.
    tmp = cache_file.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(
        tmp,
        version=np.array(PACKAGE_VERSION),
        chars=np.array("".join(chars)),
        points=np.asarray(points, dtype=np.int16).reshape(-1, 2),
        stroke_point_ends=np.asarray(stroke_point_ends, dtype=np.int64),
        char_stroke_ends=np.asarray(char_stroke_ends, dtype=np.int64),
        radical=np.asarray(radical, dtype=bool),
        outline_blob=np.frombuffer(b"".join(outlines), dtype=np.uint8),
        outline_ends=outline_ends,
    )
    tmp.replace(cache_file)
    logger.info("cached %d characters in %s", len(chars), cache_file)
    return cache_file


class StrokeData:
    """Medians, outlines and radical strokes of every character in the cache.

    Coordinates are returned as in the package: a 1024-unit box with y pointing up.
    """

    def __init__(self, arrays: dict[str, np.ndarray], source: Path) -> None:
        self.source = source
        self._chars: str = str(arrays["chars"])
        self._index = {char: i for i, char in enumerate(self._chars)}
        self._points = arrays["points"]
        self._stroke_ends = arrays["stroke_point_ends"]
        self._char_ends = arrays["char_stroke_ends"]
        self._radical = arrays["radical"]
        self._outline_blob = arrays["outline_blob"]
        self._outline_ends = arrays["outline_ends"]

    @classmethod
    def load(cls, cache_dir: Path | None = None) -> StrokeData:
        """Load the cache built by ``fetch_strokes``; ``StrokeDataMissing`` when absent."""
        directory = Path(cache_dir) if cache_dir else default_cache_dir()
        cache_file = directory / CACHE_FILE_NAME
        if not cache_file.exists():
            raise StrokeDataMissing(
                f"no stroke data at {cache_file}: run `hanzi fetch-strokes` first"
            )
        try:
            with np.load(cache_file, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (OSError, ValueError, KeyError) as exc:
            raise StrokeDataMissing(
                f"stroke data at {cache_file} is unreadable ({exc}): run `hanzi fetch-strokes`"
            ) from exc
        version = str(arrays.get("version", "unknown"))
        if version != PACKAGE_VERSION:
            raise StrokeDataMissing(
                f"stroke data at {cache_file} is version {version}, expected "
                f"{PACKAGE_VERSION}: run `hanzi fetch-strokes`"
            )
        return cls(arrays, cache_file)

    def characters(self) -> str:
        """Every character with stroke data, as one string in code-point order."""
        return self._chars

    def has(self, char: str) -> bool:
        return char in self._index

    def __len__(self) -> int:
        return len(self._chars)

    def _stroke_range(self, char: str) -> range:
        try:
            i = self._index[char]
        except KeyError:
            raise KeyError(f"no stroke data for {char!r}") from None
        start = int(self._char_ends[i - 1]) if i else 0
        return range(start, int(self._char_ends[i]))

    def medians(self, char: str) -> list[np.ndarray]:
        """One (n, 2) int16 array of centre-line points per stroke, in writing order."""
        out = []
        for s in self._stroke_range(char):
            start = int(self._stroke_ends[s - 1]) if s else 0
            out.append(self._points[start : int(self._stroke_ends[s])])
        return out

    def outlines(self, char: str) -> list[str]:
        """One SVG path string per stroke (the filled outline of the stroke)."""
        out = []
        for s in self._stroke_range(char):
            start = int(self._outline_ends[s - 1]) if s else 0
            out.append(self._outline_blob[start : int(self._outline_ends[s])].tobytes().decode())
        return out

    def radical_strokes(self, char: str) -> tuple[int, ...]:
        """Indices of the strokes that belong to the character's radical (may be empty)."""
        strokes = self._stroke_range(char)
        return tuple(int(i) for i in np.flatnonzero(self._radical[strokes.start : strokes.stop]))


@lru_cache(maxsize=4)
def shared_stroke_data(cache_dir: Path | None = None) -> StrokeData:
    """The stroke data loaded once per process (workers of a pool each load their own)."""
    return StrokeData.load(cache_dir)


_PATH_TOKEN = re.compile(r"[A-Za-z]|-?\d+(?:\.\d+)?")
_CURVE_STEPS = np.linspace(0.0, 1.0, 5)[1:, None]


def outline_polygon(path: str) -> np.ndarray:
    """The vertices (m, 2) of an outline path (M, L, Q, C, Z commands; curves flattened).

    Coordinates stay in the package's box (1024 units, y up).
    """
    tokens = _PATH_TOKEN.findall(path)
    points: list[np.ndarray] = []
    current = np.zeros(2)
    i = 0
    while i < len(tokens):
        command = tokens[i]
        i += 1
        if command == "Z":
            continue
        arity = {"M": 1, "L": 1, "Q": 2, "C": 3}.get(command)
        if arity is None:
            raise ValueError(f"unsupported outline command {command!r} in {path[:60]!r}")
        coords = np.array(tokens[i : i + 2 * arity], dtype=np.float64).reshape(arity, 2)
        i += 2 * arity
        t = _CURVE_STEPS
        if command in ("M", "L"):
            points.append(coords)
        elif command == "Q":
            c, end = coords
            points.append((1 - t) ** 2 * current + 2 * (1 - t) * t * c + t**2 * end)
        else:
            c1, c2, end = coords
            points.append(
                (1 - t) ** 3 * current + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t**2 * c2
                + t**3 * end
            )
        current = coords[-1]
    return np.concatenate(points) if points else np.zeros((0, 2))
