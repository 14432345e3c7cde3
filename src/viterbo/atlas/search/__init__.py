"""``atlas search``: the store side of :mod:`viterbo.search`.

* :mod:`~viterbo.atlas.search.plan` -- the first job of every start (random, from a family,
  from polytope files); the job kind itself (one job per ``TRIALS_PER_JOB`` trials) is in
  :mod:`viterbo.atlas.jobs`;
* :mod:`~viterbo.atlas.search.results` -- the starts' latest states read from the job
  table: progress for ``atlas status``, finished starts for the export;
* :mod:`~viterbo.atlas.search.publish` -- the ``atlas-search`` dataset, its card, manifest
  and report (convergence plot, best polytope per space, picture of the best one).
"""
