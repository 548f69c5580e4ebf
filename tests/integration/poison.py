"""Poison jobs: every bad input the issue names, as the payload a careless or hostile producer
would send past the client's own checks, with the error the worker must answer each with."""

from __future__ import annotations

import base64
import io
import random
from collections.abc import Callable
from typing import Any

import numpy as np
from hanzi_grader.worker.jobs import make_payload
from PIL import Image

from tests.worker.images import character_png

# Poison name -> the error_type its failed attempt must carry.
EXPECTED = {
    "empty-bytes": "InvalidImage",
    "random-bytes": "InvalidImage",
    "truncated-png": "InvalidImage",
    "jpeg-30000x30000": "InvalidImage",
    "one-pixel": "InvalidImage",
    "all-white": "InvalidImage",
    "all-black": "InvalidImage",
    "colour-photo": "InvalidImage",
    "wrong-base64": "InvalidImage",
    "target-outside-3755": "InvalidTarget",
    "target-of-several-characters": "InvalidTarget",
    "unknown-field": "InvalidJob",
    "missing-student": "InvalidJob",
    "oversized-payload": "InvalidImage",
}
# What the error message must say, so that a person reading it knows what was wrong.
REASONS = {
    "empty-bytes": "empty", "random-bytes": "not an image", "truncated-png": "truncated",
    "jpeg-30000x30000": "too large", "one-pixel": "no ink", "all-white": "no ink",
    "all-black": "no ink", "colour-photo": "not a character on paper",
    "wrong-base64": "base64", "target-outside-3755": "3755", "target-of-several-characters":
    "3755", "unknown-field": "unknown field", "missing-student": "student",
    "oversized-payload": "over the limit",
}


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def jpeg_claiming(width: int, height: int) -> bytes:
    """A tiny JPEG whose header declares ``width`` x ``height`` pixels (a decompression bomb)."""
    data = bytearray(_png(Image.new("L", (16, 16), 128), "JPEG"))
    frame = data.index(b"\xff\xc0")  # start of frame: length(2) precision(1) height(2) width(2)
    data[frame + 5:frame + 7] = height.to_bytes(2, "big")
    data[frame + 7:frame + 9] = width.to_bytes(2, "big")
    return bytes(data)


def colour_photo() -> bytes:
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:240, 0:320]
    rgb = np.stack([(x * 0.6 + 40 * np.sin(y / 17)) % 256, (y * 0.8 + 30 * np.cos(x / 23)) % 256,
                    (x + y) * 0.35 % 256], -1)
    return _png(Image.fromarray(np.clip(rgb + rng.normal(0, 18, rgb.shape), 0, 255)
                                .astype(np.uint8)), "JPEG")


def payloads(job_id: Callable[[str], str], *, student: str,
             max_image_bytes: int) -> dict[str, dict[str, Any]]:
    """Poison name -> the job payload to send (with the job id ``job_id(name)``)."""
    good = character_png("永")
    noise = random.Random(7).randbytes(600)

    def image_job(name: str, image: bytes, **fields: Any) -> dict[str, Any]:
        return make_payload(image, job_id=job_id(name), student=student, **fields)

    found = {
        "empty-bytes": image_job("empty-bytes", b""),
        "random-bytes": image_job("random-bytes", noise),
        "truncated-png": image_job("truncated-png", good[: len(good) // 2]),
        "jpeg-30000x30000": image_job("jpeg-30000x30000", jpeg_claiming(30000, 30000)),
        "one-pixel": image_job("one-pixel", _png(Image.new("L", (1, 1), 0))),
        "all-white": image_job("all-white", _png(Image.new("L", (64, 64), 255))),
        "all-black": image_job("all-black", _png(Image.new("L", (64, 64), 0))),
        "colour-photo": image_job("colour-photo", colour_photo()),
        "wrong-base64": image_job("wrong-base64", good) | {"image": "this is not base64!"},
        "target-outside-3755": image_job("target-outside-3755", good, target="國"),
        "target-of-several-characters": image_job("target-of-several-characters", good)
        | {"target": "永水"},
        "unknown-field": image_job("unknown-field", good) | {"colour": "red"},
        "oversized-payload": image_job("oversized-payload",
                                       random.Random(8).randbytes(max_image_bytes + 1)),
    }
    missing = image_job("missing-student", good)
    del missing["student"]
    found["missing-student"] = missing
    assert set(found) == set(EXPECTED)
    return found


def pickled_message(student: str) -> tuple:
    """What a pickle-speaking producer would send; the worker must never unpickle it."""
    return ((), {"job": {"student": student, "image": base64.b64encode(b"x").decode()}}, {})
