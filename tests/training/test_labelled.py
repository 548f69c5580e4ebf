"""Reading labelled sets in their three layouts, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hanzi_grader.models.training.gnt import write_gnt
from hanzi_grader.models.training.labelled import BadDataset, read_labelled


def test_a_folder_of_per_character_folders(tmp_path: Path):
    for char in "安完":
        (tmp_path / char).mkdir()
        (tmp_path / char / "1.png").write_bytes(b"")
    (tmp_path / "notes").mkdir()  # not a character's folder: ignored
    samples = read_labelled(tmp_path)
    assert [(c, p.name) for c, p in samples] == [("安", "1.png"), ("完", "1.png")]


def test_a_csv_manifest_resolves_files_beside_it(tmp_path: Path):
    (tmp_path / "m.csv").write_text("file,char,source\nimages/1.png,宪,x\n", encoding="utf-8")
    [(char, path)] = read_labelled(tmp_path / "m.csv")
    assert char == "宪" and path == tmp_path / "images/1.png"


def test_a_csv_without_a_char_column_is_named(tmp_path: Path):
    (tmp_path / "m.csv").write_text("file,label\n1.png,宪\n", encoding="utf-8")
    with pytest.raises(BadDataset, match="char"):
        read_labelled(tmp_path / "m.csv")


def test_a_gnt_file(tmp_path: Path):
    bitmap = np.full((5, 7), 200, dtype=np.uint8)
    write_gnt(tmp_path / "a.gnt", [("安", bitmap), ("完", bitmap)])
    assert [c for c, _ in read_labelled(tmp_path / "a.gnt")] == ["安", "完"]


@pytest.mark.parametrize("name", ["missing", "data.txt"])
def test_other_paths_are_refused_clearly(tmp_path: Path, name: str):
    if name.endswith(".txt"):
        (tmp_path / name).write_text("x")
    with pytest.raises(BadDataset):
        read_labelled(tmp_path / name)
