"""The standard symplectic structure on R^2n and linear symplectic maps.

Coordinates are ``(q, p) = (q1, ..., qn, p1, ..., pn)``; ``J(q, p) = (-p, q)`` and
``omega(u, v) = <J u, v>``, so ``omega(e_q1, e_p1) = +1`` (MATH.md §1).
"""

from __future__ import annotations

import numpy as np

from viterbo.geometry.errors import InvalidInputError


def _half_dimension(dim: int) -> int:
    if dim < 2 or dim % 2:
        raise InvalidInputError(f"symplectic dimension must be even and >= 2, got {dim}")
    return dim // 2


def J(n: int) -> np.ndarray:
    """The standard complex structure on R^2n.

    Parameters
    ----------
    n : int
        Half the dimension (``n >= 1``).

    Returns
    -------
    numpy.ndarray
        The ``(2n, 2n)`` matrix ``[[0, -I], [I, 0]]``, so ``J (q, p) = (-p, q)``.
    """
    if int(n) != n or n < 1:
        raise InvalidInputError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    # Assigned blocks, not np.block (whose checks took 50 us a call; certificates call this
    # once per loop).  A fresh array each time: callers may write to it.
    out = np.zeros((2 * n, 2 * n))
    out[:n, n:] = -np.eye(n)
    out[n:, :n] = np.eye(n)
    return out


def omega(u: np.ndarray, v: np.ndarray) -> np.ndarray | float:
    """The standard symplectic form ``omega(u, v) = <J u, v>``.

    Vectorised over leading axes (broadcasting): the last axis holds ``(q, p)``.

    Parameters
    ----------
    u, v : array_like
        Vectors of even length ``2n`` in their last axis.

    Returns
    -------
    float or numpy.ndarray
        ``sum_i (u_qi v_pi - u_pi v_qi)``; a float for 1-D inputs.
    """
    u = np.asarray(u, dtype=float)
    v = np.asarray(v, dtype=float)
    if u.shape[-1] != v.shape[-1]:
        raise InvalidInputError(f"omega: last axes differ ({u.shape[-1]} vs {v.shape[-1]})")
    n = _half_dimension(u.shape[-1])
    value = np.sum(u[..., :n] * v[..., n:] - u[..., n:] * v[..., :n], axis=-1)
    return float(value) if np.ndim(value) == 0 else value


def _square(matrix: np.ndarray, name: str) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise InvalidInputError(f"{name} must be a square matrix, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise InvalidInputError(f"{name} has NaN or infinite entries")
    return matrix


def is_symplectic(matrix: np.ndarray, *, atol: float = 1e-9) -> bool:
    """Whether ``M^T J M = J`` (entrywise within ``atol`` times ``max(1, |M|^2)``).

    Parameters
    ----------
    matrix : array_like
        A ``(2n, 2n)`` matrix.
    atol : float
        Absolute tolerance, scaled by the squared max-norm of ``matrix``.
    """
    matrix = _square(matrix, "matrix")
    n = _half_dimension(matrix.shape[0])
    j = J(n)
    scale = max(1.0, float(np.max(np.abs(matrix))) ** 2)
    return bool(np.allclose(matrix.T @ j @ matrix, j, rtol=0.0, atol=atol * scale))


def block_rotation(*thetas: float) -> np.ndarray:
    """Rotation by ``theta_k`` in each ``(q_k, p_k)`` plane (a unitary, hence symplectic, map).

    ``block_rotation(theta1, theta2)`` is the 4x4 map ``q_k + i p_k -> e^{i theta_k}(q_k + i p_k)``.

    Parameters
    ----------
    *thetas : float
        One angle per ``(q_k, p_k)`` plane (at least one).

    Returns
    -------
    numpy.ndarray
        The ``(2n, 2n)`` matrix, ``n = len(thetas)``.
    """
    if not thetas:
        raise InvalidInputError("block_rotation needs at least one angle")
    angles = np.asarray(thetas, dtype=float)
    if not np.all(np.isfinite(angles)):
        raise InvalidInputError("block_rotation angles must be finite")
    cos, sin = np.diag(np.cos(angles)), np.diag(np.sin(angles))
    return np.block([[cos, -sin], [sin, cos]])


def shear(symmetric: np.ndarray) -> np.ndarray:
    """The symplectic shear ``(q, p) -> (q, p + S q)`` for a symmetric ``S``.

    Parameters
    ----------
    symmetric : array_like
        Symmetric ``(n, n)`` matrix ``S``.
    """
    s = _square(symmetric, "S")
    if not np.allclose(s, s.T, rtol=0.0, atol=1e-12 * max(1.0, float(np.max(np.abs(s))))):
        raise InvalidInputError("shear matrix S must be symmetric")
    n = s.shape[0]
    return np.block([[np.eye(n), np.zeros((n, n))], [s, np.eye(n)]])


def cotangent_lift(linear: np.ndarray) -> np.ndarray:
    """The cotangent lift ``(q, p) -> (A q, A^{-T} p)`` of an invertible ``A``.

    Parameters
    ----------
    linear : array_like
        Invertible ``(n, n)`` matrix ``A``.
    """
    a = _square(linear, "A")
    if np.linalg.cond(a) > 1e12:
        raise InvalidInputError("cotangent_lift: A is singular or numerically singular")
    n = a.shape[0]
    zero = np.zeros((n, n))
    return np.block([[a, zero], [zero, np.linalg.inv(a).T]])


def random_symplectic_matrix(rng: np.random.Generator, n: int = 2) -> np.ndarray:
    """A random, reasonably conditioned linear symplectic map of R^2n.

    The product of a random unitary map (complex QR), a cotangent lift of a matrix with
    singular values in [0.5, 2], and two shears with symmetric ``S`` of entries ~ N(0, 0.5^2)
    (one in each direction). All factors are symplectic, so the product is too.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (the result is a deterministic function of its state).
    n : int
        Half the dimension.

    Returns
    -------
    numpy.ndarray
        A ``(2n, 2n)`` symplectic matrix.
    """
    if int(n) != n or n < 1:
        raise InvalidInputError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    # Unitary U = X + iY acts on q + ip as [[X, -Y], [Y, X]].
    gauss = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    unitary, upper = np.linalg.qr(gauss)
    unitary = unitary * (np.diag(upper) / np.abs(np.diag(upper)))  # Haar-distributed phases
    x, y = unitary.real, unitary.imag
    rotation = np.block([[x, -y], [y, x]])
    left, _ = np.linalg.qr(rng.standard_normal((n, n)))
    right, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = left @ np.diag(rng.uniform(0.5, 2.0, n)) @ right
    s1 = rng.normal(0.0, 0.5, (n, n))
    s2 = rng.normal(0.0, 0.5, (n, n))
    lower_shear = shear((s1 + s1.T) / 2)
    upper_shear = shear((s2 + s2.T) / 2)
    j = J(n)
    upper_shear = j @ upper_shear @ j.T  # (q, p) -> (q - S p, p): conjugate by J
    return cotangent_lift(a) @ lower_shear @ upper_shear @ rotation
