"""Several real `atlas work` processes on one database; kill -9 of a worker mid-job."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine, select

from tests.atlas.conftest import run_atlas, start_atlas
from viterbo.atlas.models import jobs_table
from viterbo.atlas.store import JobSpec, JobStore


def test_concurrent_workers_run_every_job_exactly_once(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    side = str(tmp_path / "side.txt")
    store = JobStore(engine)
    n_child, n_inline = 120, 600
    store.enqueue(
        [
            JobSpec("test-record", f"c{i}", params={"path": side, "tag": f"c{i}"})
            for i in range(n_child)
        ]
    )
    store.enqueue(
        [
            JobSpec("test-record-inline", f"i{i}", params={"path": side, "tag": f"i{i}"})
            for i in range(n_inline)
        ]
    )
    # Two independent `atlas work` commands, one of them with two worker processes: 3 racers.
    procs = [
        start_atlas(["work", "--workers", "2", "--batch", "16"], db_url),
        start_atlas(["work", "--workers", "1", "--batch", "16"], db_url),
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    executions = Counter(Path(side).read_text().split())
    expected = {f"c{i}" for i in range(n_child)} | {f"i{i}" for i in range(n_inline)}
    assert set(executions) == expected
    assert [t for t, n in executions.items() if n != 1] == []
    counts = store.status_counts()
    assert counts["done"] == n_child + n_inline
    j = jobs_table.c
    with engine.connect() as conn:
        owners = {o.rsplit(":", 1)[0] for o in conn.execute(select(j.lease_owner)).scalars()}
        attempts = set(conn.execute(select(j.attempts)).scalars())
    assert attempts == {1}
    assert len(owners) >= 2  # the work really was shared


def test_kill_9_mid_job_is_recovered_after_lease_expiry(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    side = tmp_path / "side.txt"
    store = JobStore(engine)
    store.enqueue(
        [
            JobSpec(
                "test-record", f"s{i}", params={"path": str(side), "tag": f"s{i}", "sleep": 1.5}
            )
            for i in range(3)
        ]
    )
    victim = start_atlas(["work", "--lease-seconds", "2"], db_url)
    deadline = time.monotonic() + 60
    while not (side.exists() and "start" in side.read_text()):
        assert time.monotonic() < deadline, "worker never started a job"
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGKILL)  # the CLI process and its worker, no clean-up
    victim.communicate(timeout=30)
    lines = side.read_text().split("\n")
    killed_tag = lines[0].split()[1]
    assert killed_tag not in lines  # it really died mid-job (no "done" mark for that tag)
    time.sleep(2.0)  # the compute child must have died with its worker (PDEATHSIG)
    assert killed_tag not in side.read_text().split("\n")

    rescuer = run_atlas(["work", "--lease-seconds", "2"], db_url, timeout=120)
    assert rescuer.returncode == 0, rescuer.stderr
    j = jobs_table.c
    with engine.connect() as conn:
        rows = {
            k: (s, a, json.loads(r))
            for k, s, a, r in conn.execute(
                select(j.idempotency_key, j.status, j.attempts, j.result)
            )
        }
    assert all(s == "done" for s, _, _ in rows.values())
    assert rows[killed_tag][1] == 2  # claimed twice: once by the victim, once by the rescuer
    assert {r["value"] for _, _, r in rows.values()} == {"s0", "s1", "s2"}
    finished = Counter(
        line for line in side.read_text().split("\n") if line and not line.startswith("start")
    )
    assert finished == Counter({"s0": 1, "s1": 1, "s2": 1})


def test_ctrl_c_releases_running_jobs(engine: Engine, db_url: str, tmp_path: Path) -> None:
    side = tmp_path / "side.txt"
    store = JobStore(engine)
    store.enqueue(
        [
            JobSpec("test-record", f"s{i}", params={"path": str(side), "tag": f"s{i}", "sleep": 30})
            for i in range(3)
        ]
    )
    proc = start_atlas(["work", "--workers", "2"], db_url)
    deadline = time.monotonic() + 60
    while not (side.exists() and side.read_text().count("start") >= 2):
        assert time.monotonic() < deadline, "workers never started"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err and "released" in err
    j = jobs_table.c
    with engine.connect() as conn:
        rows = conn.execute(select(j.status, j.attempts, j.lease_token)).all()
    assert rows == [("pending", 0, None)] * 3
