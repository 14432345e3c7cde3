"""``atlas export``: publish finished polytopes as a Hugging Face ``datasets`` snapshot.

* :mod:`.rows`     -- the data: dataset rows (one per polytope), schema, content hash, job log,
  completeness;
* :mod:`.card`     -- the dataset card;
* :mod:`.snapshot` -- scratch folders and the atomic swap into place;
* :mod:`.publish`  -- :func:`export_dataset`, which puts them together with the benchmark report
  (:mod:`viterbo.atlas.report`, which reads the rows).
"""

from viterbo.atlas.export.publish import DEFAULT_EXPORT_ROOT, export_dataset, validate_export_name
from viterbo.atlas.export.rows import (
    SCHEMA_VERSION,
    build_rows,
    column_name,
    completeness,
    content_hash,
    features,
    job_log,
    policy_summary,
)
from viterbo.atlas.export.snapshot import exchange_paths, sweep_stale_scratch

__all__ = [
    "DEFAULT_EXPORT_ROOT",
    "SCHEMA_VERSION",
    "build_rows",
    "column_name",
    "completeness",
    "content_hash",
    "exchange_paths",
    "export_dataset",
    "features",
    "job_log",
    "policy_summary",
    "sweep_stale_scratch",
    "validate_export_name",
]
