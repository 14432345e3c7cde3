"""Fixtures of the atlas tests: databases (one param per backend), CLI runners, workers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.atlas import plugin
from viterbo.atlas.db import open_database

REPO_ROOT = Path(__file__).resolve().parents[2]
ATLAS = [sys.executable, "-m", "viterbo.atlas"]


# The job-store suite runs against both backends by default: SQLite files in tmp_path and a
# throwaway PostgreSQL server (tests/postgres_server.py; skipped with a reason when the Debian
# binaries are missing).  An external server can be used instead, e.g.
#   ATLAS_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres
POSTGRES_ADMIN_URL = os.environ.get("ATLAS_TEST_POSTGRES_URL")

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'atlas.sqlite'}"
    else:
        yield from postgres_database(request)


def postgres_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database (external server if configured, else the throwaway one)."""
    if POSTGRES_ADMIN_URL:
        yield from _postgres_database(POSTGRES_ADMIN_URL)
        return
    server = request.getfixturevalue("postgres_server")
    yield from _postgres_database(server.admin_url)


def _postgres_database(admin_url: str) -> Iterator[str]:
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"atlas_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = open_database(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def isolated_registry() -> Iterator[None]:
    """The invariants registry holds only the test algorithms (restored afterwards)."""
    from viterbo.invariants import registry

    was_loaded = registry._loaded
    old = plugin.isolate_registry()
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(old)
    registry._loaded = was_loaded


def atlas_env(db_url: str | None = None) -> dict[str, str]:
    """Environment for ``atlas`` subprocesses: test plugin, isolated registry, the database."""
    env = dict(os.environ)
    env["ATLAS_PLUGINS"] = "tests.atlas.plugin"
    env["ATLAS_TEST_ISOLATED_REGISTRY"] = "1"
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("ATLAS_DB", None)
    if db_url:
        env["ATLAS_DB"] = db_url
    return env


def run_atlas(
    args: list[str], db_url: str | None = None, timeout: float = 120, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``atlas ARGS`` as a real process (as a user would) and capture its output."""
    return subprocess.run(
        [*ATLAS, *args],
        env=atlas_env(db_url),
        cwd=REPO_ROOT,
        text=True,
        capture_output=True,
        timeout=timeout,
        **kwargs,
    )


def start_atlas(args: list[str], db_url: str, **kwargs: Any) -> subprocess.Popen[str]:
    """Start ``atlas ARGS`` in its own process group (so a test can kill all of it)."""
    return subprocess.Popen(
        [*ATLAS, *args],
        env=atlas_env(db_url),
        cwd=REPO_ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        **kwargs,
    )
