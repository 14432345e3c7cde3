"""SQLAlchemy 2.x models of the job store.

Three tables: ``polytopes`` (one generated polytope, geometry as JSON), ``jobs`` (one unit of
work: generating a polytope or computing one quantity with one algorithm) and
``job_dependencies`` (job -> job it waits for).  Times are Unix epoch seconds (float), which
compare the same way on SQLite and PostgreSQL.  JSON is stored as text so that both backends
see identical bytes and no result blob sits in an index.

The Alembic migrations in the top-level ``migrations/`` create exactly these tables; keep them
in step.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

# BIGINT on PostgreSQL, INTEGER (the rowid alias, so autoincrementing) on SQLite.
IdType = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Job states.  ``blocked`` waits for dependencies; the last four are terminal.
PENDING = "pending"
BLOCKED = "blocked"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
TIMED_OUT = "timed_out"
NOT_APPLICABLE = "not_applicable"
# Born terminal by a preset's explicit policy (e.g. haim-kislev limited to <= 12 facets): the
# algorithm applies but was deliberately not run; the result holds the policy's reason.
SKIPPED = "skipped"
TERMINAL_STATES: tuple[str, ...] = (DONE, FAILED, TIMED_OUT, NOT_APPLICABLE, SKIPPED)
ALL_STATES: tuple[str, ...] = (PENDING, BLOCKED, RUNNING, *TERMINAL_STATES)


# Core tables, not ORM classes: nothing here uses an ORM session, and sqlalchemy.orm alone
# costs 0.2 s of every `atlas status` start-up.
metadata = MetaData(naming_convention=NAMING)


def _required(name: str, type_: Any, *args: Any, **kwargs: Any) -> Column[Any]:
    return Column(name, type_, *args, nullable=False, **kwargs)


def _optional(name: str, type_: Any, *args: Any, **kwargs: Any) -> Column[Any]:
    return Column(name, type_, *args, nullable=True, **kwargs)


# One generated polytope: provenance (family, params, index, seed) and geometry.
polytopes_table = Table(
    "polytopes",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    _required("key", String(200), unique=True),
    _required("family", String(64), index=True),
    _required("params", Text),  # canonical JSON
    _required("index", Integer),
    _optional("seed", BigInteger),
    _required("dimension", Integer),
    _required("num_vertices", Integer),
    _required("num_facets", Integer),
    _required("vertices", Text),  # JSON list of lists
    _required("normals", Text),
    _required("offsets", Text),
    _required("metadata", Text, default="{}"),
    _required("created_at", Float),
)

# One unit of work and everything that is known about its execution.
jobs_table = Table(
    "jobs",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    _required("kind", String(32)),
    _optional("polytope_id", IdType, ForeignKey("polytopes.id"), index=True),
    _optional("family", String(64)),  # denormalised
    _optional("quantity", String(64)),
    _optional("algorithm", String(64)),
    _required("params", Text, default="{}"),
    _required("idempotency_key", String(400), unique=True),
    _required("status", String(16)),
    _required("priority", Integer, default=0),
    _required("attempts", Integer, default=0),
    _required("max_attempts", Integer, default=3),
    _optional("lease_owner", String(128)),
    _optional("lease_token", String(64)),
    _optional("lease_expires_at", Float),
    _optional("heartbeat_at", Float),
    _required("queued_at", Float),
    _optional("started_at", Float),
    _optional("finished_at", Float),
    _optional("wall_seconds", Float),
    _optional("cpu_seconds", Float),
    _optional("peak_rss_mb", Float),
    _optional("result", Text),  # JSON
    _optional("error_type", String(128)),
    _optional("error_message", Text),
    _optional("traceback", Text),
    Index("ix_jobs_claim", "status", "priority", "id"),
    Index("ix_jobs_lease", "status", "lease_expires_at"),
    Index("ix_jobs_finished", "status", "finished_at"),
    Index("ix_jobs_family_status", "family", "status"),
    Index("ix_jobs_algorithm_status", "kind", "quantity", "algorithm", "status"),
)

# ``job_id`` may run only once ``depends_on_id`` is in a terminal state.
dependencies_table = Table(
    "job_dependencies",
    metadata,
    Column("job_id", IdType, ForeignKey("jobs.id"), primary_key=True),
    Column("depends_on_id", IdType, ForeignKey("jobs.id"), primary_key=True, index=True),
)
