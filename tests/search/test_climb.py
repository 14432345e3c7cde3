"""The climb: exact dual weights, exact resumption, and HK-O recovered from near it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from viterbo.families.products import regular_polygon
from viterbo.geometry import lagrangian_product
from viterbo.search import climb as climbing
from viterbo.search.climb import (
    Climb,
    _active_set,
    _dual_weights,
    _slsqp_weights,
    min_norm_direction,
    simplex_qp,
)
from viterbo.search.run import advance, begin, distinct_branches, finish
from viterbo.search.spaces import HalfspaceSpace, LagrangianProductSpace, SearchSpaceError

HKO_RATIO = (3 + math.sqrt(5)) / 5


@pytest.mark.parametrize("planes", [4, 17, 33])
@pytest.mark.parametrize("spread", [1.0, 1e-9])
def test_simplex_qp_matches_slsqp_and_satisfies_kkt(planes: int, spread: float) -> None:
    # More planes than dimensions (a singular gram matrix) and nearly equal planes (a climb
    # near its maximum) are the cases the active-set method meets late in a search.
    rng = np.random.default_rng(planes)
    G = 1.0 + spread * rng.standard_normal((planes, 12))
    alpha = spread * np.abs(rng.standard_normal(planes))
    alpha[0] = 0.0
    gram = G @ G.T
    scale = max(float(np.max(np.abs(gram))), float(np.max(alpha)))
    gram, alpha = gram / scale, alpha / scale
    lam = simplex_qp(gram, alpha)
    assert lam is not None
    assert lam.min() >= 0.0 and lam.sum() == pytest.approx(1.0, abs=1e-15)
    reference = _active_set(gram, alpha, _slsqp_weights(gram, alpha))

    def value(w: np.ndarray) -> float:
        return 0.5 * float(w @ gram @ w) + float(alpha @ w)

    assert value(lam) <= value(reference) + 1e-13
    # The step direction (G^T λ) is unique even where λ is not.
    np.testing.assert_allclose(lam @ G, reference @ G, atol=1e-6 * spread + 1e-12)
    residual = gram @ lam + alpha
    support = lam > 0.0
    assert residual[~support].min(initial=np.inf) >= residual[support].max() - 1e-12


def test_dual_weights_solve_the_simplex_qp() -> None:
    rng = np.random.default_rng(0)
    G = rng.standard_normal((7, 5))
    alpha = np.abs(rng.standard_normal(7)) * 0.1
    lam = _dual_weights(G, alpha, 0.3)
    assert lam.min() >= 0 and lam.sum() == pytest.approx(1.0)

    def value(w: np.ndarray) -> float:
        return 0.5 * 0.3 * float(np.sum((w @ G) ** 2)) + float(alpha @ w)

    # Optimality: no random point of the simplex is better, and KKT holds on the support.
    for _ in range(2000):
        other = rng.dirichlet(np.ones(7))
        assert value(lam) <= value(other) + 1e-12
    residual = 0.3 * G @ (lam @ G) + alpha
    support = lam > 1e-9
    assert np.ptp(residual[support]) < 1e-10
    assert residual[~support].min() >= residual[support].max() - 1e-10


def test_min_norm_direction_of_opposite_gradients_vanishes() -> None:
    assert np.allclose(min_norm_direction(np.array([[1.0, 2.0], [-1.0, -2.0]])), 0.0, atol=1e-9)
    assert np.allclose(min_norm_direction(np.array([[1.0, 0.0], [0.0, 1.0]])), [0.5, 0.5])


def test_a_resumed_climb_repeats_the_uninterrupted_one() -> None:
    # Checkpoint = the JSON state: stopping after any step and resuming from the text gives
    # the same trajectory, so a search killed at any point publishes the same result.
    space = HalfspaceSpace(8)
    first = begin(space, seed=5, start=0)
    uninterrupted = first
    for _ in range(6):
        uninterrupted = advance(uninterrupted)
    resumed = first
    for _ in range(6):
        resumed = Climb.from_json(json.loads(json.dumps(resumed.to_json())))
        resumed = advance(resumed)
    assert resumed.to_json() == uninterrupted.to_json()
    assert uninterrupted.ratio > first.ratio
    assert uninterrupted.trajectory == sorted(uninterrupted.trajectory)  # never goes down


def test_a_climb_does_not_depend_on_how_it_is_cut_into_advances() -> None:
    # The store cuts a climb into jobs of --trials-per-job trials: any cut is the same climb.
    first = begin(LagrangianProductSpace(4, 4), seed=2, start=1)
    whole = advance(first, max_trials=12, trials=12)
    pieces = first
    for size in (1, 4, 2, 5):
        pieces = advance(pieces, max_trials=12, trials=size)
    assert whole.trials == pieces.trials == 12
    assert pieces.to_json() == whole.to_json()
    assert advance(whole, max_trials=12).status == "stopped"


def test_the_climb_recovers_hko_from_a_perturbed_start() -> None:
    space = LagrangianProductSpace(5, 5)
    hko = space.from_polytope(
        lagrangian_product(regular_polygon(5), regular_polygon(5, -np.pi / 2))
    )
    x = hko + 0.02 * np.random.default_rng(1).standard_normal(len(hko))
    climb = climbing.run(climbing.start(space, x), max_trials=400)
    assert climb.status == climbing.CONVERGED
    assert climb.start_ratio < 0.99
    assert climb.ratio == pytest.approx(HKO_RATIO, abs=1e-9)
    assert climb.ratio <= HKO_RATIO + 1e-12  # never above the value it converges to
    report = finish(climb, seed=0, start=0)
    assert report["verified"], report
    assert report["point"]["level"] == "confirmed"
    assert report["symplectic_image"]["relative_difference"] < 1e-8
    # HK-O is a kink: several minimal loops tie at the maximum.
    assert distinct_branches(climb) >= 2


def test_a_start_that_is_no_polytope_is_refused_with_the_reason() -> None:
    space = HalfspaceSpace(8)
    x = np.zeros(40)
    x[:32] = np.tile([1.0, 0, 0, 0], 8)  # every normal the same: unbounded
    with pytest.raises(SearchSpaceError, match="unbounded"):
        climbing.start(space, x)
