"""Typed settings, read from `MISSIONCTL_*` environment variables and an optional TOML config file.

Nothing reads the environment at import time: `load_settings()` is called by the entry points and the
result is passed into `create_app`; tests build `Settings(...)` directly.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATA_DIR = Path("./var")


class Settings(BaseSettings):
    """Everything Mission Control can be configured with."""

    model_config = SettingsConfigDict(env_prefix="MISSIONCTL_", extra="forbid")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DATA_DIR / 'missionctl.db'}",
        description="SQLAlchemy URL: sqlite:///path.db (default) or postgresql+psycopg://user@host/db",
    )
    runbook_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders of user runbooks (*.yaml); a user runbook overrides a built-in one with its id",
    )
    routes_file: Path | None = Field(default=None, description="YAML routing rules for inbound alerts")
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = Field(
        default=1, ge=1, description="`serve` processes sharing the port; the first runs the engine (serve --workers)"
    )
    public_url: str = Field(default="", description="Base URL people reach the server at (links in pages)")
    sqlite_busy_timeout_ms: int = 5000
    log_level: str = "info"

    # Outbound email (pages, reminders, stakeholder updates).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_from: str = "Mission Control <missionctl@localhost>"
    webhook_secret: SecretStr | None = Field(
        default=None, description="Standard Webhooks secret (whsec_...); generated and stored if unset"
    )

    # Inbound alerts (Alertmanager, Grafana, PagerDuty Events v2).
    ingest_rate_per_key: float = Field(
        default=50.0, ge=0, description="Requests per second one integration key may send; 0: no limit"
    )
    ingest_burst_per_key: int = Field(default=500, ge=1, description="Requests one key may send at once")
    ingest_max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Largest inbound payload accepted")
    ingest_max_batch_events: int = Field(
        default=5000, ge=1, description="Most events one group commit writes (requests arriving together)"
    )

    # Built-in detectors (Prometheus queries, HTTP probes, spikes, after-release checks).
    detectors_file: Path | None = Field(
        default=None, description="YAML file of detectors to run; the detector runner starts only when it is set"
    )
    prometheus_url: str = Field(
        default="http://127.0.0.1:9090", description="Prometheus HTTP API base URL for promql, spike and after_release"
    )
    detector_query_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one Prometheus query made by a detector"
    )

    # The PostgreSQL analyzer (RB-002): slow queries, plan diffs and index recommendations for one target
    # database, through a read-only role; see docs/analyzer.md. Unset `analyzer_database_url`: no analyzer.
    analyzer_database_url: SecretStr | None = Field(
        default=None,
        description="Read-only DSN of the analyzed database: postgresql+psycopg://... or a plain libpq URL/conninfo",
    )
    analyzer_ddl_database_url: SecretStr | None = Field(
        default=None,
        description="DSN allowed to CREATE INDEX CONCURRENTLY, used only by the approved pg.create_index action",
    )
    analyzer_service: str = Field(
        default="database", min_length=1, description="Catalog service the analyzed database belongs to (RB-002)"
    )
    analyzer_top_n: int = Field(default=10, ge=1, le=200, description="Slowest statements (by total time) analyzed")
    analyzer_min_calls: int = Field(default=5, ge=1, description="Calls since the last snapshot a statement needs")
    analyzer_statement_timeout_ms: int = Field(
        default=5000, ge=100, description="statement_timeout of each analyzer query on the analyzed database"
    )
    analyzer_interval_minutes: int = Field(
        default=60, ge=0, description="Scheduled plan check every N minutes (RB-002 pg.plan_diff); 0: no schedule"
    )

    # Actions (runbook steps and automation): implementations, secrets by name, allowed commands.
    actions_file: Path | None = Field(
        default=None, description="YAML actions file: http/command implementations, secrets, allowed commands"
    )
    actions_workers: int = Field(default=4, ge=1, description="Threads that run actions next to the engine")

    # Releases (RB-001): the ledger's settle period, and per-service rollback and synthetic checks.
    releases_file: Path | None = Field(default=None, description="YAML file: rollback, synthetic checks per service")
    release_settle_seconds: int = Field(
        default=300, ge=0, description="A release is healthy once its probes have passed this long after it"
    )

    # Time itself, for end-to-end tests and demos only: run the clock `clock_speed` times faster than
    # the wall clock from `clock_anchor`. Every process of one installation must use the same values.
    clock_speed: float = Field(default=1.0, gt=0)
    clock_anchor: datetime | None = None

    # The engine (timers and deliveries).
    engine_batch_size: int = 5000
    engine_lease_seconds: float = 30.0
    engine_poll_seconds: float = 1.0
    engine_delivery_workers: int = 8
    delivery_rate_per_destination: float = Field(default=5.0, gt=0, description="Sends per second to one address")
    delivery_burst_per_destination: int = Field(default=20, ge=1)
    delivery_breaker_failures: int = Field(default=5, ge=1, description="Failures in a row that open a breaker")
    delivery_breaker_cooldown_seconds: float = Field(default=30.0, gt=0, description="First cool-down, doubling")
    delivery_breaker_max_cooldown_seconds: float = Field(default=600.0, gt=0, description="Longest cool-down")

    # The web console (sessions for people; the API keeps its bearer tokens).
    console_cookie_secure: bool | None = Field(
        default=None,
        description="Mark the session cookie Secure; unset: only when public_url or the request is https",
    )
    console_session_hours: float = Field(default=12.0, gt=0, description="A console login lasts at most this long")
    console_idle_minutes: float = Field(default=60.0, gt=0, description="A console session unused this long ends")
    console_login_max_failures: int = Field(
        default=5, ge=1, description="Wrong passwords in a row that lock a console account"
    )
    console_lockout_minutes: float = Field(default=15.0, gt=0, description="How long a locked console account waits")
    console_live_poll_seconds: float = Field(
        default=0.2, gt=0, le=5, description="How often an open incident room checks the database for changes"
    )
    console_live_stream_seconds: float = Field(
        default=300.0, gt=0, description="A live-update stream ends after this long; the browser reconnects"
    )

    @field_validator("runbook_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part for part in value.split(os.pathsep) if part]
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("MISSIONCTL_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and config file; explicit overrides win."""
    return Settings(**overrides)
