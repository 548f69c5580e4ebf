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


@dataclass(frozen=True)
class MissingStroke:
    """The stroke an incomplete rendering most likely lacks: its index in standard stroke
    order (from 0), its kind (横 竖 撇 点 捺 提 折 钩) and how sure the verifier is (0-1)."""

    index: int
    kind: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "kind": self.kind, "confidence": round(self.confidence, 4)}


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
    missing_stroke: MissingStroke | None = None  # named on some incomplete verdicts

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = str(self.verdict) if self.verdict is not None else None
        data["missing_stroke"] = self.missing_stroke.to_dict() if self.missing_stroke else None
        return data
