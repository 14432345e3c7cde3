"""Low action spectrum of a 4D polytope without Lagrangian 2-faces (quantity ``spectrum``).

The same tube search as :mod:`viterbo.invariants.reeb`, with three changes (MATH.md §3.3):

* the pruning bound is an *action window* instead of the incumbent: the ``k`` lowest actions,
  or all up to ``window × (lowest action)``, whichever is smaller (both shrink as orbits are
  found, so the bound only tightens);
* a larger rotation cap (default 6: a 3-fold cover of an orbit with ``rho <= 2`` has
  ``rho <= 6``, and the default window is 3 × capacity) and paths may run through their start
  node again (needed for covers and for orbits that visit a face twice);
* orbits are deduplicated: the node cycle is read from its lexicographically smallest cyclic
  shift, and orbits whose loops coincide as point sets with equal action (the same orbit
  written through different faces of a lower-dimensional crossing) are merged.  A cycle that is
  the ``m``-fold repetition of a shorter one is marked ``multiplicity = m``.

Listed: the distinct orbits found, sorted by action, each with its verified loop and that
loop's own action (the search's composed action may differ by ~1e-7 on covers; the
certificate, not that agreement, decides whether an orbit is listed).  Closures are decided as
in the capacity search: by the composed map where its condition makes the answer certain, and
otherwise by the cycle's own closure equations
(:func:`~viterbo.invariants.reeb.search.close_cycle`: a linear solve where they are regular,
HiGHS programs where not), so that near Lagrangian 2-faces, where the composed maps lose every
digit, no orbit is missed.  A closure whose composed fixed point then fails its certificate is
not dropped unexamined either: after the search, every such cycle whose action bound lies in
the window is decided by ``close_cycle``, and one that nothing decides is named in
``exactness`` (the spectrum is then not claimed exact).  A degenerate family (e.g. the 24-cell,
where whole polygons of points are fixed) contributes one orbit per node cycle.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from viterbo.invariants.reeb import (
    ReebError,
    applicability,
    ensure_compiled,
    flow_graph,
    orbit_record,
    search_engine,
)
from viterbo.invariants.reeb.graph import FlowGraph
from viterbo.invariants.reeb.search import TIE_RTOL, Orbit, UndecidedClosure, close_cycle
from viterbo.invariants.registry import Algorithm, Deadline, register

if TYPE_CHECKING:
    from viterbo.geometry import Polytope


def canonical_cycle(nodes: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """The lexicographically smallest cyclic shift of ``nodes`` and its multiplicity.

    Parameters
    ----------
    nodes : tuple of int
        Node sequence of a closed path.

    Returns
    -------
    (tuple of int, int)
        Canonical sequence and ``m`` such that it is an ``m``-fold repetition of a shorter one.
    """
    k = len(nodes)
    shifts = [nodes[i:] + nodes[:i] for i in range(k)]
    canonical = min(shifts)
    for period in range(1, k + 1):
        if k % period == 0 and canonical == canonical[:period] * (k // period):
            return canonical, k // period
    return canonical, 1  # pragma: no cover - period k always matches


def _same_loop(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    """Whether two loops have the same vertex sets (within ``tol``, both directions)."""
    distances = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    return bool(np.all(distances.min(axis=1) <= tol) and np.all(distances.min(axis=0) <= tol))


class _ActionWindow:
    """The spectrum's pruning bound from the verified orbits' actions (one per node cycle).

    ``bound`` is the ``k``-th lowest *distinct* action value, or ``window`` times the lowest,
    whichever is smaller (times ``1 + rtol``): one orbit written through several faces of a
    lower-dimensional crossing must not count ``k`` times, which would prune too early.  The
    actions are kept sorted, so each update costs a bisection instead of a sort.
    """

    def __init__(self, *, k: int, window: float, rtol: float) -> None:
        self.k, self.window, self.rtol = k, window, rtol
        self.by_key: dict[tuple[int, ...], float] = {}
        self.values: list[float] = []  # sorted multiset of self.by_key's values

    def add(self, key: tuple[int, ...], action: float) -> None:
        self.by_key[key] = action
        bisect.insort(self.values, action)

    def discard(self, key: tuple[int, ...]) -> None:
        action = self.by_key.pop(key, None)
        if action is not None:
            del self.values[bisect.bisect_left(self.values, action)]

    def represented(self, action: float) -> bool:
        """Whether a verified action lies within ``rtol`` of ``action``."""
        i = bisect.bisect_left(self.values, action * (1.0 - self.rtol))
        return i < len(self.values) and self.values[i] <= action * (1.0 + self.rtol)

    def bound(self) -> float:
        distinct: list[float] = []
        for value in self.values:
            if not distinct or value > distinct[-1] * (1.0 + self.rtol):
                distinct.append(value)
                if len(distinct) >= self.k:
                    break
        if not distinct:
            return math.inf
        limit = self.window * distinct[0]
        if len(distinct) >= self.k:
            limit = min(limit, distinct[self.k - 1])
        return limit * (1.0 + self.rtol)


def low_spectrum(
    polytope: Polytope,
    *,
    k: int = 5,
    window: float = 3.0,
    max_rotation: float = 6.0,
    time_budget: float | None = None,
    rtol: float = 1e-9,
    engine: str = "compiled",
    max_paths: int | None = None,
    exact_closures: bool = True,
) -> dict[str, Any]:
    """The lowest actions of closed characteristics with their orbits.

    Parameters
    ----------
    polytope : Polytope
        4D polytope without Lagrangian 2-faces.
    k : int
        Number of lowest orbits to list at most.
    window : float
        List only orbits with action ``<= window × lowest action``.
    max_rotation : float
        Rotation cap of the search (turns).
    time_budget : float, optional
        Seconds before :class:`~viterbo.invariants.registry.TimeBudgetExceeded`.
    rtol : float
        Relative tolerance (geometry, certificates, action ties).
    engine : str
        Tube-search engine: ``compiled`` (default) or ``python`` (reference).
    max_paths : int, optional
        Work budget: :class:`~viterbo.invariants.registry.WorkBudgetExceeded` once the search
        has expanded more paths (the same on every machine, unlike ``time_budget``).
    exact_closures : bool
        ``False`` decides every closure by the composed maps alone, as the spectrum did before
        2026-12-08: it can miss orbits near Lagrangian 2-faces, so the result is then never
        claimed exact (kept to compare against, and to exercise the recheck of closures whose
        fixed point fails its certificate, which that mode produces by the hundred).

    Returns
    -------
    dict
        ``value`` (sorted actions), ``orbits`` (``action``, ``rotation``, ``cz``, ``loop``,
        ``multiplicity``, ``degenerate``, ``faces``), ``loop`` (of the first), ``seconds``,
        ``diagnostics``.
    """
    if int(k) != k or k < 1:
        raise ReebError(f"k must be a positive integer, got {k!r}")
    if not (window >= 1.0 and math.isfinite(window)):
        raise ReebError(f"window must be a finite number >= 1, got {window!r}")
    search_class = search_engine(engine)  # before the budget starts (may compile)
    deadline = Deadline(time_budget)
    graph, shift = flow_graph(polytope, rtol=rtol)
    # Exact closures, as in the capacity search.  Decided by the composed maps alone, the
    # spectrum of a perturbed pentagon x heptagon (|omega| ~ 1e-5 .. 1e-4) began at 3.4638
    # instead of its capacity 3.4405: the minimal orbit's composed map "had no fixed point".
    # The closures the maps cannot decide (up to 19,000 covers there, 10-40 s for the whole
    # spectrum; atlas-small's near-Lagrangian spectra take 0.01-2 s) are decided by the direct
    # solve of their closure equations first, by HiGHS programs only where that is singular.
    search = search_class(
        graph,
        max_rotation=max_rotation,
        through_start=True,
        deadline=deadline,
        exact_closures=exact_closures,
        max_paths=max_paths,
    )
    found: dict[tuple[int, ...], tuple[Orbit, int]] = {}
    window_state = _ActionWindow(k=k, window=window, rtol=rtol)
    records_by_key: dict[tuple[int, ...], dict[str, Any]] = {}
    rejected: list[str] = []

    # Closures not yet decided, by node cycle: a composed fixed point or a loop of the closure
    # equations that failed its certificate (spurious closures of ill-conditioned maps, or
    # real orbits rounding spoilt), and closures the search left undecided.  Decided after the
    # search by the cycle's own closure equations, for the cycles whose action bound lies in
    # the final window (the others cannot be listed); any still open counts as undecided.
    suspects: dict[tuple[int, ...], tuple[Orbit, int]] = {}
    # Cycles whose filed closure failed its certificate: the listing does not verify it again,
    # so a suspect, once decided after the search, does not come back.
    unverifiable: set[tuple[int, ...]] = set()
    checks = {"by_program": 0, "without_orbit": 0, "undecided": 0}

    def verify(orbit: Orbit, multiplicity: int) -> dict[str, Any] | None:
        # The loop's own action, not the composed one: the composed maps of near-degenerate
        # covers lose ~1e-7 of the action, and insisting on agreement dropped real orbits from
        # the list (a loop that passes its certificate is a closed characteristic whatever the
        # composition said; the record keeps both as ``action`` and ``search_action``).
        try:
            return orbit_record(graph, orbit, shift, polytope, rtol, action_consistency=None)
        except ValueError as exc:  # a numerically unusable fixed point
            rejected.append(str(exc))
        # Decided again after the search.  A loop the closure equations gave fails there the
        # same way and so counts as undecided, which is what it is (dropping it quietly left
        # the spectrum claimed exact without the orbit).
        suspect(canonical_cycle(orbit.nodes)[0], orbit, multiplicity)
        return None

    def suspect(key: tuple[int, ...], orbit: Orbit, multiplicity: int) -> None:
        unverifiable.add(key)
        if key not in suspects or orbit.lower < suspects[key][0].lower:
            suspects[key] = (orbit, multiplicity)

    def admit(key: tuple[int, ...], orbit: Orbit, multiplicity: int, record: dict) -> None:
        window_state.discard(key)
        window_state.add(key, record["action"])
        records_by_key[key] = record
        # Filed under the verified action: a program's may differ from the composed one.
        found[key] = (dataclasses.replace(orbit, action=record["action"]), multiplicity)

    def on_orbit(orbit: Orbit) -> float:
        key, multiplicity = canonical_cycle(orbit.nodes)
        if orbit.undecided is not None:
            # Its action is only a lower bound: it may neither stand for a listed value nor
            # move the window.  Rechecked after the search (and counted if still undecided).
            suspect(key, orbit, multiplicity)
            return window_state.bound()
        known = found.get(key)
        # The same cycle again (another start or rotation) at its own action up to rounding:
        # nothing changes.  (Without the tolerance a composed action a hair below the cycle's
        # verified one took the path below and deleted that value from the window.)
        if known is not None and orbit.action >= known[0].action * (1.0 - rtol):
            return window_state.bound()
        if window_state.represented(orbit.action):
            # Its action is already a verified value, so the window does not change: verify it
            # only if it is listed (degenerate families find thousands of such orbits).
            window_state.discard(key)
            records_by_key.pop(key, None)
            found[key] = (orbit, multiplicity)
            unverifiable.discard(key)  # a new closure of the cycle: the listing verifies it
            return window_state.bound()
        # A new action value tightens the window: verify first, so that a numerically spurious
        # fixed point (tolerance-lenient domains) never prunes real orbits.
        record = verify(orbit, multiplicity)
        if record is not None:
            admit(key, orbit, multiplicity, record)
        return window_state.bound()

    def decide_suspects(limit: float) -> bool:
        """Decide the suspect cycles that could be listed; whether one of them was an orbit."""
        admitted = False
        for key, (orbit, multiplicity) in sorted(suspects.items(), key=lambda i: i[1][0].lower):
            if orbit.lower >= limit * (1.0 - TIE_RTOL):
                break
            del suspects[key]
            if key in records_by_key:
                continue
            # Near Lagrangian faces there are thousands, some decided by programs (ms each).
            deadline.check(f"{checks['by_program']} suspect closures rechecked")
            checks["by_program"] += 1
            try:
                closed = close_cycle(graph, orbit.edges, search.min_action)
            except UndecidedClosure:
                checks["undecided"] += 1
                continue
            if closed is None:
                checks["without_orbit"] += 1
                continue
            action, loop = closed
            candidate = dataclasses.replace(orbit, action=action, loop=loop, undecided=None)
            try:
                record = orbit_record(
                    graph, candidate, shift, polytope, rtol, action_consistency=None
                )
            except ValueError as exc:
                rejected.append(str(exc))
                checks["undecided"] += 1
                continue
            admit(key, candidate, multiplicity, record)
            admitted = True
        return admitted

    def listing(limit: float) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        loops: list[np.ndarray] = []
        for key, (orbit, multiplicity) in sorted(found.items(), key=lambda item: item[1][0].action):
            if orbit.action > limit:
                break
            record = records_by_key.get(key)
            if record is None and key not in unverifiable:
                record = verify(orbit, multiplicity)
            if record is None or record["action"] > limit:  # listed by the loop's own action
                continue
            records_by_key[key] = record
            loop = np.asarray(record["loop"])
            if any(
                abs(other["action"] - record["action"]) <= rtol * record["action"]
                and _same_loop(loop, other_loop, graph.tol * 10)
                for other, other_loop in zip(records, loops, strict=True)
            ):
                continue
            record["multiplicity"] = multiplicity
            records.append(record)
            loops.append(loop)
            if len(records) >= k:
                break
        return records

    search.run(on_orbit)
    while True:  # a suspect that is an orbit may shrink the window; then list again
        limit = window_state.bound()
        records = listing(limit)
        if not decide_suspects(limit):
            break
    # Listed in the order of the loops' own actions (what is published), not the search's
    # composed actions, which may differ in the last digits.
    records.sort(key=lambda record: record["action"])
    if not records:
        raise ReebError("no closed Reeb orbit found in the action window")
    min_omega = _min_omega(graph)
    stats = search.stats.as_dict()
    stats.update(
        {
            "nodes": len(graph.nodes),
            "edges": graph.num_edges,
            "cycles_found": len(found),
            "orbits_rejected_by_certificate": len(rejected),
            "max_rotation": max_rotation,
            "action_limit": limit,
            "engine": engine,
            "closures_rechecked_by_program": checks["by_program"],
            "closures_rechecked_without_orbit": checks["without_orbit"],
            "closures_undecided": checks["undecided"],
            "min_omega": min_omega,
            "exactness": _exactness(checks["undecided"], exact_closures),
            # What the atlas publishes as spectrum_exact: no caveat in exactness.
            "claimed_exact": checks["undecided"] == 0 and exact_closures,
        }
    )
    orbits = [
        {
            "action": r["action"],
            "rotation": r["rotation"],
            "cz": r["cz"],
            "degenerate": r["degenerate"],
            "multiplicity": r["multiplicity"],
            "faces": r["faces"],
            "loop": r["loop"],
        }
        for r in records
    ]
    return {
        "value": [o["action"] for o in orbits],
        "orbits": orbits,
        "loop": orbits[0]["loop"],
        "seconds": deadline.elapsed,
        "diagnostics": stats,
    }


def _exactness(undecided: int, exact_closures: bool) -> str:
    claim = (
        "all closed characteristics with rotation <= max_rotation in the window; zero-time "
        "cycles pruned (exact up to orbits within 1e-7 x diameter of an edge or vertex)"
    )
    if undecided:
        claim += f"; except {undecided} closed cycle(s) neither certificate nor program decided"
    if not exact_closures:
        claim += "; not exact: closures decided by the composed maps alone"
    return claim


def _min_omega(graph: FlowGraph) -> float:
    """The smallest ``|omega(n_a, n_b)|`` over the graph's transition faces."""
    return min((abs(node.omega) for node in graph.nodes), default=math.inf)


def compute(
    polytope: Polytope,
    *,
    time_budget: float | None = None,
    inputs: Any = None,
    k: int = 5,
    window: float = 3.0,
    max_rotation: float = 6.0,
    rtol: float = 1e-9,
    engine: str = "compiled",
    max_paths: int | None = None,
) -> dict[str, Any]:
    """Registry entry: see :func:`low_spectrum` (``inputs`` is ignored)."""
    del inputs
    reason = applicability(polytope)
    if reason is not None:
        raise ReebError(reason)
    return low_spectrum(
        polytope,
        k=k,
        window=window,
        max_rotation=max_rotation,
        time_budget=time_budget,
        rtol=rtol,
        engine=engine,
        max_paths=max_paths,
    )


register(
    Algorithm(
        quantity="spectrum",
        name="reeb",
        compute=compute,
        applicability=applicability,
        exact=True,
        warm_up=ensure_compiled,
        work_limits=("max_paths",),
        description="lowest actions of closed Reeb orbits (Chaidez–Hutchings search with an "
        "action window), with rotation numbers and CZ indices",
    )
)
