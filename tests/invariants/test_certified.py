"""certified_capacity/certify and systolic_ratio/formula."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import numpy as np
import pytest

from tests.invariants.capacity_cases import REFERENCE, hko, simplex, tesseract
from viterbo.geometry import Polytope
from viterbo.geometry.volume import volume_qhull
from viterbo.invariants import billiard, haim_kislev, reeb, registry
from viterbo.invariants import symplectic_product as symplectic
from viterbo.invariants.certified import (
    AGREEMENT_RTOL,
    CONFIRMED,
    DISAGREEMENT,
    SINGLE,
    CertificationError,
    certify,
)
from viterbo.invariants.systolic import SystolicRatioError, systolic_ratio


def _done(result: dict) -> dict:
    return {"status": "done", "result": result}


def test_independent_algorithms_that_agree_are_confirmed() -> None:
    polytope = tesseract()
    results = {
        "haim-kislev": haim_kislev.compute(polytope),
        "billiard": billiard.compute(polytope),
        "symplectic-product": symplectic.compute(polytope),
    }
    outcome = certify(results, polytope)
    assert outcome["value"] == pytest.approx(4.0, rel=1e-12)
    assert outcome["level"] == CONFIRMED
    assert outcome["agreeing"] == ["symplectic-product", "billiard", "haim-kislev"]
    assert outcome["methods"] == ["haim-kislev-formula", "minkowski-billiards", "product-formula"]
    assert outcome["algorithm"] == "symplectic-product"  # simplest first among equals
    assert outcome["disagreement"] == []
    assert outcome["others"] == []
    assert outcome["max_relative_difference"] < 1e-9


def test_one_algorithm_is_single_never_agreement() -> None:
    polytope = simplex()
    others = [
        {"algorithm": "reeb", "status": "timed_out", "reason": "time budget exceeded after 3 s"},
        {"algorithm": "billiard", "status": "not_applicable", "reason": "not a Lagrangian product"},
    ]
    outcome = certify({"haim-kislev": haim_kislev.compute(polytope)}, polytope, others=others)
    assert outcome["level"] == SINGLE
    assert outcome["agreeing"] == ["haim-kislev"]
    # every other algorithm is listed with why it gave nothing, in preference order
    assert outcome["others"] == [others[1], others[0]]
    assert outcome["value"] == pytest.approx(0.25, rel=1e-9)


def test_agreement_tolerance_is_relative_1e8() -> None:
    polytope = tesseract()
    square = symplectic.compute(polytope)
    hk = haim_kislev.compute(polytope)
    # Two verified values 5e-10 apart (within verification rounding) agree; the simplest publishes.
    nudged = dict(hk, value=hk["value"] * (1 + 5e-10))
    outcome = certify({"symplectic-product": square, "haim-kislev": nudged}, polytope)
    assert outcome["level"] == CONFIRMED and outcome["algorithm"] == "symplectic-product"
    assert AGREEMENT_RTOL == 1e-8


@pytest.fixture
def second_engine_of_haim_kislev() -> Iterator[str]:
    """A second registered capacity algorithm sharing haim-kislev's method."""
    original = registry.get("capacity", "haim-kislev")
    twin = dataclasses.replace(original, name="haim-kislev-twin")
    registry.register(twin)
    yield twin.name
    del registry._REGISTRY[(twin.quantity, twin.name)]


def test_two_engines_of_one_method_are_not_independent(second_engine_of_haim_kislev: str) -> None:
    polytope = tesseract()
    result = haim_kislev.compute(polytope)
    outcome = certify({"haim-kislev": result, second_engine_of_haim_kislev: result}, polytope)
    assert sorted(outcome["agreeing"]) == ["haim-kislev", "haim-kislev-twin"]
    assert outcome["methods"] == ["haim-kislev-formula"]
    assert outcome["level"] == SINGLE


def test_failed_loop_is_recorded_as_unverified() -> None:
    polytope = hko()
    good = billiard.compute(polytope)
    bad = dict(haim_kislev.compute(polytope))
    bad["loop"] = [[2 * x for x in row] for row in bad["loop"]]  # off the boundary
    outcome = certify({"billiard": good, "haim-kislev": bad}, polytope)
    assert outcome["level"] == SINGLE  # same value, but its certificate failed: no confirmation
    assert outcome["value"] == pytest.approx(good["value"])
    assert outcome["algorithm"] == "billiard"
    assert outcome["agreeing"] == ["billiard"]
    assert [u["algorithm"] for u in outcome["unverified"]] == ["haim-kislev"]
    assert "violates" in outcome["unverified"][0]["reason"]
    # an unverified value that differs is a disagreement too
    bad["value"] = good["value"] * 0.9
    outcome = certify({"billiard": good, "haim-kislev": bad}, polytope)
    assert outcome["level"] == DISAGREEMENT
    assert outcome["value"] == pytest.approx(good["value"])  # only verified values publish
    assert outcome["max_relative_difference"] == pytest.approx(0.1)


def test_two_verified_values_that_disagree() -> None:
    polytope = tesseract()
    # Fake a verified but larger value with a longer closed characteristic: twice around
    # the (q1, p1)-square (action 8).
    square = symplectic.compute(polytope)
    twice = dict(square)
    twice["loop"] = square["loop"][:-1] + square["loop"]
    twice["value"] = 8.0
    outcome = certify({"symplectic-product": square, "haim-kislev": twice}, polytope)
    assert outcome["level"] == DISAGREEMENT
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
    with pytest.raises(CertificationError, match="reeb: timed_out"):
        certify({}, polytope, others=[{"algorithm": "reeb", "status": "timed_out", "reason": ""}])


def test_registry_entry_reads_inputs() -> None:
    polytope = simplex()
    algorithm = registry.get("certified_capacity", "certify")
    assert algorithm.depends_on == ("capacity",)
    inputs = {
        "capacity/haim-kislev": _done(haim_kislev.compute(polytope)),
        "capacity/billiard": {
            "status": "not_applicable",
            "result": {"not_applicable": "not a product"},
        },
        "capacity/reeb": {
            "status": "timed_out",
            "result": None,
            "reason": "Timeout: killed after 60 s",
        },
    }
    outcome = algorithm.compute(polytope, inputs=inputs)
    assert outcome["value"] == pytest.approx(0.25, rel=1e-9)
    assert outcome["algorithm"] == "haim-kislev"
    assert outcome["level"] == SINGLE
    assert outcome["others"] == [
        {"algorithm": "billiard", "status": "not_applicable", "reason": "not a product"},
        {"algorithm": "reeb", "status": "timed_out", "reason": "Timeout: killed after 60 s"},
    ]


def test_perturbed_hko_is_confirmed_by_reeb_and_haim_kislev() -> None:
    """Near the Lagrangian product (|omega| ~ 1e-3 on some 2-faces) two independent exact
    algorithms must agree, so the value there is confirmed, not merely computed."""
    base = hko()
    rng = np.random.default_rng(0)
    normals = base.normals + 1e-3 * rng.standard_normal(base.normals.shape)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    polytope = Polytope.from_halfspaces(normals, base.offsets)
    assert billiard.applicability(polytope) is not None  # no longer a product
    inputs = {
        "capacity/haim-kislev": _done(haim_kislev.compute(polytope)),
        "capacity/reeb": _done(reeb.compute(polytope)),
        "capacity/billiard": {
            "status": "not_applicable",
            "result": {"not_applicable": "not a product"},
        },
    }
    outcome = registry.get("certified_capacity", "certify").compute(polytope, inputs=inputs)
    assert outcome["level"] == CONFIRMED
    assert sorted(outcome["agreeing"]) == ["haim-kislev", "reeb"]
    assert outcome["value"] == pytest.approx(REFERENCE["hko"][1], rel=10 * 1e-3)


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
