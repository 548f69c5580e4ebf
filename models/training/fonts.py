"""Font renders, heavily distorted, as a second source of training styles.

Kai fonts (AR PL UKai, AR PL KaitiM GB) look most like a hand; the serif and sans fonts add
variety. Noto Sans CJK is never used in training (``HELDOUT_FONTS``), so evaluation has a style
the model has not seen. A glyph is drawn at twice the output resolution, thickened or thinned
(pen width), warped (rotation, shear, aspect, a random mesh), fitted with margins and finished
by ``paper.finish_ink``: the same ink, paper and noise as the handwriting.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from hanzi_grader.models.training.canvas import SUPERSAMPLE, draw_margins
from hanzi_grader.models.training.handwriting_style import HandwritingStyle
from hanzi_grader.models.training.paper import finish_ink
from PIL import Image, ImageDraw, ImageFilter, ImageFont

GLYPH_CHECK_PX = 24  # em size for the cheap missing-glyph check; renders use the output size
# A private-use code point no font here defines: its render is the font's "missing glyph" box.
_MISSING_PROBE = "\ue000"


@dataclass(frozen=True)
class FontSpec:
    """One face of a font file (``index`` selects the face inside a .ttc collection)."""

    name: str
    path: str
    index: int = 0
    erodible: bool = True  # False for faces whose thin strokes (serif hairlines) would vanish

    def exists(self) -> bool:
        return Path(self.path).exists()


_ARPHIC = "/usr/share/fonts/truetype/arphic"
_NOTO = "/usr/share/fonts/opentype/noto"
_DEJAVU = "/usr/share/fonts/truetype/dejavu"
_TRUETYPE = "/usr/share/fonts/truetype"

TRAIN_FONTS: tuple[FontSpec, ...] = (
    FontSpec("ukai-cn", f"{_ARPHIC}/ukai.ttc", 0),
    FontSpec("gkai", f"{_ARPHIC}-gkai00mp/gkai00mp.ttf"),
    FontSpec("noto-serif-sc", f"{_NOTO}/NotoSerifCJK-Regular.ttc", 2, erodible=False),
    FontSpec("noto-serif-sc-bold", f"{_NOTO}/NotoSerifCJK-Bold.ttc", 2, erodible=False),
    FontSpec("wqy-microhei", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    # Handwriting faces: a Kai drawn with a pen (LXGW WenKai, all 3755) and pen and pencil
    # hands (Seto, Klee, Kiloji, YOz: Japanese, so only the characters Japan shares, with
    # the shapes it shares) bring real writers' stroke shapes that no median distortion makes.
    FontSpec("lxgw-wenkai", f"{_TRUETYPE}/lxgw-wenkai/LXGWWenKai-Regular.ttf"),
    FontSpec("lxgw-wenkai-light", f"{_TRUETYPE}/lxgw-wenkai/LXGWWenKai-Light.ttf",
             erodible=False),
    FontSpec("lxgw-wenkai-bold", f"{_TRUETYPE}/lxgw-wenkai/LXGWWenKai-Bold.ttf"),
    FontSpec("seto", f"{_TRUETYPE}/seto/setofont.ttf"),
    FontSpec("klee", f"{_TRUETYPE}/klee/KleeOne-Regular.ttf", erodible=False),
    FontSpec("klee-semibold", f"{_TRUETYPE}/klee/KleeOne-SemiBold.ttf"),
    FontSpec("kiloji", f"{_TRUETYPE}/kiloji/kiloji.ttf"),
    FontSpec("yoz-n", f"{_TRUETYPE}/yozvox-yozfont/YOzRN_.ttf"),
    FontSpec("yoz-a", f"{_TRUETYPE}/yozvox-yozfont/YOzRA_.ttf"),
    FontSpec("smiley-sans", f"{_TRUETYPE}/smiley-sans/SmileySans-Oblique.ttf"),
)
# Never seen in training: evaluation's unseen style.
HELDOUT_FONTS: tuple[FontSpec, ...] = (
    FontSpec("noto-sans-sc", f"{_NOTO}/NotoSansCJK-Regular.ttc", 2),
    FontSpec("noto-sans-sc-bold", f"{_NOTO}/NotoSansCJK-Bold.ttc", 2),
)
# Latin letters, digits and punctuation for the Unknown class.
LATIN_FONTS: tuple[FontSpec, ...] = (
    FontSpec("dejavu-sans", f"{_DEJAVU}/DejaVuSans.ttf"),
    FontSpec("dejavu-sans-extralight", f"{_DEJAVU}/DejaVuSans-ExtraLight.ttf"),
    FontSpec("dejavu-serif", f"{_DEJAVU}/DejaVuSerif.ttf", erodible=False),
    FontSpec("dejavu-serif-italic", f"{_DEJAVU}/DejaVuSerif-Italic.ttf", erodible=False),
    FontSpec("dejavu-sans-oblique", f"{_DEJAVU}/DejaVuSans-Oblique.ttf"),
    FontSpec("dejavu-mono", f"{_DEJAVU}/DejaVuSansMono.ttf"),
    FontSpec("ukai-cn", f"{_ARPHIC}/ukai.ttc", 0),
)


def available(fonts: tuple[FontSpec, ...]) -> tuple[FontSpec, ...]:
    """The fonts of ``fonts`` installed on this machine."""
    return tuple(font for font in fonts if font.exists())


@lru_cache(maxsize=64)
def _font(spec: FontSpec, px: int = GLYPH_CHECK_PX) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(spec.path, px, index=spec.index)


@lru_cache(maxsize=32)
def _missing_mask(spec: FontSpec) -> bytes:
    return bytes(_font(spec).getmask(_MISSING_PROBE))


@lru_cache(maxsize=65536)
def has_glyph(spec: FontSpec, char: str) -> bool:
    """True when ``spec`` draws ``char`` with a real glyph (not the missing-glyph box)."""
    mask = _font(spec).getmask(char)
    drawn = bytes(mask)
    # Some fonts map characters they lack to an empty glyph rather than the box.
    return mask.size[0] > 0 and drawn != _missing_mask(spec) and drawn.count(0) < len(drawn)


def _glyph_coverage(spec: FontSpec, char: str, px: int, stroke_width: int) -> Image.Image:
    """The glyph's ink (255) on black at ``px`` pixels per em, cropped to its bounding box."""
    font = _font(spec, px)
    left, top, right, bottom = font.getbbox(char, stroke_width=stroke_width)
    pad = 4
    image = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(image).text(
        (pad - left, pad - top), char, font=font, fill=255, stroke_width=stroke_width,
        stroke_fill=255,
    )
    return image


def _pen_change(
    image: Image.Image, rng: np.random.Generator, size: int, erodible: bool
) -> Image.Image:
    """Thicken (dilate) or thin (erode) the glyph's strokes, as different pens would."""
    reach = max(1, round(2 * size / 96))
    steps = int(rng.integers(-reach // 2 - 1, reach + 1))
    if steps < 0 and not erodible:
        steps = 0
    operation = ImageFilter.MaxFilter(3) if steps > 0 else ImageFilter.MinFilter(3)
    for _ in range(abs(steps)):
        image = image.filter(operation)
    return image


def _warp(image: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """Rotation, shear, aspect and a random elastic warp in one PIL mesh transform."""
    w, h = image.size
    pad = int(0.2 * max(w, h))
    canvas = Image.new("L", (w + 2 * pad, h + 2 * pad), 0)
    canvas.paste(image, (pad, pad))
    return canvas.transform(canvas.size, Image.Transform.MESH,
                            _mesh(*canvas.size, rng, strength), Image.Resampling.BILINEAR)


def _mesh(w: int, h: int, rng: np.random.Generator, strength: float) -> list:
    """A 4x4 mesh: each output cell's source quad, an affine map of the cell plus jitter."""
    cells = 4
    angle = np.radians(rng.uniform(-10, 10) * strength)
    shear = rng.uniform(-0.3, 0.3) * strength
    aspect = np.exp(rng.uniform(-0.25, 0.25) * strength)
    cos, sin = np.cos(angle), np.sin(angle)
    inverse = np.array([[cos / aspect, sin + shear], [-sin / aspect, cos]])  # output -> source
    xs = np.linspace(0, w, cells + 1)
    ys = np.linspace(0, h, cells + 1)
    grid = np.stack(np.meshgrid(xs, ys, indexing="xy"), axis=-1)  # (rows, cols, 2)
    centre = np.array([w / 2, h / 2])
    corners = (grid - centre) @ inverse.T + centre
    jitter = rng.normal(0, 0.035 * strength * max(w, h), corners.shape)
    jitter[[0, -1]] = 0
    jitter[:, [0, -1]] = 0
    corners = (corners + jitter).tolist()
    mesh = []
    for j in range(cells):
        for i in range(cells):
            box = (int(xs[i]), int(ys[j]), int(xs[i + 1]), int(ys[j + 1]))
            quad = (*corners[j][i], *corners[j + 1][i], *corners[j + 1][i + 1], *corners[j][i + 1])
            mesh.append((box, quad))
    return mesh


def fit_coverage(
    coverage: Image.Image, rng: np.random.Generator, size: int, style: HandwritingStyle
) -> np.ndarray:
    """Crop a supersampled coverage image to its ink, scale its longest side to ``size``
    with the style's margins, downsample: coverage in [0, 1] at output resolution."""
    bbox = coverage.getbbox() or (0, 0, *coverage.size)
    ink = coverage.crop(bbox)
    margins = draw_margins(rng, style) * (size * SUPERSAMPLE)  # left, right, top, bottom
    w, h = ink.size
    along = margins[:2].sum() if w >= h else margins[2:].sum()
    scale = max(0.5 * size * SUPERSAMPLE, size * SUPERSAMPLE - along) / max(w, h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    ink = ink.resize((new_w, new_h), Image.Resampling.BILINEAR)
    full = size * SUPERSAMPLE
    short = (new_h + margins[2:].sum()) if w >= h else (new_w + margins[:2].sum())
    short = int(np.clip(round(short / SUPERSAMPLE), 4, size)) * SUPERSAMPLE
    out_w, out_h = (full, short) if w >= h else (short, full)
    canvas = Image.new("L", (out_w, out_h), 0)
    canvas.paste(ink, (round(margins[0]), round(margins[2])))
    return np.asarray(canvas.reduce(SUPERSAMPLE), dtype=np.float32) * (1.0 / 255.0)


def render_font_character(
    char: str,
    rng: np.random.Generator,
    *,
    fonts: tuple[FontSpec, ...] = TRAIN_FONTS,
    size: int = 96,
    style: HandwritingStyle | None = None,
    distortion: float = 1.0,
    stroke_width: int = 0,
) -> np.ndarray:
    """``char`` from one of ``fonts`` (chosen by ``rng`` among those that have it), distorted;
    uint8 grey, dark ink on light paper, longest side ``size``. ``ValueError`` if no font has it.
    """
    style = style or HandwritingStyle()
    candidates = [f for f in available(fonts) if has_glyph(f, char)]
    if not candidates:
        raise ValueError(f"no font among {[f.name for f in fonts]} has a glyph for {char!r}")
    spec = candidates[int(rng.integers(len(candidates)))]
    px = size * SUPERSAMPLE
    glyph = _glyph_coverage(spec, char, px, round(stroke_width * size / 96))
    glyph = _pen_change(glyph, rng, size, spec.erodible)
    glyph = _warp(glyph, rng, distortion)
    coverage = fit_coverage(glyph, rng, size, style)
    return finish_ink(coverage, rng, style)
