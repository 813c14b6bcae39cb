"""Alembic environment: synchronous psycopg, URL passed in by `store.migrate.upgrade`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from store.engine import normalize_url
from store.tables import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=normalize_url(config.get_main_option("sqlalchemy.url") or ""),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(normalize_url(config.get_main_option("sqlalchemy.url") or ""), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            # Two processes migrating at once (api + worker starting together) must not race.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7263540)")
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
