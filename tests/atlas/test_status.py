"""`atlas status` progress: the projected job count while generate jobs still add jobs."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, update

from viterbo.atlas.jobs import GENERATE, QUANTITY
from viterbo.atlas.models import dependencies_table, jobs_table
from viterbo.atlas.presets import generate_specs, load_preset
from viterbo.atlas.status import (
    Progress,
    measured_eta,
    progress,
    progress_line,
    projected_total,
    status_report,
)
from viterbo.atlas.store import JobStore
from viterbo.atlas.worker import Worker, WorkerOptions


@pytest.mark.parametrize(
    ("by_kind", "expected"),
    [
        ({}, 0),
        ({GENERATE: {"done": 4}, QUANTITY: {"done": 30, "pending": 10}}, 44),  # nothing left to add
        ({GENERATE: {"done": 4, "pending": 6}, QUANTITY: {"done": 40}}, 10 + 40 + 6 * 10),
        (
            {
                GENERATE: {"done": 1, "failed": 1, "running": 1, "pending": 1},
                QUANTITY: {"pending": 7},
            },
            11 + 2 * 7,
        ),
        ({GENERATE: {"pending": 5}}, None),  # fan-out unknown until a generate job is done
        ({GENERATE: {"done": 3, "pending": 1}, QUANTITY: {"done": 4}}, 8 + 1),  # 4/3 rounds to 1
        ({"other": {"pending": 9}}, 9),
    ],
)
def test_projected_total_adds_the_fan_out_of_open_generate_jobs(
    by_kind: dict[str, dict[str, int]], expected: int | None
) -> None:
    assert projected_total(by_kind) == expected


def test_progress_line_names_the_expected_count_and_its_eta() -> None:
    p = Progress(
        total=50,
        finished=25,
        running=2,
        rate_per_s=1.0,
        eta_s=85.0,
        projected_total=110,
        generating=6,
    )
    assert progress_line(p) == (
        "25/50 jobs finished (~110 expected after generation) (22.7%), "
        "2 running, 1.0 jobs/s, ETA 1m25s"
    )
    waiting = Progress(
        total=5,
        finished=0,
        running=1,
        rate_per_s=None,
        eta_s=None,
        projected_total=None,
        generating=5,
    )
    assert (
        progress_line(waiting)
        == "0/5 jobs finished, 5 generate jobs to run first (0.0%), 1 running, rate ?, ETA ? (known once a generate job is done)"
    )
    done = Progress(total=8, finished=8, running=0, rate_per_s=0.5, eta_s=0.0, projected_total=8)
    assert progress_line(done) == "8/8 jobs finished (100.0%), 0 running, 30.0 jobs/min, ETA 0s"


def test_progress_of_a_half_generated_build_projects_the_final_count(
    engine: Engine, isolated_registry: None
) -> None:
    store = JobStore(engine)
    store.enqueue(generate_specs(load_preset("test-boxes")))
    # Run everything, then count how many jobs the build has in the end.
    Worker(engine, WorkerOptions()).run()
    final = sum(store.status_counts().values())
    # Undo two generate jobs' quantity jobs as if they had not run yet: the projection must
    # add them back from the fan-out of the three that did (every box has the same 7 quantity jobs).
    j = jobs_table.c
    with engine.begin() as conn:
        keys = sorted(conn.execute(select(j.idempotency_key).where(j.kind == GENERATE)).scalars())[
            :2
        ]
        pkeys = [k.removeprefix("generate:") for k in keys]
        for pkey in pkeys:
            ids = [
                i
                for (i,) in conn.execute(
                    select(j.id).where(j.idempotency_key.like(f"quantity:{pkey}:%"))
                )
            ]
            d = dependencies_table.c
            conn.execute(
                dependencies_table.delete().where(d.job_id.in_(ids) | d.depends_on_id.in_(ids))
            )
            conn.execute(jobs_table.delete().where(j.id.in_(ids)))
        conn.execute(
            update(jobs_table)
            .where(j.idempotency_key.in_(keys))
            .values(status="pending", finished_at=None)
        )
    counts = store.status_counts()
    p = progress(store)
    assert p.generating == 2 and p.total == sum(counts.values()) < final
    assert p.projected_total == final
    assert p.rate_per_s is not None and p.eta_s is not None and p.eta_s > 0
    report = status_report(store)
    assert f"~{final} expected after generation" in report
    assert f"jobs by status: pending {counts['pending']}" in report


def test_measured_eta_weighs_each_group_by_its_own_mean_time() -> None:
    groups = {  # key -> (jobs left, finished jobs with a wall time, their summed wall time)
        (QUANTITY, "volume", "qhull"): (0, 90, 0.9),
        (QUANTITY, "capacity", "reeb"): (90, 10, 10.0),
        (QUANTITY, "spectrum", "reeb"): (5, 0, 0.0),  # none finished: the overall mean
        (GENERATE, None, None): (0, 10, 100.0),  # generate jobs do not set the quantity mean
    }
    overall = (0.9 + 10.0) / 100
    assert measured_eta(groups, unseen=0, concurrency=2.0) == pytest.approx(
        (90 * 1.0 + 5 * overall) / 2
    )
    assert measured_eta(groups, unseen=10, concurrency=1.0) == pytest.approx(
        90 + 5 * overall + 10 * overall
    )
    assert measured_eta(groups, unseen=0, concurrency=0.0) is None
    assert measured_eta({(QUANTITY, "a", "b"): (3, 0, 0.0)}, unseen=0, concurrency=1.0) is None


def test_eta_after_a_tenth_of_a_mixed_build_is_within_a_factor_two(engine: Engine) -> None:
    """100 cheap jobs (0.01 s) run first, then 900 slow ones (1 s) are left: one worker.

    A rate-based ETA after 10 % would say ~9 s; the truth is ~900 s.
    """
    from viterbo.atlas.store import JobSpec

    store = JobStore(engine)
    store.enqueue(
        [JobSpec(QUANTITY, f"cheap{i}", quantity="volume", algorithm="qhull") for i in range(100)]
        + [JobSpec(QUANTITY, f"slow{i}", quantity="capacity", algorithm="reeb") for i in range(900)]
    )
    import time

    now = time.time()
    j = jobs_table.c
    with engine.begin() as conn:
        for i in range(100):  # the cheap ones finished back to back over the last second
            conn.execute(
                update(jobs_table)
                .where(j.idempotency_key == f"cheap{i}")
                .values(
                    status="done",
                    started_at=now - 1.0 + i * 0.01,
                    finished_at=now - 0.99 + i * 0.01,
                    wall_seconds=0.01,
                )
            )
        for i in range(5):  # and five slow ones over the 5 s before
            conn.execute(
                update(jobs_table)
                .where(j.idempotency_key == f"slow{i}")
                .values(
                    status="done",
                    started_at=now - 6.0 + i,
                    finished_at=now - 5.0 + i,
                    wall_seconds=1.0,
                )
            )
    truth = 895 * 1.0  # one worker, busy all the time
    eta = progress(store).eta_s
    assert eta is not None and truth / 2 <= eta <= truth * 2
