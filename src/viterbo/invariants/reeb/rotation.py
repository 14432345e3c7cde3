"""Rotation numbers of combinatorial Reeb orbits in R^4 (Chaidez–Hutchings, CH §2.3 / App. A).

The contact plane at a boundary point with unit outer normal ``n`` is
``xi_n = {n, J n}^perp``.  It is trivialised over the whole unit sphere by the quaternion
frame ``(j n, k n)``: with ``z_m = q_m + i p_m`` we take the antilinear ``j(z1, z2) =
(-conj z2, conj z1)`` and ``k = J j``.  Then ``(n, J n, j n, k n)`` is orthonormal and
``omega(j n, k n) = 1``, so ``tau_n(v) = (<v, j n>, <v, k n>)`` is a symplectic
trivialisation and counter-clockwise rotation in it is positive.

On a facet the Reeb flow is a translation, so in this trivialisation its linearisation is the
identity.  Crossing a (possibly lower-dimensional) transition face from facet ``a`` to facet
``b`` the normal turns along the great arc ``n(s) ~ (1 - s) n_a + s n_b`` and the linearised flow
of a smoothing is ``tau_{n(s)} o pi_{n(s)} o pi_{n_a}^{-1} o tau_{n_a}^{-1}`` where
``pi_n`` is the orthogonal projection of the face's tangent plane ``{n_a, n_b}^perp`` to
``xi_n``.  This module computes that path (its end matrix is the *transition matrix*), the exact
angle it turns every vector through, and the rotation number of a product in the universal
cover of Sp(2) -- never the sum of per-face angles.

Rotation bookkeeping along a path of faces: ``T`` (the product so far) and ``theta`` (the lifted
angle turned by the reference vector ``e1``).  Every vector's lifted angle lies within
``width(T) < pi/2`` of the polar angle ``theta - arg(S e1)`` (``T = R S`` polar decomposition),
which gives the exact rotation interval ``[r_min, r_max]`` of the path.  ``r_min`` is
super-additive under concatenation and every face path turns every vector by a non-negative
angle, so ``r_min(prefix) <= rho(closed orbit)``: prefixes with ``r_min > 2`` can be pruned.
"""

from __future__ import annotations

import math

import numpy as np

TWO_PI = 2.0 * math.pi

# Left multiplication by the quaternion units on (q1, q2, p1, p2).
QUAT_I = np.array([[0.0, 0, -1, 0], [0, 0, 0, -1], [1, 0, 0, 0], [0, 1, 0, 0]])  # = J
QUAT_J = np.array([[0.0, -1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, -1, 0]])
QUAT_K = QUAT_I @ QUAT_J


def trivialisation(normal: np.ndarray) -> np.ndarray:
    """The ``(2, 4)`` matrix ``[(j n)^T; (k n)^T]`` of the trivialisation ``tau_n``.

    Parameters
    ----------
    normal : numpy.ndarray
        A unit vector in R^4.

    Returns
    -------
    numpy.ndarray
        Rows ``j n`` and ``k n``: an orthonormal symplectic basis of ``xi_n``.
    """
    return np.stack([QUAT_J @ normal, QUAT_K @ normal])


def _face_basis(n_a: np.ndarray, n_b: np.ndarray) -> np.ndarray:
    """Orthonormal ``(2, 4)`` basis of the plane ``{n_a, n_b}^perp``."""
    _, _, vt = np.linalg.svd(np.stack([n_a, n_b]))
    return vt[2:]


def transition_path(n_a: np.ndarray, n_b: np.ndarray, s: float | np.ndarray) -> np.ndarray:
    """The linearised flow across the face from facet ``a`` to facet ``b`` at parameter ``s``.

    Parameters
    ----------
    n_a, n_b : numpy.ndarray
        Unit outer normals of the facet the flow leaves and the facet it enters.
    s : float or numpy.ndarray
        Path parameter(s) in ``[0, 1]``.

    Returns
    -------
    numpy.ndarray
        ``(2, 2)`` (or ``(len(s), 2, 2)``) symplectic matrices; identity at ``s = 0``.
    """
    basis = _face_basis(n_a, n_b)
    start = trivialisation(n_a) @ basis.T
    start_inv = np.linalg.inv(start)
    ss = np.atleast_1d(np.asarray(s, dtype=float))
    normals = (1.0 - ss)[:, None] * n_a + ss[:, None] * n_b
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    jn = normals @ QUAT_J.T
    kn = normals @ QUAT_K.T
    rows = np.stack([jn @ basis.T, kn @ basis.T], axis=1)  # (len, 2, 2)
    out = rows @ start_inv
    return out[0] if np.ndim(s) == 0 else out


def transition_matrix(n_a: np.ndarray, n_b: np.ndarray) -> np.ndarray:
    """End point (``s = 1``) of :func:`transition_path`: the face's transition matrix."""
    return transition_path(n_a, n_b, 1.0)


def wrap_angle(angle: float) -> float:
    """``angle`` reduced to ``(-pi, pi]``."""
    return angle - TWO_PI * math.ceil((angle - math.pi) / TWO_PI)


def face_turn(matrix: np.ndarray, vector: np.ndarray) -> float:
    """Angle through which a face path ending at ``matrix`` turns ``vector``.

    Valid because every face path turns every vector by an angle in ``[0, pi)`` (checked in
    the tests by sampling the path), so the principal angle from ``v`` to ``M v`` is the lift.
    """
    image = matrix @ vector
    angle = math.atan2(image[1], image[0]) - math.atan2(vector[1], vector[0])
    return wrap_angle(angle)


def distortion(matrix: np.ndarray) -> tuple[float, float]:
    """``(h0, width)`` of a 2x2 matrix ``M = R S`` (polar decomposition).

    ``h0 = arg(S e1)`` and ``width = pi/2 - 2 atan(1/sigma_max)``: the lifted angle that ``M``
    turns any vector through lies in ``polar ± width`` where ``polar = angle(e1) - h0``.
    """
    a, b, c, d = float(matrix[0, 0]), float(matrix[0, 1]), float(matrix[1, 0]), float(matrix[1, 1])
    # P = M^T M is symmetric positive definite with det 1, so sqrt(P) = (P + I) / sqrt(tr P + 2)
    # and S e1 points along (P00 + 1, P10).
    p00, p10, p11 = a * a + c * c, a * b + c * d, b * b + d * d
    h0 = math.atan2(p10, p00 + 1.0)
    frob = p00 + p11  # sigma1^2 + sigma2^2 with sigma1 sigma2 = 1
    sigma = 0.5 * (math.sqrt(frob + 2.0) + math.sqrt(max(frob - 2.0, 0.0)))
    width = math.pi / 2.0 - 2.0 * math.atan(1.0 / sigma)
    return h0, width


def rotation_interval(matrix: np.ndarray, theta_e1: float) -> tuple[float, float]:
    """Exact ``[r_min, r_max]`` (in turns) of a path ending at ``matrix``.

    Parameters
    ----------
    matrix : numpy.ndarray
        The path's end matrix in Sp(2).
    theta_e1 : float
        The lifted angle (radians) that the path turns ``e1`` through.

    Returns
    -------
    (float, float)
        Minimum and maximum over all vectors of the lifted turning angle, divided by 2 pi.
    """
    h0, width = distortion(matrix)
    polar = theta_e1 - h0
    return (polar - width) / TWO_PI, (polar + width) / TWO_PI


def _turn_of(matrix: np.ndarray, theta_e1: float, vector: np.ndarray) -> float:
    """Lifted angle turned by ``vector``, from that of ``e1`` (differ by less than pi)."""
    turn_v = math.atan2(*(matrix @ vector)[::-1]) - math.atan2(vector[1], vector[0])
    turn_e1 = math.atan2(matrix[1, 0], matrix[0, 0])
    return theta_e1 + wrap_angle(turn_v - turn_e1)


def rotation_number(matrix: np.ndarray, theta_e1: float, *, tol: float = 1e-9) -> float:
    """Rotation number (translation number in the universal cover) of a closed path's lift.

    Parameters
    ----------
    matrix : numpy.ndarray
        The return map ``P`` in Sp(2) (in the trivialisation).
    theta_e1 : float
        Lifted angle turned by ``e1`` along the path.
    tol : float
        Tolerance on ``|tr P| - 2`` for the degenerate (parabolic) case.

    Returns
    -------
    float
        ``rho``: in ``Z`` for positive hyperbolic/parabolic, ``Z + 1/2`` for negative ones, and
        ``alpha / 2 pi + m`` for elliptic ``P`` conjugate to a rotation by ``alpha``.
    """
    trace = float(matrix[0, 0] + matrix[1, 1])
    if abs(trace - 2.0) <= tol:
        return float(round(theta_e1 / TWO_PI))
    if abs(trace + 2.0) <= tol:
        return float(round((theta_e1 - math.pi) / TWO_PI)) + 0.5
    if abs(trace) < 2.0:
        alpha = math.acos(trace / 2.0)
        # omega(e1, P e1) = P[1, 0] > 0: P turns vectors counter-clockwise, alpha in (0, pi).
        if matrix[1, 0] < 0:
            alpha = TWO_PI - alpha
        return alpha / TWO_PI + round((theta_e1 - alpha) / TWO_PI)
    # Hyperbolic: an eigenvector is turned by an exact multiple of pi.
    eigvals, eigvecs = np.linalg.eig(matrix)
    vector = np.real(eigvecs[:, int(np.argmax(np.abs(np.real(eigvals))))])
    return round(_turn_of(matrix, theta_e1, vector) / math.pi) / 2.0


def conley_zehnder(rho: float, *, degenerate: bool, tol: float = 1e-9) -> int | None:
    """Conley–Zehnder index from the rotation number (CH §2.3).

    ``2 floor(rho) + 1`` when ``rho`` is not an integer, ``2 rho`` when it is (positive
    hyperbolic); ``None`` for a degenerate return map (eigenvalue 1), where it is undefined.
    """
    if degenerate:
        return None
    nearest = round(rho)
    if abs(rho - nearest) <= tol:
        return int(2 * nearest)
    return int(2 * math.floor(rho) + 1)


class RotationTracker:
    """Immutable-style helper: the pair ``(T, theta_e1)`` advanced face by face."""

    __slots__ = ("matrix", "theta")

    def __init__(self, matrix: np.ndarray | None = None, theta: float = 0.0) -> None:
        self.matrix = np.eye(2) if matrix is None else matrix
        self.theta = theta

    def cross(self, face_matrix: np.ndarray) -> RotationTracker:
        """The tracker after crossing one more face with transition matrix ``face_matrix``."""
        e1_image = self.matrix[:, 0]
        turn = face_turn(face_matrix, e1_image)
        return RotationTracker(face_matrix @ self.matrix, self.theta + turn)

    def interval(self) -> tuple[float, float]:
        """``(r_min, r_max)`` of the path so far, in turns."""
        return rotation_interval(self.matrix, self.theta)

    def rotation_number(self) -> float:
        """Rotation number of the closed path (call after crossing the start face)."""
        return rotation_number(self.matrix, self.theta)
