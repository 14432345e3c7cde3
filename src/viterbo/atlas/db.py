"""Database URLs, engines and schema management (Alembic) for the job store.

* ``resolve_url``: ``--db URL`` > ``ATLAS_DB`` > ``sqlite:///artefacts/atlas.sqlite``.
* ``make_engine``: SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` for write
  transactions (``engine.execution_options(immediate=True)``); PostgreSQL uses psycopg 3.
* ``ensure_schema``: upgrades a fresh or older database to the newest Alembic revision and
  refuses a database whose revision this code does not know (newer code wrote it).  The
  migrations live in the top-level ``migrations/`` (shipped in the wheel as
  ``viterbo/atlas/migrations``) and the Alembic ``Config`` is built in code, so an installed
  (non-editable) package migrates without the repository.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from viterbo.atlas.errors import DatabaseMissingError, DatabaseUnusableError, DatabaseURLError
from viterbo.atlas.models import RUNNING, jobs_table

ENV_VAR = "ATLAS_DB"
_CHECKOUT = Path(__file__).resolve().parents[3]
# Running from the source checkout (editable install, tests)?  An installed (non-editable)
# package sits in site-packages instead: its default database and exports then go under the
# directory it is run from, not inside the environment.
IS_CHECKOUT = (_CHECKOUT / "pyproject.toml").is_file() and (
    _CHECKOUT / "src" / "viterbo" / "atlas"
).is_dir()
REPO_ROOT = _CHECKOUT if IS_CHECKOUT else Path.cwd()
DEFAULT_DB_PATH = REPO_ROOT / "artefacts" / "atlas.sqlite"
# The Alembic scripts: the top-level migrations/ of a checkout (DESIGN.md's layout); a wheel
# carries the same files as viterbo/atlas/migrations/ (pyproject's package-dir), so that an
# installed package migrates too.
_PACKAGED_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATIONS_DIR = (
    _CHECKOUT / "migrations"
    if IS_CHECKOUT and (_CHECKOUT / "migrations" / "env.py").is_file()
    else _PACKAGED_MIGRATIONS
)
SQLITE_BUSY_TIMEOUT_MS = 60_000
PG_CONNECT_TIMEOUT_S = 10


def resolve_url(url: str | None = None) -> str:
    """The database URL to use: ``url``, else ``$ATLAS_DB``, else the SQLite default."""
    if url:
        return url
    env = os.environ.get(ENV_VAR)
    if env:
        return env
    return f"sqlite:///{DEFAULT_DB_PATH}"


def parse_url(url: str) -> URL:
    """Parse and normalise ``url``; ``postgresql://`` selects the psycopg 3 driver.

    Raises
    ------
    DatabaseURLError
        When the URL is malformed or its backend is neither SQLite nor PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseURLError(
            f"malformed database URL {url!r} (expected e.g. sqlite:///path/atlas.sqlite or postgresql://user@host/db)"
        ) from None
    scheme = parsed.drivername
    if scheme in ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
        # Plain libpq-style URLs (and the older psycopg2 spelling) all run on psycopg 3, the
        # one PostgreSQL driver the atlas ships with.
        return parsed.set(drivername="postgresql+psycopg")
    if scheme.startswith(("postgresql+", "postgres+")):
        raise DatabaseURLError(
            f"unsupported PostgreSQL driver {scheme.partition('+')[2]!r} in {_safe(url)!r} (use postgresql://... ; the atlas runs on psycopg 3)"
        )
    if scheme not in ("sqlite", "sqlite+pysqlite"):
        raise DatabaseURLError(
            f"unsupported database backend {scheme.partition('+')[0]!r} in {_safe(url)!r} (use sqlite:///FILE or postgresql://USER@HOST/DB)"
        )
    if parsed.database in (None, "", ":memory:"):
        raise DatabaseURLError(
            f"database URL {url!r} names no file (in-memory databases cannot be shared by workers)"
        )
    return parsed


def _safe(url: str) -> str:
    """``url`` with any password masked (for error messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # pragma: no cover - parse_url rejected it already
        return url


def is_sqlite(engine_or_conn: Engine | Connection) -> bool:
    """Whether the engine (or connection) talks to SQLite."""
    return engine_or_conn.dialect.name == "sqlite"


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling is broken).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        # (WAL is switched on by ensure_schema, once the file is known to be an atlas database:
        # the mode is stored in the file, and a foreign database must stay untouched.)
        # WAL + NORMAL: durable across process crashes, only an OS crash can lose the last commits.
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Write transactions take the write lock up front so that two claimers never both read
        # the same pending row and then fail to upgrade their lock (SQLITE_BUSY mid-transaction).
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (resolved with :func:`resolve_url`), with backend-specific setup.

    The SQLite file (and its folder, for the default location only) is created on demand;
    a user-given path in a missing folder is an error rather than a silent ``mkdir``.
    """
    resolved = resolve_url(url)
    parsed = parse_url(resolved)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if path.resolve() == DEFAULT_DB_PATH.resolve():
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.parent.is_dir():
            raise DatabaseUnusableError(
                f"cannot open database {str(path)!r}: folder {str(path.parent)!r} does not exist"
            )
        if path.is_dir():
            raise DatabaseUnusableError(f"cannot open database {str(path)!r}: it is a folder")
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _install_sqlite_hooks(engine)
    else:
        try:
            # pre-ping: a pooled connection that a server restart killed is replaced on checkout
            # instead of failing the next statement; connect_timeout: an unreachable server is
            # an error after seconds, not a hang.
            engine = create_engine(
                parsed, pool_pre_ping=True, connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S}
            )
        except NoSuchModuleError as exc:
            raise DatabaseURLError(f"no driver for {resolved!r}: {exc}") from None
    return engine


def writer(engine: Engine) -> Engine:
    """The same engine, whose transactions start with ``BEGIN IMMEDIATE`` on SQLite."""
    return engine.execution_options(immediate=True)


# --------------------------------------------------------------------------- schema


def _alembic_config(connection: Connection | None = None) -> Any:
    """The Alembic configuration, built in code (no ``alembic.ini`` needed at run time)."""
    from alembic.config import Config  # lazy: alembic is 110 ms, --help needs none of it

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


# The newest revision in migrations/versions, so that opening an up-to-date database needs no
# alembic import (0.25 s of every `atlas status`); a test checks it against alembic's head.
SCHEMA_HEAD = "0002"


def _recorded_revision(conn: Connection) -> str | None:
    """``alembic_version.version_num`` read directly; ``None`` if the table is missing/empty."""
    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])


def head_revision() -> str:
    """The newest Alembic revision this code knows."""
    from alembic.script import ScriptDirectory  # lazy: alembic (see _alembic_config)

    heads = ScriptDirectory.from_config(_alembic_config()).get_heads()
    if len(heads) != 1:  # pragma: no cover - a broken migrations folder
        raise RuntimeError(f"migrations must have exactly one head, found {heads}")
    return heads[0]


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory  # lazy: alembic (see _alembic_config)

    return {s.revision for s in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}


def current_revision(conn: Connection) -> str | None:
    """The Alembic revision recorded in the database (``None`` when it has none)."""
    from alembic.runtime.migration import MigrationContext  # lazy: alembic

    return MigrationContext.configure(conn).get_current_revision()


def _lock_for_migration(conn: Connection) -> None:
    # SQLite: the BEGIN IMMEDIATE of the writer engine already serialises migrators.
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))


def ensure_schema(engine: Engine) -> str:
    """Bring the database to the newest schema; return the revision it is at.

    Raises
    ------
    DatabaseUnusableError
        When the database cannot be read, is not an atlas database, or was written by newer
        code (a revision this code does not know).
    """
    try:
        with engine.connect() as conn:
            current = _recorded_revision(conn)  # what alembic would read, without alembic
        if current == SCHEMA_HEAD:  # the usual case: no alembic at all
            _enable_wal(engine)
            return SCHEMA_HEAD
        from alembic import command  # lazy: alembic (0.25 s), only to migrate

        head = head_revision()
        with writer(engine).begin() as conn:
            _lock_for_migration(conn)
            current = current_revision(conn)  # again, under the lock
            if current == head:
                return head
            if current is None:
                tables = set(inspect(conn).get_table_names())
                if tables - {"alembic_version"}:
                    raise DatabaseUnusableError(
                        f"database {_describe(engine)} has tables ({', '.join(sorted(tables)[:3])}, ...) but no atlas schema version: not an atlas database"
                    )
            elif current not in _known_revisions():
                raise DatabaseUnusableError(
                    f"database {_describe(engine)} has schema revision {current!r}, newer than this code (newest known: {head!r}); upgrade viterbo-atlas"
                )
            command.upgrade(_alembic_config(conn), "head")
        _enable_wal(engine)
    except DatabaseUnusableError:
        raise
    except (SQLAlchemyError, sqlite3.Error) as exc:
        raise DatabaseUnusableError(
            f"cannot use database {_describe(engine)}: {_one_line(exc)}{_access_hint(engine)}"
        ) from None
    return head


def _access_hint(engine: Engine) -> str:
    """Why SQLite may have failed: it needs to write the file and, for its WAL, the folder.

    A probe file in the folder lets the OS say what is wrong (a pseudo file system such as
    /proc, a read-only mount, missing permissions); the disk is only called full when the OS
    says so (ENOSPC) or the probe succeeded on a file system with less than 1 MiB free.
    """
    if not is_sqlite(engine):
        return ""
    path = Path(engine.url.database or "")
    for what, p in (("file", path), ("folder", path.parent)):
        if p.exists() and not os.access(p, os.W_OK):
            return f" (the {what} is read-only; the job store needs write access to the file and its folder)"
    if not path.parent.is_dir():
        return ""
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            return " (the disk is full)"
        return f" (cannot create a file in {path.parent}: {exc.strerror})"
    free = shutil.disk_usage(path.parent).free
    if free < 1 << 20:
        return f" (the disk is full: {free // 1024} KiB free)"
    return ""


def _enable_wal(engine: Engine) -> None:
    """Write-ahead logging: readers never block the writer, commits are cheap (SQLite only)."""
    if not is_sqlite(engine):
        return
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            cur.execute("PRAGMA journal_mode = WAL")
        cur.close()
    finally:
        raw.close()


def _describe(engine: Engine) -> str:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return repr(url.database)
    return repr(url.render_as_string(hide_password=True))


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def open_database(url: str | None = None, *, create: bool = True) -> Engine:
    """Engine for ``url`` with the schema upgraded to the newest revision (see ensure_schema).

    ``create=False`` (commands that read or work on an existing atlas: status, work, export,
    prune) refuses a database that does not exist yet -- a missing SQLite file, or a server
    database without the atlas tables -- with :class:`DatabaseMissingError`, instead of
    creating an empty one (a typo in ``--db`` would otherwise report an empty atlas).
    """
    if not create:
        _require_existing(resolve_url(url))
    engine = make_engine(url)
    if not create and not is_sqlite(engine):
        try:
            has_tables = inspect(engine).has_table("jobs")
        except Exception:
            engine.dispose()
            raise
        if not has_tables:
            engine.dispose()
            raise DatabaseMissingError(
                f"no atlas database at {parse_url(resolve_url(url)).render_as_string(hide_password=True)} "
                "(it has no atlas tables; `atlas enqueue` or `atlas build` creates them)"
            )
    if not create:  # before any migration writes to it
        try:
            check_integrity(engine)
        except DatabaseUnusableError:
            engine.dispose()
            raise
    ensure_schema(engine)
    return engine


def check_integrity(engine: Engine) -> None:
    """Refuse a SQLite file whose pages are damaged (``PRAGMA quick_check``, O(file size)).

    A damaged file can still answer the few pages a command reads -- ``atlas status`` would
    report a finished build and exit 0 -- so the commands that read an existing atlas check the
    whole file once (about 0.1 s per 30 MB). PostgreSQL checks its own pages.
    """
    if not is_sqlite(engine):
        return
    try:
        with engine.connect() as conn:
            problems = [row[0] for row in conn.exec_driver_sql("PRAGMA quick_check").fetchall()]
    except (SQLAlchemyError, sqlite3.Error) as exc:
        # A file SQLite cannot open (read-only mount, WAL without a writable folder) is not a
        # damaged one: say why it cannot be used; only an openable file is called corrupt.
        hint = _access_hint(engine)
        if hint:
            raise DatabaseUnusableError(
                f"cannot use database {_describe(engine)}: {_one_line(exc)}{hint}"
            ) from None
        problems = [_one_line(exc)]
    if problems != ["ok"]:
        raise DatabaseUnusableError(
            f"database {_describe(engine)} is corrupt: {problems[0]} "
            f"({len(problems)} problem{'s' if len(problems) != 1 else ''} found by SQLite's quick_check; "
            "restore a copy, or rebuild it with `atlas enqueue` and `atlas work`)"
        )


def _require_existing(url: str) -> None:
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return
    if not parsed.database or parsed.database == ":memory:":
        return  # make_engine names the problem
    path = Path(parsed.database)
    if not path.is_file():
        raise DatabaseMissingError(
            f"no such database: {path} (`atlas enqueue` or `atlas build` creates it)"
        )


# --------------------------------------------------------------------------- maintenance


def database_size_bytes(engine: Engine) -> int:
    """Bytes the database occupies (SQLite: file + WAL; PostgreSQL: the current database)."""
    if is_sqlite(engine):
        path = Path(engine.url.database or "")
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def vacuum(engine: Engine) -> None:
    """Give the space of deleted/updated rows back (SQLite ``VACUUM``; PostgreSQL ``VACUUM ANALYZE``).

    SQLite's VACUUM rewrites the whole file and holds the write lock meanwhile, so it is run
    only when no job is running (a worker waiting on the lock past its busy timeout would
    give up), only when the disk has room for the copy it writes, and outside any
    transaction (VACUUM cannot run inside one).  PostgreSQL's plain VACUUM runs beside
    workers.

    Raises
    ------
    DatabaseUnusableError
        SQLite: jobs are running, or the disk lacks the free space VACUUM needs.
    """
    if not is_sqlite(engine):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
        return
    j = jobs_table.c
    with engine.connect() as conn:
        running = int(
            conn.execute(
                select(func.count()).where(j.status == RUNNING, j.lease_expires_at >= time.time())
            ).scalar_one()
        )
    if running:
        raise DatabaseUnusableError(
            f"{running} job(s) are running: stop the workers before --vacuum (SQLite's VACUUM needs the database to itself)"
        )
    path = Path(engine.url.database or "")
    need = 2 * database_size_bytes(engine)  # the rewritten copy plus its journal, worst case
    free = shutil.disk_usage(path.parent).free
    if free < need:
        raise DatabaseUnusableError(
            f"not enough free disk space to VACUUM {str(path)!r}: {free / 2**20:.0f} MiB free, up to {need / 2**20:.0f} MiB needed"
        )
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()  # autocommit: the connect hook set isolation_level = None
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cur.execute("VACUUM")
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cur.close()
    finally:
        raw.close()
