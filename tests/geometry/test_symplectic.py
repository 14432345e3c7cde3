"""Symplectic conventions and linear symplectic maps (MATH.md §1)."""

from __future__ import annotations

import numpy as np
import pytest

from viterbo.geometry import (
    InvalidInputError,
    J,
    block_rotation,
    cotangent_lift,
    is_symplectic,
    omega,
    random_symplectic_matrix,
    shear,
)


def test_conventions() -> None:
    e = np.eye(4)  # (q1, q2, p1, p2)
    assert omega(e[0], e[2]) == 1.0
    assert omega(e[1], e[3]) == 1.0
    assert omega(e[2], e[0]) == -1.0
    assert omega(e[0], e[1]) == 0.0 and omega(e[2], e[3]) == 0.0
    np.testing.assert_array_equal(J(2) @ np.array([1.0, 2.0, 3.0, 4.0]), [-3.0, -4.0, 1.0, 2.0])
    u, v = np.array([1.0, -2.0, 0.5, 3.0]), np.array([0.3, 1.0, -1.0, 2.0])
    assert omega(u, v) == pytest.approx((J(2) @ u) @ v)


def test_omega_is_vectorised() -> None:
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal((5, 3, 4)), rng.standard_normal((5, 3, 4))
    values = omega(u, v)
    assert values.shape == (5, 3)
    assert values[2, 1] == pytest.approx(omega(u[2, 1], v[2, 1]))
    np.testing.assert_allclose(omega(u, u), 0.0, atol=1e-15)


def test_standard_maps_are_symplectic() -> None:
    rng = np.random.default_rng(1)
    s = rng.standard_normal((2, 2))
    for matrix in (
        J(2),
        block_rotation(0.4, -2.0),
        shear(s + s.T),
        cotangent_lift(rng.standard_normal((2, 2)) + 2 * np.eye(2)),
        *(random_symplectic_matrix(rng, 2) for _ in range(20)),
        random_symplectic_matrix(rng, 1),
        random_symplectic_matrix(rng, 3),
    ):
        assert is_symplectic(matrix)
    assert not is_symplectic(np.diag([2.0, 1.0, 1.0, 1.0]))
    assert not is_symplectic(np.diag([2.0, 2.0, 2.0, 2.0]))


def test_random_symplectic_matrix_is_deterministic_and_conditioned() -> None:
    first = random_symplectic_matrix(np.random.default_rng(9), 2)
    second = random_symplectic_matrix(np.random.default_rng(9), 2)
    assert first.tobytes() == second.tobytes()
    conditions = [
        np.linalg.cond(random_symplectic_matrix(np.random.default_rng(k), 2)) for k in range(50)
    ]
    assert max(conditions) < 1e3


def test_bad_inputs_raise() -> None:
    with pytest.raises(InvalidInputError):
        omega(np.ones(3), np.ones(3))
    with pytest.raises(InvalidInputError):
        omega(np.ones(4), np.ones(2))
    with pytest.raises(InvalidInputError):
        J(0)
    with pytest.raises(InvalidInputError):
        shear(np.array([[0.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(InvalidInputError):
        cotangent_lift(np.zeros((2, 2)))
    with pytest.raises(InvalidInputError):
        block_rotation()
    with pytest.raises(InvalidInputError):
        is_symplectic(np.eye(3))
