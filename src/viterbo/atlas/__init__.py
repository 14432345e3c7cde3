"""The atlas: job store, workers, presets, export and the ``atlas`` command line."""

import os

# One BLAS thread per process, set before numpy loads. The atlas runs in parallel as
# worker processes; OpenBLAS's own threads on top of them oversubscribe the cores and spin
# on the tiny matrices of the capacity algorithms (measured: an `atlas search` with 2
# workers on 2 cores ran 4.4x slower, a step 0.19 s -> 1.4 s). An operator's own setting wins.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
