"""The pen along and between strokes: pressure shaping a stroke's width, trails between strokes.

A real pen presses at a stroke's start and lifts off at its end (``width_profile``), and a
hurried writer joins strokes or flicks towards the next one instead of lifting cleanly
(``trails``). Kept apart from the canvas, which only draws what it is given: the real-trajectory
handwriting uses the same pressure profile with its own strokes.
"""

from __future__ import annotations

import numpy as np
from hanzi_grader.models.training.handwriting_style import Writer


def width_profile(writer: Writer, k: int) -> np.ndarray:
    """Pen pressure along a stroke: pressed at the start, lifting off at the end."""
    u = np.linspace(0.0, 1.0, k)
    start = 1.0 - writer.pressure_taper_start * np.clip(1.0 - u / 0.18, 0, 1) ** 2
    end = 1.0 - writer.pressure_taper_end * np.clip((u - 0.55) / 0.45, 0, 1) ** 2
    return start * end


_TRAIL_T = np.linspace(0.0, 1.0, 8)[None, :, None]


def trails(px: np.ndarray, reach: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Trails from each stroke's end towards the next stroke's start: (n-1, 8, 2).

    A quadratic Bezier leaving along the stroke's last direction, as the pen does when it
    does not lift; ``reach`` (n-1,) in [0, 1] is how far along it the pen stays down
    (1: joined strokes, a little: the flick of a pen lifting towards the next stroke).
    """
    a, b = px[:-1, -1], px[1:, 0]
    leave = px[:-1, -1] - px[:-1, -3]
    gap = np.linalg.norm(b - a, axis=1, keepdims=True)
    leave = leave / (np.linalg.norm(leave, axis=1, keepdims=True) + 1e-9)
    carry = rng.uniform(0.1, 0.5, (len(a), 1))  # how far the pen follows its momentum
    control = a + leave * gap * carry + rng.normal(0, 0.08, (len(a), 2)) * gap
    t = _TRAIL_T * reach[:, None, None]
    return (1 - t) ** 2 * a[:, None] + 2 * (1 - t) * t * control[:, None] + t**2 * b[:, None]
