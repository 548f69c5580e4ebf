"""The Alembic migrations match the tables, and go up from empty and back down."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from hanzi_grader import database
from hanzi_grader.schema import Base

TABLES = {"students", "sheets", "attempts", "tenants", "api_keys", "jobs",
          "webhook_deliveries", "sheet_scans", "reviews"}


def _schema_diff(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return diff


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_postgres_upgrade_from_empty_matches_the_tables_and_downgrades_to_empty(
    empty_postgres_url,
):
    # Given an empty database
    assert _tables(empty_postgres_url) == set()

    # When migrated to head, Then it holds exactly what schema.py declares
    database.upgrade(empty_postgres_url)
    assert _tables(empty_postgres_url) == TABLES | {"alembic_version"}
    assert _schema_diff(empty_postgres_url) == []

    # When migrated back to base, Then only Alembic's own bookkeeping table is left
    database.downgrade(empty_postgres_url, "base")
    assert _tables(empty_postgres_url) == {"alembic_version"}


def test_sqlite_upgrade_matches_the_tables(sqlite_url):
    assert _schema_diff(sqlite_url) == []
    database.downgrade(sqlite_url, "base")
    assert _tables(sqlite_url) == {"alembic_version"}


def test_0003_gives_an_existing_databases_rows_to_the_default_tenant(empty_postgres_url):
    # Given a database at 0002 holding a student, a sheet and an attempt
    database.upgrade(empty_postgres_url, "0002")
    engine = create_engine(empty_postgres_url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO students (id) VALUES ('s1')"))
        connection.execute(text("INSERT INTO sheets (id, student_id) VALUES ('sh1', 's1')"))
        connection.execute(text(
            "INSERT INTO attempts (job_id, student_id, sheet_id, status, created_at, "
            "processed_at) VALUES ('j1', 's1', 'sh1', 'done', now(), now())"))

    # When migrated to head
    database.upgrade(empty_postgres_url)

    # Then the rows are kept and belong to the default tenant, and new tenants get new ids
    with engine.begin() as connection:
        assert connection.execute(text("SELECT id, name FROM tenants")).all() == [(1, "default")]
        assert connection.execute(text("SELECT job_id, tenant_id FROM attempts")).all() == [
            ("j1", 1)]
        assert connection.execute(text("SELECT id, tenant_id FROM sheets")).all() == [("sh1", 1)]
        new_id = connection.execute(
            text("INSERT INTO tenants (name) VALUES ('acme') RETURNING id")).scalar_one()
        assert new_id == 2
    assert _schema_diff(empty_postgres_url) == []

    # And the way back down keeps them too
    database.downgrade(empty_postgres_url, "0002")
    with engine.begin() as connection:
        assert connection.execute(text("SELECT job_id FROM attempts")).all() == [("j1",)]
    engine.dispose()


def test_an_existing_database_keeps_its_attempts_when_attempts_gain_the_missing_stroke(
    empty_postgres_url,
):
    # Given a database at revision 0003 with an attempt graded before strokes were named
    database.upgrade(empty_postgres_url, "0003")
    engine = create_engine(empty_postgres_url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO attempts (job_id, status, verdict, created_at, processed_at) "
            "VALUES ('old', 'done', 'incomplete_or_unclear', now(), now())"))

    # When migrated to head, Then the attempt is there, with no stroke named
    database.upgrade(empty_postgres_url)
    with engine.connect() as connection:
        stored = connection.execute(text(
            "SELECT job_id, missing_stroke FROM attempts")).all()
    engine.dispose()
    assert [tuple(r) for r in stored] == [("old", None)]
    assert _schema_diff(empty_postgres_url) == []


def test_0005_adds_reviews_to_a_database_holding_attempts(empty_postgres_url):
    # Given a database at revision 0004 holding a graded attempt
    database.upgrade(empty_postgres_url, "0004")
    engine = create_engine(empty_postgres_url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO attempts (job_id, status, verdict, created_at, processed_at) "
            "VALUES ('old', 'done', 'wrong_character', now(), now())"))

    # When migrated to head, Then the attempt is kept, unreviewed, and can be reviewed
    database.upgrade(empty_postgres_url)
    assert _schema_diff(empty_postgres_url) == []
    with engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM reviews")).scalar_one() == 0
        connection.execute(text(
            "INSERT INTO reviews (job_id, tenant_id, verdict, reviewer, at) "
            "VALUES ('old', 1, 'correct', 'ms-li', now())"))
        assert connection.execute(text(
            "SELECT a.verdict, r.verdict FROM attempts a JOIN reviews r USING (job_id)"
        )).all() == [("wrong_character", "correct")]

    # And the way back down drops only the reviews
    database.downgrade(empty_postgres_url, "0004")
    with engine.begin() as connection:
        assert connection.execute(text("SELECT job_id FROM attempts")).all() == [("old",)]
    engine.dispose()
