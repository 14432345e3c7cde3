"""Job store semantics: idempotent enqueue, claim order, leases, tokens, retries, dependencies."""

from __future__ import annotations

import time

from sqlalchemy import Engine, select, update

from viterbo.atlas.models import jobs_table
from viterbo.atlas.store import JobSpec, JobStore, Outcome


def _specs(n: int, kind: str = "test-sleep", **kw: object) -> list[JobSpec]:
    return [JobSpec(kind=kind, key=f"k{i}", params={"seconds": 0}, **kw) for i in range(n)]


def _status(engine: Engine) -> dict[int, str]:
    j = jobs_table.c
    with engine.connect() as conn:
        return {i: s for i, s in conn.execute(select(j.id, j.status))}


def test_enqueue_is_idempotent(engine: Engine) -> None:
    store = JobStore(engine)
    assert store.enqueue(_specs(5)) == 5
    assert store.enqueue(_specs(5)) == 0
    assert store.enqueue(_specs(7)) == 2
    assert sum(store.status_counts().values()) == 7


def test_claim_takes_each_job_once_in_priority_order(engine: Engine) -> None:
    store = JobStore(engine)
    store.enqueue(
        [
            JobSpec("test-sleep", "late", priority=5),
            JobSpec("test-sleep", "early", priority=1),
            JobSpec("test-sleep", "early2", priority=1),
        ]
    )
    first = store.claim("w1", limit=2)
    assert [j.idempotency_key for j in first] == ["early", "early2"]
    second = store.claim("w2", limit=5)
    assert [j.idempotency_key for j in second] == ["late"]
    assert store.claim("w3", limit=5) == []
    assert first[0].lease_token != second[0].lease_token
    assert all(j.attempts == 1 for j in first + second)


def test_expired_lease_is_claimed_again_and_stale_completion_is_rejected(engine: Engine) -> None:
    store = JobStore(engine)
    store.enqueue(_specs(1))
    (old,) = store.claim("dead-worker", lease_seconds=0.05)
    assert store.claim("w2", lease_seconds=60) == []  # lease still valid
    time.sleep(0.1)
    (new,) = store.claim("w2", lease_seconds=60)
    assert new.id == old.id and new.attempts == 2 and new.lease_token != old.lease_token
    # The dead worker wakes up late: its result must not overwrite the new lease holder's.
    assert store.complete([(old, Outcome("done", result={"value": "stale"}))]) == [False]
    assert store.complete([(new, Outcome("done", result={"value": "fresh"}))]) == [True]
    with engine.connect() as conn:
        assert conn.execute(select(jobs_table.c.result)).scalar_one() == '{"value":"fresh"}'


def test_lease_expiring_on_every_attempt_ends_failed(engine: Engine) -> None:
    store = JobStore(engine)
    store.enqueue([JobSpec("test-sleep", "k", max_attempts=2)])
    for _ in range(2):
        assert len(store.claim("w", lease_seconds=0.01)) == 1
        time.sleep(0.03)
    assert store.claim("w", lease_seconds=0.01) == []
    j = jobs_table.c
    with engine.connect() as conn:
        status, etype = conn.execute(select(j.status, j.error_type)).one()
    assert (status, etype) == ("failed", "LeaseExpired")


def test_heartbeat_keeps_the_lease(engine: Engine) -> None:
    store = JobStore(engine)
    store.enqueue(_specs(1))
    (job,) = store.claim("w", lease_seconds=0.2)
    for _ in range(4):
        time.sleep(0.1)
        assert store.heartbeat([job], lease_seconds=0.2) == 1
    assert store.claim("other", lease_seconds=1) == []


def test_release_returns_job_without_counting_the_attempt(engine: Engine) -> None:
    store = JobStore(engine)
    store.enqueue(_specs(1))
    (job,) = store.claim("w")
    assert store.release([job]) == 1
    (again,) = store.claim("w")
    assert again.id == job.id and again.attempts == 1


def test_transient_failure_retries_then_deterministic_failure_stays(engine: Engine) -> None:
    store = JobStore(engine)
    store.enqueue([JobSpec("test-sleep", "k", max_attempts=2)])
    (job,) = store.claim("w")
    store.complete([(job, Outcome("failed", error_type="OperationalError", retry=True))])
    assert store.status_counts()["pending"] == 1
    (job,) = store.claim("w")
    store.complete([(job, Outcome("failed", error_type="OperationalError", retry=True))])
    assert store.status_counts()["failed"] == 1  # attempts exhausted: no endless loop
    assert store.claim("w") == []


def test_dependents_wait_until_all_inputs_are_terminal(engine: Engine) -> None:
    store = JobStore(engine)
    store.enqueue(
        [
            JobSpec("test-sleep", "a"),
            JobSpec("test-sleep", "b"),
            JobSpec("test-sleep", "c", depends_on_keys=("a", "b")),
        ]
    )
    assert store.status_counts()["blocked"] == 1
    a, b = store.claim("w", limit=5)
    assert {a.idempotency_key, b.idempotency_key} == {"a", "b"}
    store.complete([(a, Outcome("done", result={}))])
    assert store.status_counts()["blocked"] == 1
    store.complete([(b, Outcome("failed", error_type="X"))])  # failed is terminal too
    (c,) = store.claim("w")
    assert c.idempotency_key == "c"


def test_dependency_on_terminal_job_is_pending_at_once(engine: Engine) -> None:
    store = JobStore(engine)
    store.enqueue(
        [
            JobSpec("test-sleep", "a", status="not_applicable", result={"not_applicable": "x"}),
            JobSpec("test-sleep", "c", depends_on_keys=("a",)),
        ]
    )
    assert store.status_counts()["pending"] == 1 and store.status_counts()["blocked"] == 0


def test_recent_failures_and_counts(engine: Engine) -> None:
    store = JobStore(engine)
    store.enqueue(_specs(3, family="fam"))
    jobs = store.claim("w", limit=3)
    store.complete(
        [
            (jobs[0], Outcome("failed", error_type="ValueError", error_message="bad thing")),
            (jobs[1], Outcome("timed_out", error_type="Timeout", error_message="slow")),
            (jobs[2], Outcome("done", result={})),
        ]
    )
    failures = store.recent_failures()
    assert {f["error_type"] for f in failures} == {"ValueError", "Timeout"}
    assert ("fam", "done", 1) in store.counts_by("family")
    with engine.begin() as conn:  # a finished job is never claimed again
        conn.execute(update(jobs_table).values(lease_expires_at=0))
    assert store.claim("w") == []


def test_unblock_ready_repairs_a_lost_wake_up(engine: Engine) -> None:
    store = JobStore(engine)
    store.enqueue([JobSpec("test-sleep", "a"), JobSpec("test-sleep", "c", depends_on_keys=("a",))])
    (a,) = store.claim("w")
    store.complete([(a, Outcome("done", result={}))])
    with engine.begin() as conn:  # as if the dependent had missed its release
        conn.execute(
            update(jobs_table).where(jobs_table.c.idempotency_key == "c").values(status="blocked")
        )
    assert store.claim("w") == []
    assert store.unblock_ready() == 1
    (c,) = store.claim("w")
    assert c.idempotency_key == "c"
