"""Combinatorial Reeb orbits (Chaidez–Hutchings): algorithm ``reeb`` of quantity ``capacity``.

For a 4D polytope without Lagrangian 2-faces ("symplectic polytope", CH arXiv 2008.10111) the
EHZ capacity is the minimal action of a closed combinatorial Reeb orbit (MATH.md §3.3).

Exactness of the default search (``facet_once=True, max_rotation=inf``).  Haim-Kislev
(Thm 1.5) show that the capacity is attained by a closed characteristic that flows on each
facet at most once (one segment per facet, consecutive facets sharing at least a vertex).
Every such loop is a path of the flow graph below (degenerate edge/vertex nodes included) that
enters no facet twice, so a search over facet-once paths alone, with *no* rotation cap, is
exact by HK Thm 1.5 alone.  Combining facet-once with the CH rotation cap ``rho <= 2``
(CH Cor. 1.13: *some* minimiser has ``rho <= 2``) is only proven when the minimiser is
unique (the two theorems might pick different minimisers), so the default leaves the cap off;
with facet-once it costs nothing measurable (the facet-once tree is already small).  The pure
CH search (``facet_once=False, max_rotation=2``) is exact by CH Cor. 1.13 alone and stays
available.  This module

1. translates the polytope so that its Chebyshev centre is the origin (Reeb vectors and
   heights depend on the origin; the capacity does not);
2. builds the flow graph (:mod:`~viterbo.invariants.reeb.graph`) on transition faces;
3. runs the best-first tube search (:mod:`~viterbo.invariants.reeb.search`) with incumbent
   pruning, empty-domain pruning, facet-once pruning and (optional) rotation pruning
   (product rotation in the universal cover of Sp(2), :mod:`~viterbo.invariants.reeb.rotation`);
4. rebuilds the minimal orbit as a 4D loop and checks it with
   :func:`~viterbo.invariants.certificate.verify_loop`.

Type 2 orbits (through edges and vertices).  Domains are *closed* polygons, so an orbit that
crosses a 2-face on its boundary is found as a fixed point on the boundary of the start
polygon.  An orbit that passes from facet ``a`` to facet ``b`` where ``F_a ∩ F_b`` is only an
edge or a vertex uses a degenerate node (a segment or point domain) for that pair.  Together
these contain every closed characteristic of Haim-Kislev's normal form (one segment per facet,
consecutive facets sharing a vertex, MATH.md §3.1), in particular a minimiser.  Such a
degenerate transition still has a well-defined transition matrix: the normal turns along the
great arc from ``n_a`` to ``n_b``, which lies in the normal cone of the crossing point.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from viterbo.geometry.symmetry import symplectic_symmetries
from viterbo.invariants.certificate import verify_loop
from viterbo.invariants.loops import loop_action, loop_to_list
from viterbo.invariants.reeb import symmetry
from viterbo.invariants.reeb.graph import FlowGraph, polytope_graph
from viterbo.invariants.reeb.rotation import conley_zehnder
from viterbo.invariants.reeb.search import Orbit, TubeSearch, closure_gap, orbit_loop
from viterbo.invariants.registry import Algorithm, Deadline, register

if TYPE_CHECKING:
    from viterbo.geometry import Polytope

# The search's composed action and the loop's own action must agree this closely (relative).
ACTION_CONSISTENCY = 1e-7
LAGRANGIAN_ATOL = 1e-9  # |omega(n_i, n_j)| of unit normals at or below this: Lagrangian
# Below this |omega| the flow runs so nearly along a 2-face that the search's closures become
# linear programs with coefficients ~omega, which HiGHS answers inconsistently (infeasible at
# one tolerance, optimal at another, at omega ~ 1e-7 on perturbed products): the search
# refuses instead of risking a missed orbit.  haim-kislev has no such limit.
DECIDABLE_OMEGA = 1e-6
# Rejected orbits below the result by more than this (relative) make the search refuse.
REJECTED_RTOL = 1e-9
# The same search twice: compiled (numba, the default) and the pure-Python reference that the
# tests cross-check it against.
SEARCH_ENGINES = ("compiled", "python")


class ReebError(ValueError):
    """The Reeb search cannot run on this input or found no verifiable orbit."""


def applicability(polytope: Polytope) -> str | None:
    """``None`` for 4D polytopes without Lagrangian 2-faces, else the reason.

    Products (Lagrangian or symplectic) always have Lagrangian 2-faces; they are named
    explicitly so the reason is informative.
    """
    if polytope.dim != 4:
        return f"reeb needs dimension 4, got {polytope.dim}"
    from viterbo.geometry import is_lagrangian_product, is_symplectic_product, omega

    worst: tuple[float, int, int] | None = None
    faces = np.array(list(polytope.two_faces()), dtype=np.intp).reshape(-1, 2)
    if len(faces):
        values = np.abs(omega(polytope.normals[faces[:, 0]], polytope.normals[faces[:, 1]]))
        k = int(np.argmin(values))
        worst = (float(values[k]), int(faces[k, 0]), int(faces[k, 1]))
    if worst is not None and worst[0] <= LAGRANGIAN_ATOL:
        # Products always land here (a Lagrangian product's adjacent facets of one factor, and
        # a symplectic product's facets of different factors, meet in Lagrangian 2-faces,
        # |omega| <= 2e-12 at the split tolerance), so they are named only now: the
        # tests cost a tenth of a millisecond on every polytope the search does run on.  The
        # is_ tests check the normals only (the as_ functions build both factors, 10 ms).
        if is_lagrangian_product(polytope):
            return "polytope is a Lagrangian product (it has Lagrangian 2-faces)"
        if is_symplectic_product(polytope):
            return "polytope is a symplectic product (it has Lagrangian 2-faces)"
        value, i, j = worst
        return (
            f"polytope has a Lagrangian 2-face F_{i} ∩ F_{j} (|omega(n_{i}, n_{j})| = {value:.3g})"
        )
    if worst is not None and worst[0] < DECIDABLE_OMEGA:
        value, i, j = worst
        return (
            f"polytope has a nearly Lagrangian 2-face F_{i} ∩ F_{j} "
            f"(|omega(n_{i}, n_{j})| = {value:.3g} < {DECIDABLE_OMEGA:g}): the Reeb search "
            "cannot decide its closures reliably there (use haim-kislev)"
        )
    return None


def search_engine(name: str) -> type[TubeSearch]:
    """The tube-search class called ``name`` (``compiled`` or ``python``), ready to run.

    Call it before a time budget starts: the compiled engine is compiled (or loaded from the
    cache) here, so a first-time compile never counts against a search.
    """
    if name == "python":
        return TubeSearch
    if name != "compiled":
        known = ", ".join(SEARCH_ENGINES)
        raise ReebError(f"unknown search engine {name!r} (known: {known})")
    from viterbo.invariants.reeb.kernel import CompiledTubeSearch

    ensure_compiled()
    return CompiledTubeSearch


def ensure_compiled() -> None:
    """Compile or load the compiled search (the algorithms' ``warm_up``).

    The kernel module, and numba with it, is imported only here and in :func:`search_engine`:
    a process that never runs a Reeb search (``atlas compute`` on a Lagrangian product, where
    it does not apply) does not pay numba's import and cache load (about 0.3 s).
    """
    from viterbo.invariants.reeb import kernel

    kernel.ensure_compiled()


def flow_graph(polytope: Polytope, *, rtol: float = 1e-9) -> tuple[FlowGraph, np.ndarray]:
    """The flow graph of ``polytope`` translated to its Chebyshev centre, and that centre.

    Parameters
    ----------
    polytope : Polytope
        A 4D polytope (applicability is not checked here).
    rtol : float
        Relative tolerance.

    Returns
    -------
    (FlowGraph, numpy.ndarray)
        The graph (in translated coordinates) and the shift ``t`` (original = translated + t).
    """
    moved, shift = polytope.translate_to_interior()
    return polytope_graph(moved, rtol=rtol), np.asarray(shift, dtype=float)


def orbit_record(
    graph: FlowGraph,
    orbit: Orbit,
    shift: np.ndarray,
    polytope: Polytope,
    rtol: float,
    *,
    action_consistency: float | None = ACTION_CONSISTENCY,
) -> dict[str, Any]:
    """The orbit as a JSON-friendly dict with its verified loop (raises if it fails).

    ``action_consistency=None`` publishes the loop's own action whatever the search composed
    (the certificate alone decides): right for a list of actions, whose bound is not an
    incumbent the search has already pruned with (see :mod:`viterbo.invariants.spectrum`).
    """
    if orbit.undecided is not None:
        raise ReebError(f"undecided closure at action >= {orbit.action:.12g}: {orbit.undecided}")
    loop = orbit_loop(graph, orbit) + shift
    # The search composes affine actions along the path, which accumulates rounding over many
    # steps; the loop's own ½Σω is the action the certificate proves.  Accept the orbit when
    # both agree to ACTION_CONSISTENCY and publish the loop's action, so a 1e-9-level rounding
    # gap never discards a minimiser (which would return a larger, wrong value).
    action = loop_action(loop)
    if action_consistency is not None and abs(action - orbit.action) > action_consistency * max(
        abs(action), 1e-300
    ):
        raise ReebError(
            f"orbit action {orbit.action!r} and loop action {action!r} disagree beyond "
            f"{action_consistency:g} relative"
        )
    certificate = verify_loop(polytope, loop, action, rtol=rtol)
    nodes = graph.nodes
    return {
        "action": action,
        "search_action": orbit.action,
        "rotation": orbit.rotation,
        "cz": conley_zehnder(orbit.rotation, degenerate=orbit.degenerate),
        "degenerate": orbit.degenerate,
        "loop": loop_to_list(loop),
        "faces": [[nodes[n].leave, nodes[n].enter] for n in orbit.nodes],
        "lower_dim_faces": sum(nodes[n].face_dim < 2 for n in orbit.nodes),
        "closure_gap": closure_gap(graph, orbit),
        "certificate": certificate,
    }


def _check_rejected(
    graph: FlowGraph, rejected: list[tuple[float, Orbit, str]], best: float
) -> None:
    """Refuse to answer when an orbit that failed its certificate would beat the result.

    A closure whose loop cannot be verified may be a real orbit that rounding spoilt; a
    search that dropped it would publish a larger, wrong value.  Those beaten by a verified
    orbit (with the action tolerance) are harmless; any other makes the search undecided.
    """
    open_ = [entry for entry in rejected if entry[0] < best * (1.0 - REJECTED_RTOL)]
    if not open_:
        return
    action, orbit, reason = min(open_, key=lambda entry: entry[0])
    face = _most_degenerate_face(graph, orbit)
    raise ReebError(
        f"cannot decide: a closed orbit of action {action:.12g} through {face} failed its "
        f"certificate ({reason})"
    )


def _most_degenerate_face(graph: FlowGraph, orbit: Orbit) -> str:
    """The transition face of the orbit with the smallest |omega| (named for the error)."""
    worst, name = math.inf, "its faces"
    for n in orbit.nodes:
        node = graph.nodes[n]
        value = abs(node.omega)
        if value < worst:
            worst = value
            name = f"F_{node.leave} ∩ F_{node.enter} (|omega| = {value:.3g})"
    return name


def minimal_orbit(
    polytope: Polytope,
    *,
    time_budget: float | None = None,
    max_rotation: float = math.inf,
    facet_once: bool = True,
    rtol: float = 1e-9,
    engine: str = "compiled",
    use_symmetry: bool = True,
    max_paths: int | None = None,
) -> dict[str, Any]:
    """Search for the minimal-action closed Reeb orbit with rotation ``<= max_rotation``.

    With ``use_symmetry`` the search starts at one node per class of the polytope's symplectic
    symmetries (:mod:`viterbo.invariants.reeb.symmetry`; exact, and the same as all nodes on a
    polytope without symmetry).

    Returns the orbit record (see :func:`orbit_record`) plus ``stats`` and ``graph`` sizes.
    Raises :class:`~viterbo.invariants.registry.TimeBudgetExceeded` when out of time.
    """
    search_class = search_engine(engine)  # before the budget starts (may compile)
    deadline = Deadline(time_budget)
    moved, shift = polytope.translate_to_interior()
    interior_seconds = deadline.elapsed
    graph = polytope_graph(moved, rtol=rtol)
    shift = np.asarray(shift, dtype=float)
    graph_seconds = deadline.elapsed
    starts: list[int] | None = None
    if use_symmetry:
        graph, starts = symmetry.reduced(graph, symplectic_symmetries(polytope))
    symmetry_seconds = deadline.elapsed - graph_seconds
    search = search_class(
        graph,
        max_rotation=max_rotation,
        facet_once=facet_once,
        deadline=deadline,
        starts=starts,
        max_paths=max_paths,
    )
    setup_seconds = deadline.elapsed - graph_seconds - symmetry_seconds
    best: dict[str, Any] = {"action": math.inf, "record": None}
    rejected: list[tuple[float, Orbit, str]] = []

    def on_orbit(orbit: Orbit) -> float:
        if orbit.action < best["action"]:
            try:
                record = orbit_record(graph, orbit, shift, polytope, rtol)
            except ValueError as exc:  # decided below: it may only be ignored if beaten
                rejected.append((orbit.action, orbit, str(exc)))
                return best["action"]
            best["action"], best["record"] = orbit.action, record
        return best["action"]

    search.run(on_orbit)
    _check_rejected(graph, rejected, best["action"])
    if best["record"] is None:
        raise ReebError(f"no closed Reeb orbit with rotation <= {max_rotation} found")
    stats = search.stats.as_dict()
    stats.update(
        {
            "nodes": len(graph.nodes),
            "nodes_lower_dim": sum(node.face_dim < 2 for node in graph.nodes),
            "edges": graph.num_edges,
            "graph_seconds": graph_seconds,  # incl. the interior point
            "interior_seconds": interior_seconds,  # the Chebyshev centre's linear program
            "symmetry_seconds": symmetry_seconds,  # the symmetries and the renumbering
            "setup_seconds": setup_seconds,  # the search's own preparation (compiled: packing)
            "engine": engine,
            "orbits_rejected_by_certificate": len(rejected),
            "start_nodes": len(search.starts),
        }
    )
    record = best["record"]
    record["stats"] = stats
    return record


def exactness(*, facet_once: bool, max_rotation: float) -> str:
    """Which theorem makes the search with these prunings exact (a diagnostics string)."""
    if facet_once and not math.isfinite(max_rotation):
        return "HK Thm 1.5 (facet-once)"
    if not facet_once and max_rotation >= 2.0:
        return (
            "CH Cor. 1.13 (rotation <= 2); zero-time cycles pruned (exact up to orbits within "
            "1e-7 x diameter of an edge or vertex)"
        )
    if facet_once and max_rotation >= 2.0:
        return "HK Thm 1.5 + CH Cor. 1.13 (proven for a unique minimiser)"
    return "not proven (rotation cap below 2)"


def compute(
    polytope: Polytope,
    *,
    time_budget: float | None = None,
    inputs: Any = None,
    max_rotation: float = math.inf,
    facet_once: bool = True,
    rtol: float = 1e-9,
    engine: str = "compiled",
    use_symmetry: bool = True,
    max_paths: int | None = None,
) -> dict[str, Any]:
    """EHZ capacity of a 4D polytope without Lagrangian 2-faces (Chaidez–Hutchings search).

    Parameters
    ----------
    polytope : Polytope
        4D polytope with no Lagrangian 2-face.
    time_budget : float, optional
        Seconds before :class:`~viterbo.invariants.registry.TimeBudgetExceeded` is raised.
    inputs : ignored
        Part of the registry signature.
    max_rotation : float
        Rotation cap of the search (default ``inf``: no cap).  With ``facet_once=False``,
        ``2`` is exact by CH Cor. 1.13.
    facet_once : bool
        Prune paths that flow on a facet twice (about 10x fewer paths).  Exact on its own by
        Haim-Kislev Thm 1.5 (some minimiser visits each facet at most once).  Together with
        a finite ``max_rotation`` it is only proven exact when the minimiser is unique.
        ``False`` (with ``max_rotation=2``) gives the pure CH search.
    rtol : float
        Relative tolerance (geometry and certificate).
    engine : str
        ``compiled`` (numba, default) or ``python`` (the reference implementation; same
        tubes, same prunings, about 30x slower).
    max_paths : int, optional
        Work budget: :class:`~viterbo.invariants.registry.WorkBudgetExceeded` once the search
        has expanded more paths (the same on every machine, unlike ``time_budget``).

    Returns
    -------
    dict
        ``value``, ``loop`` (verified), ``rotation``, ``cz``, ``seconds``, ``diagnostics``
        (search statistics: paths expanded, pruned by each rule, graph size, certificate).
    """
    del inputs
    reason = applicability(polytope)
    if reason is not None:
        raise ReebError(reason)
    started = time.perf_counter()
    record = minimal_orbit(
        polytope,
        time_budget=time_budget,
        max_rotation=max_rotation,
        facet_once=facet_once,
        rtol=rtol,
        engine=engine,
        use_symmetry=use_symmetry,
        max_paths=max_paths,
    )
    stats = record.pop("stats")
    diagnostics = {**stats, "certificate": record.pop("certificate")}
    diagnostics["faces"] = record.pop("faces")
    diagnostics["lower_dim_faces_on_orbit"] = record.pop("lower_dim_faces")
    diagnostics["closure_gap"] = record.pop("closure_gap")
    diagnostics["degenerate"] = record["degenerate"]
    diagnostics["facet_once"] = facet_once
    diagnostics["max_rotation"] = max_rotation if math.isfinite(max_rotation) else None
    diagnostics["exactness"] = exactness(facet_once=facet_once, max_rotation=max_rotation)
    return {
        "value": record["action"],
        "loop": record["loop"],
        "rotation": record["rotation"],
        "cz": record["cz"],
        "seconds": time.perf_counter() - started,
        "diagnostics": diagnostics,
    }


register(
    Algorithm(
        quantity="capacity",
        name="reeb",
        method="reeb-dynamics",
        compute=compute,
        applicability=applicability,
        exact=True,
        warm_up=ensure_compiled,
        work_limits=("max_paths",),
        description="Chaidez–Hutchings combinatorial Reeb orbits: best-first tube search over "
        "facet-once paths (exact by Haim-Kislev Thm 1.5; 4D, no Lagrangian 2-faces)",
    )
)
