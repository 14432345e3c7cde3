"""Project-wide fixtures: a real PostgreSQL server (session scope) when the binaries exist.

Every test that talks to PostgreSQL carries the ``postgres`` marker (added here from its
fixtures and parameters), so ``pytest -m "not postgres"`` runs the SQLite half alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres_server import PostgresServer, unavailable_reason


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway server for the whole run; skips with the reason when it cannot start."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy URL of a fresh, empty database on the session's server."""
    return postgres_server.create_database()


POSTGRES_FIXTURES = {"postgres_server", "postgres_url", "restartable_postgres"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("db_url") if callspec is not None else None
        if names & POSTGRES_FIXTURES or backend == "postgresql":
            item.add_marker(pytest.mark.postgres)
