"""Persistence: SQLAlchemy tables, engine factory and Alembic migrations."""
