"""The committed snapshots `artefacts/datasets/atlas-tiny` and `atlas-small` (issue 6).

They must load with `datasets.load_dataset`, match their manifest and today's code (schema,
preset, content hash), carry a verified minimal-action loop for every certified capacity, and
`atlas-tiny` must be reproducible: a fresh build (temporary database, 2 workers) gives the same
values to 1e-9 relative.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from viterbo.atlas.export import column_name, content_hash, features
from viterbo.atlas.jobs import polytope_key
from viterbo.atlas.presets import PRESETS
from viterbo.geometry import Polytope
from viterbo.invariants import registry
from viterbo.invariants.certificate import verify_loop
from viterbo.invariants.certified import AGREEMENT_RTOL, CONFIRMED, LEVELS, SINGLE
from viterbo.invariants.systolic import HKO_SYSTOLIC_RATIO

REPO_ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = {"atlas-tiny": "tiny", "atlas-small": "small"}
RTOL = 1e-9
# Statuses that depend on the machine's speed (a time limit), not on the mathematics.
TIMING_STATUSES = {"timed_out"}


def snapshot_dir(name: str) -> Path:
    path = REPO_ROOT / "artefacts" / "datasets" / name
    if not (path / "manifest.json").exists():
        pytest.fail(
            f"snapshot {name} is missing: run `atlas build {SNAPSHOTS[name]} --workers 2 --db sqlite:////tmp/x.sqlite`"
        )
    return path


def load(path: Path, cache: Path) -> tuple[Any, dict[str, Any]]:
    import datasets

    # A fresh cache: the datasets cache may hold an older snapshot of the same folder.
    ds = datasets.load_dataset(str(path), split="train", cache_dir=str(cache))
    return ds, json.loads((path / "manifest.json").read_text())


def current_features() -> Any:
    return features(
        sorted(a.name for a in registry.algorithms("volume")),
        sorted(a.name for a in registry.algorithms("capacity")),
    )


@pytest.fixture(scope="module", params=sorted(SNAPSHOTS))
def snapshot(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Any, dict[str, Any]]:
    name = request.param
    ds, manifest = load(snapshot_dir(name), tmp_path_factory.mktemp("hf-cache"))
    return name, ds, manifest


def test_schema_rows_and_hash_match_manifest_and_code(
    snapshot: tuple[str, Any, dict[str, Any]],
) -> None:
    name, ds, manifest = snapshot
    feats = current_features()
    assert ds.features == feats, "snapshot schema differs from today's export schema: rebuild it"
    assert manifest["name"] == name and manifest["preset"] == SNAPSHOTS[name]
    assert manifest["completeness"]["complete"] is True  # a committed snapshot is a whole build
    assert len(ds) == manifest["rows"]
    per_family: dict[str, int] = {}
    for family in ds["family"]:
        per_family[family] = per_family.get(family, 0) + 1
    assert per_family == manifest["rows_per_family"]
    # Every polytope of the preset is in the snapshot (and nothing else).
    items = PRESETS[SNAPSHOTS[name]]
    expected = {polytope_key(it.family, it.params, i) for it in items for i in range(it.count)}
    assert set(ds["id"]) == expected
    rows = ds.to_list()
    assert content_hash(rows, feats) == manifest["content_hash"]


def test_every_certified_capacity_has_a_verified_loop(
    snapshot: tuple[str, Any, dict[str, Any]],
) -> None:
    _, ds, _ = snapshot
    certified = 0
    for row in ds:
        if row["capacity"] is None:
            continue
        certified += 1
        polytope = Polytope.from_vertices(row["vertices"])
        assert row["minimal_action_cycle"], row["id"]
        verify_loop(polytope, row["minimal_action_cycle"], row["capacity"])  # raises if it fails
        assert row[f"capacity_{column_name(row['capacity_algorithm'])}"] == row["capacity"]
        if row["systolic_ratio"] is not None:
            n = row["dimension"] // 2
            assert row["systolic_ratio"] == pytest.approx(
                row["capacity"] ** n / (math.factorial(n) * row["volume"]), rel=1e-12
            )
    assert certified >= 0.9 * len(ds)


def test_certificate_levels_are_honest(snapshot: tuple[str, Any, dict[str, Any]]) -> None:
    """confirmed: at least two exact algorithms with that value; single: exactly one; and every
    ratio above HK-O's is either confirmed or counted as unconfirmed in the manifest."""
    _, ds, manifest = snapshot
    counts: dict[str, int] = {}
    high = 0
    for row in ds:
        level = row["capacity_certificate"]
        counts[level or "none"] = counts.get(level or "none", 0) + 1
        if row["capacity"] is None:
            assert level is None, row["id"]
            continue
        agreeing = row["capacity_agreeing"]
        assert row["capacity_algorithm"] in agreeing, row["id"]
        for name in agreeing:
            assert row[f"capacity_{column_name(name)}"] == pytest.approx(
                row["capacity"], rel=AGREEMENT_RTOL
            )
        assert level in LEVELS, row["id"]
        if level == CONFIRMED:
            assert len(agreeing) >= 2, row["id"]
        elif level == SINGLE:
            assert len(agreeing) == 1, row["id"]
        ratio = row["systolic_ratio"]
        high += (
            ratio is not None
            and ratio > HKO_SYSTOLIC_RATIO * (1 + AGREEMENT_RTOL)
            and level != CONFIRMED
        )
    assert {k: v for k, v in counts.items() if v} == {
        k: v for k, v in manifest["certificate_levels"].items() if v
    }
    assert manifest["unconfirmed_high_ratios"] == high


def test_tiny_snapshot_is_complete(tmp_path: Path) -> None:
    ds, _ = load(snapshot_dir("atlas-tiny"), tmp_path / "cache")
    # tiny is the smoke test of the whole stack: every polytope certified, with a systolic ratio.
    assert all(
        r["capacity"] is not None and r["systolic_ratio"] is not None and r["volume"] is not None
        for r in ds
    ), [r["id"] for r in ds if r["capacity"] is None]
    assert ds.features == current_features()


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= RTOL * max(abs(a), abs(b), 1e-300)


def _geometry_close(a: list[Any], b: list[Any], scale: float) -> bool:
    """Same shape, entries within RTOL x the polytope's scale (absolute).

    Coordinates that are zero in exact arithmetic come out as +-1e-17 noise whose sign depends
    on the machine's BLAS kernels; a relative test cannot match them, the scale can.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return x.shape == y.shape and bool(np.all(np.abs(x - y) <= RTOL * scale))


def _compare(
    fresh: dict[str, Any], committed: dict[str, Any], capacity_cols: list[str]
) -> list[str]:
    problems = []
    rid = committed["id"]
    for col in (
        "family",
        "params",
        "index",
        "seed",
        "dimension",
        "num_vertices",
        "num_facets",
        "rejections",
    ):
        if fresh[col] != committed[col]:
            problems.append(f"{rid} {col}: {fresh[col]!r} != {committed[col]!r}")
    # Vertices and offsets scale with the polytope, the unit normals do not.
    scale = max(1.0, float(np.max(np.abs(np.asarray(committed["vertices"], dtype=float)))))
    for col, col_scale in (("vertices", scale), ("normals", 1.0), ("offsets", scale)):
        if not _geometry_close(fresh[col], committed[col], col_scale):
            problems.append(f"{rid} {col} differ")
    for col in (
        "volume",
        "volume_qhull",
        "volume_cone_decomposition",
        "capacity",
        "systolic_ratio",
    ):
        if not _close(fresh[col], committed[col]):
            problems.append(f"{rid} {col}: {fresh[col]!r} != {committed[col]!r}")
    for alg in capacity_cols:
        sa, sb = fresh[f"status_{alg}"], committed[f"status_{alg}"]
        if TIMING_STATUSES & {sa, sb}:
            continue  # a time limit hit on one machine only: nothing to compare
        if sa != sb or not _close(fresh[f"capacity_{alg}"], committed[f"capacity_{alg}"]):
            problems.append(
                f"{rid} {alg}: {sa} {fresh[f'capacity_{alg}']!r} != {sb} {committed[f'capacity_{alg}']!r}"
            )
    # The spectrum lists the orbits up to a window: an action within rounding of the window's
    # edge may be in one list and not the other, so the lists agree on their common prefix.
    a, b = fresh["spectrum"], committed["spectrum"]
    if (
        a is not None
        and b is not None
        and not all(_close(x, y) for x, y in zip(a, b, strict=False))
    ):
        problems.append(f"{rid} spectrum: {a} != {b}")
    return problems


def test_rebuilding_tiny_from_scratch_gives_the_committed_values(tmp_path: Path) -> None:
    committed_ds, manifest = load(snapshot_dir("atlas-tiny"), tmp_path / "cache")
    out = tmp_path / "atlas-tiny"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "viterbo.atlas",
            "build",
            "tiny",
            "--workers",
            "2",
            "--db",
            f"sqlite:///{tmp_path / 'rebuild.sqlite'}",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    fresh_ds, fresh_manifest = load(out, tmp_path / "cache")
    assert fresh_manifest["rows"] == manifest["rows"]
    committed = {r["id"]: r for r in committed_ds}
    fresh = {r["id"]: r for r in fresh_ds}
    assert set(fresh) == set(committed)
    capacity_cols = [column_name(a.name) for a in registry.algorithms("capacity")]
    problems = [
        p for rid in sorted(committed) for p in _compare(fresh[rid], committed[rid], capacity_cols)
    ]
    assert not problems, "\n".join(problems[:20])
