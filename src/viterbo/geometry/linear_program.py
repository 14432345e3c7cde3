"""Small dense linear programs solved by HiGHS through ``highspy``, one solver per thread.

scipy's ``linprog(method="highs")`` runs the same solver but spends about 1 ms per call
validating and converting its input, three times what HiGHS needs for the programs here
(a Chebyshev centre has five unknowns).  This module hands the program to a reused
``highspy.Highs`` instead and reports scipy's status codes, so a caller reads the answer
the way it read ``linprog``'s: 0 optimal, 1 iteration or time limit, 2 infeasible,
3 unbounded, 4 numerical trouble.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import highspy
import numpy as np

OPTIMAL, LIMIT, INFEASIBLE, UNBOUNDED, TROUBLE = 0, 1, 2, 3, 4

_STATUS = {
    highspy.HighsModelStatus.kOptimal: OPTIMAL,
    highspy.HighsModelStatus.kTimeLimit: LIMIT,
    highspy.HighsModelStatus.kIterationLimit: LIMIT,
    highspy.HighsModelStatus.kInfeasible: INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: UNBOUNDED,
    # As scipy: "unbounded or infeasible" is numerical trouble (every other status is too,
    # except scipy's reading of a model error as infeasible: here that is trouble as well).
    highspy.HighsModelStatus.kUnboundedOrInfeasible: TROUBLE,
}

_local = threading.local()
# The banner redirect changes file descriptor 1 for the whole process: one thread at a time.
_creating = threading.Lock()


@dataclass(frozen=True)
class LinearProgramResult:
    """``status`` (scipy's codes, see the module) and the solution ``x`` when optimal."""

    status: int
    x: np.ndarray | None


@contextlib.contextmanager
def _silenced_stdout() -> Iterator[None]:
    """Redirect file descriptor 1 to /dev/null: HiGHS prints its banner from C++."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _solver() -> highspy.Highs:
    solver = getattr(_local, "solver", None)
    if solver is None:
        with _creating, _silenced_stdout():
            solver = highspy.Highs()
        _configure(solver)
        _local.solver = solver
    return solver


def _configure(solver: highspy.Highs) -> None:
    """Silent, and serial: the programs are tiny, and HiGHS's thread pool (half the cores by
    default) would only compete with the atlas's worker processes."""
    solver.silent()
    solver.setOptionValue("threads", 1)


def _rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise sparse form without the exact zeros (as scipy's conversion drops them)."""
    nonzero = matrix != 0.0
    start = np.concatenate([[0], np.cumsum(nonzero.sum(axis=1))])
    return start.astype(np.int32), np.nonzero(nonzero)[1].astype(np.int32), matrix[nonzero]


def solve(
    cost: np.ndarray,
    a_ub: np.ndarray,
    b_ub: np.ndarray,
    *,
    a_eq: np.ndarray | None = None,
    b_eq: np.ndarray | None = None,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    options: Mapping[str, float | bool | str] | None = None,
) -> LinearProgramResult:
    """Minimise ``cost @ x`` subject to ``a_ub x <= b_ub``, ``a_eq x = b_eq``, bounds.

    ``lower`` and ``upper`` default to free variables (``-inf`` and ``inf``, as arrays of
    ``cost``'s length); ``options`` are HiGHS options for this solve only.
    """
    cost = np.asarray(cost, dtype=float)
    size = len(cost)
    matrix = np.asarray(a_ub, dtype=float).reshape(-1, size)
    row_lower = np.full(len(matrix), -highspy.kHighsInf)
    row_upper = np.asarray(b_ub, dtype=float)
    if a_eq is not None and b_eq is not None:
        equal = np.asarray(a_eq, dtype=float).reshape(-1, size)
        matrix = np.vstack([matrix, equal])
        row_lower = np.concatenate([row_lower, b_eq])
        row_upper = np.concatenate([row_upper, b_eq])
    program = highspy.HighsLp()
    program.num_col_ = size
    program.num_row_ = len(matrix)
    program.col_cost_ = cost
    program.col_lower_ = np.full(size, -highspy.kHighsInf) if lower is None else lower
    program.col_upper_ = np.full(size, highspy.kHighsInf) if upper is None else upper
    program.row_lower_ = row_lower
    program.row_upper_ = row_upper
    program.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    start, index, value = _rows(matrix)
    program.a_matrix_.start_ = start
    program.a_matrix_.index_ = index
    program.a_matrix_.value_ = value
    solver = _solver()
    try:
        for name, setting in (options or {}).items():
            if solver.setOptionValue(name, setting) != highspy.HighsStatus.kOk:
                raise ValueError(f"HiGHS refused the option {name} = {setting!r}")
        solver.passModel(program)
        solver.run()
        status = _STATUS.get(solver.getModelStatus(), TROUBLE)
        x = np.array(solver.getSolution().col_value) if status == OPTIMAL else None
    finally:
        if options:
            solver.resetOptions()
            _configure(solver)
    return LinearProgramResult(status, x)
