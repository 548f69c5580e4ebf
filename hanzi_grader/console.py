"""What every command prints: JSON Lines for machines, progress bars only on a terminal.

Machine output is JSON Lines everywhere (one object per result, one per line, UTF-8 as is) so
that `jq`, a shell loop or a platform's log shipper reads every command the same way.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

import click
from tqdm import tqdm


def echo_json(obj: Any) -> None:
    """Print one JSON object on one line."""
    click.echo(json.dumps(obj, ensure_ascii=False))


def echo_json_lines(objs: Iterable[Any]) -> None:
    """Print each object as a line of JSON Lines."""
    for obj in objs:
        echo_json(obj)


def progress(iterable: Iterable | None = None, *, total: int | None = None, min_items: int = 0,
             **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr, hidden when stderr is not a terminal (a log, a pipe, CI) so that
    redirected output is not littered with carriage-return updates, and for fewer than
    ``min_items`` items, where a bar would only flicker."""
    count = total if total is not None else getattr(iterable, "__len__", lambda: None)()
    hidden = count is not None and count < min_items
    # disable=None is tqdm's "hide unless stderr is a terminal".
    return tqdm(iterable, total=total, file=sys.stderr, disable=True if hidden else None,
                **kwargs)
