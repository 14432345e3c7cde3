"""The built-in job kinds: ``generate`` (build one polytope), ``quantity`` (compute one
quantity with one algorithm on one polytope) and ``search`` (one checkpointed step of one
start of an ``atlas search``).

Both run their computation in the worker's child process, except the cheap quantities of
:data:`INLINE_ALGORITHMS`, which the worker runs itself (see :func:`runs_inline`); only
``prepare`` and ``record`` (parent side) touch the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import math
import time
from typing import Any

from sqlalchemy.engine import Connection

from viterbo.atlas.errors import JobParamsError
from viterbo.atlas.kinds import (
    BUDGET_KEY,
    FALLBACK_TIMEOUT,
    JobKind,
    Limits,
    Payload,
    TimeoutOverrides,
    family_generator,
    limits_for,
    parse_params,
    polytope_loader,
    register_kind,
)
from viterbo.atlas.models import (
    NOT_APPLICABLE,
    PENDING,
    SKIPPED,
)
from viterbo.atlas.store import (
    ClaimedJob,
    JobSpec,
    dependency_outcomes,
    dumps,
    insert_jobs,
    insert_polytope,
    polytope_geometry,
)
from viterbo.invariants import registry
from viterbo.invariants.evaluate import (
    ALGORITHM_LIMITS,
    POLICY_KEYS,
    algorithm_arguments,
    compute_one,
    skip_reason,
)

GENERATE = "generate"
QUANTITY = "quantity"
SEARCH = "search"
# Lower runs first: a polytope's quantities before the next polytope (complete rows early).
QUANTITY_PRIORITY = 0
GENERATE_PRIORITY = 10

# Wall-clock limits (seconds) per quantity when `atlas work --job-timeout` is not given.
DEFAULT_TIMEOUTS: dict[str, float] = {
    GENERATE: 120.0,
    SEARCH: 300.0,
    "volume": 120.0,
    "capacity": 600.0,
    "certified_capacity": 120.0,
    "systolic_ratio": 60.0,
    "spectrum": 600.0,
}

# Quantity algorithms cheap and safe enough to run inside the worker process, without the
# forked child (~20 ms of fork + limits + pipe per job, about as long as these computations
# themselves): closed formulas (the polygon area, a symplectic product's smaller factor area,
# the certificate, the ratio) and small convex-hull computations on <= a few dozen facets that
# neither loop without bound nor allocate much (atlas-small: at most 0.07 s and no memory beyond
# the worker's own).  Everything that can hang or blow up (capacity searches, spectrum,
# generate) keeps its child, time limit and memory limit.
INLINE_ALGORITHMS: frozenset[tuple[str, str]] = frozenset(
    {
        ("volume", "qhull"),
        ("volume", "cone-decomposition"),
        ("capacity", "area-2d"),
        ("capacity", "symplectic-product"),
        ("certified_capacity", "certify"),
        ("systolic_ratio", "formula"),
    }
)


def quantity_limits(job: ClaimedJob, overrides: TimeoutOverrides) -> Limits:
    """The time limit of a quantity job, in one place.

    The operator's ``--timeout QUANTITY=S`` or ``--job-timeout``, else the quantity's default,
    gives T: the worker kills the child at T and tells the algorithm 0.9 T, so that it stops
    itself first and reports ``timed_out`` with its own diagnostics. A preset policy's
    ``time_limit_s`` P (in the job's params) tightens both: the algorithm is told min(0.9 T, P)
    and the child is killed at min(T, 1.5 P + 2) if it does not stop by itself -- code that
    checks its budget rarely cannot hold a worker for T instead of P.
    """
    name = job.quantity or job.kind
    timeout = overrides.get(name)
    if timeout is None:
        timeout = DEFAULT_TIMEOUTS.get(name, FALLBACK_TIMEOUT)
    limits = limits_for(timeout)
    try:
        policy_limit = parse_params(job).get(TIME_LIMIT_PARAM)
    except JobParamsError:
        return limits  # the job fails in prepare, with the reason
    if (
        isinstance(policy_limit, int | float)
        and not isinstance(policy_limit, bool)
        and policy_limit > 0
    ):
        return Limits(
            budget=min(limits.budget, float(policy_limit)),
            kill_after=min(limits.kill_after, 1.5 * float(policy_limit) + 2.0),
        )
    return limits


def runs_inline(job: ClaimedJob) -> bool:
    """Whether the worker runs ``job`` in its own process instead of a forked child.

    True for quantity jobs of :data:`INLINE_ALGORITHMS` whose params parse and carry no policy
    time limit (a time limit is enforced by killing the child, see :func:`quantity_limits`).  The result, status and
    timing columns are recorded exactly as for a child.
    """
    if job.kind != QUANTITY or (job.quantity, job.algorithm) not in INLINE_ALGORITHMS:
        return False
    try:
        params = parse_params(job)
    except JobParamsError:
        return False  # the child path reports it, as for every other job
    return TIME_LIMIT_PARAM not in params  # a policy time limit needs the child's kill


def to_jsonable(obj: Any) -> Any:
    """Convert numpy arrays/scalars (and tuples) inside ``obj`` to plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy array or scalar
        return to_jsonable(obj.tolist())
    return obj


def polytope_key(family: str, params: dict[str, Any], index: int) -> str:
    """Stable polytope id, equal in every database: ``family:paramshash:index``."""
    digest = hashlib.sha256(dumps(params).encode()).hexdigest()[:10]
    return f"{family}:{digest}:{index:06d}"


def generate_job_key(family: str, params: dict[str, Any], index: int) -> str:
    """Idempotency key of the generate job of one polytope."""
    return f"generate:{polytope_key(family, params, index)}"


def quantity_job_key(pkey: str, quantity: str, algorithm: str) -> str:
    """Idempotency key of one quantity job."""
    return f"quantity:{pkey}:{quantity}/{algorithm}"


# ------------------------------------------------------------------------------ policy
#
# A preset item may carry a run policy: ``{"capacity/haim-kislev": {"max_facets": 12},
# "spectrum/reeb": {"time_limit_s": 20, "max_index": 2}}``.
# * ``max_facets``: on polytopes with more facets the job is born ``skipped`` (the algorithm
#   applies but is deliberately not run; the reason names the policy, so the report can count
#   and explain it).
# * ``max_index``: run only on polytopes ``0 .. max_index - 1`` of each (family, params), a
#   deterministic subset (0: not at all); the rest are ``skipped`` likewise.
# * ``time_limit_s``: the job's own time budget (the worker kills the child at 1.5x + 2 s if it
#   does not stop by itself, see :func:`quantity_limits`), so that one slow
#   polytope becomes a recorded ``timed_out`` instead of holding a worker for the default 600 s.
# * ``max_paths``: a deterministic work budget, passed to the algorithm (the reeb searches):
#   more expanded paths end the job ``timed_out`` at the same point on every machine, so the
#   dataset's content does not depend on machine load (the time limit stays as a safety net).

# The limits' meaning (POLICY_KEYS, skip_reason) lives with the evaluation path, which
# `atlas compute` and `atlas search` share; here they become job statuses and params.
TIME_LIMIT_PARAM = "time_limit_s"
# Every job param that comes from a policy limit (what an export compares with the policy).
LIMIT_PARAMS = (TIME_LIMIT_PARAM, *ALGORITHM_LIMITS)


def limit_params(quantity: str, algorithm: str, limits: dict[str, Any]) -> dict[str, Any]:
    """The params a quantity job carries for its policy ``limits``: the time limit (the
    worker's) and the work budgets the algorithm takes (``compute_one`` passes them on)."""
    params: dict[str, Any] = {}
    if "time_limit_s" in limits:
        params[TIME_LIMIT_PARAM] = limits["time_limit_s"]
    params.update(algorithm_arguments(registry.get(quantity, algorithm), limits))
    return params


def validate_policy(policy: Any, where: str = "policy") -> dict[str, dict[str, float | int]]:
    """``policy`` checked and normalised; :class:`JobParamsError` naming the bad entry."""
    if policy is None:
        return {}
    if not isinstance(policy, dict):
        raise JobParamsError(
            f"{where} must be an object {{'quantity/algorithm': {{limit: value}}}}, got {policy!r}"
        )
    by_key = {alg.key: alg for alg in registry.algorithms()}
    known = sorted(by_key)
    out: dict[str, dict[str, float | int]] = {}
    for key, limits in policy.items():
        if not isinstance(key, str) or key.count("/") != 1 or not isinstance(limits, dict):
            raise JobParamsError(
                f"{where}: expected 'quantity/algorithm': {{...}}, got {key!r}: {limits!r}"
            )
        if key not in known:
            raise JobParamsError(f"{where}: unknown algorithm {key!r} (known: {', '.join(known)})")
        entry: dict[str, float | int] = {}
        for name, value in limits.items():
            kind = POLICY_KEYS.get(name)
            if kind is None:
                raise JobParamsError(
                    f"{where}[{key!r}]: unknown limit {name!r} (known: {', '.join(POLICY_KEYS)})"
                )
            if name in ALGORITHM_LIMITS and name not in by_key[key].work_limits:
                takes = ", ".join(by_key[key].work_limits) or "none"
                raise JobParamsError(
                    f"{where}[{key!r}]: {key} takes no work budget {name!r} (it takes: {takes})"
                )
            # Integer limits may be 0 ("never run it here"); a time limit must be positive.
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
                or (kind is float and value == 0)
            ):
                raise JobParamsError(
                    f"{where}[{key!r}][{name!r}] must be a positive number, got {value!r}"
                )
            if kind is int and value != int(value):
                raise JobParamsError(
                    f"{where}[{key!r}][{name!r}] must be an integer, got {value!r}"
                )
            entry[name] = kind(value)
        out[key] = entry
    return out


# ------------------------------------------------------------------------------ generate


def _prepare_generate(conn: Connection, job: ClaimedJob) -> Payload:
    params = parse_params(job)
    try:
        family, fparams, index = params["family"], params["params"], params["index"]
    except KeyError as exc:
        raise JobParamsError(f"job {job.id}: generate params lack {exc.args[0]!r}") from None
    if (
        not isinstance(family, str)
        or not isinstance(fparams, dict)
        or not isinstance(index, int)
        or index < 0
    ):
        raise JobParamsError(
            f"job {job.id}: generate params need family: str, params: object, index: int >= 0"
        )
    policy = validate_policy(params.get("policy"), f"job {job.id}: policy")
    return {"family": family, "params": fparams, "index": index, "policy": policy}


def _run_generate(payload: Payload) -> dict[str, Any]:
    family, params, index = payload["family"], payload["params"], payload["index"]
    generated = family_generator(family)(family, params, index)
    polytope = generated.polytope
    algorithms = []
    for alg in registry.algorithms():
        reason = alg.applicability(polytope)
        algorithms.append(
            {
                "quantity": alg.quantity,
                "name": alg.name,
                "depends_on": list(alg.depends_on),
                "not_applicable": reason,
            }
        )
    return to_jsonable(
        {
            "polytope": polytope.to_dict(),
            "dimension": int(polytope.dim),
            "num_vertices": int(polytope.num_vertices),
            "num_facets": int(polytope.num_facets),
            "seed": getattr(generated, "seed", None),
            "metadata": getattr(generated, "metadata", None) or {},
            "algorithms": algorithms,
        }
    )


def _record_generate(conn: Connection, job: ClaimedJob, result: dict[str, Any]) -> dict[str, Any]:
    payload = _prepare_generate(conn, job)
    family, params, index = payload["family"], payload["params"], payload["index"]
    pkey = polytope_key(family, params, index)
    geometry = result["polytope"]
    row = {
        "key": pkey,
        "family": family,
        "params": dumps(params),
        "index": index,
        "seed": result.get("seed"),
        "dimension": result["dimension"],
        "num_vertices": result["num_vertices"],
        "num_facets": result["num_facets"],
        "vertices": json.dumps(geometry["vertices"]),
        "normals": json.dumps(geometry["normals"]),
        "offsets": json.dumps(geometry["offsets"]),
        "metadata": dumps(result.get("metadata") or {}),
        "created_at": time.time(),
    }
    polytope_id = insert_polytope(conn, row)
    specs = quantity_job_specs(
        int(polytope_id),
        pkey,
        family,
        result["algorithms"],
        policy=payload["policy"],
        num_facets=int(result["num_facets"]),
        index=index,
    )
    new = insert_jobs(conn, specs)
    return {"polytope_id": int(polytope_id), "polytope_key": pkey, "jobs": len(new)}


def quantity_job_specs(
    polytope_id: int,
    pkey: str,
    family: str,
    algorithms: list[dict[str, Any]],
    *,
    policy: dict[str, dict[str, float | int]] | None = None,
    num_facets: int = 0,
    index: int = 0,
) -> list[JobSpec]:
    """One job per algorithm; dependents blocked on their inputs.

    Not-applicable algorithms and those the ``policy`` skips are born terminal
    (``not_applicable`` / ``skipped``, the reason in the result); a policy ``time_limit_s``
    travels in the job's params.
    """
    policy = policy or {}
    keys_by_quantity: dict[str, list[str]] = {}
    for a in algorithms:
        keys_by_quantity.setdefault(a["quantity"], []).append(
            quantity_job_key(pkey, a["quantity"], a["name"])
        )
    specs = []
    for a in algorithms:
        name = f"{a['quantity']}/{a['name']}"
        limits = policy.get(name, {})
        reason = a.get("not_applicable")
        skipped = skip_reason(name, limits, num_facets, index) if reason is None else None
        status, born = PENDING, None
        if reason is not None:
            status, born = NOT_APPLICABLE, {"not_applicable": str(reason)}
        elif skipped is not None:
            status, born = SKIPPED, {"skipped": skipped}
        deps = tuple(k for q in a.get("depends_on", ()) for k in keys_by_quantity.get(q, ()))
        params = limit_params(a["quantity"], a["name"], limits) if born is None else {}
        specs.append(
            JobSpec(
                kind=QUANTITY,
                key=quantity_job_key(pkey, a["quantity"], a["name"]),
                polytope_id=polytope_id,
                family=family,
                quantity=a["quantity"],
                algorithm=a["name"],
                priority=QUANTITY_PRIORITY,
                params=params,
                status=status,
                result=born,
                depends_on_keys=() if born is not None else deps,
            )
        )
    # Dependencies first so that their ids exist when the dependency rows are written.
    specs.sort(key=lambda s: len(s.depends_on_keys) > 0)
    return specs


# ------------------------------------------------------------------------------ quantity


def _prepare_quantity(conn: Connection, job: ClaimedJob) -> Payload:
    params = parse_params(job)
    if job.polytope_id is None or not job.quantity or not job.algorithm:
        raise JobParamsError(f"job {job.id}: a quantity job needs polytope, quantity and algorithm")
    stored = polytope_geometry(conn, job.polytope_id)
    if stored is None:
        raise JobParamsError(f"job {job.id}: polytope {job.polytope_id} does not exist")
    family, geometry = stored
    inputs = {
        f"{d['quantity']}/{d['algorithm']}": {
            "status": d["status"],
            "result": d["result"],
            "reason": _input_reason(d["error_type"], d["error_message"]),
        }
        for d in dependency_outcomes(conn, job.id)
    }
    return {
        "quantity": job.quantity,
        "algorithm": job.algorithm,
        "params": params,
        "inputs": inputs,
        "family": family,
        "polytope": geometry,
    }


def _input_reason(error_type: str | None, error_message: str | None) -> str | None:
    """One line saying why a dependency gave no value (None when it has no error)."""
    if not error_type and not error_message:
        return None
    first = (error_message or "").strip().splitlines()
    return f"{error_type or 'error'}: {first[0] if first else ''}".rstrip(": ")


def _run_quantity(payload: Payload) -> dict[str, Any]:
    alg = registry.get(payload["quantity"], payload["algorithm"])
    polytope = polytope_loader(payload["family"])(payload["polytope"])
    params = dict(payload["params"])
    params.pop(TIME_LIMIT_PARAM, None)  # already in the budget (quantity_limits)
    result = compute_one(alg, polytope, payload["inputs"], payload.get(BUDGET_KEY), **params)
    return to_jsonable(result)


def preload() -> None:
    """Import the math layers once in the worker, so that every forked child inherits them.

    Without this each job's child would import numpy/scipy and every algorithm module again
    (~0.2 s per job), and would load the compiled Reeb search from numba's cache (or, in a
    fresh checkout, compile it for half a minute inside a job's time limit): the algorithms'
    ``warm_up`` hooks run here once.  Best effort: a layer that fails to import fails its
    jobs, not the worker.
    """
    for name in ("viterbo.geometry", "viterbo.families"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    # Any error here is reported per job when the child tries the same import.
    with contextlib.suppress(Exception):
        registry.load_builtin()
        registry.warm_up()


# -------------------------------------------------------------------------------- search
# A search start is a chain of jobs, each TRIALS_PER_JOB trials (or its params'
# "trials_per_job"): each job's params hold the climb's JSON state, its result the next
# state, and its record queues the next job. The job table is the checkpoint, so a killed
# worker loses at most one job's trials, and they are repeated exactly (the climb is
# deterministic, and does not depend on how it is cut into jobs).
SEARCH_PRIORITY = 5
SEARCH_PARAMS = ("search", "start", "step", "seed", "space", "max_trials")


def search_job_key(search: str, start: int, step: int) -> str:
    """``search:NAME:START:STEP``: the STEP-th job of one start of one search."""
    return f"search:{search}:{start}:{step}"


def parse_search_job_key(key: str) -> tuple[str, int, int]:
    """``(NAME, START, STEP)`` of a :func:`search_job_key` (a name may contain ':')."""
    head, start, step = key.rsplit(":", 2)
    return head.removeprefix("search:"), int(start), int(step)


def search_job_spec(params: dict[str, Any]) -> JobSpec:
    """The job of ``params`` (the search's name, start, step, seed, space, ...)."""
    return JobSpec(
        kind=SEARCH,
        key=search_job_key(params["search"], params["start"], params["step"]),
        params=params,
        family=f"search/{params['space']['space']}",
        priority=SEARCH_PRIORITY,
    )


def _prepare_search(conn: Connection, job: ClaimedJob) -> Payload:
    del conn
    params = parse_params(job)
    missing = [k for k in SEARCH_PARAMS if k not in params]
    if missing:
        raise JobParamsError(f"job {job.id}: search params lack {', '.join(missing)}")
    return params


def _run_search(payload: Payload) -> dict[str, Any]:
    # Lazy: the search layer pulls in scipy and the geometry (~0.5 s) that only a search
    # job's child needs.
    from viterbo.geometry import Polytope
    from viterbo.search import Climb, advance, begin, finish, space_from_spec
    from viterbo.search.run import TRIALS_PER_JOB

    space = space_from_spec(payload["space"])
    seed, start = int(payload["seed"]), int(payload["start"])
    if payload.get("climb") is None:
        polytope = payload.get("polytope")
        climb = begin(space, seed, start, Polytope.from_dict(polytope) if polytope else None)
    else:
        climb = advance(
            Climb.from_json(payload["climb"]),
            max_trials=int(payload["max_trials"]),
            trials=int(payload.get("trials_per_job") or TRIALS_PER_JOB),
        )
    result: dict[str, Any] = {"climb": climb.to_json()}
    if climb.finished and climb.ratio is not None:
        result["verification"] = finish(climb, seed, start)
    return to_jsonable(result)


def _preload_search() -> None:
    """Import the search layer once in the worker: each step's child then starts warm
    (importing it per child cost ~0.3 s of a ~0.5 s step)."""
    with contextlib.suppress(ImportError):
        importlib.import_module("viterbo.search")


def _record_search(conn: Connection, job: ClaimedJob, result: dict[str, Any]) -> dict[str, Any]:
    params = parse_params(job)
    if result["climb"]["status"] == "running":
        following = {**params, "step": int(params["step"]) + 1, "climb": result["climb"]}
        following.pop("polytope", None)
        insert_jobs(conn, [search_job_spec(following)])
    return result


register_kind(
    JobKind(
        GENERATE,
        run=_run_generate,
        prepare=_prepare_generate,
        record=_record_generate,
        default_timeout=DEFAULT_TIMEOUTS[GENERATE],
    )
)
register_kind(
    JobKind(
        QUANTITY,
        run=_run_quantity,
        prepare=_prepare_quantity,
        limits=quantity_limits,
        inline=runs_inline,
        preload=preload,
    )
)
register_kind(
    JobKind(
        SEARCH,
        run=_run_search,
        prepare=_prepare_search,
        record=_record_search,
        default_timeout=DEFAULT_TIMEOUTS[SEARCH],
        preload=_preload_search,
    )
)
