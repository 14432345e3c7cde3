"""Workers: claim jobs, run them under limits, record outcomes; ``run_workers`` forks N of them.

One worker = one process that loops claim -> prepare (read) -> run (child process, or inline for
trivial kinds and cheap quantities, see ``jobs.runs_inline``) -> complete (write,
lease-token checked).  No transaction stays open while a job computes.  A worker exits when
nothing is claimable and nothing is running anywhere (so that dependents of jobs still running
elsewhere are not abandoned), or runs on with ``forever``.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from viterbo.atlas.child import die_with_parent, outcome_from_exception, run_in_child, run_inline
from viterbo.atlas.db import make_engine
from viterbo.atlas.kinds import (
    BUDGET_KEY,
    JobKind,
    TimeoutOverrides,
    get_kind,
    job_limits,
    load_plugins,
    parse_params,
    preload_all,
    runs_inline,
)
from viterbo.atlas.models import FAILED
from viterbo.atlas.store import (
    DEFAULT_LEASE_SECONDS,
    CheckpointHook,
    ClaimedJob,
    JobStore,
    Outcome,
    no_checkpoint,
)

log = logging.getLogger("viterbo.atlas.worker")

DEFAULT_MEMORY_LIMIT_MB = 4096.0
# The database is unreachable (server restart, network) or locked past the busy timeout:
# these errors are retried for a while; everything else is a bug or a bad job.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)
T = TypeVar("T")


class DatabaseLostError(RuntimeError):
    """The database stayed unreachable for longer than ``WorkerOptions.db_retry_seconds``."""


@dataclass
class WorkerOptions:
    """Knobs of one worker (the CLI's ``atlas work`` options)."""

    lease_seconds: float = DEFAULT_LEASE_SECONDS
    job_timeout: float | None = None  # overrides every kind's and quantity's default
    # --timeout NAME=S by quantity (or kind) name; overrides job_timeout
    quantity_timeouts: dict[str, float] = field(default_factory=dict)
    memory_limit_mb: float | None = DEFAULT_MEMORY_LIMIT_MB
    max_batch: int = 64  # claim batch size reached when jobs are trivial
    poll_seconds: float = 0.5
    forever: bool = False
    max_jobs: int | None = None
    db_retry_seconds: float = 120.0  # how long to ride out an unreachable database
    # Called at the crash-relevant points (store.CheckpointHook); the reliability tests pass
    # one that pauses there so that they can SIGKILL the worker at exactly that point.
    checkpoint: CheckpointHook = no_checkpoint


@dataclass
class WorkerStats:
    """What one worker did."""

    claimed: int = 0
    recorded: int = 0
    stale: int = 0
    released: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


class _JobBudget:
    """``--max-jobs`` shared by all worker processes (a counter in shared memory)."""

    def __init__(self, limit: int | None, ctx: Any = None) -> None:
        self.limit = limit
        self._left = None if limit is None else (ctx or multiprocessing).Value("q", limit)

    def take(self, n: int) -> int:
        if self._left is None:
            return n
        with self._left.get_lock():
            k = min(n, self._left.value)
            self._left.value -= k
            return k

    def give_back(self, n: int) -> None:
        if self._left is not None and n > 0:
            with self._left.get_lock():
                self._left.value += n

    def exhausted(self) -> bool:
        return self._left is not None and self._left.value <= 0


class Worker:
    """One worker loop over a :class:`JobStore`."""

    def __init__(
        self,
        engine: Engine,
        options: WorkerOptions,
        *,
        owner: str | None = None,
        budget: _JobBudget | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.store = JobStore(engine, checkpoint=options.checkpoint)
        self.options = options
        self._overrides = TimeoutOverrides(options.quantity_timeouts, options.job_timeout)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.budget = budget or _JobBudget(options.max_jobs)
        self._stop = stop or (lambda: False)
        self.stats = WorkerStats()

    # ------------------------------------------------------------------ main loop

    def run(self) -> WorkerStats:
        """Work until nothing is left (or forever / until stopped / ``max_jobs`` reached)."""
        load_plugins()
        preload_all()
        # What is loaded now lives as long as the worker: moved out of the collector's reach,
        # a forked job child's collections do not walk it and copy the inherited pages one by
        # one (2-4 ms of every forked job, measured).  Unfrozen on return, so that an
        # in-process worker (tests, --workers 1) does not keep its garbage for good.
        gc.collect()
        gc.freeze()
        try:
            return self._work()
        finally:
            gc.unfreeze()

    def _work(self) -> WorkerStats:
        batch = 1
        idle_sleep = self.options.poll_seconds
        while not self._stop() and not self.budget.exhausted():
            want = self.budget.take(batch)
            if want == 0:
                break
            try:
                jobs = self._db(
                    "claim",
                    lambda n=want: self.store.claim(self.owner, self.options.lease_seconds, n),
                )
            except BaseException:
                self.budget.give_back(want)
                raise
            self.budget.give_back(want - len(jobs))
            if not jobs:
                if not self._db("poll", self._work_in_progress):
                    # Nothing pending or running: any job still blocked has lost its wake-up
                    # call (it cannot happen by design; this makes sure a build never stalls).
                    if self._db("unblock", self.store.unblock_ready):
                        log.warning("released blocked jobs whose inputs were all finished")
                        continue
                    if not self.options.forever:
                        break
                time.sleep(idle_sleep)
                idle_sleep = min(2.0, idle_sleep * 1.5)
                continue
            self.store.checkpoint("claimed", jobs)
            idle_sleep = self.options.poll_seconds
            self.stats.claimed += len(jobs)
            all_trivial = self._process(jobs)
            # Trivial jobs: grow the batch (amortise claim/complete); otherwise one at a time so
            # that slow jobs spread over the workers.
            batch = min(batch * 2, self.options.max_batch) if all_trivial else 1
        return self.stats

    def _db(self, what: str, call: Callable[[], T]) -> T:
        """``call()``, retried with back-off while the database is unreachable or locked.

        Every store operation is one transaction that either committed or did not, and the
        lease token makes completion idempotent, so retrying one is safe.  Gives up with
        :class:`DatabaseLostError` after ``db_retry_seconds``.
        """
        deadline = time.monotonic() + self.options.db_retry_seconds
        delay = 0.2
        while True:
            try:
                return call()
            except TRANSIENT_DB_ERRORS as exc:
                if not _transient(exc):
                    raise
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0:1] or [
                    type(exc).__name__
                ]
                if time.monotonic() + delay > deadline:
                    raise DatabaseLostError(
                        f"database unreachable for {self.options.db_retry_seconds:g} s during {what}: {reason[0]}"
                    ) from None
                log.warning("%s failed (%s); retrying in %.1f s", what, reason[0], delay)
                time.sleep(delay)
                delay = min(5.0, delay * 2)

    def _work_in_progress(self) -> bool:
        return self.store.work_in_progress()

    def _process(self, jobs: list[ClaimedJob]) -> bool:
        held = list(jobs)
        inline: list[tuple[ClaimedJob, Outcome]] = []
        all_trivial = True
        try:
            for job in jobs:
                if self._stop():
                    break
                try:
                    kind = get_kind(job.kind)
                except ValueError as exc:
                    self._record([(job, Outcome(FAILED, **_error_fields(exc)))])
                    held.remove(job)
                    continue
                if runs_inline(kind, job):
                    inline.append((job, self._run_inline(job, kind)))
                    held.remove(job)
                    # Only trivial kinds grow the claim batch: cheap quantities sit among
                    # expensive ones, and a big batch would park those on one worker.
                    all_trivial = all_trivial and kind.trivial
                    continue
                all_trivial = False
                self._record(inline)
                inline = []
                outcome = self._run_child(job, kind, held)
                if outcome is None:  # stopped mid-job: hand it back
                    break
                held.remove(job)
                self._record([(job, outcome)])
        finally:
            self._record(inline)
            if held:
                try:
                    self.stats.released += self._db("release", lambda: self.store.release(held))
                except DatabaseLostError as exc:  # their leases run out; someone retries them
                    log.warning("could not release %d job(s): %s", len(held), exc)
        return all_trivial

    # ------------------------------------------------------------------ one job

    def _prepare(
        self, job: ClaimedJob, kind: JobKind
    ) -> tuple[dict[str, Any] | None, Outcome | None]:
        try:
            if kind.prepare is None:
                return parse_params(job), None
            with self.store.engine.connect() as conn:
                return kind.prepare(conn, job), None
        except SQLAlchemyError as exc:  # the database, not the job: try again later
            return None, Outcome(FAILED, retry=True, **_error_fields(exc))
        except Exception as exc:
            return None, Outcome(FAILED, **_error_fields(exc))

    def _run_inline(self, job: ClaimedJob, kind: JobKind) -> Outcome:
        """Run a trivial kind, or a cheap quantity (``runs_inline``), in this process."""
        payload, failure = self._prepare(job, kind)
        if failure is not None:
            return failure
        assert payload is not None
        if not kind.trivial:  # a cheap job: its time budget (it stops itself), no kill
            payload[BUDGET_KEY] = job_limits(kind, job, self._overrides).budget
        return run_inline(kind.run, payload)

    def _run_child(self, job: ClaimedJob, kind: JobKind, held: list[ClaimedJob]) -> Outcome | None:
        payload, failure = self._prepare(job, kind)
        if failure is not None:
            return failure
        assert payload is not None
        limits = job_limits(kind, job, self._overrides)
        payload[BUDGET_KEY] = limits.budget

        def heartbeat() -> None:
            try:
                if self.store.heartbeat(held, self.options.lease_seconds) == 0:
                    log.warning("job %s: lease lost (another worker took it over)", job.id)
            except SQLAlchemyError as exc:
                log.warning("heartbeat failed: %s", str(exc).splitlines()[0])

        return run_in_child(
            kind.run,
            payload,
            timeout=limits.kill_after,
            memory_limit_mb=self.options.memory_limit_mb,
            on_tick=heartbeat,
            tick_seconds=max(0.2, self.options.lease_seconds / 3),
            should_abort=self._stop,
        )

    def _record(self, items: list[tuple[ClaimedJob, Outcome]]) -> None:
        if not items:
            return

        def record_hook(job: ClaimedJob) -> Any:
            return get_kind(job.kind).record

        self.store.checkpoint("computed", [job for job, _ in items])
        try:
            accepted = self._db("record", lambda: self.store.complete(items, record=record_hook))
        except DatabaseLostError:
            raise  # the leases run out and the jobs are retried by whoever comes next
        except Exception as exc:
            # A kind's record hook failed (the transaction rolled back): record the failure.
            if len(items) > 1:
                for item in items:
                    self._record([item])
                return
            job, out = items[0]
            failed = Outcome(
                FAILED,
                wall_seconds=out.wall_seconds,
                cpu_seconds=out.cpu_seconds,
                peak_rss_mb=out.peak_rss_mb,
                **_error_fields(exc),
            )
            accepted = self._db("record", lambda: self.store.complete([(job, failed)]))
            items = [(job, failed)]
        for (job, out), ok in zip(items, accepted, strict=True):
            if not ok:
                self.stats.stale += 1
                log.warning("job %s: result discarded, the lease was taken over", job.id)
                continue
            self.stats.recorded += 1
            self.stats.by_status[out.status] = self.stats.by_status.get(out.status, 0) + 1
            what = "/".join(x for x in (job.quantity, job.algorithm) if x) or job.kind
            if out.status != "done":
                log.info(
                    "job %s (%s) %s: %s: %s",
                    job.id,
                    what,
                    out.status,
                    out.error_type,
                    out.error_message,
                )
            elif log.isEnabledFor(logging.DEBUG):
                seconds = f" in {out.wall_seconds:.2f} s" if out.wall_seconds is not None else ""
                log.debug("job %s (%s) [%s] done%s", job.id, what, job.family or "-", seconds)


def _transient(exc: BaseException) -> bool:
    """Whether waiting can cure ``exc``: a lost/refused connection or a busy SQLite file.

    A read-only or full SQLite file, or a corrupt one, does not heal by waiting: the worker
    stops at once with the reason instead of retrying for ``db_retry_seconds``.
    """
    if getattr(exc, "orig", None).__class__.__module__.startswith("sqlite3"):
        text = str(exc.orig).lower()  # type: ignore[attr-defined]
        return "locked" in text or "busy" in text
    return True


def _error_fields(exc: BaseException) -> dict[str, Any]:
    msg = outcome_from_exception(exc)
    return {
        "error_type": msg["error_type"],
        "error_message": msg["error_message"],
        "traceback": msg["traceback"],
    }


# ------------------------------------------------------------------------ many workers


def _worker_process(
    url: str, options: WorkerOptions, budget: _JobBudget, stop_flag: Any, parent_pid: int
) -> None:
    # If `atlas work` dies by any signal, its workers (and through them their jobs' children)
    # stop at once; their claimed jobs return to pending when the lease expires.
    die_with_parent(parent_pid)
    stopping = {"now": False}

    def on_signal(signum: int, _frame: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    engine = make_engine(url)  # a fresh engine: connections must not cross fork()
    try:
        Worker(
            engine, options, budget=budget, stop=lambda: stopping["now"] or bool(stop_flag.value)
        ).run()
    except DatabaseLostError as exc:
        # One line, no traceback; the jobs this worker held go back after their lease expires.
        log.error("worker %d stopped: %s", os.getpid(), exc)
        raise SystemExit(3) from None
    except SQLAlchemyError as exc:  # read-only / full / corrupt database: same, with the reason
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0:1] or [
            type(exc).__name__
        ]
        log.error("worker %d stopped: database error: %s", os.getpid(), reason[0])
        raise SystemExit(3) from None
    finally:
        engine.dispose()


@dataclass
class RunSummary:
    """How a run of worker processes ended."""

    failed_workers: int
    interrupted: bool


def run_workers(
    url: str,
    n: int,
    options: WorkerOptions,
    monitor: Callable[[], None] | None = None,
    monitor_seconds: float = 1.0,
) -> RunSummary:
    """Run ``n`` worker processes against ``url`` until they finish.

    ``monitor`` is called every ``monitor_seconds`` in this (parent) process, e.g. to draw
    progress.  Ctrl-C / SIGTERM: workers stop after releasing their current jobs.
    """
    preload_all()  # once here, so the N forked workers share the imports and compiled code
    ctx = multiprocessing.get_context("fork")
    budget = _JobBudget(options.max_jobs, ctx)
    stop_flag = ctx.Value("b", 0)
    procs = [
        ctx.Process(
            target=_worker_process,
            args=(url, options, budget, stop_flag, os.getpid()),
            name=f"atlas-worker-{i}",
        )
        for i in range(n)
    ]

    def on_signal(signum: int, _frame: Any) -> None:
        stop_flag.value = 1

    old_int = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        for p in procs:
            p.start()
        while any(p.is_alive() for p in procs):
            for p in procs:
                p.join(timeout=monitor_seconds / len(procs))
            if monitor is not None:
                monitor()
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    return RunSummary(sum(1 for p in procs if p.exitcode != 0), bool(stop_flag.value))
