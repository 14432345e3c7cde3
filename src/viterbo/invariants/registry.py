"""Registry of quantities and the algorithms that compute them.

The atlas layer knows nothing about how a quantity is computed: it looks algorithms up here.
Adding an algorithm is one module that calls :func:`register` plus one line in
``BUILTIN_MODULES``.

Conventions for a result dict (JSON-serialisable floats/lists only):

* success: ``{"value": float, "loop": [[...], ...] | None, "seconds": float,
  "diagnostics": {...}}`` plus algorithm-specific keys;
* not applicable: the algorithm's ``applicability`` returns a reason string and
  ``compute`` is never called (callers record ``{"not_applicable": reason}``);
* out of time: ``compute`` raises :class:`TimeBudgetExceeded`.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from viterbo.geometry import Polytope

Result = dict[str, Any]

# Results of the jobs a dependent quantity waits for, keyed "quantity/algorithm".
# Each entry is {"status": "done" | "failed" | "timed_out" | "not_applicable", "result": Result|None}.
Inputs = Mapping[str, Mapping[str, Any]]


class TimeBudgetExceeded(Exception):
    """An algorithm ran out of its time budget before finishing (reported as ``timed_out``)."""

    def __init__(self, seconds: float, detail: str = "") -> None:
        super().__init__(
            f"time budget exceeded after {seconds:.3g} s" + (f": {detail}" if detail else "")
        )
        self.seconds = seconds
        self.detail = detail


class WorkBudgetExceeded(TimeBudgetExceeded):
    """An algorithm spent a deterministic work budget (e.g. ``max_paths`` of a search).

    Reported as ``timed_out`` like a wall-clock budget, but the same on every machine and at
    every load: a dataset whose slow jobs stop at a work budget has reproducible content.
    ``limit_name`` is the budget's name, the policy key that set it.
    """

    def __init__(self, seconds: float, spent: str, limit_name: str = "") -> None:
        Exception.__init__(self, f"work budget exceeded after {seconds:.3g} s: {spent}")
        self.seconds = seconds
        self.detail = spent
        self.limit_name = limit_name


def check_work(done: int, limit: int | None, seconds: float, what: str, name: str) -> None:
    """Raise :class:`WorkBudgetExceeded` once ``done`` units of work exceed ``limit``.

    ``what`` says what was counted (``"paths expanded"``), ``name`` is the budget's keyword
    (``"max_paths"``); the message gives the count reached, so that two runs can be compared.
    """
    if limit is not None and done > limit:
        raise WorkBudgetExceeded(seconds, f"{done} {what}, over {name} = {limit}", name)


class Deadline:
    """A wall-clock time budget shared by every algorithm (``None``: no limit).

    ``check`` is cheap (one ``perf_counter`` call) and raises :class:`TimeBudgetExceeded`
    with the elapsed time and what was being done, so hot loops call it every few hundred
    iterations and a caller reports ``timed_out`` instead of hanging.
    """

    __slots__ = ("end", "start")

    def __init__(self, budget: float | None) -> None:
        self.start = time.perf_counter()
        self.end = None if budget is None else self.start + float(budget)

    @property
    def elapsed(self) -> float:
        """Seconds since the deadline was set."""
        return time.perf_counter() - self.start

    def check(self, detail: str = "") -> None:
        """Raise :class:`TimeBudgetExceeded` once the budget is spent."""
        if self.end is not None and time.perf_counter() > self.end:
            raise TimeBudgetExceeded(self.elapsed, detail)


@dataclass(frozen=True)
class Algorithm:
    """One way of computing one quantity.

    ``compute(polytope, *, time_budget=None, inputs=None, **params) -> Result``.
    ``applicability(polytope) -> None | str``: ``None`` when the algorithm applies, else the
    reason it does not.  ``depends_on`` names quantities whose jobs (all algorithms) must have
    finished before this one may run; their results arrive in ``inputs``.  ``warm_up`` (optional)
    prepares expensive one-time state, e.g. compiled code, so that a process which forks job
    children pays for it once (see :func:`warm_up`).  ``method`` names the mathematics behind an
    exact algorithm (default: its name): two algorithms with the same method -- say two engines
    of one search -- are not independent, so their agreement does not make a capacity
    ``confirmed`` (MATH.md §4).  ``work_limits`` names the deterministic work budgets that
    ``compute`` takes as keyword arguments (say ``max_paths``); a policy may set only those.
    """

    quantity: str
    name: str
    compute: Callable[..., Result]
    applicability: Callable[[Polytope], str | None]
    exact: bool = True
    depends_on: tuple[str, ...] = ()
    description: str = ""
    warm_up: Callable[[], object] | None = None
    method: str = ""
    work_limits: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.quantity}/{self.name}"


_REGISTRY: dict[tuple[str, str], Algorithm] = {}

# Modules that register the built-in algorithms on import (one line per module).
BUILTIN_MODULES: tuple[str, ...] = (
    "viterbo.invariants.volume",
    "viterbo.invariants.area_2d",
    "viterbo.invariants.symplectic_product",
    "viterbo.invariants.billiard",
    "viterbo.invariants.haim_kislev",
    "viterbo.invariants.reeb",
    "viterbo.invariants.certified",
    "viterbo.invariants.systolic",
    "viterbo.invariants.spectrum",
)
_loaded = False


def register(algorithm: Algorithm) -> Algorithm:
    """Add ``algorithm`` to the registry (re-registering the same key replaces it)."""
    _REGISTRY[(algorithm.quantity, algorithm.name)] = algorithm
    return algorithm


def load_builtin() -> None:
    """Import every built-in algorithm module once."""
    global _loaded
    if _loaded:
        return
    for name in BUILTIN_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # module not written yet; anything else is a bug
            if exc.name != name:
                raise
    _loaded = True


def algorithms(quantity: str | None = None) -> list[Algorithm]:
    """Registered algorithms (of one quantity, or all), in a stable order."""
    load_builtin()
    return [a for (q, _), a in sorted(_REGISTRY.items()) if quantity is None or q == quantity]


def get(quantity: str, name: str) -> Algorithm:
    """The algorithm ``name`` of ``quantity``; ``KeyError`` with the known names otherwise."""
    load_builtin()
    try:
        return _REGISTRY[(quantity, name)]
    except KeyError:
        known = ", ".join(a.key for a in algorithms(quantity)) or "none"
        raise KeyError(f"unknown algorithm {quantity}/{name} (known: {known})") from None


def quantities() -> list[str]:
    """Names of all quantities that have at least one algorithm."""
    load_builtin()
    return sorted({q for q, _ in _REGISTRY})


def warm_up() -> None:
    """Run every registered ``warm_up`` hook once (a hook shared by algorithms runs once).

    Workers call this before forking job children, so compiled code (the numba Reeb search) is
    loaded once per worker instead of once per job.
    """
    hooks = {id(a.warm_up): a.warm_up for a in algorithms() if a.warm_up is not None}
    for hook in hooks.values():
        hook()
