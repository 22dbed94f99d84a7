"""The analyzer's settings in the shape it uses: libpq DSNs, a printable target name, limits (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from missionctl.settings import Settings

_DRIVER = re.compile(r"^postgres(?:ql)?\+[a-z0-9_]+://", re.IGNORECASE)
_CONNINFO_DBNAME = re.compile(r"(?:^|\s)dbname\s*=\s*'?([^'\s]+)")
_CONNINFO_HOST = re.compile(r"(?:^|\s)host\s*=\s*'?([^'\s]+)")


class NotConfigured(Exception):
    """No analyzed database is configured (MISSIONCTL_ANALYZER_DATABASE_URL)."""


def libpq_dsn(url: str) -> str:
    """A DSN libpq accepts: SQLAlchemy's `postgresql+psycopg://` loses its driver part; others pass through."""
    return _DRIVER.sub("postgresql://", url.strip(), count=1)


def target_name(url: str) -> str:
    """`host/dbname` of a DSN, for reports, logs and alert origins: never the user or the password."""
    dsn = libpq_dsn(url)
    if "://" in dsn:
        parts = urlsplit(dsn)
        host = parts.hostname or "local"
        dbname = unquote(parts.path.lstrip("/")) or "postgres"
        return f"{host}/{dbname}"
    host_match = _CONNINFO_HOST.search(dsn)
    db_match = _CONNINFO_DBNAME.search(dsn)
    return f"{host_match.group(1) if host_match else 'local'}/{db_match.group(1) if db_match else 'postgres'}"


@dataclass(frozen=True)
class AnalyzerConfig:
    dsn: str  # read-only role; contains the password: never log it
    target: str  # host/dbname, safe to show
    service: str
    top_n: int = 10
    min_calls: int = 5
    statement_timeout_ms: int = 5000
    ddl_dsn: str | None = None  # only for approved CREATE INDEX CONCURRENTLY
    interval_minutes: int = 60

    def __repr__(self) -> str:  # dataclass repr would print the DSNs
        return f"AnalyzerConfig(target={self.target!r}, service={self.service!r}, top_n={self.top_n})"

    @classmethod
    def from_settings(cls, settings: Settings) -> AnalyzerConfig:
        """The configuration, or `NotConfigured` when no analyzed database is set."""
        if settings.analyzer_database_url is None:
            raise NotConfigured("no analyzed database is configured: set MISSIONCTL_ANALYZER_DATABASE_URL")
        url = settings.analyzer_database_url.get_secret_value()
        ddl = settings.analyzer_ddl_database_url
        return cls(
            dsn=libpq_dsn(url),
            target=target_name(url),
            service=settings.analyzer_service,
            top_n=settings.analyzer_top_n,
            min_calls=settings.analyzer_min_calls,
            statement_timeout_ms=settings.analyzer_statement_timeout_ms,
            ddl_dsn=libpq_dsn(ddl.get_secret_value()) if ddl is not None else None,
            interval_minutes=settings.analyzer_interval_minutes,
        )
