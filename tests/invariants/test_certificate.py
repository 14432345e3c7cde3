"""verify_loop: real closed characteristics pass, every kind of corruption fails."""

from __future__ import annotations

import numpy as np
import pytest

from tests.invariants.capacity_cases import SQUARE, hko, tesseract
from viterbo.geometry import Polytope, lagrangian_product
from viterbo.invariants.certificate import LoopVerificationError, verify_loop
from viterbo.invariants.loops import close_loop, loop_action, omega_matrix, reeb_directions

# The boundary of the (q1, p1)-square at q2 = p2 = 0: a closed characteristic of action 4.
TESSERACT_LOOP = close_loop(
    np.array([[-1.0, 0, -1, 0], [1.0, 0, -1, 0], [1.0, 0, 1, 0], [-1.0, 0, 1, 0]])
)


def test_tesseract_square_loop_passes() -> None:
    diagnostics = verify_loop(tesseract(), TESSERACT_LOOP, 4.0)
    assert diagnostics["segments"] == 4
    assert diagnostics["action"] == pytest.approx(4.0, rel=1e-15)


def test_translation_invariant() -> None:
    shift = np.array([10.0, -3.0, 7.0, 2.0])
    verify_loop(tesseract().translate(shift), TESSERACT_LOOP + shift, 4.0)


def test_polygon_boundary_passes() -> None:
    square = Polytope.from_vertices(SQUARE + 5.0)
    verify_loop(square, close_loop(square.vertices), 4.0)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda loop: loop[:-1], "does not close"),
        (lambda loop: loop[::-1], "Reeb"),  # reversed orientation
        (lambda loop: np.where(np.arange(5)[:, None] == 1, loop * 1.01, loop), "violates"),
        (lambda loop: np.where(np.arange(5)[:, None] == 1, loop * 0.99, loop), "facet"),
        (lambda loop: loop + np.array([1e-6, 0.0, 0.0, 0.0]), "violates"),
    ],
)
def test_corrupted_loops_fail(corrupt, message: str) -> None:  # type: ignore[no-untyped-def]
    loop = TESSERACT_LOOP.copy()
    loop[:, 3] = 0.5  # still a closed characteristic (p2 = 0.5 inside)
    verify_loop(tesseract(), loop, 4.0)
    with pytest.raises(LoopVerificationError, match=message):
        verify_loop(tesseract(), corrupt(loop), 4.0)


def test_wrong_value_fails() -> None:
    with pytest.raises(LoopVerificationError, match="action"):
        verify_loop(tesseract(), TESSERACT_LOOP, 4.0 * (1 + 1e-8))


def test_segment_off_reeb_direction_fails() -> None:
    # moving diagonally on the facet q1 = 1 is not along J n = e_p1
    loop = close_loop(
        np.array([[1.0, 0, -1, 0], [1.0, 0, 1, 0.5], [-1.0, 0, 1, 0.5], [-1.0, 0, -1, 0]])
    )
    with pytest.raises(LoopVerificationError):
        verify_loop(tesseract(), loop, float(loop_action(loop)))


def test_bad_shapes_fail() -> None:
    with pytest.raises(LoopVerificationError, match="shape"):
        verify_loop(tesseract(), [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]], 1.0)
    with pytest.raises(LoopVerificationError, match="NaN"):
        verify_loop(tesseract(), np.full((4, 4), np.nan), 1.0)


def test_lower_face_segment_uses_cone_of_reeb_directions() -> None:
    # Square x square: on the 2-face {q1 = 1, q2 = 1} the velocity e_p1 + e_p2 is a positive
    # combination of the two facets' Reeb directions, not a multiple of either.
    polytope = lagrangian_product(SQUARE, SQUARE)
    loop = close_loop(
        np.array([[1.0, 1, -1, -1], [1.0, 1, 1, 1], [-1.0, -1, 1, 1], [-1.0, -1, -1, -1]])
    )
    diagnostics = verify_loop(polytope, loop, float(loop_action(loop)))
    assert diagnostics["lower_face_segments"] == 4
    assert diagnostics["action"] == pytest.approx(8.0)


def test_loop_helpers() -> None:
    normals = np.eye(4)
    assert np.allclose(reeb_directions(normals)[0], [0, 0, 1, 0])  # J e_q1 = e_p1
    w = omega_matrix(normals)
    assert w[0, 2] == 1.0 and w[2, 0] == -1.0
    assert loop_action(TESSERACT_LOOP) == pytest.approx(4.0)
    assert loop_action(TESSERACT_LOOP[::-1]) == pytest.approx(-4.0)


def test_hko_has_no_loop_below_capacity() -> None:
    # a loop from another polytope is rejected on this one
    with pytest.raises(LoopVerificationError):
        verify_loop(hko(), TESSERACT_LOOP, 4.0)
