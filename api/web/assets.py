"""The desk's stylesheet and script, and the packaged CJK font served as a webfont.

The font is the one annotated sheets are drawn with (a GB2312 subset of Noto Sans CJK SC), so
targets and characters to practise show on a machine with no CJK font installed.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from hanzi_grader.producer.sheets.fonts import PACKAGED_FONT
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
STATIC_URL = "/desk/static"
FONT_CACHE = "public, max-age=604800"  # a week: 3.5 MB a phone should fetch once

router = APIRouter(prefix="/desk", include_in_schema=False)


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)


@router.get("/font/HanziGraderSans-Regular.otf", name="desk_font")
def font() -> FileResponse:
    return FileResponse(PACKAGED_FONT, media_type="font/otf",
                        headers={"Cache-Control": FONT_CACHE})
