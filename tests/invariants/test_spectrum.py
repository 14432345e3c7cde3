"""The ``spectrum`` quantity (algorithm ``reeb``): lowest actions with verified orbits."""

from __future__ import annotations

import numpy as np
import pytest

from tests.invariants.reeb.test_capacity import cross_polytope, random_polytope
from viterbo.families.base import generate
from viterbo.geometry import Polytope
from viterbo.invariants import haim_kislev, reeb, spectrum
from viterbo.invariants.certificate import verify_loop
from viterbo.invariants.registry import WorkBudgetExceeded, get

RTOL = 1e-9


def test_canonical_cycle() -> None:
    assert spectrum.canonical_cycle((3, 1, 2)) == ((1, 2, 3), 1)
    assert spectrum.canonical_cycle((5, 2, 5, 2)) == ((2, 5, 2, 5), 2)
    assert spectrum.canonical_cycle((4, 1, 7, 4, 1, 7, 4, 1, 7)) == ((1, 7, 4) * 3, 3)
    assert spectrum.canonical_cycle((1, 1, 2)) == ((1, 1, 2), 1)


@pytest.fixture(scope="module")
def generic_spectrum() -> tuple[Polytope, dict]:
    polytope = random_polytope(2)  # its double cover lies among the three lowest
    return polytope, spectrum.compute(polytope, k=3, window=2.5, time_budget=300)


def test_first_entry_is_capacity(generic_spectrum: tuple[Polytope, dict]) -> None:
    polytope, result = generic_spectrum
    capacity = haim_kislev.compute(polytope)["value"]
    assert result["value"][0] == pytest.approx(capacity, rel=RTOL)
    assert result["value"][0] == pytest.approx(reeb.compute(polytope)["value"], rel=RTOL)
    assert result["loop"] == result["orbits"][0]["loop"]


def test_sorted_windowed_and_verified(generic_spectrum: tuple[Polytope, dict]) -> None:
    polytope, result = generic_spectrum
    actions = result["value"]
    assert actions == sorted(actions)
    assert 1 <= len(actions) <= 3
    assert actions[-1] <= 2.5 * actions[0] * (1 + RTOL)
    for orbit in result["orbits"]:
        verify_loop(polytope, orbit["loop"], orbit["action"], rtol=RTOL)
        assert orbit["multiplicity"] >= 1
        if orbit["cz"] is not None:
            assert orbit["cz"] >= 3  # dynamically convex: every orbit has CZ >= 3


def test_covers_are_marked(generic_spectrum: tuple[Polytope, dict]) -> None:
    """The double cover of the minimal orbit has twice its action and rotation."""
    _, result = generic_spectrum
    first = result["orbits"][0]
    doubles = [o for o in result["orbits"] if o["multiplicity"] == 2]
    assert doubles, "the double cover of the minimal orbit lies in the 3c window"
    double = doubles[0]
    assert double["action"] == pytest.approx(2 * first["action"], rel=RTOL)
    assert double["rotation"] == pytest.approx(2 * first["rotation"], abs=1e-9)


# atlas-small's halfspace-tangent polytope 10 (16 facets): its orbits at 8.6858 and 8.7361 are
# covers whose composed maps lose ~3e-7 of the action.  The list used to drop them (composed
# and loop action had to agree to 1e-7) and published 8.960 and 9.329 in their place.
TANGENT_16_SPECTRUM = [
    4.66467482639162,
    8.68583696204885,
    8.728360317923459,
    8.736127155042714,
    8.744436210511966,
]


@pytest.mark.parametrize("engine", ["compiled", "python"])
def test_orbits_whose_composed_action_drifts_are_listed_by_their_verified_loop(
    engine: str,
) -> None:
    polytope = generate("halfspace-tangent", {"facets": 16}, 10).polytope
    exact = spectrum.low_spectrum(polytope, engine=engine)
    composed = spectrum.low_spectrum(polytope, engine=engine, exact_closures=False)
    for result in (exact, composed):
        assert result["value"] == pytest.approx(TANGENT_16_SPECTRUM, rel=1e-9)
        for orbit in result["orbits"]:
            verify_loop(polytope, orbit["loop"], orbit["action"], rtol=RTOL)
    # Exact closures: the closures the composed maps cannot decide go to the closure
    # equations during the search, so no composed fixed point fails its certificate.
    diagnostics = exact["diagnostics"]
    assert diagnostics["closures_by_lp"] > 100
    assert diagnostics["orbits_rejected_by_certificate"] == 0
    assert diagnostics["claimed_exact"]
    # Composed maps alone: every closure whose composed fixed point failed its certificate is
    # decided after the search; each is a cycle that carries no orbit (constant loops at
    # vertices, points outside the domain).  Such a spectrum is never claimed exact.
    diagnostics = composed["diagnostics"]
    assert diagnostics["closures_by_lp"] == 0
    assert diagnostics["orbits_rejected_by_certificate"] > 100
    assert diagnostics["closures_rechecked_by_program"] > 100
    assert (
        diagnostics["closures_rechecked_without_orbit"]
        == (diagnostics["closures_rechecked_by_program"])
    )
    assert diagnostics["closures_undecided"] == 0
    assert "except" not in diagnostics["exactness"]
    assert not diagnostics["claimed_exact"]


def test_default_window_on_a_second_polytope() -> None:
    """Defaults (k = 5, window 3c): sorted, verified, first = haim-kislev capacity."""
    polytope = random_polytope(6)
    result = spectrum.compute(polytope)
    assert result["value"] == sorted(result["value"])
    assert result["value"][0] == pytest.approx(haim_kislev.compute(polytope)["value"], rel=RTOL)
    assert len(result["value"]) <= 5
    assert result["value"][-1] <= 3 * result["value"][0] * (1 + RTOL)
    for orbit in result["orbits"]:
        verify_loop(polytope, orbit["loop"], orbit["action"], rtol=RTOL)


def test_k_limits_the_list() -> None:
    polytope = random_polytope(0)
    result = spectrum.compute(polytope, k=1, max_rotation=2.0)
    assert len(result["value"]) == 1
    assert result["value"][0] == pytest.approx(reeb.compute(polytope)["value"], rel=RTOL)


def test_registered_and_not_applicable() -> None:
    algorithm = get("spectrum", "reeb")
    assert algorithm.applicability(cross_polytope()) is None
    simplex = Polytope.from_vertices(np.vstack([np.zeros(4), np.eye(4)]))
    assert "Lagrangian" in algorithm.applicability(simplex)
    with pytest.raises(ValueError, match="k must be"):
        spectrum.compute(random_polytope(0), k=0)


@pytest.mark.parametrize("engine", ["compiled", "python"])
def test_a_work_budget_stops_the_search_at_the_same_point_every_time(engine: str) -> None:
    # Deterministic, unlike a time budget: the same polytope and budget end the same way on
    # every machine, and a budget above what the search needs changes nothing.
    polytope = random_polytope(2)
    full = spectrum.compute(polytope, k=3, window=2.5, engine=engine)
    needed = full["diagnostics"]["paths_expanded"]
    assert needed > 200
    for _ in range(2):
        with pytest.raises(WorkBudgetExceeded) as caught:
            spectrum.compute(polytope, k=3, window=2.5, engine=engine, max_paths=100)
        # Both engines stop on the first path over the budget, not at their next check.
        assert caught.value.detail == "101 paths expanded, over max_paths = 100"
        assert caught.value.limit_name == "max_paths"
    roomy = spectrum.compute(polytope, k=3, window=2.5, engine=engine, max_paths=needed + 300)
    assert roomy["value"] == full["value"]
    exact = spectrum.compute(polytope, k=3, window=2.5, engine=engine, max_paths=needed)
    assert exact["value"] == full["value"]  # the budget counts paths, so `needed` suffices
    # ... and one path fewer does not, even when the last path ends the search.
    with pytest.raises(WorkBudgetExceeded, match=f"^work budget .*: {needed} paths expanded"):
        spectrum.compute(polytope, k=3, window=2.5, engine=engine, max_paths=needed - 1)
    capacity = reeb.compute(polytope, engine=engine)
    used = capacity["diagnostics"]["paths_expanded"]
    assert reeb.compute(polytope, engine=engine, max_paths=used)["value"] == capacity["value"]
    for budget in (used // 4, used - 1):
        with pytest.raises(WorkBudgetExceeded, match=f"{budget + 1} paths expanded"):
            reeb.compute(polytope, engine=engine, max_paths=budget)


def test_a_policy_work_budget_becomes_a_timed_out_outcome_with_its_reason() -> None:
    from viterbo.invariants.evaluate import Policy, evaluate

    polytope = random_polytope(2)
    record = evaluate(polytope, Policy(limits={"spectrum/reeb": {"max_paths": 50}}))
    outcome = record.outcomes["spectrum/reeb"]
    assert outcome.status == "timed_out"
    assert "work budget exceeded" in outcome.reason
    assert outcome.reason.endswith("51 paths expanded, over max_paths = 50")
    assert outcome.timed_out_by == "the policy max_paths of spectrum/reeb"
    assert record.outcomes["capacity/reeb"].status == "done"  # the budget is per algorithm


def test_the_reported_limit_is_the_window_the_search_pruned_with() -> None:
    """A cycle found again at (a hair below) its own verified action leaves the window alone.

    It used to take the "already represented" path because of its own value, delete that
    value and widen the window: the limit read 4.078 here, above the fifth listed action.
    """
    result = spectrum.low_spectrum(random_polytope(0))
    values, limit = result["value"], result["diagnostics"]["action_limit"]
    assert len(values) == 5
    assert limit == pytest.approx(min(3.0 * values[0], values[-1]) * (1 + RTOL), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_near_lagrangian_spectra_begin_at_the_capacity(seed: int) -> None:
    """The spectrum's closures are exact near Lagrangian 2-faces, as the capacity search's.

    Decided by the composed maps alone, this perturbed pentagon x heptagon (|omega| ~ 1e-5 on
    some 2-faces) began its spectrum at 3.4445 (seed 1) and 3.4638 (seed 0): the minimal
    orbit's composed map "had no fixed point", so it was never even rechecked.
    """
    from tests.invariants.test_near_lagrangian import PRODUCTS, perturbed

    polytope = perturbed(PRODUCTS["pentagon-heptagon"](), 1e-4, seed)
    capacity = haim_kislev.compute(polytope)["value"]
    result = spectrum.low_spectrum(polytope, max_rotation=2.0)
    assert result["diagnostics"]["min_omega"] < 1e-4
    assert result["value"][0] == pytest.approx(capacity, rel=1e-8)
    assert result["diagnostics"]["claimed_exact"]
    assert "not exact" not in result["diagnostics"]["exactness"]
    old = spectrum.low_spectrum(polytope, max_rotation=2.0, exact_closures=False)
    assert old["value"][0] > capacity * (1 + 1e-3)  # the miss this test guards against


def test_a_closed_loop_that_fails_its_certificate_is_never_claimed_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fault injection: every loop the closure equations give fails its certificate.

    Such a cycle used to be dropped without a trace, and the spectrum (missing 8.6858) was
    still claimed exact.  Now it is rechecked, fails again and counts as undecided.
    """
    polytope = generate("halfspace-tangent", {"facets": 16}, 10).polytope
    real = spectrum.orbit_record

    def failing(graph, orbit, *args, **kwargs):  # type: ignore[no-untyped-def]
        if orbit.loop is not None:
            raise ValueError("injected certificate failure")
        return real(graph, orbit, *args, **kwargs)

    monkeypatch.setattr(spectrum, "orbit_record", failing)
    result = spectrum.low_spectrum(polytope)
    diagnostics = result["diagnostics"]
    assert diagnostics["closures_undecided"] > 0
    assert not diagnostics["claimed_exact"]
    assert "neither certificate nor program decided" in diagnostics["exactness"]
    for orbit in result["orbits"]:  # what is listed is still verified
        verify_loop(polytope, orbit["loop"], orbit["action"], rtol=RTOL)
