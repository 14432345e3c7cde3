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

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class PolytopeRow(Base):
    """One generated polytope: provenance (family, params, index, seed) and geometry."""

    __tablename__ = "polytopes"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # Stable across databases: "<family>:<params hash>:<index>" (the dataset's row id).
    key: Mapped[str] = mapped_column(String(200), unique=True)
    family: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[str] = mapped_column(Text)  # canonical JSON
    index: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    dimension: Mapped[int] = mapped_column(Integer)
    num_vertices: Mapped[int] = mapped_column(Integer)
    num_facets: Mapped[int] = mapped_column(Integer)
    vertices: Mapped[str] = mapped_column(Text)  # JSON list of lists
    normals: Mapped[str] = mapped_column(Text)
    offsets: Mapped[str] = mapped_column(Text)
    metadata_json: Mapped[str] = mapped_column("metadata", Text, default="{}")
    created_at: Mapped[float] = mapped_column(Float)


class Job(Base):
    """One unit of work and everything that is known about its execution."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    polytope_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("polytopes.id"), nullable=True, index=True
    )
    family: Mapped[str | None] = mapped_column(String(64), nullable=True)  # denormalised
    quantity: Mapped[str | None] = mapped_column(String(64), nullable=True)
    algorithm: Mapped[str | None] = mapped_column(String(64), nullable=True)
    params: Mapped[str] = mapped_column(Text, default="{}")
    idempotency_key: Mapped[str] = mapped_column(String(400), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    heartbeat_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    queued_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    wall_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpu_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_rss_mb: Mapped[float | None] = mapped_column(Float, nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    error_type: Mapped[str | None] = mapped_column(String(128), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    traceback: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        # Claim: pending jobs in priority order; expired leases of running jobs.
        Index("ix_jobs_claim", "status", "priority", "id"),
        Index("ix_jobs_lease", "status", "lease_expires_at"),
        # Status / ETA / recent failures (revision 0002): covering indexes, no blob scans.
        Index("ix_jobs_finished", "status", "finished_at"),
        Index("ix_jobs_family_status", "family", "status"),
        Index("ix_jobs_algorithm_status", "kind", "quantity", "algorithm", "status"),
    )


class JobDependency(Base):
    """``job_id`` may run only once ``depends_on_id`` is in a terminal state."""

    __tablename__ = "job_dependencies"

    job_id: Mapped[int] = mapped_column(IdType, ForeignKey("jobs.id"), primary_key=True)
    depends_on_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("jobs.id"), primary_key=True, index=True
    )


polytopes_table = PolytopeRow.__table__
jobs_table = Job.__table__
dependencies_table = JobDependency.__table__
