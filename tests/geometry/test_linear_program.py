"""Small LPs through highspy: scipy's status codes, scipy's optima, no banner, no leaks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import linprog

from viterbo.geometry import linear_program as lp


def test_optimal_infeasible_and_unbounded_programs_report_scipys_codes() -> None:
    box = lp.solve(np.array([1.0, 1.0]), -np.eye(2), np.array([-1.0, -2.0]))
    assert box.status == lp.OPTIMAL
    assert box.x is not None and np.array_equal(box.x, [1.0, 2.0])
    empty = lp.solve(np.array([1.0]), np.array([[1.0], [-1.0]]), np.array([-1.0, -1.0]))
    assert (empty.status, empty.x) == (lp.INFEASIBLE, None)
    ray = lp.solve(np.array([-1.0]), np.array([[-1.0]]), np.array([0.0]))
    assert (ray.status, ray.x) == (lp.UNBOUNDED, None)


def test_equalities_and_bounds() -> None:
    # min x0 subject to x0 + x1 = 3, 0 <= x <= 2: x = (1, 2).
    result = lp.solve(
        np.array([1.0, 0.0]),
        np.zeros((0, 2)),
        np.zeros(0),
        a_eq=np.array([[1.0, 1.0]]),
        b_eq=np.array([3.0]),
        lower=np.zeros(2),
        upper=np.full(2, 2.0),
    )
    assert result.status == lp.OPTIMAL
    assert result.x is not None and np.allclose(result.x, [1.0, 2.0], atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_the_optimum_is_scipys(seed: int) -> None:
    """Chebyshev-centre programs of random polytopes (zeros in the matrix included)."""
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(20, 4))
    normals[rng.random(normals.shape) < 0.2] = 0.0
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    offsets = rng.uniform(0.5, 1.5, size=20)
    a_ub = np.hstack([normals, np.ones((20, 1))])
    cost = np.r_[np.zeros(4), -1.0]
    ours = lp.solve(cost, a_ub, offsets, lower=np.r_[np.full(4, -np.inf), 0.0])
    theirs = linprog(cost, A_ub=a_ub, b_ub=offsets, bounds=[(None, None)] * 4 + [(0, None)])
    assert ours.status == lp.OPTIMAL and ours.x is not None
    assert ours.x[-1] == pytest.approx(theirs.x[-1], rel=1e-12)
    assert np.max(a_ub @ ours.x - offsets) <= 1e-12


def test_options_hold_for_one_solve_only() -> None:
    cost, a_ub, b_ub = np.array([1.0]), np.array([[-1.0]]), np.array([-1.0])
    lp.solve(cost, a_ub, b_ub, options={"primal_feasibility_tolerance": 1e-10})
    solver = lp._solver()

    def option(name: str) -> object:
        return solver.getOptionValue(name)[1]  # highspy answers (status, value)

    assert option("primal_feasibility_tolerance") == pytest.approx(1e-7)
    assert option("output_flag") is False
    assert option("threads") == 1


def test_a_fresh_process_prints_nothing() -> None:
    """HiGHS prints its banner from C++ when a solver is made; the module silences it."""
    code = (
        "import numpy as np\n"
        "from viterbo.geometry import linear_program as lp\n"
        "print(lp.solve(np.array([1.0]), np.array([[-1.0]]), np.array([-1.0])).status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout == "0\n"


def test_a_refused_option_raises_and_leaves_the_solver_as_it_was() -> None:
    cost, a_ub, b_ub = np.array([1.0]), np.array([[-1.0]]), np.array([-1.0])
    with pytest.raises(ValueError, match="no_such_option"):
        lp.solve(cost, a_ub, b_ub, options={"time_limit": 1e-9, "no_such_option": 1.0})
    assert lp.solve(cost, a_ub, b_ub).status == lp.OPTIMAL  # the time limit did not stick


def test_threads_making_their_first_solvers_together_leave_stdout_alone() -> None:
    code = (
        "import threading\n"
        "import numpy as np\n"
        "from viterbo.geometry import linear_program as lp\n"
        "barrier = threading.Barrier(16)\n"
        "def run():\n"
        "    barrier.wait()\n"
        "    lp.solve(np.array([1.0]), np.array([[-1.0]]), np.array([-1.0]))\n"
        "threads = [threading.Thread(target=run) for _ in range(16)]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()\n"
        "print('still here')\n"
    )
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
        )
        assert done.stdout == "still here\n"
