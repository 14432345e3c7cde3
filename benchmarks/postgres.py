"""PostgreSQL vs SQLite job-store benchmark (issue 7): no-op throughput and claim latency
with 2, 4 and 8 worker processes.

    .venv/bin/python benchmarks/postgres.py                 # throwaway local server (initdb)
    .venv/bin/python benchmarks/postgres.py --quick         # fewer jobs
    .venv/bin/python benchmarks/postgres.py --admin-url postgresql://postgres@host/postgres

Prints, per backend and worker count:
* throughput: no-op jobs claimed + recorded per second through ``run_workers`` (the real
  ``atlas work`` loop; trivial kind, batched claims up to 64), from the first claim to the
  last completion, median of ``--repeats`` runs, and the ratio to the job-store target of
  1000 jobs/s;
* claim latency: each process loops ``claim 1 job`` + ``record it``; median and 95th
  percentile of the claim call over all processes (contention on the queue head).

The throwaway server runs with ``fsync=off`` (like the SQLite runs' ``synchronous=NORMAL``,
neither waits for the disk); numbers on a shared 2-core machine are noisy: compare medians.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # for tests.postgres_server

from viterbo.atlas.db import make_engine, open_database  # noqa: E402
from viterbo.atlas.kinds import JobKind, register_kind  # noqa: E402
from viterbo.atlas.store import JobSpec, JobStore, Outcome  # noqa: E402
from viterbo.atlas.worker import WorkerOptions, run_workers  # noqa: E402


def _noop(_payload: dict) -> dict:
    return {"value": 0.0}


register_kind(JobKind("bench-noop", run=_noop, trivial=True))  # before the workers fork

TARGET_JOBS_PER_S = 1000.0
WORKER_COUNTS = (2, 4, 8)


def _fill(url: str, n_jobs: int) -> None:
    engine = open_database(url)
    JobStore(engine).enqueue(JobSpec("bench-noop", f"noop-{i}") for i in range(n_jobs))
    engine.dispose()


def throughput(new_url: Callable[[], str], n_jobs: int, workers: int) -> float:
    """Jobs per second through ``run_workers`` on a fresh database with ``n_jobs`` no-ops.

    Timed from the first claim to the last completion (the rows' timestamps), so that the
    start-up of the worker processes (imports, one per process) is not counted.
    """
    from sqlalchemy import func, select

    from viterbo.atlas.models import jobs_table

    url = new_url()
    _fill(url, n_jobs)
    summary = run_workers(url, workers, WorkerOptions(max_batch=64, poll_seconds=0.05))
    engine = make_engine(url)
    done = JobStore(engine).status_counts()["done"]
    with engine.connect() as conn:
        first, last = conn.execute(
            select(func.min(jobs_table.c.started_at), func.max(jobs_table.c.finished_at))
        ).one()
    engine.dispose()
    elapsed = float(last) - float(first)
    if summary.failed_workers or done != n_jobs:
        sys.exit(
            f"throughput run broken: {summary.failed_workers} failed workers, {done}/{n_jobs} done"
        )
    return n_jobs / elapsed


def _latency_worker(url: str, per_worker: int, out: multiprocessing.Queue) -> None:
    engine = make_engine(url)  # fresh engine after fork
    store = JobStore(engine)
    lat = []
    for _ in range(per_worker):
        t0 = time.perf_counter()
        jobs = store.claim(f"bench-{multiprocessing.current_process().pid}", 60.0, 1)
        lat.append(time.perf_counter() - t0)
        if not jobs:
            break
        store.complete([(jobs[0], Outcome("done", result={"value": 0.0}))])
    engine.dispose()
    out.put(lat)


def claim_latency(new_url: Callable[[], str], workers: int, per_worker: int) -> tuple[float, float]:
    """(median, p95) of one claim call in ms, ``workers`` processes claiming concurrently."""
    url = new_url()
    _fill(url, workers * per_worker)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_latency_worker, args=(url, per_worker, queue)) for _ in range(workers)
    ]
    for p in procs:
        p.start()
    lat = [x for _ in procs for x in queue.get(timeout=600)]
    for p in procs:
        p.join()
    lat.sort()
    return 1e3 * statistics.median(lat), 1e3 * lat[int(0.95 * (len(lat) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer jobs and repeats")
    parser.add_argument(
        "--admin-url",
        default=None,
        help="an existing server's admin URL (creates scratch databases)",
    )
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    n_jobs = 2000 if args.quick else 10000
    per_worker = 100 if args.quick else 300
    repeats = args.repeats or (1 if args.quick else 3)

    server = None
    if args.admin_url is None:
        from tests.postgres_server import PostgresServer, unavailable_reason

        reason = unavailable_reason()
        if reason:
            sys.exit(f"no PostgreSQL server: {reason} (or pass --admin-url)")
        server = PostgresServer()
    try:
        with tempfile.TemporaryDirectory(prefix="atlas-pgbench-") as d:
            counter = iter(range(10**6))

            def sqlite_url() -> str:
                return f"sqlite:///{Path(d) / f'bench-{next(counter)}.sqlite'}"

            def postgres_url() -> str:
                if server is not None:
                    return server.create_database()
                return _scratch_database(args.admin_url)

            backends = {"sqlite": sqlite_url, "postgresql": postgres_url}
            print(
                f"no-op throughput ({n_jobs} jobs, inline kind, claim batches <= 64; median of {repeats})"
                f" and claim latency ({per_worker} single-job claims per process):"
            )
            print(
                f"  {'backend':<11} {'workers':>7} {'jobs/s':>9} {'ratio':>7} {'claim median':>13} {'claim p95':>10}"
            )
            for name, new_url in backends.items():
                for workers in WORKER_COUNTS:
                    rates = [throughput(new_url, n_jobs, workers) for _ in range(repeats)]
                    med = statistics.median(rates)
                    lat_med, lat_p95 = claim_latency(new_url, workers, per_worker)
                    print(
                        f"  {name:<11} {workers:>7} {med:>9.0f} {med / TARGET_JOBS_PER_S:>6.2f}x"
                        f" {lat_med:>10.2f} ms {lat_p95:>7.2f} ms",
                        flush=True,
                    )
    finally:
        if server is not None:
            server.close()


def _scratch_database(admin_url: str) -> str:
    import uuid

    from sqlalchemy import create_engine, text

    from viterbo.atlas.db import parse_url

    name = f"atlas_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(parse_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return parse_url(admin_url).set(database=name).render_as_string(hide_password=False)


if __name__ == "__main__":
    main()
