"""verify_ratio: mpmath re-verification of Haim-Kislev maximisers on reference polytopes."""

from __future__ import annotations

import itertools
import json

import mpmath
import numpy as np
import pytest
from tests.invariants.capacity_cases import random_polytope

from viterbo.families.products import regular_polygon
from viterbo.geometry import Polytope
from viterbo.geometry.products import lagrangian_product
from viterbo.geometry.volume import volume_qhull
from viterbo.invariants import registry
from viterbo.invariants.evaluate import compute_one
from viterbo.invariants.systolic import systolic_ratio
from viterbo.search.high_precision import HighPrecisionCheck, verify_ratio

HKO_CAPACITY = 3.440954801177934  # 2 cos(π/10) (1 + cos(π/5)), MATH.md §5


def haim_kislev(polytope: Polytope) -> dict:
    return compute_one(registry.get("capacity", "haim-kislev"), polytope)


def hko() -> Polytope:
    return lagrangian_product(regular_polygon(5), regular_polygon(5, -np.pi / 2))


def tesseract() -> Polytope:
    return Polytope.from_halfspaces(np.vstack([np.eye(4), -np.eye(4)]), np.ones(8))


def twenty_four_cell() -> Polytope:
    """conv{±e_i ± e_j} from its halfspaces x_i <= 1 and (±1, ±1, ±1, ±1)/2 · x <= 1.

    The halfspaces are exact floats; the hull of the vertices would fit its normals to
    rounding (0.49999999999999983 …) and lose the exact values.
    """
    halves = np.array(list(itertools.product([-0.5, 0.5], repeat=4)))
    normals = np.vstack([np.eye(4), -np.eye(4), halves])
    polytope = Polytope.from_halfspaces(normals, np.ones(len(normals)))
    assert polytope.num_vertices == 24 and polytope.num_facets == 24
    return polytope


def simplex() -> Polytope:
    """conv{0, e_1, …, e_4} from its halfspaces, so normals and offsets are exact floats."""
    normals = np.vstack([-np.eye(4), np.full(4, 0.5)])
    return Polytope.from_halfspaces(normals, [0.0, 0.0, 0.0, 0.0, 0.5])


def facet(polytope: Polytope, normal: list[float]) -> int:
    """Index of the facet with this outer normal."""
    matches = np.flatnonzero(np.all(np.isclose(polytope.normals, normal), axis=1))
    assert matches.size == 1
    return int(matches[0])


def mp_equal(text: str, exact: object, digits: int) -> bool:
    """Whether the decimal string equals ``exact`` to ``digits`` significant digits."""
    with mpmath.workdps(digits + 20):
        value, target = mpmath.mpf(text), mpmath.mpf(exact)
        return bool(abs(value - target) <= abs(target) * mpmath.mpf(10) ** (-digits))


def hk_check(polytope: Polytope, **kwargs: object) -> tuple[dict, HighPrecisionCheck]:
    result = haim_kislev(polytope)
    check = verify_ratio(polytope, result["sigma"], np.array(result["loop"][0]), **kwargs)
    return result, check


# --------------------------------------------------------------------------- HK-O


def test_hko_ratio_is_three_plus_root_five_over_five() -> None:
    polytope = hko()
    result, check = hk_check(polytope)
    assert check.ok, check.reason
    assert check.reason is None
    assert check.loop_verified and check.beta_positive and check.local_maximum
    assert check.max_residual < 1e-40
    # the loop touches a corner of T that the float data miss by ~1e-17 (rounding of input)
    assert check.max_violation < 1e-15
    with mpmath.workdps(60):
        exact = (3 + mpmath.sqrt(5)) / 5
        # float input data: the polytope differs from the true HK-O one by rounding
        assert abs(mpmath.mpf(check.ratio) / exact - 1) < 1e-14
        assert abs(mpmath.mpf(check.capacity) / mpmath.mpf(HKO_CAPACITY) - 1) < 1e-14
        volume = (mpmath.mpf(5) / 2 * mpmath.sin(2 * mpmath.pi / 5)) ** 2
        assert abs(mpmath.mpf(check.volume) / volume - 1) < 1e-14
    assert check.ratio_float > 1.0472135954
    float_ratio = systolic_ratio(result["value"], volume_qhull(polytope), 4)
    assert check.ratio_float == pytest.approx(float_ratio, rel=1e-12)
    assert float(check.capacity) == pytest.approx(result["value"], rel=1e-12)


def test_hko_without_float_start_and_at_other_precision() -> None:
    polytope = hko()
    sigma = haim_kislev(polytope)["sigma"]
    low = verify_ratio(polytope, sigma)  # start point from the equations alone (unique here)
    high = verify_ratio(polytope, sigma, digits=80)
    assert low.ok and high.ok
    assert len(high.ratio.replace(".", "")) > len(low.ratio.replace(".", ""))
    # the two precisions agree on every digit the lower one prints (the last may round)
    assert mp_equal(high.ratio, low.ratio, 38)
    assert high.max_residual < 1e-70


def test_global_precision_is_untouched() -> None:
    before = mpmath.mp.dps
    verify_ratio(tesseract(), haim_kislev(tesseract())["sigma"], digits=70)
    assert mpmath.mp.dps == before


# --------------------------------------------------------------------------- exact cases


def test_tesseract_exact() -> None:
    polytope = tesseract()
    _, check = hk_check(polytope)
    assert check.ok, check.reason
    assert mp_equal(check.capacity, 4, 40)
    assert mp_equal(check.volume, 16, 40)
    assert mp_equal(check.ratio, "0.5", 40)
    assert check.ratio_float == 0.5


def test_tesseract_start_point_is_not_unique() -> None:
    """The minimiser lives in a 2-plane: the start has 2 free directions, any feasible one works."""
    polytope = tesseract()
    sigma = haim_kislev(polytope)["sigma"]
    for start in (None, np.array([0.3, -0.2, 0.1, 0.4]), np.array([5.0, 5.0, 5.0, 5.0])):
        check = verify_ratio(polytope, sigma, start)
        assert check.ok, check.reason
        assert check.max_violation < 1e-40


def test_twenty_four_cell_exact() -> None:
    """conv{±e_i ± e_j}: c = 4 by the square ∂[−1, 1]² in the (q1, p1)-plane (HK is too slow
    on 24 facets, so σ is written down: facets q1 = 1, p1 = 1, q1 = −1, p1 = −1)."""
    polytope = twenty_four_cell()
    sigma = [
        facet(polytope, [1, 0, 0, 0]),
        facet(polytope, [0, 0, 1, 0]),
        facet(polytope, [-1, 0, 0, 0]),
        facet(polytope, [0, 0, -1, 0]),
    ]
    check = verify_ratio(polytope, sigma)
    assert check.ok, check.reason
    assert mp_equal(check.capacity, 4, 40)
    assert mp_equal(check.volume, 8, 40)
    assert mp_equal(check.ratio, 1, 40)


def test_simplex_exact() -> None:
    polytope = simplex()
    _, check = hk_check(polytope)
    assert check.ok, check.reason
    assert mp_equal(check.capacity, "0.25", 40)
    with mpmath.workdps(60):
        assert mp_equal(check.volume, mpmath.mpf(1) / 24, 40)
    assert mp_equal(check.ratio, "0.75", 40)


# --------------------------------------------------------------------------- wrong σ


@pytest.mark.parametrize(
    ("sigma", "fragment"),
    [
        ([6, 8, 5, 3, 2, 0], "<= 0"),  # the maximiser reversed: Q < 0
        ([0, 2, 3, 8, 5, 6], "outside K by 1.8"),  # β > 0, Q > 0, but no loop inside K
        ([0, 2, 3, 5, 6, 8], "singular"),  # constant-Q direction on the flat
        ([0, 2], "no β"),  # two q-facets cannot close up
        ([0, 1, 2, 3], "< 0"),  # closure needs a negative β: three q-normals in a half-plane
        ([0, 0, 3], "repeats"),
        ([0, 2, 3, 5, 8, 6, 11], "outside 0..9"),
        ([0], "at least 2"),
        (["a", 1], "facet indices"),
    ],
)
def test_wrong_sigma_is_reported_not_raised(sigma: list, fragment: str) -> None:
    polytope = hko()
    assert haim_kislev(polytope)["sigma"] == [0, 2, 3, 5, 8, 6]  # the indices below rely on it
    check = verify_ratio(polytope, sigma)
    assert not check.ok
    assert not check.loop_verified
    if fragment == "< 0":
        assert not check.beta_positive
    assert check.reason is not None and fragment in check.reason
    # the volume does not depend on σ and is still computed
    assert check.volume != "nan"


def test_non_maximiser_value_is_still_reported() -> None:
    """A non-maximising order still has its own value 1/(2Q) reported (an upper bound only)."""
    check = verify_ratio(hko(), [0, 2, 3, 8, 5, 6])
    assert check.beta_positive and check.local_maximum
    assert float(check.capacity) == pytest.approx(5.567581822058, rel=1e-12)
    assert float(check.capacity) > HKO_CAPACITY


def test_saddle_is_not_a_maximiser() -> None:
    """β > 0 and Q > 0, but Q has a saddle on the flat: its 1/(2Q) is no capacity."""
    polytope = random_polytope(np.random.default_rng(1), 7)
    assert haim_kislev(polytope)["sigma"] == [0, 3, 4, 5, 2, 1]  # the polytope is the same
    check = verify_ratio(polytope, [0, 1, 2, 3, 4, 5])
    assert check.beta_positive and not check.local_maximum
    assert not check.ok and "saddle" in check.reason
    assert float(check.capacity) == pytest.approx(15.919521779671161, rel=1e-12)


def test_generic_polytope_agrees_with_float_pipeline() -> None:
    polytope = random_polytope(np.random.default_rng(1), 7)
    result, check = hk_check(polytope)
    assert check.ok, check.reason
    assert float(check.capacity) == pytest.approx(result["value"], rel=1e-12)
    assert float(check.volume) == pytest.approx(volume_qhull(polytope), rel=1e-12)
    assert float(check.capacity) == pytest.approx(4.910843732451021, rel=1e-12)


@pytest.mark.parametrize("position", [1, 2, 4])
def test_facet_with_zero_beta_is_dropped(position: int) -> None:
    """Facet q2 = 1 inserted into the tesseract's σ: closure forces its β to 0, no segment."""
    polytope = tesseract()
    sigma = list(haim_kislev(polytope)["sigma"])
    extra = facet(polytope, [0, 1, 0, 0])
    assert extra not in sigma
    check = verify_ratio(polytope, [*sigma[:position], extra, *sigma[position:]])
    assert check.ok, check.reason
    assert mp_equal(check.capacity, 4, 40)


def test_digits_must_be_large_enough() -> None:
    with pytest.raises(ValueError, match="digits"):
        verify_ratio(tesseract(), [0, 1], digits=10)


def test_to_dict_is_json() -> None:
    _, good = hk_check(tesseract())
    bad = verify_ratio(hko(), [0, 2])
    for check in (good, bad):
        data = json.loads(json.dumps(check.to_dict(), allow_nan=False))
        assert set(data) == set(HighPrecisionCheck.__dataclass_fields__)
    assert json.loads(json.dumps(bad.to_dict()))["ratio_float"] is None
    assert bad.to_dict()["ratio"] == "nan"
    assert good.to_dict()["ok"] is True
