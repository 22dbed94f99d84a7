"""Alembic migrations, shipped in the package so `missionctl db upgrade` works from an install."""
