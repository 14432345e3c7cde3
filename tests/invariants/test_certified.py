"""certified_capacity/certify and systolic_ratio/formula."""

from __future__ import annotations

import math

import pytest

from tests.invariants.capacity_cases import REFERENCE, hko, simplex, tesseract
from viterbo.geometry.volume import volume_qhull
from viterbo.invariants import billiard, haim_kislev, registry
from viterbo.invariants import symplectic_product as symplectic
from viterbo.invariants.certified import CertificationError, certify
from viterbo.invariants.systolic import SystolicRatioError, systolic_ratio


def _done(result: dict) -> dict:
    return {"status": "done", "result": result}


def test_agreeing_algorithms() -> None:
    polytope = tesseract()
    results = {
        "haim-kislev": haim_kislev.compute(polytope),
        "billiard": billiard.compute(polytope),
        "symplectic-product": symplectic.compute(polytope),
    }
    outcome = certify(results, polytope)
    assert outcome["value"] == pytest.approx(4.0, rel=1e-12)
    assert outcome["status"] == "agreement"
    assert sorted(outcome["agreeing"]) == ["billiard", "haim-kislev", "symplectic-product"]
    assert outcome["algorithm"] == "symplectic-product"  # simplest first among equals
    assert outcome["disagreement"] == []
    assert outcome["max_relative_difference"] < 1e-9


def test_failed_loop_is_recorded_as_unverified() -> None:
    polytope = hko()
    good = billiard.compute(polytope)
    bad = dict(haim_kislev.compute(polytope))
    bad["loop"] = [[2 * x for x in row] for row in bad["loop"]]  # off the boundary
    outcome = certify({"billiard": good, "haim-kislev": bad}, polytope)
    assert outcome["status"] == "unverified"  # same value, but its certificate failed
    assert outcome["value"] == pytest.approx(good["value"])
    assert outcome["algorithm"] == "billiard"
    assert [u["algorithm"] for u in outcome["unverified"]] == ["haim-kislev"]
    assert "violates" in outcome["unverified"][0]["reason"]
    # an unverified value that differs is a disagreement too
    bad["value"] = good["value"] * 0.9
    outcome = certify({"billiard": good, "haim-kislev": bad}, polytope)
    assert outcome["status"] == "disagreement"
    assert outcome["value"] == pytest.approx(good["value"])  # only verified values publish


def test_two_verified_values_that_disagree() -> None:
    polytope = tesseract()
    # Fake a verified but larger value with a longer closed characteristic: twice around
    # the (q1, p1)-square (action 8).
    square = symplectic.compute(polytope)
    twice = dict(square)
    twice["loop"] = square["loop"][:-1] + square["loop"]
    twice["value"] = 8.0
    outcome = certify({"symplectic-product": square, "haim-kislev": twice}, polytope)
    assert outcome["status"] == "disagreement"
    assert outcome["value"] == pytest.approx(4.0)
    assert {d["algorithm"]: d["value"] for d in outcome["disagreement"]} == {
        "symplectic-product": 4.0,
        "haim-kislev": 8.0,
    }
    assert outcome["max_relative_difference"] == pytest.approx(1.0)


def test_no_verified_result_raises() -> None:
    polytope = tesseract()
    result = dict(symplectic.compute(polytope))
    result["value"] = 3.0  # the loop's action is 4
    with pytest.raises(CertificationError, match="verified"):
        certify({"symplectic-product": result}, polytope)
    with pytest.raises(CertificationError):
        certify({}, polytope)


def test_registry_entry_reads_inputs() -> None:
    polytope = simplex()
    algorithm = registry.get("certified_capacity", "certify")
    assert algorithm.depends_on == ("capacity",)
    inputs = {
        "capacity/haim-kislev": _done(haim_kislev.compute(polytope)),
        "capacity/billiard": {"status": "not_applicable", "result": None},
        "capacity/reeb": {"status": "timed_out", "result": None},
    }
    outcome = algorithm.compute(polytope, inputs=inputs)
    assert outcome["value"] == pytest.approx(0.25, rel=1e-9)
    assert outcome["algorithm"] == "haim-kislev"
    assert outcome["diagnostics"]["not_done"] == {"billiard": "not_applicable", "reeb": "timed_out"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tesseract", 0.5),
        ("hko", (3 + math.sqrt(5)) / 5),
        ("square_diamond", 1.0),
        ("simplex", 0.75),
        ("ch_six_vertex", 1.0),
    ],
)
def test_systolic_ratio_reference(name: str, expected: float) -> None:
    factory, capacity, volume = REFERENCE[name]
    polytope = factory()
    assert systolic_ratio(capacity, volume, 4) == pytest.approx(expected, rel=1e-12)
    algorithm = registry.get("systolic_ratio", "formula")
    inputs = {
        "certified_capacity/certify": _done({"value": capacity}),
        "volume/qhull": _done({"value": volume_qhull(polytope)}),
    }
    assert algorithm.compute(polytope, inputs=inputs)["value"] == pytest.approx(expected, rel=1e-9)


def test_systolic_ratio_volume_fallback_and_errors() -> None:
    polytope = tesseract()
    algorithm = registry.get("systolic_ratio", "formula")
    inputs = {
        "certified_capacity/certify": _done({"value": 4.0}),
        "volume/qhull": {"status": "failed", "result": None},
        "volume/cone-decomposition": _done({"value": 16.0}),
    }
    result = algorithm.compute(polytope, inputs=inputs)
    assert result["value"] == pytest.approx(0.5)
    assert result["diagnostics"]["volume_algorithm"] == "volume/cone-decomposition"
    with pytest.raises(SystolicRatioError):
        algorithm.compute(polytope, inputs={"volume/qhull": _done({"value": 16.0})})
    assert systolic_ratio(2.0, 2.0, 2) == 1.0  # polygons: area / area
    assert systolic_ratio(1.0, 1.0 / 6.0, 6) == pytest.approx(1.0)  # c^3 / (3! vol)
    with pytest.raises(SystolicRatioError):
        systolic_ratio(1.0, 1.0, 3)
