"""The job store: enqueue, claim with leases, heartbeat, complete, release, and summary counts.

All statements are SQLAlchemy Core (the ORM's per-object overhead would cap throughput).
Every write runs in one short transaction: ``BEGIN IMMEDIATE`` on SQLite (see
:func:`viterbo.atlas.db.writer`), ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL so that
concurrent claimers skip each other's rows instead of queueing on them.
"""

from __future__ import annotations

import importlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, bindparam, case, func, select, text, update
from sqlalchemy.engine import Connection

from viterbo.atlas.db import writer
from viterbo.atlas.models import (
    ALL_STATES,
    BLOCKED,
    DONE,
    FAILED,
    NOT_APPLICABLE,
    PENDING,
    RUNNING,
    SKIPPED,
    TERMINAL_STATES,
    TIMED_OUT,
    dependencies_table,
    jobs_table,
    polytopes_table,
)

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_LEASE_SECONDS = 60.0
INSERT_CHUNK = 500


def dumps(obj: Any) -> str:
    """Canonical JSON (sorted keys, no spaces): equal data gives equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class JobSpec:
    """A job to insert.  ``key`` is the idempotency key (unique over the whole table)."""

    kind: str
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    family: str | None = None
    quantity: str | None = None
    algorithm: str | None = None
    polytope_id: int | None = None
    priority: int = 0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    status: str = PENDING
    result: dict[str, Any] | None = None  # for jobs born terminal (not_applicable)
    depends_on_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker holds a lease on (``lease_token`` proves it at completion)."""

    id: int
    kind: str
    polytope_id: int | None
    family: str | None
    quantity: str | None
    algorithm: str | None
    params: str  # raw JSON text: parsing is the job's business (a bad value fails the job)
    idempotency_key: str
    attempts: int
    max_attempts: int
    lease_token: str
    lease_owner: str


@dataclass
class Outcome:
    """How one run of a job ended."""

    status: str  # done / failed / timed_out / not_applicable
    result: dict[str, Any] | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    peak_rss_mb: float | None = None
    retry: bool = False  # a transient failure: back to pending if attempts remain


# ----------------------------------------------------------------------- fault injection

CheckpointHook = Callable[[str, Sequence["ClaimedJob"]], None]
"""``hook(point, jobs)``, called at the worker's crash-relevant points.

Points: ``"claim-uncommitted"`` (inside the claim transaction, before COMMIT), ``"claimed"``
(claim committed, nothing run yet) and ``"computed"`` (outcomes known, not yet recorded).  Only
the reliability tests pass one (to SIGKILL a worker at exactly that point), through
``WorkerOptions.checkpoint`` or ``JobStore(engine, checkpoint=...)``.
"""


def no_checkpoint(point: str, jobs: Sequence[ClaimedJob]) -> None:
    """The default :data:`CheckpointHook`: nothing happens at the checkpoints."""


# ----------------------------------------------------------------------- low level (conn)


def _insert_stmt(conn: Connection) -> Any:
    # The connection's own dialect package: importing the PostgreSQL one (asyncio and all) for a
    # SQLite `atlas status` would cost 0.04 s of start-up.
    dialect = importlib.import_module(f"sqlalchemy.dialects.{conn.dialect.name}")
    return dialect.insert(jobs_table).on_conflict_do_nothing(index_elements=["idempotency_key"])


def insert_jobs(
    conn: Connection, specs: Sequence[JobSpec], now: float | None = None
) -> dict[str, int]:
    """Insert ``specs`` (skipping keys that exist) and their dependency rows.

    Returns the ids of the jobs that were new, by idempotency key.  A spec whose
    ``depends_on_keys`` name jobs that are not all terminal is stored as ``blocked``.
    """
    now = time.time() if now is None else now
    new_ids: dict[str, int] = {}
    stmt = _insert_stmt(conn).returning(jobs_table.c.id, jobs_table.c.idempotency_key)
    for start in range(0, len(specs), INSERT_CHUNK):
        chunk = specs[start : start + INSERT_CHUNK]
        rows = [_spec_row(s, now) for s in chunk]
        for job_id, key in conn.execute(stmt, rows).all():
            new_ids[key] = int(job_id)
    with_deps = [s for s in specs if s.depends_on_keys and s.key in new_ids]
    if with_deps:
        _insert_dependencies(conn, with_deps, new_ids)
    return new_ids


def _spec_row(spec: JobSpec, now: float) -> dict[str, Any]:
    terminal = spec.status in TERMINAL_STATES
    status = BLOCKED if spec.depends_on_keys and not terminal else spec.status
    return {
        "kind": spec.kind,
        "polytope_id": spec.polytope_id,
        "family": spec.family,
        "quantity": spec.quantity,
        "algorithm": spec.algorithm,
        "params": dumps(spec.params),
        "idempotency_key": spec.key,
        "status": status,
        "priority": spec.priority,
        "attempts": 0,
        "max_attempts": spec.max_attempts,
        "queued_at": now,
        "finished_at": now if terminal else None,
        "result": dumps(spec.result) if spec.result is not None else None,
    }


def _insert_dependencies(
    conn: Connection, specs: Sequence[JobSpec], new_ids: dict[str, int]
) -> None:
    needed = sorted({k for s in specs for k in s.depends_on_keys})
    ids_by_key = dict(new_ids)
    missing = [k for k in needed if k not in ids_by_key]
    if missing:
        q = select(jobs_table.c.idempotency_key, jobs_table.c.id).where(
            jobs_table.c.idempotency_key.in_(bindparam("keys", expanding=True))
        )
        ids_by_key.update({k: int(i) for k, i in conn.execute(q, {"keys": missing})})
    rows = []
    for s in specs:
        for dep in s.depends_on_keys:
            if dep not in ids_by_key:
                raise ValueError(f"job {s.key!r} depends on unknown job {dep!r}")
            rows.append({"job_id": new_ids[s.key], "depends_on_id": ids_by_key[dep]})
    conn.execute(dependencies_table.insert(), rows)
    # Dependencies that were already terminal when inserted: unblock right away.
    release_dependents(conn, candidates=[new_ids[s.key] for s in specs])


_TERMINAL_SQL = ", ".join(f"'{s}'" for s in TERMINAL_STATES)
_READY = f"""
    status = '{BLOCKED}'
    AND NOT EXISTS (
        SELECT 1 FROM job_dependencies d JOIN jobs j2 ON j2.id = d.depends_on_id
        WHERE d.job_id = jobs.id AND j2.status NOT IN ({_TERMINAL_SQL}))
"""
_UNBLOCK = text(f"UPDATE jobs SET status = '{PENDING}' WHERE id IN :ids AND {_READY}").bindparams(
    bindparam("ids", expanding=True)
)
_UNBLOCK_ALL = text(f"UPDATE jobs SET status = '{PENDING}' WHERE {_READY}")
_LOCK_DEPENDENTS = text(
    f"SELECT id FROM jobs WHERE id IN :ids AND status = '{BLOCKED}' ORDER BY id FOR UPDATE"
).bindparams(bindparam("ids", expanding=True))


def release_dependents(
    conn: Connection, finished: Sequence[int] = (), candidates: Sequence[int] = ()
) -> int:
    """Move blocked jobs whose dependencies are all terminal to ``pending``.

    ``finished``: jobs that just reached a terminal state (their dependents are checked);
    ``candidates``: jobs to check directly.  Returns how many jobs became pending.
    """
    ids = set(candidates)
    if finished:
        q = select(dependencies_table.c.job_id).where(
            dependencies_table.c.depends_on_id.in_(bindparam("ids", expanding=True))
        )
        ids.update(int(r[0]) for r in conn.execute(q, {"ids": list(finished)}))
    if not ids:
        return 0
    if conn.dialect.name == "postgresql":
        # Two workers finishing the last two inputs of one job concurrently would each still
        # see the other's input as running (READ COMMITTED) and both leave the job blocked.
        # Locking the dependent first serialises them; the second one's UPDATE then sees the
        # first one's commit.  (SQLite writers are serialised by BEGIN IMMEDIATE already.)
        conn.execute(_LOCK_DEPENDENTS, {"ids": sorted(ids)})
    return int(conn.execute(_UNBLOCK, {"ids": sorted(ids)}).rowcount or 0)


def release_all_ready(conn: Connection) -> int:
    """Safety net: unblock every blocked job whose dependencies are all terminal."""
    return int(conn.execute(_UNBLOCK_ALL).rowcount or 0)


_j = jobs_table.c
# Statements are built once: SQLAlchemy then reuses their compiled form (building a statement
# per job costs more than executing it).
_EXPIRED_Q = (
    select(_j.id, _j.attempts, _j.max_attempts)
    .where(_j.status == RUNNING, _j.lease_expires_at < bindparam("now"))
    .order_by(_j.lease_expires_at)
    .limit(bindparam("limit"))
)
_PENDING_Q = (
    select(_j.id).where(_j.status == PENDING).order_by(_j.priority, _j.id).limit(bindparam("limit"))
)
_GIVE_UP = (
    update(jobs_table)
    .where(_j.id == bindparam("b_id"))
    .values(
        status=FAILED,
        finished_at=bindparam("b_now"),
        lease_token=None,
        lease_expires_at=None,
        error_type="LeaseExpired",
        error_message=bindparam("b_message"),
    )
)
_TAKE = (
    update(jobs_table)
    .where(_j.id.in_(bindparam("ids", expanding=True)))
    .values(
        status=RUNNING,
        lease_owner=bindparam("owner"),
        lease_token=bindparam("token"),
        lease_expires_at=bindparam("expires"),
        heartbeat_at=bindparam("now"),
        started_at=bindparam("now"),
        attempts=_j.attempts + 1,
    )
)
_CLAIMED = (
    select(
        _j.id,
        _j.kind,
        _j.polytope_id,
        _j.family,
        _j.quantity,
        _j.algorithm,
        _j.params,
        _j.idempotency_key,
        _j.attempts,
        _j.max_attempts,
    )
    .where(_j.id.in_(bindparam("ids", expanding=True)))
    .order_by(_j.priority, _j.id)
)
_PENDING_HEAD = (
    select(_j.id)
    .where(_j.status == PENDING)
    .order_by(_j.priority, _j.id)
    .limit(bindparam("plimit"))
    .with_for_update(skip_locked=True)
)
_TAKE_RETURNING = (
    update(jobs_table)
    .where(_j.id.in_(bindparam("ids", expanding=True)) | _j.id.in_(_PENDING_HEAD))
    .values(
        status=RUNNING,
        lease_owner=bindparam("owner"),
        lease_token=bindparam("token"),
        lease_expires_at=bindparam("expires"),
        heartbeat_at=bindparam("now"),
        started_at=bindparam("now"),
        attempts=_j.attempts + 1,
    )
    .returning(
        _j.id,
        _j.kind,
        _j.polytope_id,
        _j.family,
        _j.quantity,
        _j.algorithm,
        _j.params,
        _j.idempotency_key,
        _j.attempts,
        _j.max_attempts,
        _j.priority,
    )
)
_STILL_OURS = select(_j.id, _j.lease_token).where(
    _j.id.in_(bindparam("ids", expanding=True)),
    _j.lease_token.in_(bindparam("tokens", expanding=True)),
    _j.status == RUNNING,
)
_COMPLETE = (
    update(jobs_table)
    .where(_j.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        finished_at=bindparam("b_finished"),
        result=bindparam("b_result"),
        wall_seconds=bindparam("b_wall"),
        cpu_seconds=bindparam("b_cpu"),
        peak_rss_mb=bindparam("b_peak"),
        error_type=bindparam("b_etype"),
        error_message=bindparam("b_emsg"),
        traceback=bindparam("b_tb"),
        lease_token=None,
        lease_expires_at=None,
    )
)
_SET_RESULT = (
    update(jobs_table).where(_j.id == bindparam("b_id")).values(result=bindparam("b_result"))
)


def _locked(conn: Connection, stmt: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt  # SQLite: BEGIN IMMEDIATE already excludes every other writer


def claim_jobs(
    conn: Connection, owner: str, lease_seconds: float, limit: int, now: float
) -> list[ClaimedJob]:
    """Claim up to ``limit`` jobs inside the caller's write transaction (see JobStore.claim)."""
    ids: list[int] = []
    exhausted: list[tuple[int, int]] = []
    for job_id, attempts, max_attempts in conn.execute(
        _locked(conn, _EXPIRED_Q), {"now": now, "limit": limit}
    ):
        if attempts >= max_attempts:
            exhausted.append((int(job_id), int(attempts)))
        else:
            ids.append(int(job_id))
    if exhausted:
        conn.execute(
            _GIVE_UP,
            [
                {
                    "b_id": job_id,
                    "b_now": now,
                    "b_message": f"lease expired on all {attempts} attempts (worker crashed or was killed); giving up",
                }
                for job_id, attempts in exhausted
            ],
        )
        release_dependents(conn, finished=[e[0] for e in exhausted])
    token = uuid.uuid4().hex
    if conn.dialect.name == "postgresql":
        # One round trip: lock the head of the queue (skipping rows other claimers hold), take
        # it and return it.  (SQLite's writers are serialised; its three short statements cost
        # less than a RETURNING round trip matters there.)
        rows = conn.execute(
            _TAKE_RETURNING,
            {
                "ids": ids,
                "plimit": limit - len(ids),
                "owner": owner,
                "token": token,
                "expires": now + lease_seconds,
                "now": now,
            },
        ).all()
        rows.sort(key=lambda r: (r[-1], r[0]))  # priority, id: the order claim promises
        return [ClaimedJob(*(r[:10]), lease_token=token, lease_owner=owner) for r in rows]
    if len(ids) < limit:
        ids += [
            int(r[0]) for r in conn.execute(_locked(conn, _PENDING_Q), {"limit": limit - len(ids)})
        ]
    if not ids:
        return []
    conn.execute(
        _TAKE,
        {"ids": ids, "owner": owner, "token": token, "expires": now + lease_seconds, "now": now},
    )
    rows = conn.execute(_CLAIMED, {"ids": ids}).all()
    return [ClaimedJob(*(r[:10]), lease_token=token, lease_owner=owner) for r in rows]


RecordHook = Callable[[Connection, ClaimedJob, dict[str, Any]], dict[str, Any]]


def _retries(job: ClaimedJob, outcome: Outcome) -> bool:
    return outcome.retry and job.attempts < job.max_attempts


def complete_jobs(
    conn: Connection,
    items: Sequence[tuple[ClaimedJob, Outcome]],
    now: float,
    record: Callable[[ClaimedJob], RecordHook | None] | None = None,
) -> list[bool]:
    """Record outcomes inside the caller's write transaction, for the jobs still ours.

    A job is still ours when its row carries our lease token and is ``running``; otherwise
    another worker took it over after our lease expired, its result wins, and ours is dropped
    (``False`` in the returned list).  Dependents of finished jobs are released.
    """
    if not items:
        return []
    current = {
        int(i): t
        for i, t in conn.execute(
            _locked_rows(conn),
            {
                "ids": [job.id for job, _ in items],
                "tokens": sorted({job.lease_token for job, _ in items}),
            },
        )
    }
    accepted = [current.get(job.id) == job.lease_token for job, _ in items]
    params = []
    for (job, out), ok in zip(items, accepted, strict=True):
        if not ok:
            continue
        retry = _retries(job, out)
        params.append(
            {
                "b_id": job.id,
                "b_status": PENDING if retry else out.status,
                "b_finished": None if retry else now,
                "b_result": dumps(out.result) if out.result is not None and not retry else None,
                "b_wall": out.wall_seconds,
                "b_cpu": out.cpu_seconds,
                "b_peak": out.peak_rss_mb,
                "b_etype": out.error_type,
                "b_emsg": out.error_message,
                "b_tb": out.traceback,
            }
        )
    if params:
        conn.execute(_COMPLETE, params)
    finished = []
    for (job, out), ok in zip(items, accepted, strict=True):
        if not ok or _retries(job, out):
            continue
        finished.append(job.id)
        hook = record(job) if record is not None else None
        if out.status == DONE and hook is not None:
            stored = hook(conn, job, out.result or {})
            conn.execute(_SET_RESULT, {"b_id": job.id, "b_result": dumps(stored)})
    if finished:
        release_dependents(conn, finished=finished)
    return accepted


def _locked_rows(conn: Connection) -> Any:
    # PostgreSQL: lock the rows we are about to finish (a concurrent claimer skips them).
    return _STILL_OURS.with_for_update() if conn.dialect.name == "postgresql" else _STILL_OURS


# ----------------------------------------------------------------------------- pruning

# What `atlas prune` may clear on finished jobs: the traceback of a failure (the one large
# text a finished job keeps besides its result) and the last heartbeat time.  Never the result, status, timings, error
# type/message, who ran it, or anything in ``polytopes``: those are what `atlas export` reads, and
# tests/atlas/test_reliability.py checks that an export is byte-identical before and after.
PRUNABLE_COLUMNS: tuple[str, ...] = ("traceback", "heartbeat_at")
_PRUNE_WHERE = (
    _j.status.in_(TERMINAL_STATES),
    _j.finished_at < bindparam("cutoff"),
    (_j.traceback.is_not(None) | _j.heartbeat_at.is_not(None)),
)


def prune_finished(
    conn: Connection, older_than_seconds: float, now: float, *, dry_run: bool = False
) -> int:
    """Clear :data:`PRUNABLE_COLUMNS` of jobs that finished more than ``older_than_seconds`` ago.

    Returns how many jobs were (or, with ``dry_run``, would be) pruned.
    """
    cutoff = now - older_than_seconds
    if dry_run:
        return int(
            conn.execute(select(func.count()).where(*_PRUNE_WHERE), {"cutoff": cutoff}).scalar_one()
        )
    res = conn.execute(
        update(jobs_table).where(*_PRUNE_WHERE).values(dict.fromkeys(PRUNABLE_COLUMNS)),
        {"cutoff": cutoff},
    )
    return int(res.rowcount or 0)


# ----------------------------------------------------------------------------- JobStore


# ------------------------------------------------------------------ operator controls

CANCELLED = "Cancelled"  # error_type of jobs that `atlas cancel` skipped (retry can take them back)
_FRESH = {  # what a job that never ran carries
    "result": None,
    "error_type": None,
    "error_message": None,
    "traceback": None,
    "finished_at": None,
    "started_at": None,
    "wall_seconds": None,
    "cpu_seconds": None,
    "peak_rss_mb": None,
    "lease_owner": None,
    "lease_token": None,
    "lease_expires_at": None,
    "heartbeat_at": None,
    "attempts": 0,
}


@dataclass(frozen=True)
class JobFilter:
    """Which jobs an operator command means: by kind, quantity, algorithm (``None``: any)."""

    kind: str | None = None
    quantity: str | None = None
    algorithm: str | None = None

    def where(self) -> list[Any]:
        j = jobs_table.c
        return [
            column == value
            for column, value in (
                (j.kind, self.kind),
                (j.quantity, self.quantity),
                (j.algorithm, self.algorithm),
            )
            if value is not None
        ]


def _dependents_closure(conn: Connection, ids: set[int]) -> set[int]:
    """Every job that depends, directly or through others, on one of ``ids``."""
    d = dependencies_table.c
    found: set[int] = set()
    frontier = set(ids)
    while frontier:
        rows = conn.execute(
            select(d.job_id).where(d.depends_on_id.in_(bindparam("ids", expanding=True))),
            {"ids": sorted(frontier)},
        )
        frontier = {int(r[0]) for r in rows} - found - ids
        found |= frontier
    return found


def retry_jobs(
    conn: Connection, which: JobFilter, statuses: Sequence[str], cancelled: bool
) -> tuple[int, int]:
    """Failed / timed-out (and, with ``cancelled``, cancelled) jobs back to ``pending``, unrun.

    Their finished dependents (a certificate computed without them, a systolic ratio from that
    certificate) are reset to ``blocked`` so they are recomputed once the retried jobs finish;
    running dependents are left alone. Returns ``(retried, reset dependents)``.
    """
    j = jobs_table.c
    chosen = j.status.in_(list(statuses))
    if cancelled:
        chosen = chosen | ((j.status == SKIPPED) & (j.error_type == CANCELLED))
    ids = {
        int(r[0]) for r in conn.execute(_locked(conn, select(j.id).where(chosen, *which.where())))
    }
    if not ids:
        return 0, 0
    conn.execute(update(jobs_table).where(j.id.in_(sorted(ids))).values(status=PENDING, **_FRESH))
    dependents = _dependents_closure(conn, ids)
    reset = 0
    if dependents:
        res = conn.execute(
            update(jobs_table)
            .where(j.id.in_(sorted(dependents)), j.status.in_(TERMINAL_STATES))
            .values(status=BLOCKED, **_FRESH)
        )
        reset = int(res.rowcount or 0)
    return len(ids), reset


def cancel_jobs(conn: Connection, which: JobFilter, now: float) -> int:
    """Pending and blocked jobs to ``skipped`` (error type ``Cancelled``); running ones finish.

    Their dependents are released as for any finished input (a certificate then says the
    cancelled algorithm was skipped).
    """
    j = jobs_table.c
    ids = [
        int(r[0])
        for r in conn.execute(
            _locked(conn, select(j.id).where(j.status.in_([PENDING, BLOCKED]), *which.where()))
        )
    ]
    if not ids:
        return 0
    conn.execute(
        update(jobs_table)
        .where(j.id.in_(ids))
        .values(
            status=SKIPPED,
            finished_at=now,
            error_type=CANCELLED,
            error_message="cancelled by `atlas cancel` (`atlas retry --cancelled` runs it again)",
        )
    )
    release_dependents(conn, finished=ids)
    return len(ids)


# ------------------------------------------------------------------ polytopes and inputs
# What a job kind's prepare/record hooks read and write, inside the worker's transaction.


def insert_polytope(conn: Connection, row: dict[str, Any]) -> int:
    """The id of the polytope ``row["key"]``, inserting ``row`` if it is not stored yet."""
    p = polytopes_table.c
    existing = conn.execute(select(p.id).where(p.key == row["key"])).scalar()
    if existing is not None:  # an earlier attempt recorded it (the lease token normally guards)
        return int(existing)
    return int(conn.execute(polytopes_table.insert().values(**row).returning(p.id)).scalar_one())


def polytope_geometry(conn: Connection, polytope_id: int) -> tuple[str, dict[str, Any]] | None:
    """A stored polytope's family and ``{"vertices", "normals", "offsets"}`` (parsed), or ``None``."""
    p = polytopes_table.c
    row = conn.execute(
        select(p.family, p.vertices, p.normals, p.offsets).where(p.id == polytope_id)
    ).first()
    if row is None:
        return None
    return row.family, {
        "vertices": json.loads(row.vertices),
        "normals": json.loads(row.normals),
        "offsets": json.loads(row.offsets),
    }


def dependency_outcomes(conn: Connection, job_id: int) -> list[dict[str, Any]]:
    """The jobs ``job_id`` waits for: quantity, algorithm, status, parsed result, error."""
    j, d = jobs_table.c, dependencies_table.c
    rows = conn.execute(
        select(j.quantity, j.algorithm, j.status, j.result, j.error_type, j.error_message)
        .join(dependencies_table, d.depends_on_id == j.id)
        .where(d.job_id == job_id)
    ).all()
    return [
        {
            "quantity": q,
            "algorithm": a,
            "status": st,
            "result": json.loads(res) if res else None,
            "error_type": etype,
            "error_message": emsg,
        }
        for q, a, st, res, etype, emsg in rows
    ]


# Columns of the per-job log an export reads (never the tracebacks).
EXPORT_JOB_COLUMNS = (
    "id",
    "kind",
    "polytope_id",
    "family",
    "quantity",
    "algorithm",
    "status",
    "attempts",
    "wall_seconds",
    "cpu_seconds",
    "peak_rss_mb",
    "error_type",
    "error_message",
    "result",
    "params",
    "idempotency_key",
    "started_at",
    "finished_at",
    "lease_owner",
)


class JobStore:
    """Job-store operations on one engine, each in its own short transaction."""

    def __init__(self, engine: Engine, checkpoint: CheckpointHook = no_checkpoint) -> None:
        self.engine = engine
        self.write_engine = writer(engine)
        self.checkpoint = checkpoint

    def enqueue(self, specs: Iterable[JobSpec]) -> int:
        """Insert the jobs whose idempotency keys are new; return how many were new."""
        specs = list(specs)
        with self.write_engine.begin() as conn:
            return len(insert_jobs(conn, specs))

    def claim(
        self, owner: str, lease_seconds: float = DEFAULT_LEASE_SECONDS, limit: int = 1
    ) -> list[ClaimedJob]:
        """Lease up to ``limit`` claimable jobs to ``owner``.

        Claimable: ``pending`` jobs (priority, then id order) and ``running`` jobs whose lease
        expired (their worker died).  An expired job that used up its attempts ends ``failed``.
        """
        with self.write_engine.begin() as conn:
            jobs = claim_jobs(conn, owner, lease_seconds, limit, time.time())
            if jobs:
                self.checkpoint("claim-uncommitted", jobs)
            return jobs

    def heartbeat(
        self, jobs: Sequence[ClaimedJob], lease_seconds: float = DEFAULT_LEASE_SECONDS
    ) -> int:
        """Extend the leases of ``jobs`` (still ours); return how many were extended."""
        if not jobs:
            return 0
        now = time.time()
        j = jobs_table.c
        with self.write_engine.begin() as conn:
            res = conn.execute(
                update(jobs_table)
                .where(
                    j.id.in_(bindparam("ids", expanding=True)),
                    j.lease_token.in_(bindparam("tokens", expanding=True)),
                    j.status == RUNNING,
                )
                .values(lease_expires_at=now + lease_seconds, heartbeat_at=now),
                {"ids": [x.id for x in jobs], "tokens": sorted({x.lease_token for x in jobs})},
            )
            return int(res.rowcount or 0)

    def release(self, jobs: Sequence[ClaimedJob]) -> int:
        """Give ``jobs`` back unrun (Ctrl-C): pending again, the attempt not counted."""
        if not jobs:
            return 0
        j = jobs_table.c
        with self.write_engine.begin() as conn:
            total = 0
            for job in jobs:
                res = conn.execute(
                    update(jobs_table)
                    .where(j.id == job.id, j.lease_token == job.lease_token, j.status == RUNNING)
                    .values(
                        status=PENDING,
                        lease_owner=None,
                        lease_token=None,
                        lease_expires_at=None,
                        started_at=None,
                        attempts=j.attempts - 1,
                    )
                )
                total += int(res.rowcount or 0)
            return total

    def complete(
        self,
        items: Sequence[tuple[ClaimedJob, Outcome]],
        record: Callable[[ClaimedJob], RecordHook | None] | None = None,
    ) -> list[bool]:
        """Record several outcomes in one transaction; per job, whether it was still ours."""
        with self.write_engine.begin() as conn:
            return complete_jobs(conn, items, time.time(), record)

    def prune(self, older_than_seconds: float, *, dry_run: bool = False) -> int:
        """Clear run diagnostics of old finished jobs (see :func:`prune_finished`)."""
        with self.write_engine.begin() as conn:
            return prune_finished(conn, older_than_seconds, time.time(), dry_run=dry_run)

    def retry(
        self,
        which: JobFilter = JobFilter(),
        statuses: Sequence[str] = (FAILED, TIMED_OUT),
        cancelled: bool = False,
    ) -> tuple[int, int]:
        """Run failed / timed-out (/ cancelled) jobs again (see :func:`retry_jobs`)."""
        with self.write_engine.begin() as conn:
            return retry_jobs(conn, which, statuses, cancelled)

    def cancel(self, which: JobFilter = JobFilter()) -> int:
        """Skip pending and blocked jobs (see :func:`cancel_jobs`)."""
        with self.write_engine.begin() as conn:
            return cancel_jobs(conn, which, time.time())

    # ------------------------------------------------------------------ read side

    def status_counts(self) -> dict[str, int]:
        """Number of jobs per status (every status present, zeros included)."""
        j = jobs_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(j.status, func.count()).group_by(j.status)).all()
        counts = dict.fromkeys(ALL_STATES, 0)
        counts.update({s: int(n) for s, n in rows})
        return counts

    def unblock_ready(self) -> int:
        """Unblock every blocked job whose inputs are all terminal (see release_all_ready)."""
        with self.write_engine.begin() as conn:
            return release_all_ready(conn)

    def active_leases(self, now: float | None = None) -> int:
        """Running jobs whose lease has not expired (work in progress somewhere)."""
        now = time.time() if now is None else now
        j = jobs_table.c
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(j.status == RUNNING, j.lease_expires_at >= now)
                ).scalar_one()
            )

    def counts_by(self, *columns: str) -> list[tuple[Any, ...]]:
        """``(col..., status, count)`` rows grouped by ``columns`` and status."""
        cols = [jobs_table.c[c] for c in columns]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*cols, jobs_table.c.status, func.count()).group_by(
                    *cols, jobs_table.c.status
                )
            ).all()
        return [tuple(r) for r in rows]

    def job_times(self, since: float) -> dict[str, Any]:
        """What an ETA is made of, measured: per (kind, quantity, algorithm) the jobs left and
        the summed wall time of the finished ones; and the wall time of the jobs finished after
        ``since`` with the earliest start among them (how busy the workers were lately)."""
        j = jobs_table.c
        finished = j.status.in_(TERMINAL_STATES)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    j.kind,
                    j.quantity,
                    j.algorithm,
                    func.sum(case((finished, 0), else_=1)),
                    func.sum(case((finished & j.wall_seconds.is_not(None), 1), else_=0)),
                    func.sum(case((finished, func.coalesce(j.wall_seconds, 0.0)), else_=0.0)),
                ).group_by(j.kind, j.quantity, j.algorithm)
            ).all()
            recent = conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(j.wall_seconds), 0.0),
                    func.min(j.started_at),
                ).where(finished, j.finished_at > since)
            ).one()
        groups = {
            (kind, quantity, algorithm): (int(left or 0), int(timed or 0), float(wall or 0.0))
            for kind, quantity, algorithm, left, timed, wall in rows
        }
        return {
            "groups": groups,
            "recent_jobs": int(recent[0]),
            "recent_wall": float(recent[1]),
            "recent_first_start": recent[2],
        }

    def recent_failures(self, limit: int = 5) -> list[dict[str, Any]]:
        """The most recent failed / timed-out jobs with their one-line reasons."""
        j = jobs_table.c
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for status in (FAILED, TIMED_OUT):
                rows = conn.execute(
                    select(
                        j.id,
                        j.kind,
                        j.family,
                        j.quantity,
                        j.algorithm,
                        j.status,
                        j.finished_at,
                        j.error_type,
                        j.error_message,
                    )
                    .where(j.status == status, j.finished_at.is_not(None))
                    .order_by(j.finished_at.desc())
                    .limit(limit)
                ).all()
                out += [dict(r._mapping) for r in rows]
        out.sort(key=lambda r: r["finished_at"], reverse=True)
        return out[:limit]

    def work_in_progress(self) -> bool:
        """Whether any job is pending or running (anywhere)."""
        j = jobs_table.c
        with self.engine.connect() as conn:
            row = conn.execute(select(j.id).where(j.status.in_([PENDING, RUNNING])).limit(1))
            return row.first() is not None

    def kind_status_counts(self, kind: str) -> dict[str, int]:
        """Status -> count of the jobs of one kind (a range of the (kind, ...) index: cheap)."""
        j = jobs_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(j.status, func.count()).where(j.kind == kind).group_by(j.status)
            ).all()
        return {status: int(n) for status, n in rows}

    def algorithms_of(self, kind: str, quantity: str) -> set[str]:
        """The algorithm names of the jobs of ``kind`` that compute ``quantity``."""
        j = jobs_table.c
        with self.engine.connect() as conn:
            return {
                r[0]
                for r in conn.execute(
                    select(j.algorithm).where(j.kind == kind, j.quantity == quantity).distinct()
                )
                if r[0]
            }

    def polytope_keys(self) -> set[str]:
        """The keys of every stored polytope."""
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(polytopes_table.c.key))}

    def polytope_rows(self, keys: set[str] | None = None) -> list[dict[str, Any]]:
        """Every stored polytope (or those with a key in ``keys``), ordered by key."""
        p = polytopes_table.c
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(polytopes_table).order_by(p.key))]
        return rows if keys is None else [r for r in rows if r["key"] in keys]

    def export_jobs(
        self, polytope_ids: list[int], kind: str, keys: set[str] | None = None
    ) -> list[dict[str, Any]]:
        """The log rows of the jobs on ``polytope_ids``, then of every ``kind`` job (with an
        idempotency key in ``keys``, if given): what an export's rows and report read."""
        j = jobs_table.c
        cols = [getattr(j, name) for name in EXPORT_JOB_COLUMNS]
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for start in range(0, len(polytope_ids), 500):
                out += [
                    dict(r._mapping)
                    for r in conn.execute(
                        select(*cols).where(j.polytope_id.in_(bindparam("ids", expanding=True))),
                        {"ids": polytope_ids[start : start + 500]},
                    )
                ]
            extra = [dict(r._mapping) for r in conn.execute(select(*cols).where(j.kind == kind))]
        if keys is not None:
            extra = [g for g in extra if g["idempotency_key"] in keys]
        return out + extra

    def jobs_of_kind(self, kind: str, key_prefix: str = "") -> list[dict[str, Any]]:
        """Id, key, status, timing and error of every ``kind`` job whose idempotency key starts
        with ``key_prefix``, ordered by id; no params or result (they can be large: a search
        step's holds its climb state), see :meth:`job_documents`."""
        j = jobs_table.c
        stmt = select(
            j.id, j.idempotency_key, j.status, j.wall_seconds, j.error_type, j.error_message
        ).where(j.kind == kind)
        if key_prefix:
            stmt = stmt.where(j.idempotency_key.startswith(key_prefix, autoescape=True))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt.order_by(j.id))]

    def job_documents(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Parsed ``params`` and ``result`` of the jobs ``ids`` (read in chunks of 500)."""
        j = jobs_table.c
        wanted = sorted(set(ids))
        out: dict[int, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for lo in range(0, len(wanted), 500):
                chunk = wanted[lo : lo + 500]
                for row in conn.execute(select(j.id, j.params, j.result).where(j.id.in_(chunk))):
                    out[int(row.id)] = {
                        "params": json.loads(row.params) if row.params else {},
                        "result": json.loads(row.result) if row.result else None,
                    }
        return out


__all__ = [
    "BLOCKED",
    "CANCELLED",
    "DONE",
    "FAILED",
    "NOT_APPLICABLE",
    "PENDING",
    "RUNNING",
    "TIMED_OUT",
    "CheckpointHook",
    "ClaimedJob",
    "JobFilter",
    "JobSpec",
    "JobStore",
    "Outcome",
    "claim_jobs",
    "complete_jobs",
    "dependency_outcomes",
    "dumps",
    "insert_jobs",
    "insert_polytope",
    "no_checkpoint",
    "polytope_geometry",
    "prune_finished",
    "release_dependents",
]
