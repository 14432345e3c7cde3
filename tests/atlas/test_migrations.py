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
from viterbo.atlas.models import metadata
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
    assert {"ix_jobs_family_status", "ix_jobs_algorithm_status", "ix_jobs_finished"} <= _indexes(
        db_url
    )


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
        for table in metadata.sorted_tables:
            assert {c["name"] for c in insp.get_columns(table.name)} == {
                c.name for c in table.columns
            }
            assert {ix["name"] for ix in insp.get_indexes(table.name)} >= {
                ix.name for ix in table.indexes
            }
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


# ------------------------------------------------------------------ packaged migrations

MIGRATION_FILES = {
    "viterbo/atlas/migrations/env.py",
    "viterbo/atlas/migrations/script.py.mako",
    "viterbo/atlas/migrations/versions/0001_initial.py",
    "viterbo/atlas/migrations/versions/0002_status_indexes.py",
}


def test_migrations_live_at_the_top_of_the_checkout() -> None:
    from tests.atlas.conftest import REPO_ROOT
    from viterbo.atlas import db

    assert db.MIGRATIONS_DIR == REPO_ROOT / "migrations"
    shipped = {
        f"viterbo/atlas/migrations/{p.relative_to(db.MIGRATIONS_DIR).as_posix()}"
        for p in db.MIGRATIONS_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert shipped == MIGRATION_FILES  # a new revision must be added here (and ships by glob)
    assert _alembic_config().get_main_option("script_location") == str(db.MIGRATIONS_DIR)
    assert not (REPO_ROOT / "src" / "viterbo" / "atlas" / "migrations").exists()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the source tree (the repository gets no build/ folder)."""
    import shutil
    import subprocess
    import sys

    from tests.atlas.conftest import REPO_ROOT

    tmp = tmp_path_factory.mktemp("wheel")
    tree = tmp / "tree"
    for folder in ("src", "migrations"):
        shutil.copytree(
            REPO_ROOT / folder,
            tree / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
        )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, tree / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "w"), str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0 and (
        "No matching distribution" in built.stderr or "Could not find a version" in built.stderr
    ):
        pytest.skip(
            f"no package index to fetch the build backend from: {built.stderr.strip().splitlines()[-1]}"
        )
    assert built.returncode == 0, built.stderr
    (found,) = (tmp / "w").glob("viterbo_atlas-*.whl")
    return found


def test_wheel_ships_the_migrations(wheel: Path) -> None:
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    assert {n for n in names if "/migrations/" in n} == MIGRATION_FILES


def test_unpacked_wheel_migrates_a_fresh_database_without_the_repository(
    wheel: Path, tmp_path: Path
) -> None:
    """What a non-editable ``pip install .`` gets: the package alone, run from elsewhere."""
    import os
    import subprocess
    import sys
    import zipfile

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import sys; from viterbo.atlas import db; e = db.open_database(sys.argv[1]);"
        "print(db.__file__); print(db.MIGRATIONS_DIR); print(db.head_revision()); print(db.DEFAULT_DB_PATH)"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("ATLAS_DB", None)
    out = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{tmp_path / 'fresh.sqlite'}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    module, migrations, head, default_db = out.stdout.split()
    assert (
        Path(module).is_relative_to(site) and Path(migrations) == site / "viterbo/atlas/migrations"
    )
    # Not inside site-packages: an installed package keeps its artefacts where it is run.
    assert Path(default_db) == tmp_path.resolve() / "artefacts" / "atlas.sqlite"
    assert head == head_revision()
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        assert "jobs" in inspect(conn).get_table_names()
    engine.dispose()


def test_alembic_ini_points_at_the_packaged_migrations(tmp_path: Path) -> None:
    """The developers' ``alembic upgrade head`` still works from the repository root."""
    import subprocess
    import sys

    from tests.atlas.conftest import REPO_ROOT

    url = f"sqlite:///{tmp_path / 'dev.sqlite'}"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(REPO_ROOT / "alembic.ini"),
            "-x",
            f"db={url}",
            "upgrade",
            "head",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    engine = make_engine(url)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    engine.dispose()


def test_wheel_installed_in_a_fresh_venv_enqueues_a_preset(wheel: Path, tmp_path: Path) -> None:
    """``pip install viterbo_atlas-*.whl`` into a new environment, then ``atlas enqueue tiny``.

    The dependencies come from this environment's site-packages (through a ``.pth`` line, which
    does not activate the editable install's finder), so the test needs no package index; the
    ``viterbo`` package itself can only come from the wheel.
    """
    import os
    import site
    import subprocess
    import sys

    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    (purelib,) = (venv / "lib").glob("python3.*/site-packages")
    (purelib / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if installed.returncode != 0 and "no such option: --python" in installed.stderr:
        pytest.skip("pip is too old for --python")
    assert installed.returncode == 0, installed.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("ATLAS_DB", "PYTHONPATH")}
    run = subprocess.run(
        [
            str(venv / "bin" / "atlas"),
            "enqueue",
            "tiny",
            "--db",
            f"sqlite:///{tmp_path / 'a.sqlite'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import viterbo.atlas.db as d; print(d.__file__); print(d.MIGRATIONS_DIR)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    module, migrations = where.stdout.split()
    assert Path(module).is_relative_to(purelib)
    assert Path(migrations) == purelib / "viterbo" / "atlas" / "migrations"
    engine = make_engine(f"sqlite:///{tmp_path / 'a.sqlite'}")
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        assert (
            conn.execute(text("SELECT count(*) FROM jobs WHERE kind = 'generate'")).scalar() == 13
        )
    engine.dispose()


def test_schema_head_constant_is_alembics_head() -> None:
    from viterbo.atlas.db import SCHEMA_HEAD

    assert head_revision() == SCHEMA_HEAD


def test_opening_an_up_to_date_database_does_not_import_alembic(db_url: str) -> None:
    import subprocess
    import sys

    ensure_schema(make_engine(db_url))  # migrated once (that needs alembic)
    code = (
        "import sys; from viterbo.atlas.db import open_database; open_database(sys.argv[1]);"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, db_url], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
