"""Export: dataset layout, load_dataset round trip, stable content hash, atomicity, filtering."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from viterbo.atlas import report as report_mod
from viterbo.atlas.errors import ExportError
from viterbo.atlas.export import export_dataset, validate_export_name
from viterbo.atlas.export import rows as export_rows
from viterbo.atlas.presets import PresetItem, generate_specs, load_preset, register_preset
from viterbo.atlas.store import ClaimedJob, JobStore
from viterbo.atlas.worker import Worker, WorkerOptions


@pytest.fixture
def built(engine: Engine, isolated_registry: None) -> Engine:
    store = JobStore(engine)
    store.enqueue(generate_specs(load_preset("test-boxes")))
    Worker(engine, WorkerOptions()).run()
    return engine


def test_export_layout_and_load_dataset_round_trip(built: Engine, tmp_path: Path) -> None:
    import datasets

    out = tmp_path / "atlas-test-boxes"
    info = export_dataset(built, "atlas-test-boxes", out)
    assert info["rows"] == 5
    assert (out / "README.md").read_text().startswith("---\nconfigs:")
    assert sorted(p.name for p in (out / "benchmark").iterdir()) == [
        "growth.png",
        "jobs.csv",
        "report.md",
        "summary.json",
        "systolic.png",
        "wall_times.png",
    ]
    assert (out / "benchmark" / "wall_times.png").read_bytes()[:4] == b"\x89PNG"
    ds = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert len(ds) == 5
    assert ds.features["vertices"] == datasets.List(datasets.List(datasets.Value("float64")))
    rows = {r["id"]: r for r in ds}
    assert list(rows) == sorted(rows)  # deterministic order: by stable id
    r = rows["test-box:" + next(iter(rows)).split(":")[1] + ":000000"]
    sides = r["offsets"][::2]
    assert r["capacity"] == pytest.approx(4 * min(sides) ** 2)
    assert r["capacity_algorithm"] in {"fast", "slow-one"}
    assert r["status_never"] == "not_applicable" and r["capacity_never"] is None
    assert r["status_fast"] == "done" and r["capacity_fast"] == r["capacity"]
    assert r["capacity_certificate"] == "confirmed" and r["capacity_agreeing"] == [
        "fast",
        "slow-one",
    ]
    vol = 1.0
    for s in sides:
        vol *= 2 * s
    assert r["volume"] == pytest.approx(vol) and r["volume_exact"] == pytest.approx(vol)
    assert r["systolic_ratio"] == pytest.approx(r["capacity"] ** 2 / (2 * vol))
    assert r["spectrum"] == [r["capacity"], 2 * r["capacity"]]
    assert r["minimal_action_cycle"] == [[0.0] * r["dimension"], [1.0] * r["dimension"]]
    assert r["num_facets"] == 2 * r["dimension"] and len(r["vertices"]) == r["num_vertices"]
    assert r["schema_version"] == export_rows.SCHEMA_VERSION and json.loads(r["params"]) in (
        {"dim": 4},
        {"dim": 2},
    )

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows_per_family"] == {"test-box": 5}
    assert manifest["content_hash"] == info["content_hash"]
    assert "capacity/fast" in manifest["quantities"]
    assert manifest["certificate_levels"] == {"confirmed": 5, "single": 0, "disagreement": 0}
    assert manifest["unconfirmed_high_ratios"] == 0
    card = (out / "README.md").read_text()
    assert "- `confirmed` (5 rows): two or more independent exact algorithms agree" in card
    assert "- `capacity_agreeing` (list of string): " in card
    with (out / "benchmark" / "jobs.csv").open() as fh:
        log = list(csv.DictReader(fh))
    assert len(log) == 40 and {row["status"] for row in log} == {"done", "not_applicable"}
    assert all(row["wall_s"] for row in log if row["status"] == "done")
    summary = json.loads((out / "benchmark" / "summary.json").read_text())
    assert summary["capacity_agreement"]["fast vs slow-one"]["disagreements"] == 0
    assert summary["per_algorithm"]["capacity/never"]["status"] == {"not_applicable": 5}


def test_reexport_gives_same_content_hash_and_replaces_snapshot(
    built: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "exports" / "snap"
    first = export_dataset(built, "snap", out)
    files = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (out / "stray-file").write_text("from the old snapshot")
    second = export_dataset(built, "snap", out)
    assert first["content_hash"] == second["content_hash"]
    # Same database, same bytes: everything but the manifest's creation time.
    again = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert set(again) == set(files)
    assert [k for k in files if files[k] != again[k]] in ([], [Path("manifest.json")])
    assert not (out / "stray-file").exists()
    assert [p.name for p in out.parent.iterdir()] == ["snap"]  # no temp folders left


def test_interrupted_export_keeps_previous_snapshot(
    built: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "exports" / "snap"
    export_dataset(built, "snap", out)
    before = (out / "manifest.json").read_text()

    def explode(*_: object, **__: object) -> None:
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(report_mod, "write_report", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        export_dataset(built, "snap", out)
    assert (out / "manifest.json").read_text() == before
    assert [p.name for p in out.parent.iterdir()] == ["snap"]


def test_export_of_a_preset_only_holds_its_polytopes(built: Engine, tmp_path: Path) -> None:
    register_preset("test-boxes-4d", [PresetItem("test-box", {"dim": 4}, 2)])
    info = export_dataset(built, "atlas-test-boxes-4d", tmp_path / "sub")
    assert info["rows"] == 2
    everything = export_dataset(built, "everything", tmp_path / "all")
    assert everything["rows"] == 5 and everything["content_hash"] != info["content_hash"]


def test_partial_build_is_refused_unless_allowed(
    engine: Engine, isolated_registry: None, tmp_path: Path
) -> None:
    store = JobStore(engine)
    store.enqueue(generate_specs(load_preset("test-boxes")))
    Worker(engine, WorkerOptions(max_jobs=7)).run()
    with engine.connect() as conn:
        generated = conn.execute(text("SELECT count(*) FROM polytopes")).scalar_one()
        unfinished = conn.execute(
            text("SELECT count(*) FROM jobs WHERE status IN ('pending', 'blocked', 'running')")
        ).scalar_one()
    assert 1 <= generated <= 5 and unfinished > 0
    out = tmp_path / "atlas-test-boxes"
    with pytest.raises(ExportError) as refused:
        export_dataset(engine, "atlas-test-boxes", out)
    message = str(refused.value)
    assert message.startswith(
        f"refusing to export atlas-test-boxes: the database holds {generated} of the 5 "
        f"polytopes of preset 'test-boxes', {unfinished} jobs unfinished ("
    )
    assert (
        f"it holds 'test-boxes' ({generated} of 5 polytopes)" in message
    )  # other presets may follow
    assert message.endswith("Finish the build (`atlas work`) or pass --allow-partial")
    assert not out.exists()
    info = export_dataset(engine, "atlas-test-boxes", out, allow_partial=True)
    assert info["complete"] is False and info["rows"] == generated
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["completeness"]["complete"] is False
    assert manifest["completeness"]["unfinished_jobs"] == unfinished
    assert (
        manifest["completeness"]["job_status_counts"]["done"] >= 7 - 1
    )  # a not_applicable may count
    card = (out / "README.md").read_text()
    assert (
        f"**Partial build** (exported with `--allow-partial`): {generated} of 5 polytopes, "
        f"{unfinished} jobs unfinished"
    ) in card


def test_export_under_another_presets_name_is_refused(built: Engine, tmp_path: Path) -> None:
    # The database holds test-boxes complete; test-boxes-wide has polytopes it never generated.
    register_preset("test-boxes-wide", [PresetItem("test-box", {"dim": 4}, 9)])
    with pytest.raises(
        ExportError,
        match=r"holds 3 of the 9 polytopes of preset 'test-boxes-wide', 0 jobs "
        r"unfinished .*'test-boxes' \(5 of 5 polytopes\)",
    ):
        export_dataset(built, "atlas-test-boxes-wide", tmp_path / "wide")
    assert not (tmp_path / "wide").exists()
    out = tmp_path / "complete"
    assert export_dataset(built, "atlas-test-boxes", out)["complete"] is True
    assert (
        "Completeness: complete -- all 5 polytopes, every job finished (done 35, not_applicable 5)."
        in (out / "README.md").read_text()
    )


@pytest.mark.parametrize("name", ["atlas-small", "a.b_c-1", "x"])
def test_good_export_names(name: str) -> None:
    assert validate_export_name(name) == name


@pytest.mark.parametrize(
    "name", ["../x", "/abs", "a/b", "..", "a..b", ".x", "-x", "", "a b", "x" * 101]
)
def test_bad_export_names_raise(name: str) -> None:
    with pytest.raises(ExportError):
        validate_export_name(name)


def test_export_without_polytopes_is_refused_and_writes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    with pytest.raises(ExportError, match="holds 0 of the 5 polytopes of preset 'test-boxes'"):
        export_dataset(engine, "atlas-test-boxes", tmp_path / "out")
    with pytest.raises(ExportError, match="nothing to export"):
        export_dataset(engine, "atlas-test-boxes", tmp_path / "out", allow_partial=True)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ run policy (issue 6)


def test_policy_skips_jobs_visibly_and_passes_time_limits(
    engine: Engine, isolated_registry: None, tmp_path: Path
) -> None:
    from viterbo.atlas.models import jobs_table
    from viterbo.atlas.status import status_report

    policy = {
        "capacity/slow-one": {"max_facets": 6},
        "capacity/fast": {"time_limit_s": 5},
        "spectrum/reeb": {"max_index": 1},
    }
    register_preset(
        "test-policy",
        [
            PresetItem("test-box", {"dim": 4, "step": 1.0}, 2, policy),
            PresetItem("test-box", {"dim": 3, "step": 1.0}, 1, policy),
        ],
    )
    JobStore(engine).enqueue(generate_specs(load_preset("test-policy")))
    Worker(engine, WorkerOptions()).run()
    with engine.connect() as conn:
        jobs = {
            (r.polytope_id, r.algorithm): r
            for r in conn.execute(jobs_table.select().where(jobs_table.c.quantity == "capacity"))
        }
    slow = [r for (_, alg), r in jobs.items() if alg == "slow-one"]
    # 4D boxes have 8 facets > 6: skipped with the reason; the 3D box (6 facets) is not applicable.
    assert sorted(r.status for r in slow) == ["not_applicable", "skipped", "skipped"]
    skipped = next(r for r in slow if r.status == "skipped")
    assert json.loads(skipped.result) == {
        "skipped": "policy: capacity/slow-one limited to <= 6 facets (this polytope has 8)"
    }
    fast = [r for (_, alg), r in jobs.items() if alg == "fast" and r.status == "done"]
    assert len(fast) == 2 and all(json.loads(r.params) == {"time_limit_s": 5.0} for r in fast)
    assert "skipped" in status_report(JobStore(engine)).splitlines()[0]
    with engine.connect() as conn:
        spectra = sorted(
            (r.polytope_id, r.status, r.result)
            for r in conn.execute(jobs_table.select().where(jobs_table.c.quantity == "spectrum"))
        )
    # Only polytope 0 of each (family, params) item gets a spectrum; the 3D box has none anyway.
    assert [st for _, st, _ in spectra] == ["done", "skipped", "not_applicable"]
    assert "only on polytopes 0..0 of each family/params (this is 1)" in spectra[1][2]

    out = tmp_path / "atlas-test-policy"
    export_dataset(engine, "atlas-test-policy", out)
    import datasets

    rows = {
        r["id"]: r
        for r in datasets.load_dataset(
            str(out), split="train", cache_dir=str(tmp_path / "hf-cache")
        )
    }
    four_d = [r for r in rows.values() if r["dimension"] == 4]
    assert all(r["status_slow_one"] == "skipped" and r["capacity_slow_one"] is None for r in four_d)
    assert all(r["capacity"] == r["capacity_fast"] for r in four_d)  # still certified
    summary = json.loads((out / "benchmark" / "summary.json").read_text())
    cls, spectrum_cls = summary["status_classes"]["skipped"]
    assert cls["count"] == 2 and cls["what"] == "capacity/slow-one" and cls["example_id"] in rows
    assert spectrum_cls["count"] == 1 and spectrum_cls["what"] == "spectrum/reeb"
    assert summary["policy"] == {"default": policy}
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["policy"] == {"default": policy} and manifest["job_status_counts"]["skipped"] == 3
    )
    report = (out / "benchmark" / "report.md").read_text()
    assert "## Skipped by policy (3 jobs, 2 classes)" in report
    assert "policy: capacity/slow-one limited to <= 6 facets" in report
    with (out / "benchmark" / "jobs.csv").open() as fh:
        log = list(csv.DictReader(fh))
    assert sum(r["status"] == "skipped" and r["reason"].startswith("policy:") for r in log) == 3
    assert manifest["policy_drift"] == {} and "Warning" not in report

    # The preset's policy changes after the build: the jobs keep the limits they ran with, so
    # the export must not present them under the new policy's text without saying so.
    changed = {**policy, "capacity/fast": {"time_limit_s": 9}}
    register_preset(
        "test-policy",
        [
            PresetItem("test-box", {"dim": 4, "step": 1.0}, 2, changed),
            PresetItem("test-box", {"dim": 3, "step": 1.0}, 1, changed),
        ],
    )
    info = export_dataset(engine, "atlas-test-policy", out)
    drift = {
        "capacity/fast": {
            "jobs": 2,
            "as_run": {"time_limit_s": 5.0},
            "policy": {"time_limit_s": 9.0},
        }
    }
    assert info["policy_drift"] == drift
    assert json.loads((out / "manifest.json").read_text())["policy_drift"] == drift
    warning = (
        "**Warning:** 2 `capacity/fast` jobs ran with time_limit_s 5, not the policy's "
        "time_limit_s 9"
    )
    assert warning in (out / "benchmark" / "report.md").read_text()
    assert warning in (out / "README.md").read_text()

    # A skip limit that changed is drift too: slow-one was skipped on the 8-facet boxes.
    changed = {**policy, "capacity/slow-one": {"max_facets": 8}}
    register_preset("test-policy", [PresetItem("test-box", {"dim": 4, "step": 1.0}, 2, changed)])
    drift = export_dataset(engine, "atlas-test-policy", out, allow_partial=True)["policy_drift"]
    assert drift == {
        "capacity/slow-one": {"jobs": 2, "as_run": {"skipped": True}, "policy": {}},
    }
    assert (
        "2 `capacity/slow-one` jobs ran with a policy skip, not the policy's no limits"
        in (out / "benchmark" / "report.md").read_text()
    )


@pytest.mark.parametrize(
    "policy",
    [
        {"capacity/x": {"max_facets": -1}},
        {"capacity/x": {"time_limit_s": 0}},
        {"capacity": {"max_facets": 3}},
        {"capacity/x": {"oops": 1}},
        {"capacity/x": {"max_facets": 2.5}},
        {"capacity/x": {"time_limit_s": float("nan")}},
        {"capacity/x": 3},
    ],
)
def test_bad_policies_are_refused(policy: dict) -> None:
    from viterbo.atlas.errors import PresetError

    with pytest.raises(PresetError, match="policy"):
        PresetItem("test-box", {"dim": 4}, 1, policy)


def test_a_work_budget_is_refused_for_an_algorithm_that_does_not_take_it() -> None:
    # haim-kislev has no max_paths argument: accepting the limit would fail every job with a
    # TypeError instead of refusing the preset once, up front.
    from viterbo.atlas.errors import PresetError

    with pytest.raises(PresetError, match="capacity/haim-kislev takes no work budget 'max_paths'"):
        PresetItem("test-box", {"dim": 4}, 1, {"capacity/haim-kislev": {"max_paths": 10}})
    item = PresetItem("test-box", {"dim": 4}, 1, {"capacity/reeb": {"max_paths": 10}})
    assert item.policy == {"capacity/reeb": {"max_paths": 10}}


def _quantity_job(params: dict) -> ClaimedJob:
    return ClaimedJob(
        id=1,
        kind="quantity",
        polytope_id=1,
        family="test-box",
        quantity="capacity",
        algorithm="budget",
        params=json.dumps(params),
        idempotency_key="k",
        attempts=0,
        max_attempts=3,
        lease_token="t",
        lease_owner="o",
    )


def test_one_time_limit_per_job_computed_in_one_place() -> None:
    from viterbo.atlas.jobs import quantity_limits
    from viterbo.atlas.kinds import Limits, TimeoutOverrides

    none = TimeoutOverrides()
    # The capacity default (600 s): the algorithm is told 90 %, the child is killed at 600 s.
    assert quantity_limits(_quantity_job({}), none) == Limits(540.0, 600.0)
    assert quantity_limits(_quantity_job({}), TimeoutOverrides({"capacity": 10.0}, 99.0)) == (
        Limits(9.0, 10.0)
    )
    assert quantity_limits(_quantity_job({}), TimeoutOverrides({}, 99.0)) == Limits(
        pytest.approx(89.1), 99.0
    )
    # A policy limit P tightens both: budget min(0.9 T, P), kill at min(T, 1.5 P + 2).
    assert quantity_limits(_quantity_job({"time_limit_s": 0.2}), none) == Limits(
        0.2, pytest.approx(2.3)
    )
    assert quantity_limits(
        _quantity_job({"time_limit_s": 500.0}), TimeoutOverrides({}, 100.0)
    ) == Limits(90.0, 100.0)


def test_the_budget_reaches_the_algorithm_and_the_kill_stops_one_that_ignores_it(
    isolated_registry: None,
) -> None:
    import time

    from viterbo.atlas import jobs
    from viterbo.atlas.child import run_in_child
    from viterbo.atlas.kinds import BUDGET_KEY, TimeoutOverrides
    from viterbo.invariants import registry

    seen: dict[str, float] = {}

    def record_budget(p: object, *, time_budget: float | None = None, **_: object) -> dict:
        seen["budget"] = time_budget
        return {"value": 1.0, "loop": None, "seconds": 0.0, "diagnostics": {}}

    def ignore_budget(p: object, **_: object) -> dict:
        while True:  # never checks its budget: only the worker's kill stops it
            time.sleep(0.01)

    def always(_p: object) -> None:
        return None

    registry.register(registry.Algorithm("capacity", "budget", record_budget, always))
    registry.register(registry.Algorithm("capacity", "stuck", ignore_budget, always))
    box = {"vertices": [], "normals": [], "offsets": [1.0, 1.0, 2.0, 2.0]}
    params = {"time_limit_s": 0.2}
    limits = jobs.quantity_limits(_quantity_job(params), TimeoutOverrides())
    payload = {
        "quantity": "capacity",
        "algorithm": "budget",
        "inputs": {},
        "family": "test-box",
        "polytope": box,
        "params": params,
        BUDGET_KEY: limits.budget,
    }
    jobs._run_quantity(payload)
    assert seen["budget"] == pytest.approx(0.2)
    started = time.perf_counter()
    out = run_in_child(
        jobs._run_quantity,
        {**payload, "algorithm": "stuck"},
        timeout=limits.kill_after,
        memory_limit_mb=None,
    )
    assert out is not None and out.status == "timed_out"
    assert time.perf_counter() - started >= limits.kill_after  # killed at the limit, not before


def test_a_policy_work_budget_travels_to_the_algorithm_and_ends_timed_out() -> None:
    from viterbo.atlas.child import outcome_from_exception
    from viterbo.atlas.jobs import quantity_job_specs
    from viterbo.invariants.registry import WorkBudgetExceeded

    policy = {"spectrum/reeb": {"time_limit_s": 20, "max_paths": 400000}}
    algorithms = [{"quantity": "spectrum", "name": "reeb"}, {"quantity": "volume", "name": "qhull"}]
    specs = {s.algorithm: s for s in quantity_job_specs(1, "k", "f", algorithms, policy=policy)}
    # The time limit is the worker's; max_paths is passed on to spectrum.compute.
    assert specs["reeb"].params == {"time_limit_s": 20, "max_paths": 400000}
    assert specs["qhull"].params == {}
    spent = "400001 paths expanded, over max_paths = 400000"
    message = outcome_from_exception(WorkBudgetExceeded(1.5, spent, "max_paths"))
    assert message["status"] == "timed_out"
    assert message["error_message"] == f"work budget exceeded after 1.5 s: {spent}"


@pytest.mark.parametrize(
    ("diagnostics", "spectrum_done", "expected"),
    [
        ({"claimed_exact": True}, True, True),
        (
            {"claimed_exact": False, "exactness": "...; not exact near Lagrangian 2-faces"},
            True,
            False,
        ),
        ({}, True, None),  # a result written before the claim was recorded
        ({"claimed_exact": True}, False, None),  # no published spectrum: no claim
    ],
)
def test_spectrum_exact_publishes_the_searchs_claim(
    diagnostics: dict, spectrum_done: bool, expected: bool | None
) -> None:
    polytope = {
        "id": 1, "key": "cube:0", "family": "cube", "params": "{}", "index": 0, "seed": None,
        "dimension": 4, "num_vertices": 16, "num_facets": 8, "metadata": "{}",
        "vertices": "[]", "normals": "[]", "offsets": "[]",
    }  # fmt: skip
    spectrum = {"value": [4.0, 8.0], "orbits": [], "diagnostics": diagnostics}
    job = {
        "kind": "quantity", "polytope_id": 1, "quantity": "spectrum", "algorithm": "reeb",
        "status": "done" if spectrum_done else "timed_out",
        "result": json.dumps(spectrum) if spectrum_done else None,
    }  # fmt: skip
    (row,) = export_rows.build_rows([polytope], [job], [], [])
    assert row["spectrum"] == ([4.0, 8.0] if spectrum_done else None)
    assert row["spectrum_exact"] is expected
