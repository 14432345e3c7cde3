"""Reliability suite (issue 7): races, SIGKILL at every crash-relevant point, server restarts,
interrupted exports, pruning, and bad inputs.

Every verdict is deterministic: executions are counted by their side effect (one appended line
per run of a job, O_APPEND so concurrent writers never interleave) and compared with the rows.
The guarantee under test: **every job is recorded exactly once** (one terminal row with its
own result); a job is *executed* more than once only when a worker died while holding it, and
then only jobs that had been claimed by the dead worker are re-executed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, update

from tests.atlas.conftest import REPO_ROOT, atlas_env, run_atlas, start_atlas
from tests.postgres_server import PostgresServer, wait_until_ready
from viterbo.atlas.cli import main
from viterbo.atlas.db import open_database
from viterbo.atlas.models import jobs_table
from viterbo.atlas.presets import generate_specs, load_preset
from viterbo.atlas.store import JobSpec, JobStore
from viterbo.atlas.worker import Worker, WorkerOptions

j = jobs_table.c


# ----------------------------------------------------------------------------- helpers


def executions(side: Path) -> Counter[str]:
    """How often each tag's computation ran to its end (the side-effect file)."""
    if not side.exists():
        return Counter()
    return Counter(ln for ln in side.read_text().split("\n") if ln and not ln.startswith("start"))


def job_rows(engine: Engine) -> dict[str, tuple[str, int, Any]]:
    """idempotency key -> (status, attempts, parsed result)."""
    with engine.connect() as conn:
        rows = conn.execute(select(j.idempotency_key, j.status, j.attempts, j.result)).all()
    return {k: (s, int(a), json.loads(r) if r else None) for k, s, a, r in rows}


def record_jobs(side: Path, kind: str, n: int, prefix: str) -> list[JobSpec]:
    """``n`` jobs of ``kind`` whose result value is their tag (= their key)."""
    return [
        JobSpec(kind, f"{prefix}{i}", params={"path": str(side), "tag": f"{prefix}{i}"})
        for i in range(n)
    ]


def assert_recorded_exactly_once(
    engine: Engine, side: Path, may_repeat: set[str] = frozenset()
) -> None:
    """Every job done with its own result; executed once, or more only if in ``may_repeat``."""
    rows = job_rows(engine)
    assert {k: s for k, (s, _, _) in rows.items() if s != "done"} == {}
    assert {k for k, (_, _, r) in rows.items() if r["value"] != k} == set()
    runs = executions(side)
    assert set(runs) == set(rows)  # none lost
    assert {k for k, n in runs.items() if n > 1} <= set(may_repeat)


def rescue(engine: Engine) -> None:
    """A fresh worker in this process (no CLI start-up) runs until nothing is left."""
    stats = Worker(engine, WorkerOptions(poll_seconds=0.1)).run()
    assert stats.stale == 0


def wait_for(path: Path, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"nothing reached the pause point ({path.name})"
        time.sleep(0.02)
    return json.loads(path.read_text())


def child_pids(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent has not reaped it yet).
    with contextlib.suppress(FileNotFoundError):
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    return False


# ---------------------------------------------------------------------------- races


def test_eight_workers_race_for_thousands_of_jobs(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    side = tmp_path / "side.txt"
    store = JobStore(engine)
    store.enqueue(record_jobs(side, "test-record-inline", 2400, "i"))
    store.enqueue(record_jobs(side, "test-record", 60, "c"))
    # Two `atlas work` commands with four processes each: 8 racers, small claim batches so that
    # they really interleave.
    procs = [start_atlas(["work", "--workers", "4", "--batch", "8"], db_url) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert_recorded_exactly_once(engine, side)
    with engine.connect() as conn:
        attempts = set(conn.execute(select(j.attempts)).scalars())
        owners = set(conn.execute(select(j.lease_owner)).scalars())
    assert attempts == {1}
    assert len(owners) >= 4  # the work really was spread over the racers


# ------------------------------------------------------------------ SIGKILL at each point


KILL_POINTS = ["claim-uncommitted", "claimed", "compute", "computed"]


@pytest.mark.parametrize(
    "kind, point",
    [
        *(("test-pause-record-inline", p) for p in KILL_POINTS),
        # Jobs run in a child process differ only from the computation on.
        ("test-pause-record", "compute"),
        ("test-pause-record", "computed"),
    ],
)
def test_sigkill_at_each_point_then_restart_records_every_job_once(
    engine: Engine, db_url: str, tmp_path: Path, point: str, kind: str
) -> None:
    side, marker = tmp_path / "side.txt", tmp_path / "paused.json"
    store = JobStore(engine)
    store.enqueue(record_jobs(side, kind, 12, "k"))
    env = {"ATLAS_TEST_PAUSE_AT": point, "ATLAS_TEST_PAUSE_FILE": str(marker)}
    victim = subprocess.Popen(
        # One worker: whatever it holds when killed is exactly what the pause point says.
        [sys.executable, "-m", "viterbo.atlas", "work", "--workers", "1", "--lease-seconds", "1.5"],
        env={**atlas_env(db_url), **env},
        cwd=REPO_ROOT,
        text=True,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    paused = wait_for(marker)
    # The whole `atlas work` (CLI + workers) dies at once, as when a machine is lost.  A compute
    # child has its own session: it must die with its worker (PDEATHSIG), not linger.
    os.killpg(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while pid_alive(paused["pid"]):
        assert time.monotonic() < deadline, "the paused process outlived its worker"
        time.sleep(0.05)

    before = job_rows(engine)
    held = {k for k, (s, _, _) in before.items() if s == "running"}
    if point == "claim-uncommitted":
        assert held == set()  # the claim never committed: nothing is leased
        assert all(a == 0 for k, (_, a, _) in before.items() if k in paused["jobs"])
    else:
        assert set(paused["jobs"]) <= held

    rescue(engine)
    # Re-execution is possible only for jobs the dead worker held, and only when their
    # computation had already run (an inline batch computes several jobs before recording).
    may_repeat = held if point in ("compute", "computed") else set()
    assert_recorded_exactly_once(engine, side, may_repeat)
    after = job_rows(engine)
    assert {k for k, (_, a, _) in after.items() if a == 2} == held
    assert {a for k, (_, a, _) in after.items() if k not in held} == {1}
    if point == "computed":
        assert {k for k, n in executions(side).items() if n == 2} == held


def test_random_sigkills_of_workers_lose_nothing(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    side = tmp_path / "side.txt"
    store = JobStore(engine)
    store.enqueue(record_jobs(side, "test-record-inline", 600, "i"))
    store.enqueue(
        [
            JobSpec(
                "test-record", f"c{i}", params={"path": str(side), "tag": f"c{i}", "sleep": 0.1}
            )
            for i in range(60)
        ]
    )
    rng = random.Random(7)  # the kill schedule is fixed; only the interleaving varies
    proc = start_atlas(
        ["work", "--workers", "4", "--batch", "16", "--lease-seconds", "1.5"], db_url
    )
    deadline = time.monotonic() + 60
    while len(executions(side)) < 20:  # the kill schedule starts once the workers are busy
        assert time.monotonic() < deadline and proc.poll() is None, "workers made no progress"
        time.sleep(0.02)
    killed = 0
    for _ in range(3):
        time.sleep(rng.uniform(0.1, 0.6))
        workers = child_pids(proc.pid)
        if not workers:
            break
        os.kill(rng.choice(sorted(workers)), signal.SIGKILL)
        killed += 1
    _, err = proc.communicate(timeout=300)
    assert "Traceback" not in err
    assert killed >= 1  # the child jobs alone take seconds: the first kill always finds a worker
    assert proc.returncode == 2, err  # "N worker process(es) exited abnormally"
    rescue(engine)
    rows = job_rows(engine)
    retried = {k for k, (_, a, _) in rows.items() if a > 1}
    assert_recorded_exactly_once(engine, side, may_repeat=retried)
    assert all(a <= 2 for _, a, _ in rows.values())  # at most one crash per job here


def descendants(pid: int) -> set[int]:
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in child_pids(todo.pop()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def test_sigkill_of_atlas_work_stops_its_workers_and_their_jobs(
    engine: Engine, db_url: str
) -> None:
    """The parent dies by SIGKILL (no handler runs): workers and job children follow within a
    second, and the claimed jobs go back to pending through the lease expiry."""
    store = JobStore(engine)
    store.enqueue([JobSpec("test-sleep", f"s{i}", params={"seconds": 60}) for i in range(4)])
    proc = start_atlas(["work", "--workers", "2", "--lease-seconds", "1"], db_url)
    deadline = time.monotonic() + 60
    family: set[int] = set()
    while len(family) < 4:  # two workers, each with its job's child
        assert time.monotonic() < deadline and proc.poll() is None, (
            "workers did not start their jobs"
        )
        time.sleep(0.05)
        family = descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    stop_by = time.monotonic() + 1.0
    while any(pid_alive(p) for p in family) and time.monotonic() < stop_by:
        time.sleep(0.02)
    assert not [p for p in family if pid_alive(p)], (
        "processes outlived `atlas work` by more than 1 s"
    )
    running = [k for k, (status, _, _) in job_rows(engine).items() if status == "running"]
    assert len(running) == 2, job_rows(engine)
    time.sleep(1.2)  # one lease: then the next claim takes the dead workers' jobs over
    claimed = store.claim("rescuer", lease_seconds=60, limit=4)
    assert sorted(job.idempotency_key for job in claimed) == sorted(job_rows(engine))
    assert {k for k, (_, attempts, _) in job_rows(engine).items() if attempts == 2} == set(running)
    store.release(claimed)


# -------------------------------------------------------------------- server restarts


@pytest.fixture
def restartable_postgres(postgres_server: PostgresServer) -> Iterator[tuple[PostgresServer, str]]:
    """A database on the throwaway server (never an external one: the test restarts it)."""
    url = postgres_server.create_database()
    yield postgres_server, url
    wait_until_ready(postgres_server)


def test_postgres_restart_mid_run_workers_recover_and_rerun_finishes(
    restartable_postgres: tuple[PostgresServer, str], tmp_path: Path
) -> None:
    server, url = restartable_postgres
    side = tmp_path / "side.txt"
    engine = open_database(url)
    store = JobStore(engine)
    store.enqueue(
        [
            JobSpec(
                "test-record", f"c{i}", params={"path": str(side), "tag": f"c{i}", "sleep": 0.1}
            )
            for i in range(40)
        ]
    )
    store.enqueue(record_jobs(side, "test-record-inline", 300, "i"))
    engine.dispose()
    proc = start_atlas(["work", "--workers", "2", "--lease-seconds", "3"], url)
    deadline = time.monotonic() + 60
    while len(executions(side)) < 8:
        assert time.monotonic() < deadline and proc.poll() is None, "workers made no progress"
        time.sleep(0.05)
    server.restart()  # every connection dropped mid-transaction, then the server is back
    _, err = proc.communicate(timeout=300)
    # Either the workers rode out the restart, or they stopped with a one-line reason.
    assert "Traceback" not in err, err
    assert proc.returncode in (0, 2), err
    rerun = run_atlas(["work", "--workers", "2"], url, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    engine = open_database(url)
    try:
        rows = job_rows(engine)
        assert JobStore(engine).status_counts()["running"] == 0
        assert_recorded_exactly_once(
            engine, side, may_repeat={k for k, (_, a, _) in rows.items() if a > 1}
        )
    finally:
        engine.dispose()


def test_worker_exits_cleanly_when_the_server_stays_down(
    restartable_postgres: tuple[PostgresServer, str], tmp_path: Path
) -> None:
    server, url = restartable_postgres
    side = tmp_path / "side.txt"
    engine = open_database(url)
    JobStore(engine).enqueue(
        [
            JobSpec(
                "test-record", f"c{i}", params={"path": str(side), "tag": f"c{i}", "sleep": 0.5}
            )
            for i in range(20)
        ]
    )
    engine.dispose()
    code = (
        "import sys; from viterbo.atlas.worker import Worker, WorkerOptions, _worker_process;"
        "from viterbo.atlas.worker import _JobBudget; import multiprocessing as mp, os;"
        "_worker_process(sys.argv[1], WorkerOptions(db_retry_seconds=3, lease_seconds=2),"
        " _JobBudget(None), mp.Value('b', 0), os.getppid())"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, url],
        env=atlas_env(url),
        cwd=REPO_ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(executions(side)) < 1:
        assert time.monotonic() < deadline and proc.poll() is None, "worker made no progress"
        time.sleep(0.05)
    server.stop("immediate")
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        server.start()
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    assert "database unreachable for 3 s" in err.strip().splitlines()[-1]


# ------------------------------------------------------------------------ export, prune


@pytest.fixture
def built(engine: Engine, isolated_registry: None, tmp_path: Path) -> Engine:
    """test-boxes computed in this process, plus one failed job with a traceback."""
    store = JobStore(engine)
    store.enqueue(generate_specs(load_preset("test-boxes")))
    store.enqueue([JobSpec("test-raise", "broken", params={"message": "kept message"})])
    Worker(engine, WorkerOptions()).run()
    return engine


def tree_digest(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under ``folder`` by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def test_export_killed_mid_write_leaves_previous_snapshot_intact(
    built: Engine, db_url: str, tmp_path: Path
) -> None:
    from viterbo.atlas.export import export_dataset

    out = tmp_path / "exports" / "atlas-test-boxes"
    export_dataset(built, "atlas-test-boxes", out)
    before = tree_digest(out)
    # A second export, SIGKILLed after the Parquet data but before the card is written.
    code = (
        "import os, signal, sys; import viterbo.atlas.export as e; from viterbo.atlas.db import make_engine;"
        "import viterbo.atlas.export.publish as p;"
        "p._dataset_card = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL);"
        "e.export_dataset(make_engine(sys.argv[1]), 'atlas-test-boxes', sys.argv[2])"
    )
    killed = subprocess.run(
        [sys.executable, "-c", code, db_url, str(out)],
        env=atlas_env(db_url),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert tree_digest(out) == before
    # The dead export's half-written folder is hidden and never mistaken for a snapshot.
    assert [p.name for p in out.parent.iterdir() if not p.name.startswith(".")] == [
        "atlas-test-boxes"
    ]


def test_prune_keeps_everything_export_reads(built: Engine, db_url: str, tmp_path: Path) -> None:
    from viterbo.atlas.export import export_dataset

    first = export_dataset(built, "atlas-test-boxes", tmp_path / "before")
    with built.connect() as conn:
        assert conn.execute(select(j.traceback).where(j.idempotency_key == "broken")).scalar_one()
    runner = CliRunner()
    young = runner.invoke(main, ["prune", "--older-than", "1", "--db", db_url])
    assert young.exit_code == 0 and young.stdout.startswith("pruned 0 "), young.output
    dry = runner.invoke(main, ["prune", "--older-than", "0", "--dry-run", "--db", db_url])
    with built.connect() as conn:  # jobs born not_applicable never ran: nothing to prune
        total = len(conn.execute(select(j.id).where(j.heartbeat_at.is_not(None))).all())
    assert 0 < total < len(job_rows(built))
    assert dry.exit_code == 0 and dry.stdout.startswith(f"would prune {total} "), dry.output
    pruned = runner.invoke(main, ["prune", "--older-than", "0", "--vacuum", "--db", db_url])
    assert pruned.exit_code == 0, pruned.output
    assert pruned.stdout.startswith(f"pruned {total} ") and "vacuumed:" in pruned.stdout
    with built.connect() as conn:
        left = conn.execute(
            select(j.traceback, j.heartbeat_at).where(
                (j.traceback.is_not(None)) | (j.heartbeat_at.is_not(None))
            )
        ).all()
        broken = conn.execute(
            select(j.status, j.error_type, j.error_message).where(j.idempotency_key == "broken")
        ).one()
    assert left == []
    assert tuple(broken) == ("failed", "ValueError", "kept message")
    second = export_dataset(built, "atlas-test-boxes", tmp_path / "after")
    assert second["content_hash"] == first["content_hash"]
    # The data and the job log are byte-identical (the manifest carries a creation time).
    skip = ("manifest.json", "README.md", "summary.json", "report.md")
    assert tree_digest(tmp_path / "after", skip) == tree_digest(tmp_path / "before", skip)
    again = runner.invoke(main, ["prune", "--older-than", "0", "--db", db_url])
    assert again.stdout.startswith("pruned 0 ")


def test_vacuum_refused_while_jobs_run(engine: Engine, tmp_path: Path) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's VACUUM runs beside workers")
    store = JobStore(engine)
    store.enqueue([JobSpec("test-sleep", "s", params={"seconds": 1})])
    assert len(store.claim("someone", 60.0)) == 1
    result = CliRunner().invoke(
        main, ["prune", "--older-than", "0", "--vacuum", "--db", str(engine.url)]
    )
    assert result.exit_code == 2
    assert "1 job(s) are running: stop the workers before --vacuum" in result.output


# ----------------------------------------------------------------------- bad inputs


def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_corrupted_params_fail_only_their_job(engine: Engine, db_url: str, tmp_path: Path) -> None:
    side = tmp_path / "side.txt"
    store = JobStore(engine)
    store.enqueue(record_jobs(side, "test-record", 4, "ok"))
    store.enqueue(
        [
            JobSpec("test-record", "not-json"),
            JobSpec("test-record", "a-list"),
            JobSpec("generate", "generate:bad", params={"family": "test-box"}),
        ]
    )
    with engine.begin() as conn:
        for key, params in (
            ("not-json", "{truncated"),
            ("a-list", "[1, 2]"),
            ("generate:bad", '"just a string"'),
        ):
            conn.execute(update(jobs_table).where(j.idempotency_key == key).values(params=params))
    worked = run_atlas(["work"], db_url)
    assert worked.returncode == 0, worked.stderr
    rows = job_rows(engine)
    with engine.connect() as conn:
        errors = dict(conn.execute(select(j.idempotency_key, j.error_type)).all())
    assert {k: rows[k][0] for k in ("not-json", "a-list", "generate:bad")} == dict.fromkeys(
        ("not-json", "a-list", "generate:bad"), "failed"
    )
    assert errors["not-json"] == errors["a-list"] == "JobParamsError"
    assert all(rows[f"ok{i}"][0] == "done" for i in range(4))
    assert executions(side) == Counter({f"ok{i}": 1 for i in range(4)})


def test_polytope_file_with_nan_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"vertices": [[0, 0, 0, 0], [1, NaN, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}'
    )
    content = bad.read_bytes()
    proc = run_atlas(["compute", str(bad)], None)
    _one_line_error(proc, "NaN")
    assert bad.read_bytes() == content


@pytest.mark.parametrize(
    "command", [["status"], ["work"], ["enqueue", "test-boxes"], ["prune", "--older-than", "0"]]
)
def test_file_that_is_not_sqlite_is_refused_and_untouched(
    tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    content = path.read_bytes()
    _one_line_error(run_atlas([*command, "--db", f"sqlite:///{path}"]), "notes.sqlite")
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite"]  # no -wal/-shm left


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A size-limited tmpfs at ``folder`` (root with CAP_SYS_ADMIN only; else skip)."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'mount failed'})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_read_only_database_is_reported_and_untouched(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "ro", "16m") as folder:
        url = f"sqlite:///{folder / 'atlas.sqlite'}"
        engine = open_database(url)
        JobStore(engine).enqueue(
            [JobSpec("test-sleep", f"s{i}", params={"seconds": 0}) for i in range(3)]
        )
        engine.dispose()
        before = tree_digest(folder)
        remount = subprocess.run(
            ["mount", "-o", "remount,ro", str(folder)], capture_output=True, text=True
        )
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
        for command in (
            ["work"],
            ["enqueue", "test-boxes"],
            ["status"],
            ["prune", "--older-than", "0"],
        ):
            _one_line_error(run_atlas(command, url), "atlas.sqlite", "read-only")
        assert tree_digest(folder) == before


def test_full_disk_is_reported_and_database_stays_usable(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "full", "2m") as folder:
        url = f"sqlite:///{folder / 'atlas.sqlite'}"
        engine = open_database(url)
        store = JobStore(engine)
        store.enqueue([JobSpec("test-sleep", "kept", params={"seconds": 0})])
        engine.dispose()
        filler = folder / "filler"
        with (
            contextlib.suppress(OSError),
            filler.open("wb") as fh,
        ):  # fill the disk to the last block
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        big = {"blob": "x" * 200_000}
        spec = json.dumps([{"family": "test-box", "params": {"dim": 2, **big}, "count": 50}])
        preset = tmp_path / "huge.json"
        preset.write_text(spec)
        proc = run_atlas(["enqueue", str(preset)], url)
        line = _one_line_error(proc)
        assert "full" in line or "No space" in line, line
        # `atlas work` on the full disk: recording fails; the worker stops with the reason at
        # once (a full file does not heal by waiting), no traceback.
        worked = run_atlas(["work"], url)
        assert worked.returncode != 0 and "Traceback" not in worked.stderr, worked.stderr
        assert "full" in worked.stderr, worked.stderr
        filler.unlink()  # space is back: the database is intact and usable
        engine = open_database(url)
        try:
            assert job_rows(engine) == {"kept": ("pending", 0, None)}
            assert run_atlas(["work"], url).returncode == 0
            assert job_rows(engine)["kept"][0] == "done"
        finally:
            engine.dispose()
