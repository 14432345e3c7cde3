"""Registry of job kinds: what a job of each kind runs, and how the parent prepares/records it.

The worker knows only this protocol: it asks a job's kind how to prepare, run and record it,
whether it may run inline, and for its :class:`Limits` -- one time limit per job, computed in
one place (:func:`job_limits`) and enforced one way (the worker kills the child at
``kill_after``; ``budget`` is what the computation is told so that it stops itself first, with
its diagnostics).

Built-in kinds (``generate``, ``quantity``) live in :mod:`viterbo.atlas.jobs`.  Tests and
benchmarks register extra kinds (sleep, crash, no-op, ...) with :func:`register_kind`; worker
processes started as separate programs import the modules named in ``$ATLAS_PLUGINS``
(comma-separated) so that they see those kinds too.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from viterbo.atlas.errors import AtlasError, JobParamsError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from viterbo.atlas.store import CheckpointHook, ClaimedJob

Payload = dict[str, Any]
ChildResult = dict[str, Any]

PLUGINS_ENV_VAR = "ATLAS_PLUGINS"
# A plugin module may define a function of this name: `atlas work` passes it to its workers as
# their checkpoint hook (store.CheckpointHook; the reliability tests pause workers with it).
CHECKPOINT_ATTRIBUTE = "atlas_checkpoint"
# The worker adds the job's time budget (seconds) to the payload under this key.
BUDGET_KEY = "_time_budget"
# A kind's time limit when it names none and the operator gives none.
FALLBACK_TIMEOUT = 300.0


@dataclass(frozen=True)
class TimeoutOverrides:
    """The operator's limits: ``--timeout NAME=S`` (by quantity or kind) and ``--job-timeout``."""

    by_name: Mapping[str, float] = field(default_factory=dict)
    job_timeout: float | None = None

    def get(self, name: str) -> float | None:
        """The override for ``name``: its own, else ``--job-timeout``, else ``None``."""
        return self.by_name.get(name, self.job_timeout)


@dataclass(frozen=True)
class Limits:
    """One job's time limit: ``budget`` for the computation, ``kill_after`` for the worker."""

    budget: float
    kill_after: float


def limits_for(timeout: float) -> Limits:
    """The usual pair: the computation is told 90 % so that it stops itself before the kill."""
    return Limits(budget=0.9 * timeout, kill_after=timeout)


@dataclass(frozen=True)
class JobKind:
    """How to run one kind of job.

    Attributes
    ----------
    name
        The ``jobs.kind`` value.
    run
        ``run(payload) -> dict``: the computation, executed in a child process (or inline for
        trivial kinds).  Never touches the database.  Must return JSON-serialisable data.
    prepare
        ``prepare(conn, job) -> payload``: parent side, reads what ``run`` needs from the
        database (default: the job's parsed params).  Raise :class:`JobParamsError` for
        unusable params.
    record
        ``record(conn, job, result) -> dict``: parent side, runs inside the transaction that
        marks the job done (after the lease-token check); may insert rows and returns the dict
        stored as the job's result (default: ``result`` itself).
    trivial
        Cheap, safe code that may run inside the worker process without a child (no time or
        memory limit); lets the worker batch claims and completions.
    default_timeout
        Wall-clock limit in seconds when the operator gives none (``--timeout NAME=S``,
        ``--job-timeout``) and the kind has no ``limits``.
    limits
        ``limits(job, overrides) -> Limits``: the job's own time limit, for kinds whose jobs
        differ (the quantity kind: per quantity, and a preset policy's ``time_limit_s``).
    inline
        ``inline(job) -> bool``: this job may run inside the worker (cheap and bounded), with
        its budget but without a child; trivial kinds always do.
    preload
        Imports and warm-ups the worker does once before it forks job children.
    """

    name: str
    run: Callable[[Payload], ChildResult]
    prepare: Callable[[Connection, ClaimedJob], Payload] | None = None
    record: Callable[[Connection, ClaimedJob, ChildResult], ChildResult] | None = None
    trivial: bool = False
    default_timeout: float | None = None
    limits: Callable[[ClaimedJob, TimeoutOverrides], Limits] | None = None
    inline: Callable[[ClaimedJob], bool] | None = None
    preload: Callable[[], None] | None = None


def job_limits(kind: JobKind, job: ClaimedJob, overrides: TimeoutOverrides) -> Limits:
    """The time limit of ``job``: the kind's rule, else the operator's, else its default."""
    if kind.limits is not None:
        return kind.limits(job, overrides)
    timeout = overrides.get(kind.name)
    return limits_for(timeout if timeout is not None else kind.default_timeout or FALLBACK_TIMEOUT)


def runs_inline(kind: JobKind, job: ClaimedJob) -> bool:
    """Whether the worker runs ``job`` in its own process (trivial kinds, cheap jobs)."""
    return kind.trivial or (kind.inline is not None and kind.inline(job))


def preload_all() -> None:
    """Every kind's ``preload``, once, before the worker forks children."""
    load_plugins()
    for kind in list(_KINDS.values()):
        if kind.preload is not None:
            kind.preload()


def parse_params(job: ClaimedJob) -> dict[str, Any]:
    """The job's params as a dict; :class:`JobParamsError` when the stored text is unusable."""
    try:
        params = json.loads(job.params)
    except (TypeError, ValueError) as exc:
        raise JobParamsError(f"job {job.id}: params are not valid JSON ({exc})") from None
    if not isinstance(params, dict):
        raise JobParamsError(
            f"job {job.id}: params must be a JSON object, got {type(params).__name__}"
        )
    return params


_KINDS: dict[str, JobKind] = {}
_plugins_loaded: dict[str, Any] = {}  # module name -> module


def register_kind(kind: JobKind) -> JobKind:
    """Add (or replace) a job kind."""
    _KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> JobKind:
    """The job kind ``name``; :class:`AtlasError` if no module registered it."""
    load_plugins()
    try:
        return _KINDS[name]
    except KeyError:
        raise AtlasError(
            f"unknown job kind {name!r} (known: {', '.join(sorted(_KINDS))}); set {PLUGINS_ENV_VAR} to the module that registers it"
        ) from None


def kind_names() -> list[str]:
    """Names of all registered kinds."""
    load_plugins()
    return sorted(_KINDS)


def load_plugins() -> None:
    """Import the built-in kinds and every module named in ``$ATLAS_PLUGINS`` (once each)."""
    modules = ["viterbo.atlas.jobs"]
    modules += [m.strip() for m in os.environ.get(PLUGINS_ENV_VAR, "").split(",") if m.strip()]
    for name in modules:
        if name in _plugins_loaded:
            continue
        try:
            _plugins_loaded[name] = importlib.import_module(name)
        except ImportError as exc:
            raise AtlasError(
                f"cannot import plugin module {name!r} from {PLUGINS_ENV_VAR}: {exc}"
            ) from None


def plugin_checkpoint() -> CheckpointHook | None:
    """The checkpoint hook a plugin module defines (``atlas_checkpoint``), if one does."""
    load_plugins()
    for module in _plugins_loaded.values():
        hook = getattr(module, CHECKPOINT_ATTRIBUTE, None)
        if hook is not None:
            return hook  # type: ignore[no-any-return]
    return None


# ----------------------------------------------------------------- extra families (tests)

FamilyGenerator = Callable[[str, dict[str, Any], int], Any]
PolytopeLoader = Callable[[dict[str, Any]], Any]
_EXTRA_FAMILIES: dict[str, FamilyGenerator] = {}
_EXTRA_LOADERS: dict[str, PolytopeLoader] = {}


def register_family(
    name: str, generate: FamilyGenerator, load: PolytopeLoader | None = None
) -> None:
    """Register a family generator outside ``viterbo.families`` (for tests and experiments).

    ``generate(family, params, index)`` must return an object shaped like
    ``viterbo.families.GeneratedPolytope`` (attributes ``polytope``, ``seed``, ``metadata``).
    ``load(geometry)`` rebuilds one of its polytopes from the stored geometry dict for the
    quantity jobs, when the family's polytopes are not ``viterbo.geometry.Polytope``.
    """
    _EXTRA_FAMILIES[name] = generate
    if load is not None:
        _EXTRA_LOADERS[name] = load


def polytope_loader(family: str) -> PolytopeLoader:
    """How to rebuild a stored polytope of ``family`` (default ``Polytope.from_dict``)."""
    load_plugins()
    if family in _EXTRA_LOADERS:
        return _EXTRA_LOADERS[family]
    from viterbo.geometry import Polytope  # lazy: geometry loads scipy (+0.4 s for `status`)

    return Polytope.from_dict


def family_generator(name: str) -> FamilyGenerator:
    """The generator for family ``name`` (extra families first, then ``viterbo.families``)."""
    load_plugins()
    if name in _EXTRA_FAMILIES:
        return _EXTRA_FAMILIES[name]
    from viterbo import families  # lazy: families load scipy (+0.4 s); workers need it per job

    known = getattr(families, "FAMILIES", {})
    if name not in known:
        raise AtlasError(
            f"unknown family {name!r} (known: {', '.join(sorted([*known, *_EXTRA_FAMILIES])) or 'none'})"
        )
    return families.generate  # type: ignore[no-any-return]


def known_families() -> set[str]:
    """All family names a preset may use."""
    load_plugins()
    names = set(_EXTRA_FAMILIES)
    try:
        from viterbo import families  # lazy: as in family_generator

        names |= set(getattr(families, "FAMILIES", {}))
    except ImportError:  # pragma: no cover - families layer not installed
        pass
    return names
