"""Registry of job kinds: what a job of each kind runs, and how the parent prepares/records it.

Built-in kinds (``generate``, ``quantity``) live in :mod:`viterbo.atlas.handlers`.  Tests and
benchmarks register extra kinds (sleep, crash, no-op, ...) with :func:`register_kind`; worker
processes started as separate programs import the modules named in ``$ATLAS_PLUGINS``
(comma-separated) so that they see those kinds too.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from viterbo.atlas.errors import AtlasError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from viterbo.atlas.store import ClaimedJob

Payload = dict[str, Any]
ChildResult = dict[str, Any]

PLUGINS_ENV_VAR = "ATLAS_PLUGINS"


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
        Wall-clock limit in seconds when neither ``--job-timeout`` nor a per-quantity default
        applies.
    """

    name: str
    run: Callable[[Payload], ChildResult]
    prepare: Callable[[Connection, ClaimedJob], Payload] | None = None
    record: Callable[[Connection, ClaimedJob, ChildResult], ChildResult] | None = None
    trivial: bool = False
    default_timeout: float | None = None


_KINDS: dict[str, JobKind] = {}
_plugins_loaded: set[str] = set()


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
    """Import the built-in handlers and every module named in ``$ATLAS_PLUGINS`` (once each)."""
    modules = ["viterbo.atlas.handlers"]
    modules += [m.strip() for m in os.environ.get(PLUGINS_ENV_VAR, "").split(",") if m.strip()]
    for name in modules:
        if name in _plugins_loaded:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise AtlasError(
                f"cannot import plugin module {name!r} from {PLUGINS_ENV_VAR}: {exc}"
            ) from None
        _plugins_loaded.add(name)


# ----------------------------------------------------------------- extra families (tests)

FamilyGenerator = Callable[[str, dict[str, Any], int], Any]
_EXTRA_FAMILIES: dict[str, FamilyGenerator] = {}


def register_family(name: str, generate: FamilyGenerator) -> None:
    """Register a family generator outside ``viterbo.families`` (for tests and experiments).

    ``generate(family, params, index)`` must return an object shaped like
    ``viterbo.families.GeneratedPolytope`` (attributes ``polytope``, ``seed``, ``metadata``).
    """
    _EXTRA_FAMILIES[name] = generate


def family_generator(name: str) -> FamilyGenerator:
    """The generator for family ``name`` (extra families first, then ``viterbo.families``)."""
    load_plugins()
    if name in _EXTRA_FAMILIES:
        return _EXTRA_FAMILIES[name]
    from viterbo import families  # imported late: the families layer is optional for the store

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
        from viterbo import families

        names |= set(getattr(families, "FAMILIES", {}))
    except ImportError:  # pragma: no cover - families layer not installed
        pass
    return names
