"""viterbo: symplectic invariants of convex polytopes, and the `atlas` that tabulates them.

Layers (each depends only on the ones above it):

* :mod:`viterbo.geometry`   -- the :class:`~viterbo.geometry.Polytope` type, faces, volume
* :mod:`viterbo.families`   -- deterministic generators ``(params, seed) -> Polytope``
* :mod:`viterbo.invariants` -- capacity algorithms, certificates, spectrum, systolic ratio
* :mod:`viterbo.atlas`      -- job store, workers, presets, export and the ``atlas`` CLI
"""

__version__ = "0.1.0"
