"""The character set: the 3755 GB2312 level-1 characters, in GB code order.

Rows 0xB0..0xD7, cells 0xA1..0xFE, decoded with Python's ``gb2312`` codec. Row 0xD7 ends at
0xD7F9 (0xD7FA..0xD7FE are not characters). A model with an explicit Unknown output has one more
class, ``UNKNOWN_LABEL``, at index 3755.
"""

from __future__ import annotations

import hashlib

from hanzi_grader.errors import InvalidTarget

LEVEL1_COUNT = 3755
UNKNOWN_LABEL = "<unknown>"
UNKNOWN_INDEX = LEVEL1_COUNT


def _level1_characters() -> tuple[str, ...]:
    chars = []
    for row in range(0xB0, 0xD8):
        for cell in range(0xA1, 0xFF):
            if row == 0xD7 and cell > 0xF9:
                break
            chars.append(bytes([row, cell]).decode("gb2312"))
    return tuple(chars)


CLASSES: tuple[str, ...] = _level1_characters()
assert len(CLASSES) == LEVEL1_COUNT, len(CLASSES)

# Identifies the class order in a bundle's manifest; a model trained on another order is refused.
CLASSES_SHA256: str = hashlib.sha256("".join(CLASSES).encode("utf-8")).hexdigest()

_INDEX: dict[str, int] = {char: index for index, char in enumerate(CLASSES)}


def is_known(char: object) -> bool:
    """True when ``char`` is one of the 3755 level-1 characters."""
    return isinstance(char, str) and char in _INDEX


def index_of(char: object) -> int:
    """The class index of ``char``; ``InvalidTarget`` for anything outside the 3755."""
    if not isinstance(char, str):
        raise InvalidTarget(f"target must be one character, got {type(char).__name__} {char!r}")
    if len(char) != 1:
        raise InvalidTarget(f"target must be exactly one character, got {char!r}")
    try:
        return _INDEX[char]
    except KeyError:
        raise InvalidTarget(
            f"target {char!r} (U+{ord(char):04X}) is not one of the 3755 GB2312 level-1 characters"
        ) from None


def char_of(index: int) -> str:
    """The character at class ``index``; index 3755 is ``UNKNOWN_LABEL``."""
    if index == UNKNOWN_INDEX:
        return UNKNOWN_LABEL
    if not 0 <= index < LEVEL1_COUNT:
        raise IndexError(f"class index {index} is outside 0..{UNKNOWN_INDEX}")
    return CLASSES[index]
