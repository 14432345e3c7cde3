"""Best-first search for closed combinatorial Reeb orbits over tubes of the flow graph.

A *tube* is a path of nodes ``s = v_0 -> v_1 -> ... -> v_m`` with the set of points of the
start face that follow it.  Because the points are pushed forward, the tube keeps

* ``polygon``: the image of those points, in ``v_m``'s 2D coordinates (closed, convex);
* ``linear, shift``: the composed affine map from ``s``'s coordinates to ``v_m``'s;
* ``action_grad, action0``: the accumulated action (= time, MATH.md §1) as an affine function
  of the *current* point, so its minimum over the polygon's vertices is an exact lower bound
  for every orbit that starts with this path;
* ``rotation``: the product of face transition matrices with the lifted angle of ``e1``
  (:mod:`viterbo.invariants.reeb.rotation`).

Pruning rules: empty domain; a zero-time cycle (see below); action lower bound
``>= bound (1 - 1e-10)`` (the incumbent for the capacity, the action window for the spectrum;
the bound adds the least time needed to return to the start point, see ``_lower_bound``); ``r_min > max_rotation`` (the rotation
interval's minimum only grows along a path, see ``reeb.rotation``); optionally a facet visited
twice (``facet_once``, Haim-Kislev's normal form).  Each cycle is searched once, from its
smallest node index (paths never enter a node below their start).  The heap pops the smallest
lower bound (in buckets of 1e-3 relative, deeper paths first inside a bucket: an ordering
heuristic only, it never prunes).

Zero-time cycles.  Where the flow crosses a lower-dimensional face (an edge or a vertex of the
polytope), consecutive steps can take (almost) zero time: the points do not move while the
path passes from facet to facet around the face.  If the path comes back to a node it visited
while its points moved by at most ``ZERO_RUN_RTOL`` (relative to the diameter) in between,
the part in between is a closed loop of no length at one point; cutting it out leaves the same
closed characteristic (same polyline up to that length, same action up to the length times the
polytope's size) through a path that the search also explores, with no more rotation and no
more facets.  So these extensions are pruned (``pruned_zero_time_cycle``).  A step's movement
is bounded over the whole tube (``max |t| |R_b|`` over its polygon's vertices), so the rule
only ever sees an over-estimate of the true movement.  Without it the spectrum search (no
facet-once) on simplicial polytopes spins specks of tolerance size around their vertices
until the rotation cap or the depth guard stops them: millions of tubes and no orbit within
minutes.

What the rule gives up: the cut path is found, but its domains are checked with the geometric
tolerance (1e-9 x diameter), while the cut loop may be up to ``ZERO_RUN_RTOL`` (1e-7) long.  An
orbit passing within ~1e-7 x diameter of an edge or vertex could therefore in principle be
missed by the spectrum and by the pure CH search (none was found in the cross-checks: pure CH
with and without the rule agree on every polytope tried, see the tests).  The default capacity
search is unaffected: facet-once is checked first, so the rule can only remove closing steps,
i.e. loops shorter than 1e-7 x diameter, which are not orbits.  Smaller values of the threshold
bring the spinning back (the specks move 10-100 tolerances per turn).

Conditioning.  A tube's composed data (``linear``, its inverse, the action gradient) carry
rounding errors of about ``2e-17 ... 3.3e-17 kappa`` relative, ``kappa = |linear|_F
|inverse|_F`` (measured for kappa from 6e4 to 4e14; it grows along a path, fastest along nearly
Lagrangian 2-faces).  So (i) the action lower bound computed from them is lowered by
``COMPOSED_ERROR kappa max(|bound|, scale)`` (``COMPOSED_ERROR = 1e-14``, a factor 300 over the
measurement) and only used while ``kappa <= BOUND_CONDITION_MAX`` (1e14, where the margin
exceeds the bound); past that a tube keeps its parent's bound and the sum of its edges' least
times, both sound without any composed data.  (ii) A closure is decided by the composed map
only while ``kappa <= CONDITION_MAX`` (1e6) and its fixed point moves by less than the
tolerance under that rounding (:func:`closure_is_certain`); otherwise the capacity search hands
it to the linear program :func:`close_cycle` over the polytope's own data, unless the
displacement ``(A - I) y + c`` stays away from 0 over the whole polygon by ten times its
rounding (:func:`clearly_open`: no fixed point, decided without dividing by ``A - I``), or the
action stays below the inradius bound over the whole polygon by ten times its rounding
(:func:`clearly_short`: at most the constant loop at a vertex, never an orbit).

Closing: a step into the start node composes a map ``y -> A y + c`` of the start face's
coordinates; its fixed points inside the closed polygon are the orbits.  ``A - I`` invertible:
one candidate.  Rank one: a line of fixed points.  ``A = I, c = 0`` (the 24-cell): every point
is fixed, and the action (constant on such a family) is minimised over the polygon.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.optimize import linprog

from viterbo.invariants.reeb.graph import Edge, FlowGraph
from viterbo.invariants.reeb.polygon import distance_to, intersect, line_section
from viterbo.invariants.reeb.rotation import RotationTracker
from viterbo.invariants.registry import Deadline, check_work

# What the work budget counts, and its keyword (check_work's what and name).
PATH_BUDGET = ("paths expanded", "max_paths")

ROTATION_TOL = 1e-9
# Paths whose lower bound is within this relative gap of the bound are pruned: they could
# only improve the value by less than 1e-10 (relative).  Degenerate families (24-cell) produce
# thousands of tubes whose bound equals the optimum up to rounding; without the gap the search
# must exhaust all of them before it may stop.
TIE_RTOL = 1e-10
# Heap order only (never pruning): bounds are compared in buckets of this relative size, and
# within a bucket deeper paths go first, so near-ties close orbits early.
ORDER_RTOL = 1e-3
SINGULAR_RTOL = 1e-8  # singular values of A - I below this (times |A|) count as zero
# A return to a node after the points moved at most this (times the diameter) is a zero-time
# cycle (module docstring): 100x the geometric tolerance, far below any real orbit's length.
ZERO_RUN_RTOL = 1e-7
# Closures (fixed points) of a tube's composed map are trusted while kappa = |linear|_F
# |inverse|_F stays below this (see "Conditioning" in the module docstring).
CONDITION_MAX = 1e6
# The action lower bound from the composed data is used, less its rounding margin, while kappa
# stays below this: the margin model below was measured up to 4e14, and at 1e14 the margin
# already exceeds the bound itself (1e-14 x 1e14 = 1), so nothing useful is given up.
BOUND_CONDITION_MAX = 1e14
# Rounding of the composed data, per unit of kappa and of the magnitudes involved: measured
# |inverse @ linear - I| = 2e-17 ... 3.3e-17 kappa for kappa from 6e4 to 4e14 on perturbed
# Lagrangian products (it breaks down only past 1e16), so 1e-14 leaves a factor of 300.
COMPOSED_ERROR = 1e-14
# A least violation of a cycle's closure program above this (and above 1e3 tolerances) proves
# that no orbit follows the cycle: 100x HiGHS's default primal feasibility tolerance.
CLEAR_VIOLATION = 1e-5
# The equalities of a cycle's closure program are solved directly (no linear program) while
# their condition number is at most this.
UNIQUE_CONDITION_MAX = 1e8


class UndecidedClosure(ArithmeticError):
    """The closure program of a cycle could not be solved reliably (see :func:`close_cycle`)."""


class SearchTooLarge(MemoryError):
    """The search would need more memory than it is allowed (reported as a failure)."""


SCREEN_CLIP, SCREEN_EMPTY, SCREEN_INSIDE = 0, 1, 2  # outcomes of TubeSearch._screen


@dataclass(frozen=True)
class _EdgeScreen:
    """The unit half-planes of all proper out-edge domains of one node, stacked."""

    normals: np.ndarray  # (H, 2)
    offsets: np.ndarray  # (H,)
    starts: np.ndarray  # (E',) first row of each screened edge (for ``reduceat``)
    edge_index: np.ndarray  # (E',) position of each screened edge among the node's edges

    @classmethod
    def build(cls, edges: list[Edge]) -> _EdgeScreen | None:
        """Stack the half-planes of the edges with a proper domain (``None`` if there are none)."""
        normals, offsets, starts, index = [], [], [], []
        rows = 0
        for position, edge in enumerate(edges):
            if edge.domain_halfplanes is None:
                continue
            edge_normals, edge_offsets = edge.domain_halfplanes
            normals.append(edge_normals)
            offsets.append(edge_offsets)
            starts.append(rows)
            index.append(position)
            rows += len(edge_offsets)
        if not index:
            return None
        return cls(
            np.concatenate(normals), np.concatenate(offsets), np.array(starts), np.array(index)
        )


@dataclass
class Tube:
    """A path of the flow graph with the points that follow it (see module docstring)."""

    start: int
    node: int
    polygon: np.ndarray
    linear: np.ndarray
    shift: np.ndarray
    inverse: np.ndarray  # inverse of ``linear``, composed step by step (never inverted)
    action_grad: np.ndarray
    action0: float
    rotation: RotationTracker
    edges: tuple[Edge, ...]
    facets: frozenset[int]
    lower: float = 0.0  # lower bound of the action of every orbit that starts with this path
    moves: tuple[float, ...] = ()  # per step: how far its points moved at most
    kappa: float = 2.0  # |linear|_F |inverse|_F: condition of the composed map (2 for I)
    path_min: float = 0.0  # sum over the steps of the least time of each edge on its domain


@dataclass
class Orbit:
    """A closed combinatorial Reeb orbit found by the search."""

    action: float
    rotation: float
    degenerate: bool  # the return map has eigenvalue 1 (|tr - 2| small)
    start_point: np.ndarray  # 2D coordinates on the start node
    start: int
    edges: tuple[Edge, ...]
    return_map: np.ndarray
    # The closed 4D polygon (translated coordinates) when the closure was decided by
    # :func:`close_cycle` instead of the composed map (then ``start_point`` is unused).
    loop: np.ndarray | None = None
    # Set when the closure could not be decided: then ``action`` is only a lower bound.
    undecided: str | None = None
    # The closing tube's action lower bound (every orbit along the cycle has at least this).
    lower: float = 0.0

    @property
    def nodes(self) -> tuple[int, ...]:
        """Node sequence of the cycle (starting at ``start``)."""
        return tuple(edge.source for edge in self.edges)


@dataclass
class SearchStats:
    """Counters of the search (all JSON-friendly ints/floats)."""

    paths_expanded: int = 0
    paths_generated: int = 0
    pruned_empty_domain: int = 0
    pruned_action: int = 0
    pruned_rotation: int = 0
    pruned_facet_repeat: int = 0
    pruned_depth: int = 0
    pruned_zero_time_cycle: int = 0
    closures_tried: int = 0
    closures_without_fixed_point: int = 0
    closures_below_inradius_bound: int = 0
    closures_rotation_above_cap: int = 0
    closures_by_lp: int = 0
    closures_by_lp_without_orbit: int = 0
    orbits_found: int = 0
    max_depth: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        out.update(self.extra)
        return out


def _fixed_point(
    linear: np.ndarray,
    shift: np.ndarray,
    polygon: np.ndarray,
    grad: np.ndarray,
    const: float,
    tol: float,
) -> np.ndarray | None:
    """A fixed point of ``y -> linear y + shift`` in the closed polygon (minimal action)."""
    diff = linear - np.eye(2)
    u, sig, vt = np.linalg.svd(diff)
    scale = max(1.0, float(np.max(np.abs(linear))))
    if sig[1] > SINGULAR_RTOL * scale:
        point = np.linalg.solve(diff, -shift)
        return point if distance_to(polygon, point) <= tol * scale else None
    rhs = -(u.T @ shift)  # diag(sig) (vt y) = rhs
    if sig[0] > SINGULAR_RTOL * scale:
        if abs(rhs[1]) > tol * scale:
            return None
        section = line_section(polygon, vt[0], float(rhs[0] / sig[0]), tol * scale)
        if len(section) == 0:
            return None
        return section[int(np.argmin(section @ grad + const))]
    if float(np.max(np.abs(shift))) > tol * scale:
        return None
    return polygon[int(np.argmin(polygon @ grad + const))]


def composed_error(kappa: float, value: float, scale: float) -> float:
    """Rounding bound of a value computed from a tube's composed maps (see ``COMPOSED_ERROR``).

    The composed linear map, its inverse and the action gradient carry relative errors of
    order ``eps * kappa``; a value formed from them (the action lower bound) is off by at most
    that times its own magnitude or the polytope's action scale, whichever is larger.
    """
    return COMPOSED_ERROR * kappa * max(abs(value), scale)


def closure_is_certain(linear: np.ndarray, kappa: float, tol: float) -> bool:
    """Whether the composed return map decides the closure of a tube reliably.

    ``False`` when the map is ill-conditioned (``kappa > CONDITION_MAX``) or when its unique
    fixed point is so sensitive (``|(A - I)^-1|`` large against the rounding of ``A``) that it
    could move by more than the tolerance; such closures go to :func:`close_cycle`.  The
    singular branches (``A = I`` families, lines of fixed points) stay with the composed map:
    there ``A - I`` vanishes to within ``SINGULAR_RTOL`` and the map is well-conditioned.
    """
    if kappa > CONDITION_MAX:
        return False
    sig = np.linalg.svd(linear - np.eye(2), compute_uv=False)
    scale = max(1.0, float(np.max(np.abs(linear))))
    if sig[1] <= SINGULAR_RTOL * scale:
        return True
    return COMPOSED_ERROR * kappa * scale / float(sig[1]) <= tol


def displacement_gap(linear: np.ndarray, shift: np.ndarray, polygon: np.ndarray) -> float:
    """Distance from 0 to ``{(linear - I) y + shift : y in polygon}`` (``inf`` when empty).

    The displacement is affine, so that set is the convex hull of the vertices' images and its
    boundary is covered by the images of the polygon's edges: the distance is the least over
    those segments unless 0 lies inside.
    """
    if len(polygon) == 0:
        return math.inf
    images = polygon @ (linear - np.eye(2)).T + shift
    if len(images) == 1:
        return float(np.linalg.norm(images[0]))
    starts, ends = images, np.roll(images, -1, axis=0)
    seg = ends - starts
    if len(images) >= 3:
        # Inside a proper image (either orientation) iff 0 is on the inner side of every edge.
        # A degenerate image (a point or a segment: A - I singular, or nearly) is left to the
        # segments; an interior point missed that way lies within its width of an edge.
        area2 = float(np.sum(starts[:, 0] * ends[:, 1] - starts[:, 1] * ends[:, 0]))
        perimeter = float(np.sum(np.linalg.norm(seg, axis=1)))
        cross = starts[:, 0] * seg[:, 1] - starts[:, 1] * seg[:, 0]  # seg x (0 - start)
        if abs(area2) > 1e-12 * perimeter**2 and np.all(np.sign(area2) * cross >= 0.0):
            return 0.0
    lengths = np.einsum("ij,ij->i", seg, seg)
    lam = np.clip(-np.einsum("ij,ij->i", starts, seg) / np.maximum(lengths, 1e-300), 0.0, 1.0)
    return float(np.min(np.linalg.norm(starts + lam[:, None] * seg, axis=1)))


def clearly_open(
    linear: np.ndarray, shift: np.ndarray, polygon: np.ndarray, kappa: float, tol: float
) -> bool:
    """Whether no point of the closing tube's polygon can be fixed, despite the rounding.

    A fixed point ``y`` has displacement ``(A - I) y + c = 0``; the composed ``A, c`` are off by
    at most ``COMPOSED_ERROR kappa`` relative (while ``kappa <= BOUND_CONDITION_MAX``, see
    "Conditioning"), so every displacement over the polygon is off by at most that times the
    magnitudes involved, and the polygon itself (pushed one well-conditioned step at a time) by
    the tolerance.  A gap ten times larger than both proves that the cycle does not close here,
    without the closure program.  Unlike the fixed point, the displacement needs no division by
    the smallest singular value of ``A - I``, so it decides the nearly periodic returns (``A``
    close to ``I``) that make the fixed point ill-conditioned.
    """
    if kappa > BOUND_CONDITION_MAX or len(polygon) == 0:
        return False
    scale = 1.0 + float(np.max(np.abs(linear)))
    size = max(float(np.max(np.abs(shift))), float(np.max(np.abs(polygon))))
    margin = 10.0 * (COMPOSED_ERROR * kappa * scale * size + scale * tol)
    return displacement_gap(linear, shift, polygon) > margin


def clearly_short(
    polygon: np.ndarray, grad: np.ndarray, const: float, kappa: float, min_action: float
) -> bool:
    """Whether every point of the closing tube's polygon returns with action below ``min_action``.

    A closed characteristic has action >= c(K) >= ``min_action`` (the inscribed ball's
    capacity), so such a closure holds no orbit -- typically the constant loop at a vertex
    where the path's facets meet.  The action is affine in the point and computed from the
    composed data, so its largest value over the polygon is raised by their rounding margin
    (:func:`composed_error`, while ``kappa <= BOUND_CONDITION_MAX``).
    """
    if kappa > BOUND_CONDITION_MAX or len(polygon) == 0:
        return False
    largest = float(np.max(polygon @ grad + const))
    return largest + 10.0 * composed_error(kappa, largest, min_action) < min_action


@dataclass(frozen=True)
class CycleProgram:
    """A cycle of the flow graph as linear constraints on ``z = (x_0, tau)`` (see
    :func:`close_cycle`): ``x_k = points[k] @ z``, equalities ``a_eq z = b_eq``, inequalities
    ``a_ub z <= b_ub`` (every ``x_k`` inside the polytope), ``tau >= 0``."""

    points: np.ndarray  # (m, 4, 4 + m)
    a_eq: np.ndarray
    b_eq: np.ndarray
    a_ub: np.ndarray
    b_ub: np.ndarray
    tol: float

    @classmethod
    def of(cls, graph: FlowGraph, edges: tuple[Edge, ...]) -> CycleProgram:
        """The program of the cycle ``edges`` (each step flows on ``edge.facet``)."""
        facets = np.array([edge.facet for edge in edges], dtype=np.intp)
        m = len(facets)
        normals, offsets = graph.normals, graph.offsets
        reeb = graph.reeb[facets]  # (m, 4)
        before = np.tril(np.ones((m, m)), k=-1)  # before[k, j] = 1 for j < k
        cumulative = before[:, None, :] * reeb.T[None, :, :]  # (m, 4, m)
        eye = np.broadcast_to(np.eye(4), (m, 4, 4))
        points = np.concatenate([eye, cumulative], axis=2)
        on_facet = np.einsum("kd,kdz->kz", normals[facets], points)
        closes = np.concatenate([np.zeros((4, 4)), reeb.T], axis=1)
        return cls(
            points=points,
            a_eq=np.vstack([on_facet, closes]),
            b_eq=np.concatenate([offsets[facets], np.zeros(4)]),
            a_ub=np.einsum("fd,kdz->kfz", normals, points).reshape(-1, 4 + m),
            b_ub=np.tile(offsets, m),
            tol=graph.tol,
        )

    @property
    def steps(self) -> int:
        """Number of segments ``m``."""
        return self.points.shape[0]

    def unique_solution(self) -> tuple[np.ndarray, float] | None:
        """The one solution of the equalities and its error bound, if they have only one.

        ``m + 4`` equations (each ``x_k`` on its facet's hyperplane, the loop closes) in
        ``m + 4`` unknowns: unless the cycle carries a family of orbits (the 24-cell) the system
        is regular, and then the only closed characteristic that can follow the cycle is its
        solution.  ``None`` when the system is singular or worse conditioned than
        ``UNIQUE_CONDITION_MAX`` (the closure programs decide those).
        """
        singular = np.linalg.svd(self.a_eq, compute_uv=False)
        if singular[-1] <= singular[0] / UNIQUE_CONDITION_MAX:
            return None
        z = np.linalg.solve(self.a_eq, self.b_eq)
        size = max(float(np.max(np.abs(z))), float(np.max(np.abs(self.b_eq))), 1.0)
        return z, 1e-14 * float(singular[0] / singular[-1]) * size

    def violation(self, z: np.ndarray) -> float:
        """Largest violation of any constraint (equalities, inequalities, ``tau >= 0``)."""
        return max(
            float(np.max(np.abs(self.a_eq @ z - self.b_eq))),
            float(np.max(self.a_ub @ z - self.b_ub)),
            float(np.max(-z[4:])),
        )

    def polished(self, z: np.ndarray) -> np.ndarray:
        """``z`` projected onto the constraints active at it (least squares), if that is closer.

        Both sources of ``z`` meet the constraints only to about 1e-10 (HiGHS, or a start point
        flowed along the cycle); the certificate checks facet membership to 1e-9 relative and
        the loop must close, so the projection buys the digits back.  On a family of orbits
        (the return map is the identity) it moves ``z`` the least distance into the family.
        """
        slack = 1e3 * self.tol
        active = (self.b_ub - self.a_ub @ z) <= slack
        zero_times = np.flatnonzero(z[4:] <= slack) + 4
        rows = np.vstack([self.a_eq, self.a_ub[active], np.eye(len(z))[zero_times]])
        rhs = np.concatenate([self.b_eq, self.b_ub[active], np.zeros(len(zero_times))])
        correction, *_ = np.linalg.lstsq(rows, rhs - rows @ z, rcond=None)
        polished = z + correction
        return polished if self.violation(polished) <= self.violation(z) else z

    def least_violation(self, min_action: float) -> float | None:
        """The least ``t >= 0`` such that every constraint holds up to ``t`` (``None``: unsolved).

        This program is always feasible and bounded, so HiGHS answers it reliably where the
        closure program itself is borderline; ``t`` well above the tolerance proves that no
        closed characteristic follows the cycle.
        """
        m = self.steps
        size = 4 + m + 1  # z and t

        def padded(rows: np.ndarray) -> np.ndarray:
            return np.hstack([rows, -np.ones((len(rows), 1))])

        least = np.concatenate([np.zeros(4), -np.ones(m), [-1.0]])[None, :]
        times = np.hstack([np.zeros((m, 4)), -np.eye(m), -np.ones((m, 1))])
        a_ub = np.vstack([padded(self.a_ub), padded(self.a_eq), padded(-self.a_eq), least, times])
        b_ub = np.concatenate([self.b_ub, self.b_eq, -self.b_eq, [-min_action], np.zeros(m)])
        cost = np.zeros(size)
        cost[-1] = 1.0
        result = linprog(
            cost,
            A_ub=a_ub,
            b_ub=b_ub,
            bounds=[(None, None)] * (size - 1) + [(0.0, None)],
            method="highs",
        )
        return float(result.x[-1]) if result.status == 0 else None

    def loop(self, z: np.ndarray) -> np.ndarray:
        """The closed polygon ``x_0, ..., x_{m-1}, x_0`` without zero-length segments."""
        vertices = np.einsum("kdz,z->kd", self.points, z)
        kept = [vertices[0]]
        for point in vertices[1:]:
            if np.linalg.norm(point - kept[-1]) > self.tol:
                kept.append(point)
        while len(kept) > 1 and np.linalg.norm(kept[-1] - kept[0]) <= self.tol:
            kept.pop()
        kept.append(kept[0])
        return np.array(kept)


def close_cycle(
    graph: FlowGraph, edges: tuple[Edge, ...], min_action: float
) -> tuple[float, np.ndarray] | None:
    """The least action of a closed characteristic that follows a cycle of the flow graph.

    The cycle's steps flow on facets ``b_0, ..., b_{m-1}`` (``edges[k].facet``).  A closed
    characteristic that follows it is a start point ``x_0`` and times ``tau_k >= 0`` with

    * ``x_k = x_0 + sum_{j<k} tau_j R_{b_j}`` on the hyperplane of ``b_k`` (segment ``k`` then
      lies on it: ``R_{b_k}`` is tangent to it) and inside the polytope (by convexity the
      whole segment is, and it leaves ``b_k`` through the next facet's hyperplane, which is the
      edge's domain condition);
    * ``sum_k tau_k R_{b_k} = 0`` (it closes) and action ``sum_k tau_k >= min_action``
      (every closed characteristic has action >= c(K) >= the inscribed ball's capacity; this
      excludes the constant loop at a vertex where all the facets meet).

    This linear program states the closure with the polytope's own data, all of size one; the
    composed 2D maps of a tube lose every digit when the path runs along nearly Lagrangian
    2-faces (``kappa`` past 1e16 after two of them), this does not.  Its minimum is the least
    period (= action) over the cycle, degenerate families (the 24-cell) included.

    Returns
    -------
    (float, numpy.ndarray) or None
        The least action and the closed 4D polygon (translated coordinates, zero-length
        segments dropped, explicitly closed), or ``None`` when no closed characteristic
        follows the cycle.
    """
    program = CycleProgram.of(graph, edges)
    decided = _decide_unique(program, min_action)
    if decided is not False:
        return decided
    m = program.steps
    # Most cycles handed here are far from closing; the least-violation program (always
    # feasible and bounded, so HiGHS answers it reliably) proves that in one solve.  Its
    # optimum is trusted only well above both the geometric tolerance and HiGHS's own
    # feasibility tolerance (1e-7, absolute), so a tiny polytope falls through to the closure
    # programs below.
    violation = program.least_violation(min_action)
    if violation is not None and violation > max(1e3 * program.tol, CLEAR_VIOLATION):
        return None
    least = np.concatenate([np.zeros(4), -np.ones(m)])[None, :]
    a_ub = np.vstack([program.a_ub, least])
    b_ub = np.concatenate([program.b_ub, [-min_action]])
    cost = np.concatenate([np.zeros(4), np.ones(m)])
    # Tight tolerances first (the certificate checks to 1e-9); HiGHS's presolve declared
    # nearly tangent cycles with a real orbit infeasible at 1e-10, so it is off there.  Then
    # HiGHS's defaults.  "No orbit" is only believed when every attempt says infeasible (a real
    # orbit satisfies every constraint exactly, so a looser program cannot lose it); any other
    # outcome (numerical trouble, or answers that contradict each other) is undecided.
    statuses = []
    for options in ({"primal_feasibility_tolerance": 1e-10, "presolve": False}, {}):
        result = linprog(
            cost,
            A_ub=a_ub,
            b_ub=b_ub,
            A_eq=program.a_eq,
            b_eq=program.b_eq,
            bounds=[(None, None)] * 4 + [(0.0, None)] * m,
            method="highs",
            options=options,
        )
        if result.status == 0:
            z = program.polished(result.x)
            return float(np.sum(z[4:])), program.loop(z)
        statuses.append(int(result.status))
    if all(status == 2 for status in statuses):
        return None
    if violation is not None and violation > 1e3 * program.tol:
        return None  # not even nearly closable: no orbit, whatever the solver said before
    raise UndecidedClosure(
        f"the closure program gave HiGHS statuses {statuses}, least violation {violation}"
    )


def _decide_unique(
    program: CycleProgram, min_action: float
) -> tuple[float, np.ndarray] | Literal[False] | None:
    """:func:`close_cycle`'s answer from the unique solution of the equalities, if it is clear.

    ``False`` when it is not (a singular or ill-conditioned system, or a solution that
    violates a constraint by more than the tolerance but not clearly): the programs decide.
    Most cycles a search hands over are decided here in a linear solve instead of two or three
    HiGHS programs: the spectrum rechecks hundreds of them per polytope.
    """
    unique = program.unique_solution()
    if unique is None:
        return False
    z, error = unique
    action = float(np.sum(z[4:]))
    if action + error < min_action:
        return None  # the constant loop at a vertex where the cycle's facets meet, typically
    violation = program.violation(z)
    if violation > max(1e3 * program.tol, CLEAR_VIOLATION) + error:
        return None
    if violation + error <= program.tol:
        z = program.polished(z)
        return float(np.sum(z[4:])), program.loop(z)
    return False


class TubeSearch:
    """Best-first search over tubes of one flow graph.

    Parameters
    ----------
    graph : FlowGraph
        The flow graph.
    max_rotation : float
        Prune paths whose rotation interval minimum exceeds this (turns).
    facet_once : bool
        Prune paths that flow on a facet twice.
    through_start : bool
        Keep extending a path after it closes at its start node (needed for covers).
    max_depth : int
        Hard cap on path length (a guard; counted in ``pruned_depth``).
    deadline : Deadline or None
        Time budget; :class:`~viterbo.invariants.registry.TimeBudgetExceeded` once spent.
    max_paths : int or None
        Work budget: :class:`~viterbo.invariants.registry.WorkBudgetExceeded` once more paths
        than this are expanded (deterministic, unlike the time budget).
    return_bound : bool
        Add the least time needed to return to the start point to the action lower bound.
    exact_closures : bool
        Hand closures the composed map cannot decide (:func:`closure_is_certain`) to the
        closure program :func:`close_cycle`; ``False`` decides every closure by the composed
        map (faster, but it can miss orbits along nearly Lagrangian 2-faces).
    """

    def __init__(
        self,
        graph: FlowGraph,
        *,
        max_rotation: float = 2.0,
        facet_once: bool = False,
        through_start: bool = False,
        max_depth: int = 64,
        deadline: Deadline | None = None,
        return_bound: bool = True,
        exact_closures: bool = True,
        starts: Sequence[int] | None = None,
        max_paths: int | None = None,
    ) -> None:
        self.graph = graph
        self.max_paths = max_paths
        # Start nodes (default: all); fewer only with a symmetry argument (reeb.symmetry).
        self.starts = list(range(len(graph.nodes))) if starts is None else [int(k) for k in starts]
        self.exact_closures = exact_closures
        self.max_rotation = max_rotation
        self.facet_once = facet_once
        self.through_start = through_start
        self.max_depth = max_depth
        self.deadline = deadline
        self.return_bound = return_bound
        self.stats = SearchStats()
        # Every closed characteristic has action >= c(K) >= c(inscribed ball) = pi r^2 (the
        # origin is the Chebyshev centre, r = min h_i).  Closures below that are spurious:
        # paths that circle a vertex with (numerically) zero time.
        self.min_action = math.pi * float(np.min(graph.offsets)) ** 2 * (1.0 - 1e-6)
        self._counter = itertools.count()
        self._screens: dict[int, _EdgeScreen | None] = {}
        self._least_times: dict[int, float] = {}
        # Return-time bound data per node: rows <J v, basis> (V, 2) and <J v, origin> (V,).
        jv = graph.j_vertices
        # One stacked product each: (N, V, 2) and (N, V).
        bases = np.array([node.basis for node in graph.nodes]).reshape(-1, 2, jv.shape[1])
        origins = np.array([node.origin for node in graph.nodes]).reshape(-1, jv.shape[1])
        self._j_basis = np.ascontiguousarray(jv[None] @ np.swapaxes(bases, 1, 2))
        self._j_origin = np.ascontiguousarray(origins @ jv.T)
        self._speed = np.linalg.norm(graph.reeb, axis=1)  # |R_i|: distance per unit time
        diameter = float(np.max(np.ptp(graph.j_vertices, axis=0))) if len(graph.j_vertices) else 1.0
        self.zero_run = ZERO_RUN_RTOL * max(diameter, 1.0)

    def _initial_tubes(self) -> list[Tube]:
        tubes = []
        for node in (self.graph.nodes[k] for k in self.starts):
            tubes.append(
                Tube(
                    start=node.index,
                    node=node.index,
                    polygon=node.polygon,
                    linear=np.eye(2),
                    shift=np.zeros(2),
                    inverse=np.eye(2),
                    action_grad=np.zeros(2),
                    action0=0.0,
                    rotation=RotationTracker(),
                    edges=(),
                    facets=frozenset((node.enter,)),
                )
            )
        return tubes

    def _screen(self, node: int, polygon: np.ndarray) -> np.ndarray:
        """Per out-edge of ``node``: ``SCREEN_EMPTY``, ``SCREEN_INSIDE`` or ``SCREEN_CLIP``.

        One matrix product tests the tube polygon against the half-planes of all out-edge
        domains at once.  A half-plane that every polygon vertex violates empties the
        intersection, and a domain whose half-planes every vertex satisfies leaves the polygon
        unchanged; these are exactly the early exits of
        :func:`~viterbo.invariants.reeb.polygon.clip_many` (clipped points are convex
        combinations of the vertices), so the screen changes no result, only the cost.
        """
        if node not in self._screens:
            self._screens[node] = _EdgeScreen.build(self.graph.nodes[node].edges)
        screen = self._screens[node]
        count = len(self.graph.nodes[node].edges)
        status = np.full(count, SCREEN_CLIP, dtype=np.int8)
        if screen is None:
            return status
        values = screen.normals @ polygon.T - screen.offsets[:, None]  # (H, m)
        tol = self.graph.tol
        empty = np.logical_or.reduceat(values.min(axis=1) > tol, screen.starts)
        inside = np.logical_and.reduceat(values.max(axis=1) <= tol, screen.starts)
        status[screen.edge_index[inside]] = SCREEN_INSIDE
        status[screen.edge_index[empty]] = SCREEN_EMPTY
        return status

    def _extend(
        self, tube: Tube, edge: Edge, bound: float, screened: int = SCREEN_CLIP
    ) -> Tube | None:
        """The tube followed along ``edge``, or ``None`` when a pruning rule removes it."""
        stats = self.stats
        target = self.graph.nodes[edge.target]
        closing = edge.target == tube.start
        if self.facet_once and not closing and target.enter in tube.facets:
            stats.pruned_facet_repeat += 1
            return None
        if screened == SCREEN_EMPTY:
            stats.pruned_empty_domain += 1
            return None
        if screened == SCREEN_INSIDE:
            domain = tube.polygon
        else:
            domain = intersect(tube.polygon, edge.domain, self.graph.tol, edge.domain_halfplanes)
        if len(domain) == 0:
            stats.pruned_empty_domain += 1
            return None
        move = self._movement(domain, edge)
        if self._closes_zero_time_cycle(tube, edge.target, move):
            stats.pruned_zero_time_cycle += 1
            return None
        polygon = domain @ edge.linear.T + edge.shift
        grad_pre = tube.action_grad + edge.time_grad
        grad = edge.linear_inv.T @ grad_pre
        const = tube.action0 + edge.time0 - float(grad_pre @ (edge.linear_inv @ edge.shift))
        linear = edge.linear @ tube.linear
        shift = edge.linear @ tube.shift + edge.shift
        inverse = tube.inverse @ edge.linear_inv
        # Rotation first: it is cheaper than the action bound and prunes more in the spectrum.
        rotation = tube.rotation.cross(target.transition)
        if rotation.interval()[0] > self.max_rotation + ROTATION_TOL:
            stats.pruned_rotation += 1
            return None
        kappa = float(np.linalg.norm(linear) * np.linalg.norm(inverse))
        path_min = tube.path_min + self._least_time(edge)
        lower = max(tube.lower, path_min)
        if kappa <= BOUND_CONDITION_MAX:
            own = self._lower_bound(polygon, grad, const, tube.start, edge.target, inverse, shift)
            lower = max(lower, own - composed_error(kappa, own, self.min_action))
        if lower >= bound * (1.0 - TIE_RTOL):
            stats.pruned_action += 1
            return None
        return Tube(
            start=tube.start,
            node=edge.target,
            polygon=polygon,
            linear=linear,
            shift=shift,
            inverse=inverse,
            action_grad=grad,
            action0=const,
            lower=lower,
            rotation=rotation,
            edges=(*tube.edges, edge),
            facets=tube.facets | {target.enter},
            moves=(*tube.moves, move),
            kappa=kappa,
            path_min=path_min,
        )

    def _least_time(self, edge: Edge) -> float:
        """The least time the flow along ``edge`` takes from any point of its domain (>= 0)."""
        key = id(edge)
        if key not in self._least_times:
            times = edge.domain @ edge.time_grad + edge.time0
            self._least_times[key] = max(0.0, float(times.min()))
        return self._least_times[key]

    def _movement(self, domain: np.ndarray, edge: Edge) -> float:
        """How far the flow along ``edge`` moves the points of ``domain`` at most."""
        times = domain @ edge.time_grad + edge.time0
        return float(np.max(np.abs(times))) * float(self._speed[edge.facet])

    def _closes_zero_time_cycle(self, tube: Tube, target: int, move: float) -> bool:
        """Whether the path returns to ``target`` having moved at most ``zero_run`` since."""
        total = move
        for i in range(len(tube.edges), -1, -1):
            if total > self.zero_run:
                return False
            node = tube.edges[i - 1].target if i > 0 else tube.start
            if node == target:
                return True
            if i > 0:
                total += tube.moves[i - 1]
        return False

    def _lower_bound(
        self,
        polygon: np.ndarray,
        grad: np.ndarray,
        const: float,
        start: int,
        node: int,
        inverse: np.ndarray,
        shift: np.ndarray,
    ) -> float:
        """Action so far plus the least time needed to return to the start point.

        The rest of an orbit moves by ``d = x_start - x_now = sum t_i R_i`` with ``t_i >= 0``
        and ``R_i = (2 / h_i) J n_i``, so its time is at least
        ``min {sum t_i} = ½ h_K(-J d) = ½ max_v <d, J v>`` (LP duality; ``v`` the vertices).
        ``d`` is affine on the tube, so ``max_v min_poly`` of the affine pieces is a valid
        lower bound of ``min_poly max_v`` (exact pruning, far stronger than the action alone).
        """
        so_far = polygon @ grad + const  # (m,)
        if not self.return_bound:
            return float(so_far.min())
        # d(y) = x_start - x_now = (B_s^T inv - B_n^T) y + (o_s - B_s^T inv shift - o_n); its
        # pairings with the J v are formed from per-node (V, 2) tables, never in 4D.
        j_start = self._j_basis[start] @ inverse  # (V, 2)
        slope = j_start - self._j_basis[node]
        intercept = self._j_origin[start] - j_start @ shift - self._j_origin[node]
        values = intercept[:, None] + slope @ polygon.T  # (V, m)
        return float((so_far + 0.5 * values).min(axis=1).max())

    def _close(self, tube: Tube) -> Orbit | None:
        """The minimal-action fixed point of a tube that has returned to its start node."""
        stats = self.stats
        stats.closures_tried += 1
        if self.exact_closures and not closure_is_certain(tube.linear, tube.kappa, self.graph.tol):
            if clearly_open(tube.linear, tube.shift, tube.polygon, tube.kappa, self.graph.tol):
                stats.closures_without_fixed_point += 1
                return None
            if clearly_short(
                tube.polygon, tube.action_grad, tube.action0, tube.kappa, self.min_action
            ):
                stats.closures_below_inradius_bound += 1
                return None
            return self._close_by_program(tube)
        point = _fixed_point(
            tube.linear, tube.shift, tube.polygon, tube.action_grad, tube.action0, self.graph.tol
        )
        if point is None:
            stats.closures_without_fixed_point += 1
            return None
        action = float(point @ tube.action_grad + tube.action0)
        if action < self.min_action:
            stats.closures_below_inradius_bound += 1
            return None
        return self._orbit_at(tube, point, action)

    def _close_by_program(self, tube: Tube) -> Orbit | None:
        """The closure decided by :func:`close_cycle` (the composed map is not trusted)."""
        stats = self.stats
        stats.closures_by_lp += 1
        try:
            closed = close_cycle(self.graph, tube.edges, self.min_action)
        except UndecidedClosure as exc:
            # Its action is at least the tube's bound: the caller must not ignore it unless a
            # verified orbit beats that (``Orbit.undecided``).
            orbit = self._orbit_at(tube, np.full(2, np.nan), tube.lower)
            if orbit is not None:
                orbit.undecided = str(exc)
            return orbit
        if closed is None:
            stats.closures_by_lp_without_orbit += 1
            return None
        action, loop = closed
        return self._orbit_at(tube, np.full(2, np.nan), action, loop)

    def _orbit_at(
        self, tube: Tube, point: np.ndarray, action: float, loop: np.ndarray | None = None
    ) -> Orbit | None:
        """The orbit through the fixed ``point`` unless the rotation cap removes it."""
        stats = self.stats
        rho = tube.rotation.rotation_number()
        if rho > self.max_rotation + ROTATION_TOL:
            stats.closures_rotation_above_cap += 1
            return None
        trace = float(np.trace(tube.rotation.matrix))
        stats.orbits_found += 1
        return Orbit(
            action=action,
            rotation=rho,
            degenerate=abs(trace - 2.0) <= 1e-7,
            start_point=point,
            start=tube.start,
            edges=tube.edges,
            return_map=tube.rotation.matrix,
            loop=loop,
            lower=tube.lower,
        )

    def run(self, on_orbit: Callable[[Orbit], float], bound: float = math.inf) -> None:
        """Search until no tube can beat the bound.

        Parameters
        ----------
        on_orbit : callable
            Called with each orbit found; returns the new pruning bound (e.g. the incumbent).
        bound : float
            Initial bound: tubes whose action lower bound is ``>= bound`` are pruned.
        """
        started = time.perf_counter()
        stats = self.stats
        # Heap key: the lower bound quantised to ties, then deeper paths first, so that among
        # (numerically) equal bounds the search closes orbits instead of widening.
        quantum = ORDER_RTOL * self.min_action
        heap: list[tuple[float, int, int, Tube]] = []
        for tube in self._initial_tubes():
            heapq.heappush(heap, (0.0, 0, next(self._counter), tube))
        while heap:
            key, _, _, tube = heapq.heappop(heap)
            if tube.lower >= bound * (1.0 - TIE_RTOL):
                # The heap is ordered by the *quantised* bound, so a later tube may still have a
                # smaller bound than this one: stop only when the bucket itself is out of reach.
                if key * quantum >= bound * (1.0 - TIE_RTOL):
                    break
                continue
            stats.paths_expanded += 1
            # Checked on every path, so that both engines stop at exactly max_paths + 1.
            if self.max_paths is not None and stats.paths_expanded > self.max_paths:
                stats.seconds = time.perf_counter() - started
                check_work(stats.paths_expanded, self.max_paths, stats.seconds, *PATH_BUDGET)
            if stats.paths_expanded % 64 == 0:
                stats.seconds = time.perf_counter() - started
                if self.deadline is not None:
                    self.deadline.check(f"{stats.paths_expanded} paths expanded")
            depth = len(tube.edges) + 1
            screened = self._screen(tube.node, tube.polygon)
            for edge, status in zip(
                self.graph.nodes[tube.node].edges, screened.tolist(), strict=True
            ):
                if edge.target < tube.start:
                    continue
                child = self._extend(tube, edge, bound, status)
                if child is None:
                    continue
                if edge.target == tube.start:
                    orbit = self._close(child)
                    if orbit is not None:
                        bound = on_orbit(orbit)
                    if not self.through_start:
                        continue
                if depth >= self.max_depth:
                    stats.pruned_depth += 1
                    continue
                stats.paths_generated += 1
                stats.max_depth = max(stats.max_depth, depth)
                key = math.floor(child.lower / quantum)
                heapq.heappush(heap, (key, -depth, next(self._counter), child))
        stats.seconds = time.perf_counter() - started


def orbit_loop(graph: FlowGraph, orbit: Orbit) -> np.ndarray:
    """The orbit's closed 4D polygon (translated coordinates), explicitly closed.

    Zero-length segments (the orbit passing exactly through a lower-dimensional face) are
    dropped.  An orbit closed by :func:`close_cycle` carries its loop already; otherwise the
    start point is flowed along the cycle.
    """
    if orbit.loop is not None:
        return orbit.loop.copy()
    point = graph.lift(orbit.start, orbit.start_point)
    times = []
    for edge in orbit.edges:
        b, c = edge.facet, graph.nodes[edge.target].enter
        reeb = graph.reeb[b]
        time_c = (graph.offsets[c] - graph.normals[c] @ point) / (graph.normals[c] @ reeb)
        point = point + time_c * reeb
        times.append(time_c)
    # The fixed point closes the loop only to the tolerance of the 2D solve; projecting onto
    # the cycle's constraints closes it exactly (a degenerate family's member moves the least).
    program = CycleProgram.of(graph, orbit.edges)
    start = graph.lift(orbit.start, orbit.start_point)
    return program.loop(program.polished(np.concatenate([start, times])))


def closure_gap(graph: FlowGraph, orbit: Orbit) -> float:
    """Distance between the start point and its image after one turn (should be ~0)."""
    if orbit.loop is not None:  # closed by construction; the certificate measures the rest
        return float(np.linalg.norm(orbit.loop[-1] - orbit.loop[0]))
    point = graph.lift(orbit.start, orbit.start_point)
    first = point
    for edge in orbit.edges:
        b, c = edge.facet, graph.nodes[edge.target].enter
        reeb = graph.reeb[b]
        point = (
            point + (graph.offsets[c] - graph.normals[c] @ point) / (graph.normals[c] @ reeb) * reeb
        )
    return float(np.linalg.norm(point - first))
