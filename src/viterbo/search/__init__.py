"""Local maximisation of the certified systolic ratio (``atlas search`` without the store).

Layers: this package uses ``geometry`` and ``invariants`` (through the one evaluation path,
:func:`viterbo.invariants.evaluate.evaluate`) and never imports ``viterbo.atlas``.

* :mod:`~viterbo.search.spaces` -- fixed-facet-count parametrisations of polytopes;
* :mod:`~viterbo.search.objective` -- the certified ratio, its trust level and gradient;
* :mod:`~viterbo.search.climb` -- the checkpointable climb (gradient bundle, trust region);
* :mod:`~viterbo.search.verify` -- confirmation, symplectic image, high precision;
* :mod:`~viterbo.search.run` -- :func:`search`, and the job-sized pieces the atlas runs.
"""

from viterbo.search.climb import Climb
from viterbo.search.run import SearchResult, advance, begin, finish, search
from viterbo.search.spaces import (
    HalfspaceSpace,
    LagrangianProductSpace,
    SearchSpaceError,
    SymplecticProductSpace,
    parse_space,
    polytope_of,
    space_from_spec,
)

__all__ = [
    "Climb",
    "HalfspaceSpace",
    "LagrangianProductSpace",
    "SearchResult",
    "SearchSpaceError",
    "SymplecticProductSpace",
    "advance",
    "begin",
    "finish",
    "parse_space",
    "polytope_of",
    "search",
    "space_from_spec",
]
