"""Cheap quantities (volume, certify, systolic ratio) run inside the worker, without a child.

The verdicts: which process computed each job (the test algorithms report their pid), and the
recorded rows equal those of the forked path column by column (timings aside, which must be
present in both).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from viterbo.atlas import jobs
from viterbo.atlas.db import open_database
from viterbo.atlas.jobs import QUANTITY, runs_inline
from viterbo.atlas.models import jobs_table
from viterbo.atlas.presets import generate_specs, load_preset
from viterbo.atlas.store import ClaimedJob, JobStore
from viterbo.atlas.worker import Worker, WorkerOptions

j = jobs_table.c
ROW_COLUMNS = ("idempotency_key", "status", "attempts", "result", "error_type", "error_message")
TIMING_COLUMNS = ("wall_seconds", "cpu_seconds", "peak_rss_mb", "started_at", "finished_at")


def _with_pid(compute: Any) -> Any:
    def run(p: Any, **kwargs: Any) -> dict[str, Any]:
        return {**compute(p, **kwargs), "pid": os.getpid()}

    return run


@pytest.fixture
def pid_registry(isolated_registry: None) -> Iterator[None]:
    """The test algorithms, each reporting the pid of the process that ran it."""
    from dataclasses import replace

    from viterbo.invariants import registry

    for alg in list(registry._REGISTRY.values()):
        registry._REGISTRY[(alg.quantity, alg.name)] = replace(alg, compute=_with_pid(alg.compute))
    yield


@pytest.fixture
def cheap_test_algorithms(monkeypatch: pytest.MonkeyPatch) -> frozenset[tuple[str, str]]:
    """Mark the test registry's volume, certify and systolic algorithms cheap."""
    cheap = frozenset(
        {("volume", "exact"), ("certified_capacity", "certify"), ("systolic_ratio", "formula")}
    )
    monkeypatch.setattr(jobs, "INLINE_ALGORITHMS", cheap)
    return cheap


def build(url: str) -> Engine:
    engine = open_database(url)
    JobStore(engine).enqueue(generate_specs(load_preset("test-boxes")))
    stats = Worker(engine, WorkerOptions()).run()
    assert stats.stale == 0
    return engine


def rows(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(
            select(
                *(
                    getattr(j, c)
                    for c in (*ROW_COLUMNS, *TIMING_COLUMNS, "quantity", "algorithm", "kind")
                )
            )
        ).all()
    return {r.idempotency_key: dict(r._mapping) for r in found}


def test_cheap_jobs_run_in_the_worker_and_record_the_same_rows(
    pid_registry: None,
    cheap_test_algorithms: frozenset[tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inline = rows(build(f"sqlite:///{tmp_path / 'inline.sqlite'}"))
    monkeypatch.setattr(jobs, "INLINE_ALGORITHMS", frozenset())
    forked = rows(build(f"sqlite:///{tmp_path / 'forked.sqlite'}"))

    me = os.getpid()
    done = {k: r for k, r in inline.items() if r["kind"] == QUANTITY and r["status"] == "done"}
    cheap = {k for k, r in done.items() if (r["quantity"], r["algorithm"]) in cheap_test_algorithms}
    assert len(cheap) == 5 * 3  # 5 boxes: volume, certify, systolic ratio each
    ran_in = {k: json.loads(r["result"])["pid"] for k, r in done.items()}
    assert {k for k, pid in ran_in.items() if pid == me} == cheap  # cheap: here; the rest: a child
    assert all(json.loads(forked[k]["result"])["pid"] != me for k in done)

    assert set(inline) == set(forked)
    for key, row in inline.items():
        other = forked[key]
        for col in ROW_COLUMNS:
            if col == "result" and row[col] is not None:
                mine, theirs = json.loads(row[col]), json.loads(other[col])
                mine.pop("pid", None)
                theirs.pop("pid", None)
                assert mine == theirs, key
            else:
                assert row[col] == other[col], (key, col)
        if row["status"] == "done":  # timings recorded on both paths
            assert all(row[c] is not None and row[c] >= 0 for c in TIMING_COLUMNS), key
            assert all(other[c] is not None for c in TIMING_COLUMNS), key
            assert (
                row["peak_rss_mb"] > 1.0 and row["started_at"] <= row["finished_at"] <= time.time()
            )


def test_a_failing_cheap_job_is_recorded_like_a_forked_one(
    isolated_registry: None,
    cheap_test_algorithms: frozenset[tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import replace

    from viterbo.invariants import registry

    def broken(_p: Any, **_: Any) -> dict[str, Any]:
        raise ValueError("volume exploded")

    vol = registry._REGISTRY[("volume", "exact")]
    registry._REGISTRY[("volume", "exact")] = replace(vol, compute=broken)
    inline = rows(build(f"sqlite:///{tmp_path / 'inline.sqlite'}"))
    monkeypatch.setattr(jobs, "INLINE_ALGORITHMS", frozenset())
    forked = rows(build(f"sqlite:///{tmp_path / 'forked.sqlite'}"))
    failed = {k for k, r in inline.items() if r["status"] == "failed"}
    # Each box: its volume, and the systolic ratio that needs it.
    assert (
        sorted(k.rsplit(":", 1)[1] for k in failed)
        == ["systolic_ratio/formula"] * 5 + ["volume/exact"] * 5
    )
    for key in inline:
        assert [inline[key][c] for c in ROW_COLUMNS] == [forked[key][c] for c in ROW_COLUMNS], key
    assert {inline[k]["error_message"] for k in failed if k.endswith("volume/exact")} == {
        "volume exploded"
    }


def _claimed(quantity: str, algorithm: str, params: str = "{}", kind: str = QUANTITY) -> ClaimedJob:
    return ClaimedJob(
        id=1,
        kind=kind,
        polytope_id=1,
        family="f",
        quantity=quantity,
        algorithm=algorithm,
        params=params,
        idempotency_key="k",
        attempts=1,
        max_attempts=3,
        lease_token="t",
        lease_owner="o",
    )


@pytest.mark.parametrize(
    ("job", "inline"),
    [
        (_claimed("volume", "qhull"), True),
        (_claimed("volume", "cone-decomposition"), True),
        (_claimed("certified_capacity", "certify"), True),
        (_claimed("systolic_ratio", "formula"), True),
        (_claimed("capacity", "haim-kislev"), False),  # can run for minutes
        (_claimed("capacity", "reeb"), False),
        (_claimed("spectrum", "reeb"), False),
        (
            _claimed("volume", "qhull", '{"time_limit_s": 5}'),
            False,
        ),  # a policy limit needs the kill
        (_claimed("volume", "qhull", "not json"), False),
        (_claimed("volume", "qhull", kind="generate"), False),
    ],
)
def test_which_jobs_run_inline(job: ClaimedJob, inline: bool) -> None:
    assert runs_inline(job) is inline


def test_real_cheap_algorithms_are_registered_under_the_inline_names() -> None:
    """The inline list names real algorithms (a rename in the registry must not silently fork)."""
    from viterbo.invariants import registry

    registry.load_builtin()
    names = {(a.quantity, a.name) for a in registry.algorithms()}
    assert names >= jobs.INLINE_ALGORITHMS
