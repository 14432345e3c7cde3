"""Combinatorial Reeb orbits of 4D polytopes (Chaidez–Hutchings): the ``reeb`` capacity.

The package holds one stage per module:

* :mod:`~viterbo.invariants.reeb.polygon`  -- 2D convex polygons: hulls, clipping, sections;
* :mod:`~viterbo.invariants.reeb.rotation` -- rotation numbers in the universal cover of Sp(2)
  and the Conley–Zehnder index;
* :mod:`~viterbo.invariants.reeb.graph`    -- the flow graph on the 2-faces (and the degenerate
  nodes through edges and vertices);
* :mod:`~viterbo.invariants.reeb.search`   -- the best-first tube search (pure Python reference);
* :mod:`~viterbo.invariants.reeb.kernel`   -- the same search compiled with numba;
* :mod:`~viterbo.invariants.reeb.capacity` -- the registered ``capacity/reeb`` algorithm.

The action spectrum (:mod:`viterbo.invariants.spectrum`) runs the same search with a window.
"""

from viterbo.invariants.reeb.capacity import (
    ReebError,
    applicability,
    compute,
    ensure_compiled,
    flow_graph,
    orbit_record,
    search_engine,
)

__all__ = [
    "ReebError",
    "applicability",
    "compute",
    "ensure_compiled",
    "flow_graph",
    "orbit_record",
    "search_engine",
]
