"""Alembic: first revision upgrades to head, latest downgrades, newer/foreign databases refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from viterbo.atlas.db import (
    _alembic_config,
    current_revision,
    ensure_schema,
    head_revision,
    make_engine,
    writer,
)
from viterbo.atlas.errors import DatabaseUnusableError
from viterbo.atlas.models import Base
from viterbo.atlas.store import JobSpec, JobStore


def _migrate(url: str, target: str, down: bool = False) -> None:
    engine = make_engine(url)
    with writer(engine).begin() as conn:
        (command.downgrade if down else command.upgrade)(_alembic_config(conn), target)
    engine.dispose()


def _indexes(url: str) -> set[str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        names = {ix["name"] for ix in inspect(conn).get_indexes("jobs")}
    engine.dispose()
    return names


def test_first_revision_upgrades_to_head_keeping_rows(db_url: str) -> None:
    _migrate(db_url, "0001")
    assert "ix_jobs_family_status" not in _indexes(db_url)
    engine = make_engine(db_url)
    JobStore(engine).enqueue([JobSpec("test-sleep", "old-job", family="f")])
    assert ensure_schema(engine) == head_revision()
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    assert JobStore(engine).status_counts()["pending"] == 1
    engine.dispose()
    assert {"ix_jobs_family_status", "ix_jobs_algorithm_status", "ix_jobs_finished"} <= _indexes(db_url)


def test_latest_revision_downgrades(db_url: str) -> None:
    engine = make_engine(db_url)
    ensure_schema(engine)
    engine.dispose()
    _migrate(db_url, "-1", down=True)
    assert "ix_jobs_finished" not in _indexes(db_url)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert current_revision(conn) == "0001"
    engine.dispose()


def test_head_schema_matches_the_models(db_url: str) -> None:
    """The migrations create exactly the tables, columns and indexes the models declare."""
    engine = make_engine(db_url)
    ensure_schema(engine)
    with engine.connect() as conn:
        insp = inspect(conn)
        for table in Base.metadata.sorted_tables:
            assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.columns}
            assert {ix["name"] for ix in insp.get_indexes(table.name)} >= {ix.name for ix in table.indexes}
    engine.dispose()


def test_database_newer_than_code_is_refused(db_url: str) -> None:
    engine = make_engine(db_url)
    ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(DatabaseUnusableError, match="newer than this code"):
        ensure_schema(engine)
    engine.dispose()


def test_foreign_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    before = path.read_bytes()
    engine = make_engine(f"sqlite:///{path}")
    with pytest.raises(DatabaseUnusableError, match="not an atlas database"):
        ensure_schema(engine)
    engine.dispose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("customers",)]
    assert path.read_bytes() == before
