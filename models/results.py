"""What the recognition engine returns: plain data, JSON-ready, shared with the worker."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    """The verifier's answer to "is this a correct rendering of TARGET?"."""

    CORRECT = "correct"
    WRONG_CHARACTER = "wrong_character"
    INCOMPLETE_OR_UNCLEAR = "incomplete_or_unclear"
    UNKNOWN = "unknown"
    INVALID_TARGET = "invalid_target"


@dataclass(frozen=True)
class Candidate:
    char: str
    confidence: float


@dataclass
class Recognition:
    """One image's outcome. ``error`` is set (and the rest empty) when the image was unusable."""

    candidates: list[Candidate] = field(default_factory=list)
    unknown: bool = False
    target: str | None = None
    verdict: Verdict | None = None
    similarity: float | None = None
    error: str | None = None
    error_type: str | None = None  # class name from hanzi_grader.errors, e.g. "InvalidImage"

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = str(self.verdict) if self.verdict is not None else None
        return data
