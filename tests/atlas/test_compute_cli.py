"""``atlas compute`` end to end through the click command (and once through the console script)."""

from __future__ import annotations

import itertools
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from viterbo.atlas.cli import main

HKO_CAPACITY = 2 * math.cos(math.pi / 10) * (1 + math.cos(math.pi / 5))


def _run(args: list[str], stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["compute", *args], input=stdin)


def _write(tmp_path: Path, name: str, data: object) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


TESSERACT = {"vertices": [list(v) for v in itertools.product([-1.0, 1.0], repeat=4)]}


def _pentagon_product_halfspaces() -> dict:
    angles = 2 * np.pi * np.arange(5) / 5
    edge_normals = np.column_stack([np.cos(angles + np.pi / 5), np.sin(angles + np.pi / 5)])
    offset = math.cos(math.pi / 5)
    rotation = np.array([[0.0, 1.0], [-1.0, 0.0]])  # by -90 degrees
    normals = [[*n.tolist(), 0.0, 0.0] for n in edge_normals]
    normals += [[0.0, 0.0, *(rotation @ n).tolist()] for n in edge_normals]
    return {"normals": normals, "offsets": [offset] * 10}


def test_tesseract_from_file(tmp_path: Path) -> None:
    result = _run([_write(tmp_path, "cube.json", TESSERACT)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["dimension"], out["num_vertices"], out["num_facets"]) == (4, 16, 8)
    assert out["volume"] == pytest.approx(16.0, rel=1e-9)
    assert out["capacity"] == pytest.approx(4.0, rel=1e-9)
    assert out["systolic_ratio"] == pytest.approx(0.5, rel=1e-9)
    capacities = out["capacities"]
    for name in ("haim-kislev", "billiard", "symplectic-product"):
        assert capacities[name]["value"] == pytest.approx(4.0, rel=1e-9)
        assert capacities[name]["seconds"] >= 0
    assert "not_applicable" in capacities["area-2d"]
    assert "not_applicable" in capacities.get("reeb", {"not_applicable": ""})
    cycle = np.array(out["cycle"])
    assert cycle.shape[1] == 4 and np.allclose(cycle[0], cycle[-1])
    certificate = out["certificate"]
    assert certificate["level"] == "confirmed"
    assert certificate["meaning"].startswith("two or more independent exact algorithms agree")
    assert certificate["agreeing"] == ["symplectic-product", "billiard", "haim-kislev"]
    assert [o["algorithm"] for o in certificate["others"]] == ["area-2d", "reeb"]
    assert {o["status"] for o in certificate["others"]} == {"not_applicable"}


def test_hko_halfspaces_from_stdin() -> None:
    result = _run(["-"], stdin=json.dumps(_pentagon_product_halfspaces()))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["capacity"] == pytest.approx(HKO_CAPACITY, rel=1e-9)
    assert out["systolic_ratio"] == pytest.approx((3 + math.sqrt(5)) / 5, rel=1e-9)
    assert out["capacities"]["billiard"]["value"] == pytest.approx(HKO_CAPACITY, rel=1e-9)
    assert out["capacities"]["haim-kislev"]["value"] == pytest.approx(HKO_CAPACITY, rel=1e-9)


def test_algorithm_option_restricts_the_run() -> None:
    result = _run(["-", "--algorithm", "billiard"], stdin=json.dumps(TESSERACT))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["capacities"]["billiard"]["value"] == pytest.approx(4.0, rel=1e-9)
    assert out["capacity"] == pytest.approx(4.0, rel=1e-9)
    # one algorithm ran: a single certificate that says why every other one gave nothing
    certificate = out["certificate"]
    assert certificate["level"] == "single" and certificate["agreeing"] == ["billiard"]
    others = {o["algorithm"]: (o["status"], o["reason"]) for o in certificate["others"]}
    assert others["haim-kislev"] == ("skipped", "not selected (--algorithm billiard)")
    assert others["symplectic-product"] == ("skipped", "not selected (--algorithm billiard)")
    assert others["area-2d"][0] == "not_applicable" and others["reeb"][0] == "not_applicable"
    assert out["capacities"]["haim-kislev"] == {"skipped": "not selected (--algorithm billiard)"}


def test_inapplicable_algorithm_gives_no_capacity() -> None:
    simplex = {"vertices": [[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}
    result = _run(["-", "--algorithm", "billiard"], stdin=json.dumps(simplex))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert "not_applicable" in out["capacities"]["billiard"]
    assert out["capacity"] is None and out["systolic_ratio"] is None and out["cycle"] is None


def test_polygon() -> None:
    result = _run(["-"], stdin=json.dumps({"vertices": [[0, 0], [2, 0], [2, 1], [0, 1]]}))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["capacity"] == pytest.approx(2.0, rel=1e-9)
    assert out["capacities"]["area-2d"]["value"] == pytest.approx(2.0, rel=1e-9)
    assert out["systolic_ratio"] == pytest.approx(1.0, rel=1e-9)


def test_timeout_is_reported() -> None:
    # the HK-O product needs thousands of facet cycles; a 1 ns budget is spent before the first
    stdin = json.dumps(_pentagon_product_halfspaces())
    result = _run(["-", "--algorithm", "haim-kislev", "--timeout", "1e-9"], stdin=stdin)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["capacities"]["haim-kislev"]["timed_out"] > 0
    assert out["capacity"] is None


def test_too_many_cycles_is_a_failure_pointing_to_reeb() -> None:
    cross = {"vertices": [list(v) for v in np.vstack([np.eye(4), -np.eye(4)])]}
    result = _run(["-", "--algorithm", "haim-kislev"], stdin=json.dumps(cross))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    error = out["capacities"]["haim-kislev"]["error"]
    assert error.startswith("HaimKislevError: more than") and "reeb" in error
    assert out["capacity"] is None


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2, 3]", "JSON object"),
        ('{"points": [[0, 0]]}', "vertices"),
        ('{"vertices": [[0, 0], [1], [0, 1]]}', "equal-length"),
        ('{"vertices": [[0, 0], [1, NaN], [0, 1]]}', "NaN"),
        ('{"vertices": [[0, 0], [1, Infinity], [0, 1]]}', "NaN or infinite"),
        ('{"vertices": [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]}', "even dimension"),
        ('{"vertices": [[0, 0], [1, 1], [2, 2]]}', "lower-dimensional"),
        ('{"normals": [[1, 0], [0, 1]], "offsets": [1, 1]}', "unbounded"),
        ('{"normals": [[1, 0], [0, 1], [-1, -1]], "offsets": [1, 1]}', "offsets"),
        ('{"normals": [[1, 0], [0, 1], [-1, -1]]}', "offsets"),
        ('{"normals": [[1, 0], [-1, 0], [0, 1], [0, -1]], "offsets": [-1, -1, 1, 1]}', "empty"),
        (
            '{"vertices": [[0, 0], [1, 0], [0, 1]], "normals": [[1, 0]], "offsets": [1]}',
            "exactly one",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(stdin: str, message: str) -> None:
    result = _run(["-"], stdin=stdin)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert message.lower() in lines[0].lower()
    assert "Traceback" not in result.stderr


def test_missing_file_and_unknown_algorithm(tmp_path: Path) -> None:
    result = _run([str(tmp_path / "nope.json")])
    assert result.exit_code == 2 and "cannot read" in result.stderr
    result = _run(["-", "--algorithm", "magic"], stdin=json.dumps(TESSERACT))
    assert result.exit_code == 2 and "unknown capacity algorithm" in result.stderr


@pytest.mark.skipif(
    shutil.which("atlas") is None and not Path(".venv/bin/atlas").exists(),
    reason="console script not installed",
)
def test_console_script_end_to_end(tmp_path: Path) -> None:
    exe = shutil.which("atlas") or ".venv/bin/atlas"
    path = _write(tmp_path, "cube.json", TESSERACT)
    done = subprocess.run(
        [exe, "compute", path, "--algorithm", "haim-kislev"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["capacity"] == pytest.approx(4.0, rel=1e-9)
    bad = subprocess.run(
        [exe, "compute", "-"], input="{", capture_output=True, text=True, check=False
    )
    assert (
        bad.returncode == 2
        and "Traceback" not in bad.stderr
        and len(bad.stderr.strip().splitlines()) == 1
    )


CELL_24 = {
    "vertices": [
        [s * (k == i) + t * (k == j) for k in range(4)]
        for i, j in itertools.combinations(range(4), 2)
        for s in (1.0, -1.0)
        for t in (1.0, -1.0)
    ]
}


def test_algorithm_option_computes_only_the_headline() -> None:
    out = json.loads(_run(["-", "--algorithm", "reeb"], stdin=json.dumps(CELL_24)).stdout)
    assert out["capacity"] == pytest.approx(4.0, rel=1e-9) and out["volume"] == pytest.approx(8.0)
    assert out["spectrum"] is None
    assert out["missing"] == {
        "spectrum": "reeb: skipped (not requested (--algorithm computes only the headline; add --spectrum))"
    }
    normals = np.random.default_rng(0).normal(size=(8, 4))
    generic = {
        "normals": (normals / np.linalg.norm(normals, axis=1)[:, None]).tolist(),
        "offsets": [1.0] * 8,
    }
    with_spectrum = json.loads(
        _run(["-", "--algorithm", "reeb", "--spectrum"], stdin=json.dumps(generic)).stdout
    )
    assert with_spectrum["missing"] == {}
    assert with_spectrum["spectrum"][0] == pytest.approx(with_spectrum["capacity"], rel=1e-9)


def test_every_missing_value_has_its_reason() -> None:
    out = json.loads(_run(["-", "--timeout", "1e-9"], stdin=json.dumps(CELL_24)).stdout)
    assert out["volume"] == pytest.approx(8.0)  # qhull ignores the budget
    assert out["capacity"] is None and out["systolic_ratio"] is None and out["spectrum"] is None
    missing = out["missing"]
    assert set(missing) == {"capacity", "systolic_ratio", "spectrum"}
    assert missing["capacity"].startswith("certify: failed (no finished input for capacity); ")
    assert "reeb: timed_out (time budget exceeded after" in missing["capacity"]
    assert "billiard: not_applicable (not a Lagrangian product" in missing["capacity"]
    assert missing["spectrum"].startswith("reeb: timed_out (time budget exceeded after")
    assert missing["spectrum"].endswith("s (the per-algorithm --timeout))")


def test_total_budget_bounds_the_run() -> None:
    # a budget spent before the first search: every search is skipped, with the budget named
    out = json.loads(_run(["-", "--budget", "1e-9"], stdin=json.dumps(CELL_24)).stdout)
    for name in ("haim-kislev", "reeb"):
        assert out["capacities"][name] == {
            "skipped": "the total budget of 1e-09 s (--budget) was used up"
        }
    assert "the total budget of 1e-09 s (--budget) was used up" in out["missing"]["spectrum"]
    # derived quantities still run and say what they lacked
    assert out["missing"]["systolic_ratio"] == (
        "formula: failed (no finished input for certified_capacity, volume)"
    )
    unbounded = json.loads(
        _run(["-", "--budget", "0", "--algorithm", "reeb"], stdin=json.dumps(CELL_24)).stdout
    )
    assert unbounded["capacity"] == pytest.approx(4.0, rel=1e-9)
