"""The search's objective: trust levels and the gradient of log sys against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from viterbo.families.products import regular_polygon
from viterbo.geometry import Polytope, lagrangian_product
from viterbo.geometry.volume import facet_measures, volume_cone_decomposition
from viterbo.invariants.evaluate import Policy
from viterbo.search.objective import evaluate_point, log_ratio_gradient, segment_weights
from viterbo.search.spaces import HalfspaceSpace, LagrangianProductSpace, SymplecticProductSpace

HKO_RATIO = (3 + np.sqrt(5)) / 5


def _central_difference(space, x, direction, eps=1e-6) -> float:
    up = evaluate_point(space, x + eps * direction, with_gradient=False)
    down = evaluate_point(space, x - eps * direction, with_gradient=False)
    return (np.log(up.ratio) - np.log(down.ratio)) / (2 * eps)


@pytest.mark.parametrize(
    ("space", "seed"),
    [
        (HalfspaceSpace(8), 3),
        (HalfspaceSpace(10), 5),
        (LagrangianProductSpace(5, 5), 3),
        (LagrangianProductSpace(3, 4), 1),
        (SymplecticProductSpace(4, 5), 2),
    ],
)
def test_gradient_matches_finite_differences(space, seed) -> None:
    rng = np.random.default_rng(seed)
    x = space.random_start(rng)
    point = evaluate_point(space, x)
    assert point.trusted, point.reason
    for _ in range(3):
        direction = rng.standard_normal(len(x))
        direction /= np.linalg.norm(direction)
        assert point.gradient @ direction == pytest.approx(
            _central_difference(space, x, direction), rel=1e-5, abs=1e-7
        )


def test_gradient_is_orthogonal_to_the_gauge() -> None:
    # sys is invariant under translation and scaling: the gradient must see neither.
    space = HalfspaceSpace(9)
    x = space.random_start(np.random.default_rng(7))
    gradient = evaluate_point(space, x).gradient
    normals, offsets = x[: 4 * 9].reshape(9, 4), x[4 * 9 :]
    for shift in np.eye(4):
        translated = np.concatenate([np.zeros(36), normals @ shift])
        assert gradient @ translated == pytest.approx(0.0, abs=1e-9)
    assert gradient @ np.concatenate([np.zeros(36), offsets]) == pytest.approx(0.0, abs=1e-9)


def test_weights_of_the_hko_loop_sum_to_one_on_the_heights() -> None:
    # Haim-Kislev's normalisation: sum_i beta_i h_i = 1, and closure sum_i beta_i n_i = 0.
    product = lagrangian_product(regular_polygon(5), regular_polygon(5, -np.pi / 2))
    point = evaluate_point(
        LagrangianProductSpace(5, 5), LagrangianProductSpace(5, 5).from_polytope(product)
    )
    assert point.ratio == pytest.approx(HKO_RATIO, rel=1e-12)
    assert point.level == "confirmed"
    loop = np.vstack([point.loop, point.loop[:1]])
    polytope = point.record.polytope
    beta = segment_weights(polytope, point.capacity, loop).sum(axis=0)
    assert beta @ polytope.offsets == pytest.approx(1.0, rel=1e-9)
    assert np.abs(beta @ polytope.normals).max() == pytest.approx(0.0, abs=1e-9)
    d_normals, d_offsets = log_ratio_gradient(polytope, point.capacity, point.volume, loop)
    # Euler: sys is scale invariant, so sum h_i d/dh_i = 0 and sum <n_i, d/dn_i> = 0.
    assert d_offsets @ polytope.offsets == pytest.approx(0.0, abs=1e-9)
    assert np.einsum("ij,ij->", d_normals, polytope.normals) == pytest.approx(0.0, abs=1e-9)


def test_facet_measures_of_the_simplex() -> None:
    simplex = Polytope.from_vertices(np.r_[np.zeros((1, 4)), np.eye(4)])
    volumes, centroids = facet_measures(simplex)
    big = int(np.argmax(volumes))
    assert sorted(volumes) == pytest.approx([1 / 6] * 4 + [1 / 3], rel=1e-12)
    assert centroids[big] == pytest.approx([0.25] * 4, rel=1e-12)
    for i in set(range(5)) - {big}:
        assert sorted(centroids[i]) == pytest.approx([0, 0.25, 0.25, 0.25], abs=1e-12)
    # Cone decomposition from the origin: vol = sum h_i vol_3(F_i) / 4.
    assert simplex.offsets @ volumes / 4 == pytest.approx(volume_cone_decomposition(simplex))


def test_a_single_value_is_untrusted_while_a_second_algorithm_applies() -> None:
    # With haim-kislev out of time, the generic polytope's reeb value is `single` but
    # weaker than available: the climb must not steer by it.
    space = HalfspaceSpace(8)
    x = space.random_start(np.random.default_rng(3))
    policy = Policy(spectrum=False, limits={"capacity/haim-kislev": {"max_facets": 4}})
    point = evaluate_point(space, x, policy)
    assert point.level == "single"
    assert not point.trusted
    assert "haim-kislev" in point.reason
    assert point.gradient is None


def test_parameters_that_give_no_polytope_are_untrusted_not_errors() -> None:
    space = HalfspaceSpace(8)
    x = np.zeros(40)
    x[:32] = np.tile([1.0, 0, 0, 0], 8)  # every normal the same: unbounded
    point = evaluate_point(space, x)
    assert not point.trusted
    assert point.ratio is None
    assert "no polytope" in point.reason
