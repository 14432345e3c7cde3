"""Shared helpers for closed characteristics (loops) on polytope boundaries.

A *loop* is a closed polygon in R^2n given explicitly closed: a ``(m + 1, 2n)`` array (or list
of lists) whose last row repeats the first. Segment ``k`` runs from ``loop[k]`` to
``loop[k + 1]``. Every capacity algorithm returns its minimal-action loop in this form and
:func:`viterbo.invariants.certificate.verify_loop` checks it (MATH.md §4).

The API here is stable: the Reeb-orbit search uses it as well.
"""

from __future__ import annotations

import numpy as np

from viterbo.geometry.symplectic import J


def reeb_directions(normals: np.ndarray) -> np.ndarray:
    """The Reeb directions ``J n_i`` of facets with outer normals ``n_i`` (rows).

    The characteristic velocity on facet ``i`` is ``R_i = (2 / h_i) J n_i`` (MATH.md §1); the
    direction does not depend on the height, so this is what segment checks compare against.

    Parameters
    ----------
    normals : numpy.ndarray
        ``(F, 2n)`` outer normals.

    Returns
    -------
    numpy.ndarray
        ``(F, 2n)`` rows ``J n_i`` (with ``J (q, p) = (-p, q)``).
    """
    normals = np.asarray(normals, dtype=float)
    n = normals.shape[-1] // 2
    return normals @ J(n).T


def reeb_velocities(normals: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The characteristic velocities ``R_i = (2 / h_i) J n_i``.

    Only meaningful when the origin lies in the interior (all ``h_i > 0``); translate first.

    Parameters
    ----------
    normals : numpy.ndarray
        ``(F, 2n)`` unit outer normals.
    offsets : numpy.ndarray
        ``(F,)`` heights ``h_i > 0``.
    """
    offsets = np.asarray(offsets, dtype=float)
    return 2.0 * reeb_directions(normals) / offsets[:, None]


def omega_matrix(normals: np.ndarray) -> np.ndarray:
    """The antisymmetric matrix ``W[i, j] = omega(n_i, n_j) = <J n_i, n_j>``.

    Parameters
    ----------
    normals : numpy.ndarray
        ``(F, 2n)`` vectors.
    """
    normals = np.asarray(normals, dtype=float)
    return reeb_directions(normals) @ normals.T


def close_loop(points: np.ndarray) -> np.ndarray:
    """Append the first point to ``points`` so the polygon is explicitly closed.

    Parameters
    ----------
    points : numpy.ndarray
        ``(m, 2n)`` polygon vertices in order (not repeating the first).

    Returns
    -------
    numpy.ndarray
        ``(m + 1, 2n)`` array whose last row equals the first.
    """
    points = np.asarray(points, dtype=float)
    return np.vstack([points, points[:1]])


def loop_action(loop: np.ndarray) -> float:
    """Action ``½ Σ_k omega(v_k, v_{k+1})`` of an explicitly closed polygon.

    Computed after subtracting the first vertex, which leaves the value of a closed polygon
    unchanged but avoids cancellation far from the origin.

    Parameters
    ----------
    loop : numpy.ndarray
        ``(m + 1, 2n)`` vertices with ``loop[-1] == loop[0]``.
    """
    loop = np.asarray(loop, dtype=float)
    centred = loop - loop[0]
    n = loop.shape[1] // 2
    start, end = centred[:-1], centred[1:]
    terms = start[:, :n] * end[:, n:] - start[:, n:] * end[:, :n]
    return 0.5 * float(np.sum(terms))


def loop_to_list(loop: np.ndarray) -> list[list[float]]:
    """The loop as a JSON-friendly list of lists of floats."""
    return [[float(x) for x in row] for row in np.asarray(loop, dtype=float)]
