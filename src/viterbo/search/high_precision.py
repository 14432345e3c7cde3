"""High-precision re-verification of a systolic ratio (mpmath).

The float pipeline finds a Haim-Kislev maximiser ``(σ, β)`` (MATH.md §3.1) and a systolic
ratio; a search result above the Haim-Kislev–Ostrover value ``(3 + √5) / 5 = 1.0472135955``
should not rest on float rounding. :func:`verify_ratio` redoes the computation for the given
facet order ``σ`` at ``digits`` decimal digits, on the polytope's own float data converted
exactly to ``mpf`` (the polytope *is* those floats; no attempt is made to recover "true"
irrational data):

1. **β**: the stationary point of ``Q(β) = Σ_{a<b} β_a β_b ω(n_σ(a), n_σ(b))`` on the flat
   ``{Σ β_a h_σ(a) = 1, Σ β_a n_σ(a) = 0}`` (particular solution plus null space, both from an
   SVD), with ``β > 0``, the residual, and the second-order condition (the reduced Hessian
   ``NᵀHN`` is negative semidefinite: a maximiser with all ``β > 0`` is a local maximum of
   ``Q`` on its flat, so a saddle cannot be one). ``c = 1 / (2 Q)``.
2. **loop**: ``v_{k+1} = v_k + 2 c β_k J n_σ(k)``; the start point solves the equations
   ``<n_σ(k), v_k> = h_σ(k)`` (least squares; the float loop's start, projected onto their
   solution set, is tried first, then the minimum-norm solution, then a float LP over the
   directions they leave free, projected back). Checked: closure, each segment on its facet,
   every loop vertex inside every facet inequality, action ``½ Σ ω(v_k, v_{k+1}) = c``.
3. **volume**: every vertex recomputed as the intersection of ``d`` independent incident facet
   hyperplanes (``mpmath.lu_solve``), the float vertices' Delaunay triangulation used for the
   combinatorics only, and ``Σ |det| / d!`` summed in mpmath.
4. **ratio** ``c^n / (n! vol)`` (``c² / (2 vol)`` in R^4).

What this proves, and what it does not. Everything is ordinary mpmath arithmetic at
``digits`` digits with tolerances, not interval arithmetic, so "proves" means "to working
precision":

* Step 1 shows that ``(σ, β)`` lies in ``M(K)`` (``β > 0`` and the equalities to
  ``10^(-digits/2)``). Haim-Kislev's formula is a maximum over ``M(K)``, so this alone gives
  the **upper bound** ``c_EHZ(K) <= 1 / (2 Q(σ, β)) = c``, hence ``sys(K) <= ratio``.
* Step 2 is the independent certificate of MATH.md §4: a closed polygon along the Reeb
  directions, each segment on its facet, of action ``c`` (equalities to ``10^(-digits/2)``).
  Its vertices are held inside every facet inequality only to the data's precision
  (``INEQUALITY_RTOL`` relative): a maximiser's loop runs through lower faces (on HK-O through
  corners of the pentagon in p) and touches facets outside σ there; the exact geometry puts
  those points on the facet, the float data put them up to ~1e-17 outside, which is rounding
  of the input (``max_violation`` reports how much).
* The **lower bound** (no other order gives a larger ``Q``) is not re-proved here: it rests on
  the float search being exhaustive (``haim-kislev`` enumerates every facet cycle) and on other
  exact algorithms agreeing (MATH.md §4, level ``confirmed``). A passing check certifies that
  the reported ratio is the ratio of this ``(σ, β)`` to many digits, i.e. that a float value
  above 1.0472135955 is not a rounding artefact of the candidate; it does not replace the
  exhaustive search. ``local_maximum`` (the reduced Hessian is negative semidefinite, a
  necessary condition) rejects saddles cheaply, nothing more.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import mpmath
import numpy as np
from scipy.linalg import qr
from scipy.optimize import linprog
from scipy.spatial import ConvexHull, Delaunay, QhullError

if TYPE_CHECKING:
    from viterbo.geometry import Polytope

MIN_DIGITS = 20  # below this 10^(-digits/2) is no longer far below float rounding
STRING_GUARD_DIGITS = 10  # the value strings carry digits - this many significant digits
# Float-level consistency checks (an mp vertex against its float vertex, the float
# triangulation's volume against Qhull's): they compare the mp data with the float data it
# came from, so they can only ask for float accuracy.
FLOAT_RTOL = 1e-8
VERTEX_SINGULAR_RTOL = 1e-9  # smallest singular value of the d facet normals of a vertex
# Facet inequalities at the loop's vertices are held to the *data's* precision, not to
# 10^(-digits/2): a maximiser's loop runs through lower faces (on HK-O through corners of the
# pentagon T), where it touches facets outside σ; the exact geometry puts the touch on the
# facet, and whether the float data put it 1e-17 inside or outside is rounding of the input.
INEQUALITY_RTOL = 1e-12

Mpf = Any  # mpmath.mpf (mpmath ships no type hints)
MpMatrix = Any  # mpmath.matrix


class _CheckFailed(Exception):
    """A check did not pass; the message is the reason reported in the result."""


@dataclass(frozen=True)
class HighPrecisionCheck:
    """Outcome of :func:`verify_ratio`.

    Attributes
    ----------
    digits : int
        Working precision (decimal digits).
    capacity, volume, ratio : str
        The mpmath values with ``digits - 10`` significant digits (``"nan"`` when a stage
        failed before the value was computed).
    ratio_float : float
        ``ratio`` rounded to a float (``nan`` when unknown).
    loop_verified : bool
        The closed loop was rebuilt and passed every check (closure, segments on their facets,
        vertices inside the polytope, action equals the capacity).
    beta_positive : bool
        The re-solved ``β`` is positive (entries within the tolerance of 0 are dropped from the
        support and ``β`` re-solved on the rest).
    local_maximum : bool
        The reduced Hessian of ``Q`` on the flat is negative semidefinite (second-order
        necessary condition for a maximiser with all ``β > 0``).
    max_residual : float
        Largest relative residual of the equalities checked (β system, stationarity, loop
        start equations, closure, action); ``nan`` when none was computed. Each is held to
        ``10^(-digits/2)``.
    max_violation : float
        Largest ``(<n_i, v_k> − h_i) / size`` over the loop's vertices and all facets (``<= 0``
        inside; ``nan`` without a loop); held to ``INEQUALITY_RTOL`` = 1e-12, the data's
        precision (see the module docstring).
    ok : bool
        Every check passed.
    reason : str or None
        Why not ``ok`` (the failed checks, ``"; "``-separated); ``None`` when ``ok``.
    """

    digits: int
    capacity: str
    volume: str
    ratio: str
    ratio_float: float
    loop_verified: bool
    beta_positive: bool
    local_maximum: bool
    max_residual: float
    max_violation: float
    ok: bool
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of the fields (non-finite floats become ``None``)."""
        out = asdict(self)
        for key in ("ratio_float", "max_residual", "max_violation"):
            if not math.isfinite(out[key]):
                out[key] = None
        return out


# --------------------------------------------------------------------------- mp helpers


def _omega(u: Sequence[Mpf], v: Sequence[Mpf]) -> Mpf:
    """ω(u, v) = <J u, v> = Σ (u_q,i v_p,i − u_p,i v_q,i) (MATH.md §1)."""
    n = len(u) // 2
    return mpmath.fsum(u[i] * v[n + i] - u[n + i] * v[i] for i in range(n))


def _j(u: Sequence[Mpf]) -> list[Mpf]:
    """J(q, p) = (−p, q)."""
    n = len(u) // 2
    return [-x for x in u[n:]] + list(u[:n])


def _dot(u: Sequence[Mpf], v: Sequence[Mpf]) -> Mpf:
    return mpmath.fdot(u, v)


def _pseudo_inverse(matrix: MpMatrix, rtol: Mpf) -> tuple[MpMatrix, list[list[Mpf]]]:
    """Moore–Penrose pseudo-inverse and orthonormal null space (as rows) of an mp matrix.

    The rank counts singular values above ``rtol`` times the largest: exact float data that
    is rank deficient (e.g. the tesseract's closure rows) gives singular values at the
    working precision, far below ``rtol``.
    """
    rows, cols = matrix.rows, matrix.cols
    u, s, v = mpmath.svd_r(matrix, full_matrices=True)
    largest = max((abs(x) for x in s), default=mpmath.mpf(0))
    rank = sum(1 for x in s if largest > 0 and abs(x) > rtol * largest)
    pinv = mpmath.matrix(cols, rows)
    for i in range(rank):
        for a in range(cols):
            for b in range(rows):
                pinv[a, b] += v[i, a] * u[b, i] / s[i]
    null_rows = [[v[i, a] for a in range(cols)] for i in range(rank, cols)]
    return pinv, null_rows


def _column(values: Sequence[Mpf]) -> MpMatrix:
    return mpmath.matrix([[x] for x in values])


def _as_list(column: MpMatrix) -> list[Mpf]:
    return [column[i] for i in range(column.rows)]


def _text(value: Mpf | None, digits: int) -> str:
    if value is None:
        return "nan"
    return mpmath.nstr(value, max(15, digits - STRING_GUARD_DIGITS))


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class _MpData:
    """The polytope's normals and offsets as exact mpf rows, and the absolute tolerance."""

    normals: list[list[Mpf]]
    offsets: list[Mpf]
    scale: Mpf  # the polytope's size: max(1, max |h_i|, max |vertex coordinate|)
    rtol: Mpf  # 10^(-digits/2)
    tol: Mpf  # rtol * scale, for equations in coordinates
    inequality_tol: Mpf  # INEQUALITY_RTOL * scale, for the facet inequalities

    @classmethod
    def of(cls, polytope: Polytope, digits: int) -> _MpData:
        normals = np.asarray(polytope.normals, dtype=float)
        offsets = np.asarray(polytope.offsets, dtype=float)
        vertices = np.asarray(polytope.vertices, dtype=float)
        # mpf(float) is exact: binary floats are representable at any precision >= 53 bits
        size = max(1.0, float(np.max(np.abs(offsets))), float(np.max(np.abs(vertices))))
        rtol = mpmath.mpf(10) ** (-(digits // 2))
        return cls(
            normals=[[mpmath.mpf(x) for x in row] for row in normals.tolist()],
            offsets=[mpmath.mpf(x) for x in offsets.tolist()],
            scale=mpmath.mpf(size),
            rtol=rtol,
            tol=rtol * size,
            inequality_tol=mpmath.mpf(INEQUALITY_RTOL) * size,
        )


def _check_sigma(sigma: Sequence[int], num_facets: int) -> list[int]:
    """``sigma`` as a list of distinct facet indices (at least 2), or _CheckFailed."""
    try:
        order = [operator.index(i) for i in sigma]
    except TypeError:
        raise _CheckFailed(f"sigma must be a sequence of facet indices, got {sigma!r}") from None
    if len(order) < 2:
        raise _CheckFailed(f"sigma needs at least 2 facets, got {order}")
    if len(set(order)) != len(order):
        raise _CheckFailed(f"sigma repeats a facet: {order}")
    if min(order) < 0 or max(order) >= num_facets:
        raise _CheckFailed(f"sigma {order} has indices outside 0..{num_facets - 1}")
    return order


# --------------------------------------------------------------------------- step 1: β


@dataclass(frozen=True)
class _Stationary:
    """The stationary point of Q on the flat of a support, in σ order."""

    order: list[int]
    beta: list[Mpf]
    q_value: Mpf
    residual: Mpf  # relative residual of A_S β = b and of the stationarity N^T H β = 0
    local_maximum: bool
    largest_curvature: Mpf  # largest eigenvalue of N^T H N (<= 0 at a local maximum)


def _flat_system(data: _MpData, order: list[int]) -> tuple[MpMatrix, MpMatrix, MpMatrix]:
    """A_S (height row, closure rows), b = (1, 0, …) and H[a, b] = ω(n_σ(a), n_σ(b)), a < b."""
    k, dim = len(order), len(data.normals[0])
    rows = [[data.offsets[i] for i in order]]
    rows += [[data.normals[i][r] for i in order] for r in range(dim)]
    hessian = mpmath.matrix(k, k)
    for a in range(k):
        for b in range(a + 1, k):
            hessian[a, b] = hessian[b, a] = _omega(data.normals[order[a]], data.normals[order[b]])
    rhs = _column([mpmath.mpf(1)] + [mpmath.mpf(0)] * dim)
    return mpmath.matrix(rows), rhs, hessian


def _stationary_point(data: _MpData, order: list[int]) -> _Stationary:
    """Solve (NᵀHN) z = −NᵀHβ0, β = β0 + N z (MATH.md §3.1), with its checks' inputs."""
    a_s, rhs, hessian = _flat_system(data, order)
    pinv, null_rows = _pseudo_inverse(a_s, data.rtol)
    beta = pinv * rhs
    if max(abs(x) for x in _as_list(a_s * beta - rhs)) > data.rtol:
        raise _CheckFailed(f"no β with Σ β h = 1, Σ β n = 0 on the support {order}")
    curvature = mpmath.mpf("-inf")
    if null_rows:
        null = mpmath.matrix(null_rows).T  # (k, f) orthonormal columns
        reduced = null.T * hessian * null
        eigenvalues, _ = mpmath.eigsy(reduced)
        eigenvalues = _as_list(eigenvalues)
        scale = max(mpmath.mpf(1), max(abs(x) for x in eigenvalues))
        if min(abs(x) for x in eigenvalues) <= data.rtol * scale:
            # constant-Q directions: the stationary point is not unique (the float search
            # skips such σ, so a maximiser it returns never has one)
            raise _CheckFailed(f"reduced Hessian of Q on the support {order} is singular")
        curvature = max(eigenvalues)
        z = mpmath.lu_solve(reduced, -(null.T * (hessian * beta)))
        beta = beta + null * z
        stationarity = max(abs(x) for x in _as_list(null.T * (hessian * beta)))
    else:
        stationarity = mpmath.mpf(0)  # β is forced: nothing to be stationary in
    size = 1 + mpmath.fsum(abs(x) for x in _as_list(beta))
    residual = max(max(abs(x) for x in _as_list(a_s * beta - rhs)) / size, stationarity)
    q_value = (beta.T * hessian * beta)[0, 0] / 2
    return _Stationary(
        order, _as_list(beta), q_value, residual, bool(curvature <= data.rtol), curvature
    )


def _maximiser(data: _MpData, order: list[int]) -> _Stationary:
    """The stationary point on ``order``, with zero β dropped (then re-solved), β > 0 checked.

    The float search may return facets whose β is zero to rounding; they carry no segment.
    A stationary point with such zeros is also stationary on the smaller flat (which is a
    sub-flat through it), so re-solving there gives the same β when that is unique.
    """
    point = _stationary_point(data, order)
    negative = [(i, b) for i, b in zip(point.order, point.beta, strict=True) if b < -data.rtol]
    if negative:
        facet, value = negative[0]
        raise _CheckFailed(f"β of facet {facet} is {mpmath.nstr(value, 6)} < 0: (σ, β) ∉ M(K)")
    kept = [i for i, b in zip(point.order, point.beta, strict=True) if b > data.rtol]
    if len(kept) < len(point.order):
        if len(kept) < 2:
            raise _CheckFailed(f"fewer than 2 facets of {order} have β > 0")
        point = _stationary_point(data, kept)
        if min(point.beta) <= data.rtol:
            raise _CheckFailed(f"β on the reduced support {kept} is not positive")
    return point


def _check_value(data: _MpData, point: _Stationary) -> None:
    """The β system is solved to working precision and Q > 0 (so c = 1 / (2 Q) > 0)."""
    if point.residual > data.rtol:
        raise _CheckFailed(
            f"β residual {mpmath.nstr(point.residual, 3)} above {mpmath.nstr(data.rtol, 3)}"
        )
    if point.q_value <= 0:
        raise _CheckFailed(
            f"Q = {mpmath.nstr(point.q_value, 6)} <= 0 at the stationary point: σ is not a "
            "maximiser (reversed or not a closed characteristic's order)"
        )


# --------------------------------------------------------------------------- step 2: loop


@dataclass(frozen=True)
class _Loop:
    """How well a rebuilt closed loop satisfies its equalities and the facet inequalities."""

    residual: Mpf  # relative: start equations, closure, action
    violation: Mpf  # largest <n_i, v_k> − h_i (<= 0 when the loop is inside K)


def _offsets_along(data: _MpData, point: _Stationary, capacity: Mpf) -> list[list[Mpf]]:
    """Cumulative displacements C_0 = 0, C_{k+1} = C_k + 2 c β_k J n_σ(k) (k = 0 … m−1)."""
    dim = len(data.normals[0])
    cumulative = [[mpmath.mpf(0)] * dim]
    for facet, weight in zip(point.order, point.beta, strict=True):
        step = _j(data.normals[facet])
        cumulative.append(
            [x + 2 * capacity * weight * s for x, s in zip(cumulative[-1], step, strict=True)]
        )
    return cumulative


def _start_equations(
    data: _MpData, order: list[int], cumulative: list[list[Mpf]]
) -> tuple[MpMatrix, MpMatrix]:
    """<n_σ(k), v_0> = h_σ(k) − <n_σ(k), C_k>: the start of segment k is on its facet.

    The end of segment k is on the same facet automatically (<n, J n> = 0), so these m
    equations are all; they are consistent exactly when (σ, β) is stationary (then
    v_0 = −c μ with μ the closure rows' Lagrange multiplier), and their solution is unique
    when the normals n_σ(k) span R^d.
    """
    rows = [data.normals[i] for i in order]
    rhs = [data.offsets[i] - _dot(data.normals[i], cumulative[k]) for k, i in enumerate(order)]
    return mpmath.matrix(rows), _column(rhs)


def _loop_violations(data: _MpData, order: list[int], vertices: list[list[Mpf]]) -> tuple[Mpf, Mpf]:
    """Largest |<n_σ(k), v> − h| at both ends of each segment; largest facet violation."""
    on_facet = max(
        abs(_dot(data.normals[i], vertices[k + j]) - data.offsets[i])
        for k, i in enumerate(order)
        for j in (0, 1)
    )
    outside = max(
        _dot(normal, vertex) - offset
        for vertex in vertices[:-1]
        for normal, offset in zip(data.normals, data.offsets, strict=True)
    )
    return on_facet, outside


def _lp_start(
    data: _MpData, cumulative: list[list[Mpf]], base: list[Mpf], null_rows: list[list[Mpf]]
) -> list[Mpf] | None:
    """Float LP: the start in ``base + span(null_rows)`` with the smallest largest violation.

    Only the directions the equations leave free are optimised (the loop visits facets
    whose normals do not span R^d, e.g. the tesseract's 2-dimensional minimiser); the answer
    is projected back onto the equations in mpmath by the caller and checked there.
    """
    normals = np.array([[float(x) for x in row] for row in data.normals])
    offsets = np.array([float(x) for x in data.offsets])
    free = np.array([[float(x) for x in row] for row in null_rows]).T  # (d, f)
    points = np.array([[float(x) for x in row] for row in cumulative[:-1]]) + np.array(
        [float(x) for x in base]
    )
    rows = np.tile(normals @ free, (len(points), 1))
    rhs = (offsets[None, :] - points @ normals.T).reshape(-1)
    result = linprog(
        np.r_[np.zeros(free.shape[1]), 1.0],
        A_ub=np.hstack([rows, -np.ones((len(rows), 1))]),
        b_ub=rhs,
        bounds=[(None, None)] * (free.shape[1] + 1),
        method="highs",
    )
    if result.status != 0:
        return None
    start = np.array([float(x) for x in base]) + free @ result.x[:-1]
    return [mpmath.mpf(x) for x in start.tolist()]


def _start_candidates(
    data: _MpData,
    cumulative: list[list[Mpf]],
    equations: tuple[MpMatrix, MpMatrix],
    loop_start: np.ndarray | None,
) -> Iterator[tuple[str, list[Mpf]]]:
    """Start points to try, best first: the float start projected, minimum norm, LP."""
    matrix, rhs = equations
    pinv, null_rows = _pseudo_inverse(matrix, data.rtol)

    def project(guess: list[Mpf]) -> list[Mpf]:
        # the point of the equations' least-squares solution set nearest to the guess
        g = _column(guess)
        return _as_list(g + pinv * (rhs - matrix * g))

    if loop_start is not None:
        yield "float start projected", project([mpmath.mpf(float(x)) for x in loop_start])
    base = _as_list(pinv * rhs)
    yield "least-squares start", base
    if null_rows:
        lp = _lp_start(data, cumulative, base, null_rows)
        if lp is not None:
            yield "LP start projected", project(lp)


def _verified_loop(
    data: _MpData, point: _Stationary, capacity: Mpf, loop_start: np.ndarray | None
) -> _Loop:
    """Rebuild the loop of (σ, β) and check it (MATH.md §4), or _CheckFailed."""
    cumulative = _offsets_along(data, point, capacity)
    size = 1 + max(abs(x) for row in cumulative for x in row)
    closure = max(abs(x) for x in cumulative[-1]) / size
    equations = _start_equations(data, point.order, cumulative)
    failures = []
    for how, start in _start_candidates(data, cumulative, equations, loop_start):
        vertices = [[s + x for s, x in zip(start, row, strict=True)] for row in cumulative]
        on_facet, outside = _loop_violations(data, point.order, vertices)
        if on_facet > data.tol or outside > data.inequality_tol:
            failures.append(
                f"{how}: off its facets by {mpmath.nstr(on_facet, 3)}, "
                f"outside K by {mpmath.nstr(outside, 3)}"
            )
            continue
        closed = [*vertices[:-1], vertices[0]]  # v_m := v_0; the closure error is checked apart
        action = mpmath.fsum(_omega(closed[k], closed[k + 1]) for k in range(len(closed) - 1)) / 2
        action_error = abs(action - capacity) / capacity
        residual = max(closure, on_facet / data.scale, action_error)
        if closure > data.rtol or action_error > data.rtol:
            raise _CheckFailed(
                f"loop closure {mpmath.nstr(closure, 3)} or action error "
                f"{mpmath.nstr(action_error, 3)} above {mpmath.nstr(data.rtol, 3)}"
            )
        return _Loop(residual, outside)
    raise _CheckFailed("no start point gives a loop in K: " + "; ".join(failures))


# --------------------------------------------------------------------------- step 3: volume


def _vertex(data: _MpData, polytope: Polytope, j: int) -> list[Mpf]:
    """Vertex j as the intersection of d independent incident facet hyperplanes, in mp.

    The d facets are picked by a column-pivoted QR of the incident normals (the best
    conditioned choice found greedily); at a non-simple vertex of float data the other
    incident facets miss this point by rounding, which does not matter: this point is the
    vertex of the triangulation, and the triangulation only needs the combinatorics.
    """
    dim = polytope.dim
    incident = np.flatnonzero(polytope.incidence[:, j])
    normals = np.asarray(polytope.normals, dtype=float)[incident]
    if len(incident) < dim:
        raise _CheckFailed(f"vertex {j} lies on {len(incident)} < {dim} facets")
    _, _, pivots = qr(normals.T, pivoting=True)
    chosen = incident[pivots[:dim]]
    singular = np.linalg.svd(np.asarray(polytope.normals)[chosen], compute_uv=False)
    if singular[-1] <= VERTEX_SINGULAR_RTOL * singular[0]:
        raise _CheckFailed(f"the facets through vertex {j} do not determine it")
    matrix = mpmath.matrix([data.normals[i] for i in chosen])
    point = _as_list(mpmath.lu_solve(matrix, _column([data.offsets[i] for i in chosen])))
    drift = max(abs(float(x) - y) for x, y in zip(point, polytope.vertices[j], strict=True))
    if drift > FLOAT_RTOL * max(1.0, polytope.diameter):
        raise _CheckFailed(f"vertex {j} recomputed {drift:.3g} away from its float value")
    return point


def _triangulation(polytope: Polytope) -> np.ndarray:
    """Simplices of a Delaunay triangulation of the float vertices, checked against Qhull.

    Qhull's ``Qt`` (always on in scipy's Delaunay) triangulates non-simplicial regions of
    cospherical vertex sets (tesseract, 24-cell); the float volumes of the simplices must add
    up to the hull's volume, which catches a triangulation that overlaps or misses a part.
    """
    vertices = np.asarray(polytope.vertices, dtype=float)
    try:
        simplices = Delaunay(vertices).simplices
        hull_volume = ConvexHull(vertices).volume
    except QhullError as exc:
        raise _CheckFailed(f"Qhull failed on the vertices: {str(exc).splitlines()[0]}") from None
    edges = vertices[simplices[:, 1:]] - vertices[simplices[:, :1]]
    total = float(np.sum(np.abs(np.linalg.det(edges)))) / math.factorial(polytope.dim)
    if abs(total - hull_volume) > FLOAT_RTOL * hull_volume:
        raise _CheckFailed(f"triangulation volume {total!r} != hull volume {hull_volume!r}")
    return simplices


def _volume(data: _MpData, polytope: Polytope) -> Mpf:
    """Σ |det(v_1 − v_0, …, v_d − v_0)| / d! over the simplices, with mp vertices."""
    points = [_vertex(data, polytope, j) for j in range(polytope.num_vertices)]
    total = mpmath.mpf(0)
    for simplex in _triangulation(polytope):
        origin = points[simplex[0]]
        edges = [[x - o for x, o in zip(points[s], origin, strict=True)] for s in simplex[1:]]
        total += abs(mpmath.det(mpmath.matrix(edges)))
    return total / math.factorial(polytope.dim)


# --------------------------------------------------------------------------- public entry


@dataclass
class _Progress:
    """What the stages established so far (they fail independently)."""

    capacity: Mpf | None = None
    volume: Mpf | None = None
    beta_positive: bool = False
    local_maximum: bool = False
    loop_verified: bool = False
    max_residual: float = math.nan
    max_violation: float = math.nan


def _capacity_stages(
    progress: _Progress,
    data: _MpData,
    polytope: Polytope,
    sigma: Sequence[int],
    loop_start: np.ndarray | None,
    reasons: list[str],
) -> None:
    """Steps 1 and 2; a failed check ends them with its reason appended."""
    try:
        point = _maximiser(data, _check_sigma(sigma, polytope.num_facets))
        progress.beta_positive = True
        progress.local_maximum = point.local_maximum
        progress.max_residual = float(point.residual)
        _check_value(data, point)
        if not point.local_maximum:
            reasons.append(
                "not a maximiser: Q has a saddle on the flat of σ (reduced Hessian eigenvalue "
                f"{mpmath.nstr(point.largest_curvature, 6)} > 0)"
            )
        progress.capacity = 1 / (2 * point.q_value)
        loop = _verified_loop(data, point, progress.capacity, loop_start)
        progress.loop_verified = True
        progress.max_residual = max(progress.max_residual, float(loop.residual))
        progress.max_violation = float(loop.violation / data.scale)
    except _CheckFailed as exc:
        reasons.append(str(exc))


def verify_ratio(
    polytope: Polytope,
    sigma: Sequence[int],
    loop_start: np.ndarray | None = None,
    *,
    digits: int = 50,
) -> HighPrecisionCheck:
    """Re-verify the systolic ratio of a Haim-Kislev maximiser in mpmath.

    Parameters
    ----------
    polytope : Polytope
        Convex polytope of even dimension (its float normals and offsets are taken as exact).
    sigma : sequence of int
        Facet indices in loop order, as ``haim-kislev`` returns them (``result["sigma"]``).
    loop_start : numpy.ndarray, optional
        The float loop's first point (``result["loop"][0]``); used as the initial guess for
        the loop's start point, which is not unique when the normals of σ do not span R^d.
    digits : int
        Working precision in decimal digits (>= 20); tolerances are ``10^(-digits/2)``.

    Returns
    -------
    HighPrecisionCheck
        Values and checks; a wrong ``sigma`` gives ``ok=False`` with a reason, not an
        exception.

    Raises
    ------
    ValueError
        ``digits`` is not an integer >= 20.
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < MIN_DIGITS:
        raise ValueError(f"digits must be an integer >= {MIN_DIGITS}, got {digits!r}")
    with mpmath.workdps(digits):  # local precision: the global mpmath context is untouched
        return _verify(polytope, sigma, loop_start, digits)


def _verify(
    polytope: Polytope, sigma: Sequence[int], loop_start: np.ndarray | None, digits: int
) -> HighPrecisionCheck:
    reasons: list[str] = []
    progress = _Progress()
    if polytope.dim % 2:
        reasons.append(f"dimension {polytope.dim} is odd: no symplectic structure")
    else:
        data = _MpData.of(polytope, digits)
        _capacity_stages(progress, data, polytope, sigma, loop_start, reasons)
        try:
            progress.volume = _volume(data, polytope)
        except _CheckFailed as exc:
            reasons.append(f"volume: {exc}")
    ratio = None
    if progress.capacity is not None and progress.volume is not None:
        n = polytope.dim // 2
        ratio = progress.capacity**n / (math.factorial(n) * progress.volume)
    return HighPrecisionCheck(
        digits=digits,
        capacity=_text(progress.capacity, digits),
        volume=_text(progress.volume, digits),
        ratio=_text(ratio, digits),
        ratio_float=float(ratio) if ratio is not None else math.nan,
        loop_verified=progress.loop_verified,
        beta_positive=progress.beta_positive,
        local_maximum=progress.local_maximum,
        max_residual=progress.max_residual,
        max_violation=progress.max_violation,
        ok=not reasons,
        reason="; ".join(reasons) if reasons else None,
    )
