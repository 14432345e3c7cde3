"""The one evaluation path: evaluate(polytope, policy) -> Record, and the headline projection."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from viterbo.geometry import Polytope
from viterbo.invariants import evaluate as evaluation
from viterbo.invariants.evaluate import (
    DONE,
    FAILED,
    NOT_APPLICABLE,
    SKIPPED,
    Outcome,
    Policy,
    evaluate,
    headline,
    run_one,
)
from viterbo.invariants.registry import get

CUBE = Polytope.from_halfspaces(np.vstack([np.eye(4), -np.eye(4)]), np.ones(8))


def test_docstring_examples_run() -> None:
    assert doctest.testmod(evaluation, raise_on_error=False).failed == 0


def test_cube_is_confirmed_by_independent_algorithms() -> None:
    record = evaluate(CUBE, Policy(spectrum=False))
    top = record.headline()
    # The cube [-1, 1]^4 is the symplectic product of two squares of area 4: c = 4, vol = 16.
    assert top["capacity"] == pytest.approx(4.0, rel=1e-12)
    assert top["volume"] == pytest.approx(16.0, rel=1e-12)
    assert top["systolic_ratio"] == pytest.approx(0.5, rel=1e-12)
    assert top["capacity_certificate"] == "confirmed"
    assert len(top["capacity_agreeing"]) >= 2
    # Not applicable is the stronger reason: the cube is a Lagrangian product.
    assert record.outcomes["spectrum/reeb"].status == NOT_APPLICABLE
    assert record.outcomes["capacity/area-2d"].status == NOT_APPLICABLE


def test_policy_limits_and_selection_skip_with_their_reasons() -> None:
    policy = Policy(
        limits={"capacity/haim-kislev": {"max_facets": 6}, "capacity/billiard": {"max_index": 1}},
        index=3,
        only=frozenset({"haim-kislev", "billiard", "symplectic-product"}),
        only_reason="not chosen",
        spectrum=False,
    )
    out = evaluate(CUBE, policy).outcomes
    assert out["capacity/haim-kislev"] == Outcome(
        SKIPPED,
        reason="policy: capacity/haim-kislev limited to <= 6 facets (this polytope has 8)",
    )
    assert out["capacity/billiard"] == Outcome(
        SKIPPED,
        reason="policy: capacity/billiard only on polytopes 0..0 of each family/params (this is 3)",
    )
    assert policy.skipped(get("capacity", "reeb"), CUBE) == "not chosen"
    # A polytope the policy leaves out keeps the stronger reason when nothing applies anyway.
    assert out["capacity/area-2d"].status == NOT_APPLICABLE
    top = headline(out)
    assert top["capacity"] == pytest.approx(4.0, rel=1e-12)
    assert top["capacity_certificate"] == "single"  # one exact algorithm ran


def test_a_spent_budget_skips_the_searches_but_the_derived_quantities_run() -> None:
    out = evaluate(CUBE, Policy(budget=1e-12, budget_name="B")).outcomes
    spent = "the total budget of 1e-12 s (B) was used up"
    assert out["capacity/haim-kislev"] == Outcome(SKIPPED, reason=spent)
    assert out["volume/qhull"] == Outcome(SKIPPED, reason=spent)
    assert out["certified_capacity/certify"].status == FAILED
    assert out["certified_capacity/certify"].reason == "no finished input for capacity"
    assert headline(out)["capacity"] is None


def test_run_one_reports_instead_of_raising() -> None:
    assert run_one(get("systolic_ratio", "formula"), CUBE) == Outcome(
        FAILED, reason="no finished input for certified_capacity, volume"
    )
    done = run_one(get("volume", "qhull"), CUBE)
    assert done.status == DONE and done.value == pytest.approx(16.0, rel=1e-12)


def test_headline_prefers_qhull_and_reads_only_finished_results() -> None:
    out = {
        "volume/cone-decomposition": Outcome(DONE, result={"value": 2.0}),
        "volume/qhull": Outcome(DONE, result={"value": 1.0}),
        "spectrum/reeb": Outcome(FAILED, reason="too large"),
        "certified_capacity/certify": Outcome(
            DONE,
            result={
                "value": 3.0,
                "algorithm": "reeb",
                "level": "single",
                "agreeing": ["reeb"],
                "loop": [[0.0, 0.0, 0.0, 0.0]],
            },
        ),
    }
    top = headline(out)
    assert top["volume"] == 1.0
    assert top["spectrum"] is None
    assert (top["capacity"], top["capacity_certificate"], top["capacity_agreeing"]) == (
        3.0,
        "single",
        ["reeb"],
    )
    del out["volume/qhull"]
    assert headline(out)["volume"] == 2.0
    # A certificate from before levels existed has none: left None, never guessed.
    out["certified_capacity/certify"] = Outcome(DONE, result={"value": 3.0})
    assert headline(out)["capacity_certificate"] is None


def test_evaluating_a_lagrangian_product_does_not_load_compiled_code() -> None:
    # Neither reeb search applies to the tesseract and haim-kislev's few cycles stay on numpy,
    # so a cold `atlas compute` on it does not pay numba's import and cache load (~0.3 s);
    # the reeb kernel is imported the first time a search runs.
    import subprocess
    import sys

    script = (
        "import sys\n"
        "import numpy as np\n"
        "from viterbo.geometry import Polytope\n"
        "from viterbo.invariants.evaluate import evaluate\n"
        "cube = Polytope.from_halfspaces(np.vstack([np.eye(4), -np.eye(4)]), np.ones(8))\n"
        "record = evaluate(cube)\n"
        "print(record.outcomes['capacity/haim-kislev'].value, 'numba' in sys.modules)\n"
        "from viterbo.invariants import reeb\n"
        "reeb.compute(Polytope.from_vertices(np.vstack([np.eye(4), -np.eye(4)])))\n"
        "print('numba' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert float(out[0]) == pytest.approx(4.0, rel=1e-12)
    assert out[1:] == ["False", "True"]
