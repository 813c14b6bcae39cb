"""Migrations apply from scratch, downgrade cleanly and match the SQLAlchemy models."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from devstack.postgres import EmbeddedPostgres
from store.engine import normalize_url
from store.migrate import alembic_config, upgrade
from store.tables import Base


def test_upgrade_downgrade_upgrade_and_no_drift(embedded_pg: EmbeddedPostgres | None, database_url: str) -> None:
    url = embedded_pg.ensure_database("migrations_check") if embedded_pg else database_url
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    upgrade(url)
    engine = create_engine(normalize_url(url))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"
