"""The certified capacity (quantity ``certified_capacity``, algorithm ``certify``).

MATH.md §4: a published capacity comes from an exact algorithm whose minimal-action loop passed
:func:`~viterbo.invariants.certificate.verify_loop`.  A verified loop proves only c <= value;
that no smaller orbit exists rests on an exact algorithm's exhaustiveness, so trust comes from
*independent* exact algorithms agreeing.  Each published value carries its level:

* ``confirmed``: two or more independent exact algorithms (distinct ``Algorithm.method``) agree
  to :data:`AGREEMENT_RTOL`, each with a verified loop;
* ``single``: one exact method with a verified loop; ``others`` says, for every other capacity
  algorithm, why it gave nothing (not applicable, skipped, failed, timed out, unverified);
* ``disagreement``: exact values differ (verified or not); the published value is the smallest
  verified one, an upper bound only.  Disagreements are recorded, never averaged away.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from viterbo.invariants import registry
from viterbo.invariants.applicability import even_dimension
from viterbo.invariants.certificate import verify_loop
from viterbo.invariants.registry import Algorithm, register

if TYPE_CHECKING:
    from viterbo.geometry import Polytope

# Among equal values, publish the loop of the simplest algorithm.
PREFERENCE = ("area-2d", "symplectic-product", "billiard", "haim-kislev", "reeb")

# Loop verification (MATH.md §4: action within 1e-9) and agreement between algorithms (1e-8).
VERIFY_RTOL = 1e-9
AGREEMENT_RTOL = 1e-8

CONFIRMED, SINGLE, DISAGREEMENT = "confirmed", "single", "disagreement"
LEVELS: dict[str, str] = {
    CONFIRMED: "two or more independent exact algorithms agree (relative 1e-8), each with a verified loop",
    SINGLE: "one exact algorithm with a verified loop; the others did not apply, were skipped, failed,"
    " timed out or did not verify",
    DISAGREEMENT: "exact algorithms differ; the value is the smallest verified loop's action, an upper"
    " bound only",
}


class CertificationError(ValueError):
    """No exact capacity algorithm produced a verified loop."""


def _algorithm(name: str) -> Algorithm | None:
    try:
        return registry.get("capacity", name)
    except KeyError:
        return None


def _is_exact(name: str) -> bool:
    algorithm = _algorithm(name)
    return algorithm is not None and algorithm.exact


def _method(name: str) -> str:
    algorithm = _algorithm(name)
    return algorithm.method if algorithm is not None and algorithm.method else name


def _rank(name: str) -> int:
    return PREFERENCE.index(name) if name in PREFERENCE else len(PREFERENCE)


def _verify(
    results: Mapping[str, Mapping[str, Any]], polytope: Polytope, rtol: float
) -> tuple[dict[str, float], dict[str, Any], list[dict[str, Any]], list[str]]:
    """Split the results into verified exact values (with loops), unverified ones and inexact."""
    verified: dict[str, float] = {}
    loops: dict[str, Any] = {}
    unverified: list[dict[str, Any]] = []
    inexact: list[str] = []
    for name in sorted(results, key=lambda n: (_rank(n), n)):
        result = results[name]
        if not _is_exact(name):
            inexact.append(name)
            continue
        value = float(result["value"])
        loop = result.get("loop")
        if loop is None:
            unverified.append({"algorithm": name, "value": value, "reason": "no loop"})
            continue
        try:
            verify_loop(polytope, loop, value, rtol=rtol)
        except ValueError as exc:
            unverified.append({"algorithm": name, "value": value, "reason": str(exc)})
            continue
        verified[name] = value
        loops[name] = loop
    return verified, loops, unverified, inexact


def certify(
    results: Mapping[str, Mapping[str, Any]],
    polytope: Polytope,
    *,
    others: list[dict[str, Any]] | None = None,
    rtol: float = VERIFY_RTOL,
    agreement_rtol: float = AGREEMENT_RTOL,
) -> dict[str, Any]:
    """Pick the certified capacity and its level from the results of capacity algorithms.

    Parameters
    ----------
    results : mapping
        Algorithm name (of the quantity ``capacity``) -> its successful result dict (with
        ``value`` and ``loop``).
    polytope : Polytope
        The polytope the results belong to (every loop is re-verified on it).
    others : list of dict, optional
        The capacity algorithms that gave no value, ``{"algorithm", "status", "reason"}``
        (not applicable, skipped, failed, timed out); reported with a ``single`` level.
    rtol : float
        Relative tolerance of loop verification (action and constraints).
    agreement_rtol : float
        Relative tolerance within which two exact values agree.

    Returns
    -------
    dict
        ``value`` (the smallest verified exact value), ``algorithm`` (whose loop is published),
        ``loop``, ``level`` (``confirmed``, ``single`` or ``disagreement``), ``agreeing``
        (verified algorithms within ``agreement_rtol`` of the value), ``methods`` (their
        distinct methods), ``max_relative_difference`` (over all exact values),
        ``disagreement`` (``{algorithm, value}`` of every exact value, empty unless the level is
        ``disagreement``), ``unverified`` (exact algorithms whose loop failed, with the reason),
        ``others`` (algorithms that gave nothing and inexact ones, with status and reason),
        ``seconds``, ``diagnostics``.

    Raises
    ------
    CertificationError
        When no exact algorithm has a verified loop.
    """
    started = time.perf_counter()
    verified, loops, unverified, inexact = _verify(results, polytope, rtol)
    silent = [dict(o) for o in others or ()]
    silent += [
        {"algorithm": n, "status": "inexact", "reason": "not an exact algorithm"} for n in inexact
    ]
    silent.sort(key=lambda o: (_rank(o["algorithm"]), o["algorithm"]))
    if not verified:
        reasons = [f"{u['algorithm']}: {u['reason']}" for u in unverified]
        reasons += [
            f"{o['algorithm']}: {o['status']}" + (f" ({o['reason']})" if o.get("reason") else "")
            for o in silent
        ]
        raise CertificationError(
            "no exact capacity algorithm produced a verified loop ("
            + ("; ".join(reasons) or "no results")
            + ")"
        )

    smallest = min(verified.values())
    chosen = min(
        verified, key=lambda n: (verified[n] > smallest * (1 + agreement_rtol), _rank(n), n)
    )
    value = verified[chosen]
    exact_values = {**{u["algorithm"]: u["value"] for u in unverified}, **verified}
    spread = (max(exact_values.values()) - min(exact_values.values())) / value
    agreeing = [n for n, v in verified.items() if abs(v - value) <= agreement_rtol * value]
    methods = sorted({_method(n) for n in agreeing})
    disagreement: list[dict[str, Any]] = []
    if any(abs(v - value) > agreement_rtol * value for v in exact_values.values()):
        disagreement = [
            {"algorithm": n, "value": v}
            for n, v in sorted(exact_values.items(), key=lambda kv: (_rank(kv[0]), kv[0]))
        ]
        level = DISAGREEMENT
    else:
        level = CONFIRMED if len(methods) >= 2 else SINGLE
    return {
        "value": value,
        "algorithm": chosen,
        "loop": loops[chosen],
        "level": level,
        "agreeing": agreeing,
        "methods": methods,
        "max_relative_difference": spread,
        "disagreement": disagreement,
        "unverified": unverified,
        "others": silent,
        "seconds": time.perf_counter() - started,
        "diagnostics": {"verified": verified},
    }


def applicability(polytope: Polytope) -> str | None:
    """Applies whenever a capacity can: even dimension."""
    return even_dimension(polytope)


def _reason(entry: Mapping[str, Any]) -> str:
    """Why a finished input gave no value: its recorded reason, or what its result says."""
    if entry.get("reason"):
        return str(entry["reason"])
    result = entry.get("result")
    if isinstance(result, Mapping):
        for key in ("not_applicable", "skipped", "error"):
            if result.get(key):
                return str(result[key])
    return ""


def compute(
    polytope: Polytope,
    *,
    time_budget: float | None = None,
    inputs: registry.Inputs | None = None,
    rtol: float = VERIFY_RTOL,
) -> dict[str, Any]:
    """Registry entry: :func:`certify` on the finished ``capacity/*`` inputs.

    Parameters
    ----------
    polytope : Polytope
        The polytope.
    time_budget : ignored
        Verification is cheap.
    inputs : mapping
        ``"capacity/NAME" -> {"status", "result", "reason"?}`` for every capacity algorithm
        (``reason``: why a job that is not done gave nothing, e.g. its error message).
    rtol : float
        Relative tolerance of loop verification.
    """
    del time_budget
    results: dict[str, Mapping[str, Any]] = {}
    others: list[dict[str, Any]] = []
    for key, entry in (inputs or {}).items():
        quantity, _, name = key.partition("/")
        if quantity != "capacity":
            continue
        if entry.get("status") == "done" and entry.get("result") is not None:
            results[name] = entry["result"]
        else:
            others.append(
                {"algorithm": name, "status": str(entry.get("status")), "reason": _reason(entry)}
            )
    return certify(results, polytope, others=others, rtol=rtol)


register(
    Algorithm(
        quantity="certified_capacity",
        name="certify",
        compute=compute,
        applicability=applicability,
        exact=True,
        depends_on=("capacity",),
        description="verified value of the exact capacity algorithms with its certificate level"
        " (confirmed, single, disagreement)",
    )
)
