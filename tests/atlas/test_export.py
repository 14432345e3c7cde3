"""Export: dataset layout, load_dataset round trip, stable content hash, atomicity, filtering."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from viterbo.atlas import export as export_mod
from viterbo.atlas.errors import ExportError
from viterbo.atlas.export import export_dataset, validate_export_name
from viterbo.atlas.presets import PresetItem, generate_specs, load_preset, register_preset
from viterbo.atlas.store import JobStore
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
        "jobs.csv", "report.md", "summary.json", "wall_times.png"]
    assert (out / "benchmark" / "wall_times.png").read_bytes()[:4] == b"\x89PNG"
    ds = datasets.load_dataset(str(out), split="train")
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
    vol = 1.0
    for s in sides:
        vol *= 2 * s
    assert r["volume"] == pytest.approx(vol) and r["volume_exact"] == pytest.approx(vol)
    assert r["systolic_ratio"] == pytest.approx(r["capacity"] ** 2 / (2 * vol))
    assert r["spectrum"] == [r["capacity"], 2 * r["capacity"]]
    assert r["minimal_action_cycle"] == [[0.0] * r["dimension"], [1.0] * r["dimension"]]
    assert r["num_facets"] == 2 * r["dimension"] and len(r["vertices"]) == r["num_vertices"]
    assert r["schema_version"] == export_mod.SCHEMA_VERSION and json.loads(r["params"]) in ({"dim": 4}, {"dim": 2})

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows_per_family"] == {"test-box": 5}
    assert manifest["content_hash"] == info["content_hash"]
    assert "capacity/fast" in manifest["quantities"]
    with (out / "benchmark" / "jobs.csv").open() as fh:
        log = list(csv.DictReader(fh))
    assert len(log) == 40 and {row["status"] for row in log} == {"done", "not_applicable"}
    assert all(row["wall_s"] for row in log if row["status"] == "done")
    summary = json.loads((out / "benchmark" / "summary.json").read_text())
    assert summary["capacity_agreement"]["fast vs slow-one"]["disagreements"] == 0
    assert summary["per_algorithm"]["capacity/never"]["status"] == {"not_applicable": 5}


def test_reexport_gives_same_content_hash_and_replaces_snapshot(built: Engine, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "snap"
    first = export_dataset(built, "snap", out)
    (out / "stray-file").write_text("from the old snapshot")
    second = export_dataset(built, "snap", out)
    assert first["content_hash"] == second["content_hash"]
    assert not (out / "stray-file").exists()
    assert [p.name for p in out.parent.iterdir()] == ["snap"]  # no temp folders left


def test_interrupted_export_keeps_previous_snapshot(built: Engine, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "exports" / "snap"
    export_dataset(built, "snap", out)
    before = (out / "manifest.json").read_text()

    def explode(*_: object, **__: object) -> None:
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(export_mod, "write_report", explode)
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


@pytest.mark.parametrize("name", ["atlas-small", "a.b_c-1", "x"])
def test_good_export_names(name: str) -> None:
    assert validate_export_name(name) == name


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", "..", "a..b", ".x", "-x", "", "a b", "x" * 101])
def test_bad_export_names_raise(name: str) -> None:
    with pytest.raises(ExportError):
        validate_export_name(name)


def test_export_without_polytopes_is_refused_and_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="nothing to export"):
        export_dataset(engine, "atlas-test-boxes", tmp_path / "out")
    assert not (tmp_path / "out").exists()
