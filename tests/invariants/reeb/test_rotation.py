"""Rotation numbers in the universal cover of Sp(2) (viterbo.invariants.reeb.rotation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from viterbo.geometry.symplectic import omega
from viterbo.invariants.reeb.rotation import (
    QUAT_I,
    QUAT_J,
    QUAT_K,
    RotationTracker,
    conley_zehnder,
    face_turn,
    rotation_interval,
    rotation_number,
    transition_path,
    trivialisation,
)


def _rot(alpha: float) -> np.ndarray:
    return np.array([[math.cos(alpha), -math.sin(alpha)], [math.sin(alpha), math.cos(alpha)]])


def _random_face(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two unit normals with omega(n_a, n_b) > 0 (the flow goes from a to b)."""
    while True:
        a, b = rng.normal(size=(2, 4))
        a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
        w = omega(a, b)
        if abs(w) > 0.05:
            return (a, b) if w > 0 else (b, a)


def _brute_rotation(paths: list[np.ndarray], iterations: int = 300) -> float:
    """Translation number by following e1 along the concatenated path many times."""
    total = 0.0
    start = np.eye(2)
    vector = np.array([1.0, 0.0])
    for _ in range(iterations):
        for path in paths:  # path: (S, 2, 2), identity first
            images = path @ (start @ vector)
            angles = np.unwrap(np.arctan2(images[:, 1], images[:, 0]))
            total += angles[-1] - angles[0]
            start = path[-1] @ start
        vector = start @ vector
        vector /= np.linalg.norm(vector)
        start = np.eye(2)
    return total / (2 * math.pi * iterations)


def test_quaternion_frame_is_orthonormal_and_symplectic() -> None:
    eye = np.eye(4)
    assert np.allclose(QUAT_J @ QUAT_J, -eye)
    assert np.allclose(QUAT_K @ QUAT_K, -eye)
    assert np.allclose(QUAT_I @ QUAT_J, -QUAT_J @ QUAT_I)  # j is complex antilinear
    rng = np.random.default_rng(1)
    n = rng.normal(size=4)
    n /= np.linalg.norm(n)
    frame = np.stack([n, QUAT_I @ n, *trivialisation(n)])
    assert np.allclose(frame @ frame.T, eye)
    assert omega(QUAT_J @ n, QUAT_K @ n) == pytest.approx(1.0)


def test_face_paths_turn_every_vector_forward_by_less_than_half_a_turn() -> None:
    rng = np.random.default_rng(2)
    s = np.linspace(0.0, 1.0, 801)
    for _ in range(200):
        a, b = _random_face(rng)
        path = transition_path(a, b, s)
        assert np.allclose(np.linalg.det(path), 1.0)
        for angle in np.linspace(0, 2 * math.pi, 9)[:-1]:
            v = np.array([math.cos(angle), math.sin(angle)])
            images = path @ v
            turned = np.unwrap(np.arctan2(images[:, 1], images[:, 0]))
            total = turned[-1] - turned[0]
            assert 0.0 < total < math.pi
            assert face_turn(path[-1], v) == pytest.approx(total, abs=1e-9)


@pytest.mark.parametrize("alpha", [0.3, 2.0, 3.5, 6.0])
@pytest.mark.parametrize("turns", [0, 1, 2])
def test_rotation_number_of_rotations(alpha: float, turns: int) -> None:
    theta = alpha + 2 * math.pi * turns
    assert rotation_number(_rot(alpha), theta) == pytest.approx(theta / (2 * math.pi))


def test_rotation_number_of_conjugated_elliptic_and_hyperbolic() -> None:
    conj = np.array([[2.0, 1.0], [0.0, 0.5]])
    matrix = conj @ _rot(1.0) @ np.linalg.inv(conj)
    # e1 turns by the conjugated angle; the lift with one extra full turn has rho + 1.
    image = matrix[:, 0]
    theta = math.atan2(image[1], image[0])
    assert rotation_number(matrix, theta) == pytest.approx(1.0 / (2 * math.pi))
    assert rotation_number(matrix, theta + 2 * math.pi) == pytest.approx(1 + 1.0 / (2 * math.pi))
    hyperbolic = np.diag([3.0, 1 / 3.0])
    assert rotation_number(hyperbolic, 0.0) == 0.0
    assert rotation_number(hyperbolic, 2 * math.pi) == 1.0
    assert rotation_number(-hyperbolic, math.pi) == 0.5  # negative hyperbolic: half-integer
    assert conley_zehnder(0.5, degenerate=False) == 1
    assert conley_zehnder(1.0, degenerate=False) == 2
    assert conley_zehnder(1.4, degenerate=False) == 3
    assert conley_zehnder(2.0, degenerate=True) is None


def test_rotation_interval_contains_every_vector_turn() -> None:
    rng = np.random.default_rng(3)
    s = np.linspace(0.0, 1.0, 401)
    for _ in range(20):
        faces = [_random_face(rng) for _ in range(4)]
        tracker = RotationTracker()
        start = np.eye(2)
        turns = np.zeros(16)
        vectors = np.stack(
            [[math.cos(t), math.sin(t)] for t in np.linspace(0, 2 * math.pi, 17)[:-1]]
        )
        for a, b in faces:
            path = transition_path(a, b, s)
            images = np.einsum("sij,vj->vsi", path, vectors @ start.T)
            angles = np.unwrap(np.arctan2(images[..., 1], images[..., 0]), axis=1)
            turns += angles[:, -1] - angles[:, 0]
            start = path[-1] @ start
            tracker = tracker.cross(path[-1])
        low, high = rotation_interval(tracker.matrix, tracker.theta)
        assert np.all(turns / (2 * math.pi) >= low - 1e-9)
        assert np.all(turns / (2 * math.pi) <= high + 1e-9)
        assert high - low < 0.5


def test_product_rotation_differs_from_angle_sum_both_ways() -> None:
    """The angle sum over- and under-estimates the product rotation; the tracker is exact."""
    rng = np.random.default_rng(4)
    s = np.linspace(0.0, 1.0, 201)
    over = under = 0
    for _ in range(400):
        faces = [_random_face(rng) for _ in range(3)]
        tracker = RotationTracker()
        angle_sum = 0.0
        paths = []
        for a, b in faces:
            path = transition_path(a, b, s)
            paths.append(path)
            single = RotationTracker().cross(path[-1])
            angle_sum += single.rotation_number()
            tracker = tracker.cross(path[-1])
        rho = tracker.rotation_number()
        if rho < angle_sum - 0.05:
            over += 1
        elif rho > angle_sum + 0.05:
            under += 1
        else:
            continue
        if over + under <= 12:  # brute-force check of the tracker on the interesting cases
            assert rho == pytest.approx(_brute_rotation(paths), abs=0.02)
    assert over > 0 and under > 0
