"""Child-process execution under limits, and the worker loop in this process."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from tests.atlas import plugin
from viterbo.atlas.child import run_in_child
from viterbo.atlas.jobs import GENERATE
from viterbo.atlas.models import jobs_table, polytopes_table
from viterbo.atlas.presets import generate_specs, load_preset
from viterbo.atlas.store import JobSpec, JobStore
from viterbo.atlas.worker import Worker, WorkerOptions


def test_child_returns_result_and_measures_it() -> None:
    out = run_in_child(plugin.run_sleep, {"seconds": 0.05}, timeout=10, memory_limit_mb=None)
    assert out is not None and out.status == "done" and out.result == {"value": 0.05}
    assert out.wall_seconds >= 0.05 and out.cpu_seconds is not None and out.peak_rss_mb > 0


def test_child_past_its_timeout_is_killed() -> None:
    start = time.monotonic()
    out = run_in_child(plugin.run_sleep, {"seconds": 30}, timeout=0.5, memory_limit_mb=None)
    assert out is not None and out.status == "timed_out"
    assert 0.5 <= out.wall_seconds < 10 and time.monotonic() - start < 10


def test_child_over_memory_limit_fails_with_reason() -> None:
    out = run_in_child(plugin.run_allocate, {"mb": 4096}, timeout=30, memory_limit_mb=1024)
    assert out is not None and out.status == "failed"
    assert out.error_type == "MemoryError" and "1024" in out.error_message


def test_child_exception_carries_traceback() -> None:
    out = run_in_child(plugin.run_raise, {"message": "boom here"}, timeout=30, memory_limit_mb=None)
    assert out is not None and out.status == "failed" and out.error_type == "ValueError"
    assert out.error_message == "boom here" and "run_raise" in out.traceback


def test_child_killed_by_signal_fails() -> None:
    out = run_in_child(plugin.run_crash, {}, timeout=30, memory_limit_mb=None)
    assert out is not None and out.status == "failed" and "SIGKILL" in out.error_message


def test_abort_kills_child_and_returns_none() -> None:
    start = time.monotonic()
    assert (
        run_in_child(
            plugin.run_sleep,
            {"seconds": 30},
            timeout=None,
            memory_limit_mb=None,
            should_abort=lambda: time.monotonic() - start > 0.3,
        )
        is None
    )
    assert time.monotonic() - start < 10


def test_worker_survives_bad_jobs_and_finishes_the_rest(engine: Engine, tmp_path: Path) -> None:
    side = str(tmp_path / "side.txt")
    store = JobStore(engine)
    store.enqueue(
        [
            JobSpec("test-sleep", "sleep", params={"seconds": 30}),
            JobSpec("test-allocate", "alloc", params={"mb": 4096}),
            JobSpec("test-raise", "raise", params={"message": "deliberate"}),
            JobSpec("test-crash", "crash"),
            JobSpec("no-such-kind", "unknown"),
            *[JobSpec("test-record", f"rec{i}", params={"path": side, "tag": i}) for i in range(5)],
        ]
    )
    with engine.begin() as conn:  # a job whose stored params are not JSON
        store.enqueue([JobSpec("test-record", "corrupt")])
        conn.execute(
            update(jobs_table)
            .where(jobs_table.c.idempotency_key == "corrupt")
            .values(params="{not json")
        )
    stats = Worker(engine, WorkerOptions(job_timeout=1.0, memory_limit_mb=1024)).run()
    assert stats.recorded == 11
    j = jobs_table.c
    with engine.connect() as conn:
        rows = {
            k: (s, e, tb)
            for k, s, e, tb in conn.execute(
                select(j.idempotency_key, j.status, j.error_type, j.traceback)
            )
        }
    assert rows["sleep"][:2] == ("timed_out", "Timeout")
    assert rows["alloc"][:2] == ("failed", "MemoryError")
    assert rows["raise"][:2] == ("failed", "ValueError") and "deliberate" in rows["raise"][2]
    assert rows["crash"][:2] == ("failed", "ChildDied")
    assert rows["unknown"][:2] == ("failed", "AtlasError")
    assert rows["corrupt"][:2] == ("failed", "JobParamsError")
    assert all(rows[f"rec{i}"][0] == "done" for i in range(5))
    assert sorted(Path(side).read_text().split()) == [str(i) for i in range(5)]


@pytest.mark.usefixtures("isolated_registry")
def test_generate_inserts_polytope_and_quantity_jobs(engine: Engine) -> None:
    store = JobStore(engine)
    store.enqueue(generate_specs(load_preset("test-boxes")))
    Worker(engine, WorkerOptions()).run()
    counts = store.status_counts()
    # 5 polytopes x (1 generate + 7 algorithms); "capacity/never" is not applicable.
    assert counts["done"] == 5 * 7 and counts["not_applicable"] == 5
    assert counts["pending"] == counts["blocked"] == counts["running"] == 0
    j, p = jobs_table.c, polytopes_table.c
    with engine.connect() as conn:
        polys = conn.execute(select(p.key, p.dimension, p.num_facets, p.seed)).all()
        sys_results = conn.execute(
            select(p.offsets, j.result)
            .join(polytopes_table, p.id == j.polytope_id)
            .where(j.quantity == "systolic_ratio")
        ).all()
        gen = conn.execute(select(j.result).where(j.kind == GENERATE)).scalars().all()
    assert len(polys) == 5 and {d for _, d, _, _ in polys} == {2, 4}
    assert all(json.loads(r)["jobs"] == 7 for r in gen)
    for offsets_json, result in sys_results:
        sides = json.loads(offsets_json)[::2]
        vol = 1.0
        for s in sides:
            vol *= 2 * s
        c = 4 * min(sides) ** 2
        assert json.loads(result)["value"] == pytest.approx(c * c / (2 * vol), rel=1e-12)


@pytest.mark.usefixtures("isolated_registry")
def test_generate_with_bad_family_params_fails_deterministically(engine: Engine) -> None:
    from viterbo.atlas.presets import PresetItem

    store = JobStore(engine)
    store.enqueue(generate_specs([PresetItem("test-box", {"dim": -1}, 1)]))
    Worker(engine, WorkerOptions()).run()
    j = jobs_table.c
    with engine.connect() as conn:
        status, etype, msg, attempts = conn.execute(
            select(j.status, j.error_type, j.error_message, j.attempts)
        ).one()
    assert (status, etype, attempts) == ("failed", "ValueError", 1)
    assert "dim must be a positive integer" in msg


def test_max_jobs_stops_early(engine: Engine, tmp_path: Path) -> None:
    side = str(tmp_path / "side.txt")
    store = JobStore(engine)
    store.enqueue(
        [JobSpec("test-record-inline", f"r{i}", params={"path": side, "tag": i}) for i in range(20)]
    )
    stats = Worker(engine, WorkerOptions(max_jobs=7)).run()
    assert stats.recorded == 7 and store.status_counts()["done"] == 7
    assert len(Path(side).read_text().split()) == 7


def test_checkpoint_hook_is_a_worker_option_called_at_each_point(
    engine: Engine, tmp_path: Path
) -> None:
    side = str(tmp_path / "side.txt")
    store = JobStore(engine)
    store.enqueue(
        [JobSpec("test-record", f"r{i}", params={"path": side, "tag": i}) for i in range(3)]
    )
    seen: list[tuple[str, tuple[str, ...]]] = []

    def hook(point: str, jobs: Any) -> None:
        seen.append((point, tuple(job.idempotency_key for job in jobs)))

    Worker(engine, WorkerOptions(checkpoint=hook)).run()
    # Child-run jobs are claimed one at a time: three points per job, in the crash order.
    assert seen == [
        (point, (f"r{i}",))
        for i in range(3)
        for point in ("claim-uncommitted", "claimed", "computed")
    ]
    # The default hook is per store, not global: a worker without one sees nothing.
    store.enqueue([JobSpec("test-record", "r3", params={"path": side, "tag": 3})])
    Worker(engine, WorkerOptions()).run()
    assert len(seen) == 9 and store.status_counts()["done"] == 4


def test_quantity_jobs_rebuild_each_polytope_with_its_familys_loader() -> None:
    from viterbo.atlas.kinds import polytope_loader
    from viterbo.geometry import Polytope

    box = plugin.FakePolytope((1.0, 2.0))
    assert polytope_loader("test-box")(box.to_dict()) == box
    cube = Polytope.from_vertices([[x, y] for x in (-1, 1) for y in (-1, 1)])
    rebuilt = polytope_loader("halfspace")(cube.to_dict())
    assert isinstance(rebuilt, Polytope) and rebuilt.num_facets == 4
