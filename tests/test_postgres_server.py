"""The PostgreSQL test server itself: starts, serves SQL, survives a restart."""

from __future__ import annotations

import sqlalchemy as sa

from tests.postgres_server import PostgresServer, wait_until_ready


def test_fresh_database_serves_sql(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select 6 * 7")).scalar_one() == 42
        assert (
            conn.execute(
                sa.text("select count(*) from pg_tables where schemaname='public'")
            ).scalar_one()
            == 0
        )
    engine.dispose()


def test_restart_drops_connections_then_recovers(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database()
    engine = sa.create_engine(url, pool_pre_ping=True)
    with engine.begin() as conn:
        conn.execute(sa.text("create table t (x int)"))
        conn.execute(sa.text("insert into t values (1)"))
    postgres_server.restart()
    wait_until_ready(postgres_server)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select sum(x) from t")).scalar_one() == 1
    engine.dispose()
