"""What the producer's commands share: the image files named on the command line, and the
errors a user can meet turned into one line (``hanzi submit``, ``demo``, ``grade-sheet``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

import click

from hanzi_grader.errors import HanziError
from hanzi_grader.settings import get_settings, redact_url

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
T = TypeVar("T")


def image_files(paths: Sequence[Path]) -> list[Path]:
    """The image files named by ``paths``, folders expanded (sorted, recursively)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise click.UsageError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) "
                                       f"in folder {str(path)!r}")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise click.UsageError(f"no such file or folder: {str(path)!r}")
    return files


def guarded(action: Callable[[], T]) -> T:
    """Run ``action``; turn the errors a user can meet into one line on stderr."""
    from kombu.exceptions import OperationalError as BrokerError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return action()
    except (click.ClickException, click.exceptions.Exit):
        raise
    except HanziError as error:
        fail(str(error))
    except BrokerError as error:
        from hanzi_grader.producer.client import broker_full

        broker = redact_url(get_settings().effective_broker_url)
        if broker_full(error):
            fail(f"the broker at {broker} is full (Redis maxmemory reached) and refused the job: "
                 f"nothing more was queued; free memory or raise maxmemory, then submit again")
        fail(f"cannot reach the broker at {broker}: {error}")
    except SQLAlchemyError as error:
        fail(f"database {redact_url(get_settings().effective_database_url)}: "
              f"{type(error).__name__}: {str(error).splitlines()[0]} "
              f"(has `hanzi db upgrade` been run?)")
    except TimeoutError as error:
        fail(str(error))
    raise AssertionError("unreachable")


def fail(message: str) -> NoReturn:
    raise click.ClickException(message)
