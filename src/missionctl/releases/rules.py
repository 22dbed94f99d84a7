"""Pure release rules: verdicts, freezes in force, rollback template names and when a rollback may run by itself.

Nothing here touches the database, the network or the clock; callers pass `now` and plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Verdict(StrEnum):
    PENDING = "pending"  # recorded, not yet through its settle period
    HEALTHY = "healthy"  # passed its probes for the settle period with no RB-001 incident opened
    FAILED = "failed"  # its readiness probe fired (an RB-001 incident opened) before it settled
    ROLLED_BACK = "rolled_back"  # replaced by a rollback to the last known healthy release


# --- verdicts --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettleFacts:
    """What the ledger knows about one pending release when one of the service's probes passes."""

    verdict: Verdict
    settles_at: datetime
    probe_healthy: bool  # the probe that just ran is in its healthy state (success threshold reached)
    incident_since_deploy: int | None  # an RB-001 incident of the service declared since the release went out
    superseded_by: str | None  # a later release of the service to the same environment, by version


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str


def settle(facts: SettleFacts, now: datetime) -> Decision | None:
    """The verdict a pending release earns at `now`, or None while it is still settling."""
    if facts.verdict is not Verdict.PENDING:
        return None
    if facts.incident_since_deploy is not None:
        return Decision(Verdict.FAILED, f"RB-001 incident INC-{facts.incident_since_deploy} opened before it settled")
    if facts.superseded_by is not None or now < facts.settles_at or not facts.probe_healthy:
        return None  # a superseded release never ran long enough on its own to be called healthy
    return Decision(Verdict.HEALTHY, f"readiness probes passing at {now.isoformat()} after the settle period")


# --- freezes ---------------------------------------------------------------------------------------------------------


def freeze_in_force(
    *, starts_at: datetime, ends_at: datetime | None, lifted_at: datetime | None, now: datetime
) -> bool:
    """A freeze refuses deployments from its start until its end or until it is lifted, whichever is first."""
    if lifted_at is not None and lifted_at <= now:
        return False
    return starts_at <= now and (ends_at is None or now < ends_at)


# --- rollback templates ----------------------------------------------------------------------------------------------

RELEASE_FIELDS = ("id", "version", "artifact_digest", "environment", "deployed_at")
INCIDENT_FIELDS = ("id", "title", "severity", "status", "runbook_id")
ROLLBACK_VARIABLES = frozenset(
    {"service", "environment", "action", "triggered_by"}
    | {f"incident.{name}" for name in INCIDENT_FIELDS}
    | {f"{who}.{name}" for who in ("last_healthy", "current_release") for name in RELEASE_FIELDS}
)  # what `${...}` may name in a rollback of the releases file (besides `${secret:NAME}`)


# --- automatic rollback ----------------------------------------------------------------------------------------------


def probe_failures(*, status: str | None, consecutive_failures: int) -> int:
    """The fact `readiness_probe_consecutive_failures`: the failures in a row, counted only while the probe is failing.

    Kubernetes counting: a success resets the count; an "unknown" outcome (our resolver down, our process
    paused) neither counts nor breaks a run, so a probe that is not `failing` can never trigger a rollback.
    """
    return consecutive_failures if status == "failing" else 0


def automatic_rollback_refusal(current_verdict: Verdict | None) -> str | None:
    """None: an automatic rollback may replace the release running; otherwise why not, for the timeline."""
    if current_verdict is None:
        return "no release of the service is recorded, so there is nothing to roll back from"
    if current_verdict is Verdict.HEALTHY:
        return "the current release had already passed its settle period; roll back by hand if it is to blame"
    if current_verdict is Verdict.ROLLED_BACK:
        return "the current release was already rolled back"
    return None
