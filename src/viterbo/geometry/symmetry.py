"""Symplectic symmetries of a polytope: the affine symplectic maps that map it onto itself.

An affine map ``x -> c + g (x - c)`` with ``g^T J g = J`` that maps ``K`` onto ``K`` maps closed
characteristics to closed characteristics of the same action, so a search for the minimal one
needs to look through one face of each symmetry class only (``reeb`` uses this).

How they are found.  Every affine symmetry permutes the vertices, so it fixes their mean ``c``
and preserves their second moment ``M = E[(v - c)(v - c)^T]``.  In whitened coordinates
``u = M^{-1/2} (v - c)`` it is therefore orthogonal, and it preserves the whitened symplectic
form ``A = M^{1/2} J M^{1/2}`` as well, so it commutes with ``A``.  An orthogonal map commuting
with ``A`` is fixed by the images of two vertices ``b1, b2`` whose vectors ``b1, A b1, b2,
A b2`` span R^4.  So the candidates are the pairs ``(c1, c2)`` of vertices with the lengths,
inner product and symplectic pairing of ``(b1, b2)``: about (#vertices x a few) small solves,
one (the identity) on a polytope without symmetry.  Every candidate is then checked in the
original coordinates: symplectic to ``1e-9`` and mapping every vertex onto a vertex.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viterbo.geometry.polytope import Polytope
from viterbo.geometry.symplectic import J

# Invariants (lengths, pairings) of whitened vertices agree to this for a true symmetry; the
# accepted maps are checked far more strictly in the original coordinates afterwards.
MATCH_TOL = 1e-6
# A candidate is a symmetry when it maps every vertex to within this (times the diameter) of
# a vertex and satisfies g^T J g = J to this (times |g|^2).
CHECK_RTOL = 1e-9


@dataclass(frozen=True)
class Symmetry:
    """``x -> centre + linear (x - centre)``, with the permutations it induces.

    ``vertices[i]`` is the index of the image of vertex ``i``; ``facets[i]`` the index of the
    image of facet ``i`` (the facet ``linear`` maps facet ``i`` onto).
    """

    linear: np.ndarray
    centre: np.ndarray
    vertices: np.ndarray
    facets: np.ndarray


def symplectic_symmetries(polytope: Polytope) -> list[Symmetry]:
    """All affine symplectic symmetries of a full-dimensional polytope (the identity first).

    >>> import itertools
    >>> square = Polytope.from_vertices(list(itertools.product([-1, 1], repeat=2)))
    >>> len(symplectic_symmetries(square))  # rotations by multiples of 90 degrees
    4
    """
    vertices = np.asarray(polytope.vertices, dtype=float)
    dim = vertices.shape[1]
    centre = vertices.mean(axis=0)
    centred = vertices - centre
    lam, vec = np.linalg.eigh(centred.T @ centred / len(centred))
    root = (vec * np.sqrt(lam)) @ vec.T
    root_inv = (vec / np.sqrt(lam)) @ vec.T
    white = centred @ root_inv  # rows u_i (root_inv is symmetric)
    # omega(w1, w2) = <A u1, u2> with A = M^1/2 J M^1/2 (J^T = -J, M^1/2 symmetric).
    jw = white @ (root @ J(dim // 2) @ root).T  # rows A u_i
    lengths = np.linalg.norm(white, axis=1)
    gram = white @ white.T
    pairing = white @ jw.T  # pairing[i, k] = <u_i, A u_k>
    frame_of = _frame_vertices(white, jw)
    if frame_of is None:  # no two vertices fix a map (cannot happen for a polytope): no search
        return [_identity(polytope, centre)]
    frame_inv = np.linalg.inv(_frame(white, jw, frame_of))
    tol = MATCH_TOL * float(np.max(lengths))
    identity = _identity(polytope, centre)
    group = {tuple(identity.vertices.tolist()): identity}
    generators: list[Symmetry] = []
    reached = {frame_of}  # images of the frame vertices under the group found so far
    for images in _candidates(frame_of, lengths, gram, pairing, tol):
        if images in reached:
            continue  # a product of symmetries already found: nothing to check
        orthogonal = _frame(white, jw, images) @ frame_inv
        symmetry = _checked(polytope, orthogonal, root, root_inv, centre)
        if symmetry is not None:
            generators.append(symmetry)
            fresh = _extend(group, generators)
            reached.update(tuple(int(g.vertices[k]) for k in frame_of) for g in fresh)
    return list(group.values())


def _compose(outer: Symmetry, inner: Symmetry) -> Symmetry:
    """``outer`` after ``inner`` (both fix the same centre)."""
    return Symmetry(
        outer.linear @ inner.linear,
        outer.centre,
        outer.vertices[inner.vertices],
        outer.facets[inner.facets],
    )


def _extend(group: dict[tuple[int, ...], Symmetry], generators: list[Symmetry]) -> list[Symmetry]:
    """Grow ``group`` (keyed by vertex permutation) to the group ``generators`` generate.

    ``group`` is closed under every generator but the last (``generators[-1]``, new): only
    the new generator can lead out of it, and every element reached that way is expanded by
    all generators, breadth first, until the set is closed under left multiplication by each
    generator; a finite set containing the identity and so closed is the generated group.
    Returns the elements added (in the order found).
    """
    added: list[Symmetry] = []
    newest = generators[-1]
    frontier = list(group.values())
    movers = [newest]
    while frontier:
        fresh = []
        for element in frontier:
            for generator in movers:
                key = tuple(generator.vertices[element.vertices].tolist())
                if key not in group:
                    product = _compose(generator, element)
                    group[key] = product
                    fresh.append(product)
        added.extend(fresh)
        frontier, movers = fresh, generators
    return added


def _frame(white: np.ndarray, jw: np.ndarray, which: tuple[int, ...]) -> np.ndarray:
    """Columns ``u_k, A u_k`` for the vertices ``which``: a basis when ``which`` fixes maps."""
    return np.stack([v for k in which for v in (white[k], jw[k])], axis=1)


def _frame_vertices(white: np.ndarray, jw: np.ndarray) -> tuple[int, ...] | None:
    """``dim / 2`` vertices whose frame is best conditioned (R^2 needs one, R^4 two)."""
    b1 = int(np.argmax(np.linalg.norm(white, axis=1)))
    if white.shape[1] == 2:
        return (b1,)
    # Every candidate frame (u_b1, A u_b1, u_k, A u_k) at once: one batched LU, the same
    # per-matrix routine as a single det, instead of a Python loop over the vertices.
    frames = np.empty((len(white), 4, 4))
    frames[:, :, 0], frames[:, :, 1] = white[b1], jw[b1]
    frames[:, :, 2], frames[:, :, 3] = white, jw
    dets = np.abs(np.linalg.det(frames))
    b2 = int(np.argmax(dets))
    scale = float(np.max(np.linalg.norm(white, axis=1))) ** 4
    return (b1, b2) if dets[b2] > 1e-8 * scale else None


def _candidates(
    frame_of: tuple[int, ...],
    lengths: np.ndarray,
    gram: np.ndarray,
    pairing: np.ndarray,
    tol: float,
) -> list[tuple[int, ...]]:
    """Vertex tuples with the lengths, inner products and pairings of ``frame_of``."""
    b1 = frame_of[0]
    first = np.flatnonzero(np.abs(lengths - lengths[b1]) <= tol)
    if len(frame_of) == 1:
        return [(int(c1),) for c1 in first]
    b2 = frame_of[1]
    scale = float(np.max(lengths))
    ok = (
        (np.abs(lengths - lengths[b2]) <= tol)[None, :]
        & (np.abs(gram[first] - gram[b1, b2]) <= tol * scale)
        & (np.abs(pairing[first] - pairing[b1, b2]) <= tol * scale)
    )
    rows, seconds = np.nonzero(ok)  # row-major: by c1, then c2
    return list(zip(first[rows].tolist(), seconds.tolist(), strict=True))


def _identity(polytope: Polytope, centre: np.ndarray) -> Symmetry:
    dim = len(centre)
    return Symmetry(
        np.eye(dim),
        centre,
        np.arange(len(polytope.vertices)),
        np.arange(len(polytope.normals)),
    )


def _checked(
    polytope: Polytope,
    orthogonal: np.ndarray,
    root: np.ndarray,
    root_inv: np.ndarray,
    centre: np.ndarray,
) -> Symmetry | None:
    """The candidate as a :class:`Symmetry` if it really is one (checked in R^2n), else None."""
    linear = root @ orthogonal @ root_inv
    dim = len(linear)
    j = J(dim // 2)
    if np.max(np.abs(linear.T @ j @ linear - j)) > CHECK_RTOL * max(
        1.0, np.max(np.abs(linear)) ** 2
    ):
        return None
    vertices = np.asarray(polytope.vertices, dtype=float)
    diameter = float(np.max(np.ptp(vertices, axis=0)))
    images = (vertices - centre) @ linear.T + centre
    vertex_map = _matching(images, vertices, CHECK_RTOL * diameter)
    if vertex_map is None:
        return None
    normals = np.asarray(polytope.normals, dtype=float)
    offsets = np.asarray(polytope.offsets, dtype=float) - normals @ centre
    polar = normals / offsets[:, None]  # facet i: <polar_i, x - c> = 1; image: g^-T polar_i
    polar_images = np.linalg.solve(linear.T, polar.T).T
    facet_map = _matching(polar_images, polar, CHECK_RTOL * float(np.max(np.abs(polar))) * dim)
    if facet_map is None:
        return None
    return Symmetry(linear, centre, vertex_map, facet_map)


def _matching(points: np.ndarray, targets: np.ndarray, tol: float) -> np.ndarray | None:
    """``index[i]`` of the target within ``tol`` of ``points[i]``, if that is a bijection."""
    distance = np.linalg.norm(points[:, None, :] - targets[None, :, :], axis=2)
    index = np.argmin(distance, axis=1)
    if np.max(distance[np.arange(len(points)), index]) > tol:
        return None
    if len(np.unique(index)) != len(index):
        return None
    return index
