"""Labelled handwriting sets on disk, in the layouts people have them in:

- a folder whose sub-folders are named by their character (HWDB image dumps: ``安/1.png``);
- a CSV manifest with ``file`` and ``char`` columns (files relative to the CSV's folder);
- a CASIA-HWDB ``.gnt`` file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hanzi_grader.errors import HanziError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}

LabelledImage = tuple[str, Path | np.ndarray]  # (character, image file or grey array)


class BadDataset(HanziError):
    """A labelled set that cannot be read."""


def read_labelled(path: Path) -> list[LabelledImage]:
    """All (character, image) pairs of the set at ``path``, whatever its layout."""
    path = Path(path)
    if not path.exists():
        raise BadDataset(f"{path}: no such file or folder")
    if path.is_dir():
        samples = list(_folder_by_char(path))
    elif path.suffix.lower() == ".csv":
        samples = list(_csv_manifest(path))
    elif path.suffix.lower() == ".gnt":
        from hanzi_grader.models.training.gnt import read_gnt

        samples = list(read_gnt(path))
    else:
        raise BadDataset(
            f"{path}: expected a folder of per-character sub-folders, a CSV manifest "
            "(file,char) or a .gnt file"
        )
    if not samples:
        raise BadDataset(f"{path}: no labelled images found")
    return samples


def _folder_by_char(root: Path) -> Iterator[LabelledImage]:
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if len(folder.name) != 1:
            continue  # not a character's folder
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                yield folder.name, file


def _csv_manifest(manifest: Path) -> Iterator[LabelledImage]:
    with manifest.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"file", "char"} - set(reader.fieldnames or [])
        if missing:
            raise BadDataset(f"{manifest}: lacks column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            char = (row["char"] or "").strip()
            if len(char) != 1:
                raise BadDataset(f"{manifest}:{line}: char must be one character, got {char!r}")
            yield char, manifest.parent / row["file"]
