"""The CASIA-HWDB .gnt reader and writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hanzi_grader.models.training.gnt import GntFormatError, read_gnt, write_gnt


def _samples() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [
        ("安", rng.integers(0, 256, (7, 5), dtype=np.uint8)),
        ("啊", rng.integers(0, 256, (3, 9), dtype=np.uint8)),
        ("齄", rng.integers(0, 256, (1, 1), dtype=np.uint8)),
    ]


def test_round_trip(tmp_path: Path):
    path = tmp_path / "small.gnt"
    assert write_gnt(path, _samples()) == 3

    read = list(read_gnt(path))

    assert [c for c, _ in read] == ["安", "啊", "齄"]
    for (_, written), (_, got) in zip(_samples(), read, strict=True):
        np.testing.assert_array_equal(written, got)


def test_record_layout_is_little_endian_size_gb_code_width_height(tmp_path: Path):
    path = tmp_path / "one.gnt"
    write_gnt(path, [("安", np.zeros((2, 3), dtype=np.uint8))])
    raw = path.read_bytes()
    assert raw[:4] == (10 + 6).to_bytes(4, "little")
    assert raw[4:6] == "安".encode("gb2312")
    assert raw[6:8] == (3).to_bytes(2, "little") and raw[8:10] == (2).to_bytes(2, "little")
    assert len(raw) == 16


def test_trailing_garbage_is_reported_after_the_good_records(tmp_path: Path):
    path = tmp_path / "garbage.gnt"
    write_gnt(path, _samples())
    with path.open("ab") as stream:
        stream.write(b"\x01\x02\x03")

    records = read_gnt(path)
    got = [next(records)[0] for _ in range(3)]

    assert got == ["安", "啊", "齄"]
    with pytest.raises(GntFormatError, match="3 trailing bytes"):
        next(records)


def test_a_file_that_is_not_gnt_is_refused_with_its_name(tmp_path: Path):
    path = tmp_path / "photo.gnt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(GntFormatError, match=r"photo\.gnt"):
        list(read_gnt(path))
