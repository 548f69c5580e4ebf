"""Training commands of ``hanzi``: fetch the stroke data, look at synthetic samples."""

from __future__ import annotations

from pathlib import Path

import click

from hanzi_grader.errors import HanziError

DEFAULT_SHEET_CHARS = "安完宏你好学中国大人"


@click.command("fetch-strokes")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to unpack the package (default: HANZI_CACHE_DIR/hanzi-writer-data-<version>).",
)
def fetch_strokes(cache_dir: Path | None) -> None:
    """Fetch the pinned hanzi-writer-data package with npm and build the stroke cache."""
    from models.training.strokes import fetch_strokes as fetch

    try:
        cache_file = fetch(cache_dir)
    except HanziError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"stroke data cached in {cache_file}")


@click.command("contact-sheet")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--chars", default=DEFAULT_SHEET_CHARS, show_default=True,
              help="Characters, one row each.")
@click.option("--n", "columns", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Variations per row.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--size", type=click.IntRange(16, 512), default=96, show_default=True,
              help="Longest side of each sample in pixels.")
@click.option("--heldout", is_flag=True,
              help="Use the held-out fonts and the harsher stress handwriting regime.")
def contact_sheet(
    out: Path, chars: str, columns: int, seed: int, size: int, heldout: bool
) -> None:
    """Write a PNG grid of synthetic samples: rows are characters, columns variations.

    Each character gets a pen, a brush and a font row; an Unknown row and a row of
    one-stroke-missing samples close the sheet.
    """
    from models.training.contact_sheet import write_contact_sheet

    try:
        write_contact_sheet(out, chars, columns=columns, seed=seed, size=size, heldout=heldout)
    except (HanziError, ValueError, KeyError) as error:
        # KeyError's str() adds quotes around its message.
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        raise click.ClickException(str(message)) from None
    click.echo(f"wrote {out}")
