"""Job-store overhead benchmark (issue 2): no-op throughput and claim latency vs table size.

    .venv/bin/python benchmarks/jobstore.py            # full run (builds a 10^6-row table, ~2 min)
    .venv/bin/python benchmarks/jobstore.py --quick    # 10^5 rows max, fewer jobs

Prints medians and the ratio to each target:
* throughput: no-op jobs claimed + recorded per second with 2 worker processes on SQLite
  (target >= 1000/s).  Trivial kinds run inline with batched claims/completions; the same
  jobs are also timed with batch size 1 and, for reference, with one child process per job
  (the path real computations take: fork + limits), which cannot reach 1000/s by design;
* claim latency (claim 1 job + record it) and `atlas status` query time at 10^3 .. 10^6 rows
  (target: flat).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from viterbo.atlas.db import open_database
from viterbo.atlas.kinds import JobKind, register_kind
from viterbo.atlas.status import status_report
from viterbo.atlas.store import JobSpec, JobStore, Outcome
from viterbo.atlas.worker import WorkerOptions, run_workers


def _noop(_payload: dict) -> dict:
    return {"value": 0.0}


# Registered before the workers fork, so they inherit the kinds.
register_kind(JobKind("bench-noop", run=_noop, trivial=True))
register_kind(JobKind("bench-noop-child", run=_noop, trivial=False))

TARGET_JOBS_PER_S = 1000.0


def throughput(tmp: Path, kind: str, n_jobs: int, workers: int, batch: int) -> float:
    """Jobs per second from the first claim to the last completion."""
    url = f"sqlite:///{tmp / f'throughput-{kind}-{batch}.sqlite'}"
    engine = open_database(url)
    store = JobStore(engine)
    store.enqueue(JobSpec(kind, f"{kind}-{i}") for i in range(n_jobs))
    engine.dispose()
    start = time.perf_counter()
    failed = run_workers(
        url, workers, WorkerOptions(max_batch=batch, poll_seconds=0.05)
    ).failed_workers
    elapsed = time.perf_counter() - start
    counts = JobStore(engine).status_counts()
    engine.dispose()
    if failed or counts["done"] != n_jobs:
        sys.exit(f"throughput run broken: failed workers {failed}, counts {counts}")
    return n_jobs / elapsed


def _bulk_fill(engine, start: int, stop: int) -> None:
    """Append finished jobs (with a realistic result blob) plus a few pending ones, fast."""
    blob = json.dumps(
        {
            "value": 1.2345,
            "loop": [[0.1, 0.2, 0.3, 0.4]] * 6,
            "seconds": 0.01,
            "diagnostics": {"cycles": 123},
        }
    )
    now = time.time()
    rows = []
    for i in range(start, stop):
        pending = i % 1000 == 999  # ~0.1 % still to do, like a build in progress
        rows.append(
            (
                "quantity",
                f"fam{i % 10}",
                "capacity",
                f"alg{i % 5}",
                "{}",
                f"bench-{i}",
                "pending" if pending else "done",
                0,
                0 if pending else 1,
                3,
                now,
                None if pending else now - (stop - i) * 1e-3,
                None if pending else 0.01,
                None if pending else blob,
            )
        )
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN IMMEDIATE")
        cur.executemany(
            "INSERT INTO jobs (kind, family, quantity, algorithm, params, idempotency_key, status, priority,"
            " attempts, max_attempts, queued_at, finished_at, wall_seconds, result)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        cur.execute("COMMIT")
    finally:
        raw.close()


def claim_latency(tmp: Path, sizes: list[int], samples: int) -> list[tuple[int, float, float]]:
    """(rows, median claim+record ms, median status ms) at each table size."""
    engine = open_database(f"sqlite:///{tmp / 'latency.sqlite'}")
    store = JobStore(engine)
    out, filled = [], 0
    for size in sizes:
        _bulk_fill(engine, filled, size)
        filled = size
        # Fresh pending jobs to claim (the same number at every size).
        store.enqueue(
            JobSpec(
                "quantity",
                f"probe-{size}-{k}",
                family="fam0",
                quantity="capacity",
                algorithm="alg0",
            )
            for k in range(samples)
        )
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        lat = []
        for _ in range(samples):
            t0 = time.perf_counter()
            jobs = store.claim("bench", 60.0, 1)
            store.complete([(jobs[0], Outcome("done", result={"value": 0.0}))])
            lat.append(time.perf_counter() - t0)
        st = []
        for _ in range(5):
            t0 = time.perf_counter()
            status_report(store)
            st.append(time.perf_counter() - t0)
        out.append((size, 1e3 * statistics.median(lat), 1e3 * statistics.median(st)))
        print(
            f"  {size:>9,d} rows: claim+record {out[-1][1]:7.3f} ms (median of {samples}),"
            f" status {out[-1][2]:8.1f} ms",
            flush=True,
        )
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller tables and fewer jobs")
    parser.add_argument("--jobs", type=int, default=None, help="no-op jobs per throughput run")
    args = parser.parse_args()
    n_jobs = args.jobs or (5000 if args.quick else 20000)
    sizes = [10**3, 10**4, 10**5] if args.quick else [10**3, 10**4, 10**5, 10**6]
    with tempfile.TemporaryDirectory(prefix="atlas-bench-") as d:
        tmp = Path(d)
        print(f"throughput, 2 worker processes, SQLite, {n_jobs} no-op jobs:")
        rates = []
        for run in range(3):
            (tmp / f"r{run}").mkdir()
            rates.append(throughput(tmp / f"r{run}", "bench-noop", n_jobs, 2, 64))
        med = statistics.median(rates)
        print(
            f"  inline, batched claims (<= 64): median {med:8.0f} jobs/s  (runs {', '.join(f'{r:.0f}' for r in rates)})"
            f"  ratio to target {med / TARGET_JOBS_PER_S:.2f}x"
        )
        (tmp / "b1").mkdir()
        r1 = throughput(tmp / "b1", "bench-noop", max(1000, n_jobs // 5), 2, 1)
        print(
            f"  inline, one claim per job:       {r1:8.0f} jobs/s  ratio {r1 / TARGET_JOBS_PER_S:.2f}x"
        )
        (tmp / "c").mkdir()
        rc = throughput(tmp / "c", "bench-noop-child", 500, 2, 1)
        print(
            f"  child process per job (real path): {rc:6.0f} jobs/s  (fork + limits; not the target path)"
        )
        print("claim latency (claim 1 + record 1, SQLite) and `atlas status` time vs table size:")
        lat = claim_latency(tmp, sizes, samples=200)
        first, last = lat[0][1], lat[-1][1]
        print(
            f"  claim latency ratio {last / first:.2f} between {lat[0][0]:,d} and {lat[-1][0]:,d} rows (target: flat, ~1)"
        )


if __name__ == "__main__":
    main()
