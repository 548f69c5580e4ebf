"""CASIA-HWDB ``.gnt`` files: isolated handwritten characters, one record after another.

A record is: uint32 little-endian total size (header included), 2 bytes of GB code (GB2312
bytes, high byte first), uint16 width, uint16 height, then width*height grey bytes row by row.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from hanzi_grader.errors import HanziError

HEADER = struct.Struct("<I2sHH")


class GntFormatError(HanziError):
    """A .gnt file is truncated or a record is inconsistent."""


def _decode_code(code: bytes) -> str:
    try:
        return code.decode("gb2312")
    except UnicodeDecodeError:
        # Non-GB2312 codes (0xFFFF padding, GBK extensions) are kept as GBK when they decode.
        try:
            return code.decode("gbk")
        except UnicodeDecodeError:
            return code.hex()


def _records(stream: BinaryIO, name: str) -> Iterator[tuple[str, np.ndarray]]:
    offset = 0
    index = 0
    while True:
        header = stream.read(HEADER.size)
        if not header:
            return
        if len(header) < HEADER.size:
            raise GntFormatError(
                f"{name}: {len(header)} trailing bytes at offset {offset} after record {index} "
                f"are not a record header ({HEADER.size} bytes)"
            )
        total, code, width, height = HEADER.unpack(header)
        if total != HEADER.size + width * height:
            raise GntFormatError(
                f"{name}: record {index} at offset {offset} says size {total} but "
                f"{width}x{height} needs {HEADER.size + width * height}: not a .gnt record"
            )
        pixels = stream.read(width * height)
        if len(pixels) < width * height:
            raise GntFormatError(
                f"{name}: record {index} at offset {offset} is truncated: "
                f"{len(pixels)} of {width * height} pixel bytes"
            )
        image = np.frombuffer(pixels, dtype=np.uint8).reshape(height, width)
        yield _decode_code(code), image
        offset += total
        index += 1


def read_gnt(path: str | Path) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(character, uint8 image (height, width))`` for each record of ``path``.

    Raises ``GntFormatError`` naming the file and offset on trailing garbage or truncation,
    after yielding every complete record before it.
    """
    path = Path(path)
    try:
        stream = path.open("rb")
    except OSError as error:
        raise GntFormatError(f"cannot read {path}: {error.strerror or error}") from None
    with stream:
        yield from _records(stream, str(path))


def write_gnt(path: str | Path, samples: Iterable[tuple[str, np.ndarray]]) -> int:
    """Write ``(character, uint8 2-D image)`` pairs as a .gnt file; returns the record count."""
    count = 0
    with Path(path).open("wb") as stream:
        for char, image in samples:
            pixels = np.ascontiguousarray(image, dtype=np.uint8)
            if pixels.ndim != 2:
                raise ValueError(f"image for {char!r} has shape {pixels.shape}; expected 2-D")
            code = char.encode("gb2312")
            height, width = pixels.shape
            stream.write(HEADER.pack(HEADER.size + width * height, code, width, height))
            stream.write(pixels.tobytes())
            count += 1
    return count
