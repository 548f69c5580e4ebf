"""The database connection, made once per process, and the ``hanzi db`` commands.

Sessions are short-lived: open one with ``transaction()`` where the work is, and it commits
when the block ends. Schema changes go through Alembic (``migrations/``), never ``create_all``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from hanzi_grader.settings import get_settings, subpackage_dir

MIGRATIONS_DIR = subpackage_dir("migrations")
SQLITE_BUSY_TIMEOUT_S = 30


def database_url(url: str | None = None) -> str:
    """``url`` if given, else the configured (or embedded SQLite) database."""
    return url or get_settings().effective_database_url


_ENGINES: dict[str, Engine] = {}


def get_engine(url: str | None = None) -> Engine:
    """The process's engine for ``url`` (default: the configured database), made once."""
    url = database_url(url)
    if url not in _ENGINES:
        _ENGINES[url] = _create_engine(url)
    return _ENGINES[url]


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    # pre_ping: a Postgres restart must not leave dead connections in the pool.
    return create_engine(url, pool_pre_ping=True)


def _tune_sqlite(dbapi_connection, _record) -> None:
    # WAL lets `hanzi history` read while the worker writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextmanager
def transaction(url: str | None = None) -> Iterator[Session]:
    """A session inside one transaction: committed at the end, rolled back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session, session.begin():
        yield session


def forget_engines() -> None:
    """Drop engines inherited through ``fork()``: a child must open its own connections."""
    for engine in _ENGINES.values():
        engine.dispose(close=False)  # close=False: the parent still owns those sockets
    _ENGINES.clear()


@contextmanager
def scratch_database(admin_url: str, *, prefix: str = "hanzi_scratch") -> Iterator[str]:
    """A new, empty, uniquely named Postgres database (for tests and benchmarks): its URL,
    and the database dropped when the block ends. ``admin_url`` names a database of the
    server to connect to while creating it; creation errors (no server) propagate."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"  # a name of our own making: safe to quote
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            forget_engines()
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def is_transient(error: BaseException) -> bool:
    """True for errors that may pass on their own: the database is down, restarting or busy.

    SQLAlchemy wraps the driver's OperationalError (connection refused, server closed the
    connection, SQLite locked) and InterfaceError (connection already closed) in its own.
    """
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OperationalError | InterfaceError)


# -- migrations --------------------------------------------------------------------------


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration for ``migrations/``, aimed at ``url`` (default: settings)."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url(url)
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate the database at ``url`` forward to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def upgrade_embedded() -> None:
    """Migrate the embedded SQLite database to head, so that it works on first use.

    A configured database (HANZI_DATABASE_URL) is left alone: `hanzi db upgrade` or the
    deployment's migrate step owns its schema.
    """
    if get_settings().database_url is None:
        upgrade()


def downgrade(url: str | None = None, revision: str = "base") -> None:
    """Migrate the database at ``url`` back to ``revision``."""
    command.downgrade(alembic_config(url), revision)


@click.group()
def db() -> None:
    """Database schema commands (Alembic migrations in migrations/)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Migrate the configured database forward (default: to the newest revision)."""
    _reporting_errors(lambda: upgrade(revision=revision))
    click.echo(f"database at revision {revision}: {_safe_url()}")


@db.command("downgrade")
@click.argument("revision")
def downgrade_command(revision: str) -> None:
    """Migrate the configured database back to REVISION (-1: one step; base: empty)."""
    _reporting_errors(lambda: downgrade(revision=revision))
    click.echo(f"database at revision {revision}: {_safe_url()}")


@db.command("current")
def current_command() -> None:
    """Print the configured database's revision."""
    _reporting_errors(lambda: command.current(alembic_config()))


def _reporting_errors(action: Callable[[], object]) -> None:
    """Run a migration command; its errors become one line on stderr and exit status 1."""
    try:
        action()
    except SQLAlchemyError as error:
        raise click.ClickException(f"cannot migrate {_safe_url()}: "
                                   f"{error.__class__.__name__}: "
                                   f"{str(error).splitlines()[0]}") from None
    except CommandError as error:  # unknown revision, and the like
        raise click.ClickException(str(error)) from None


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(database_url()).render_as_string(hide_password=True)
