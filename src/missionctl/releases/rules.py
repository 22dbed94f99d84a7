"""Pure release rules: verdicts, freezes in force, rollback templates and when a rollback may run by itself.

Nothing here touches the database, the network or the clock; callers pass `now` and plain values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
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

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")
RELEASE_FIELDS = ("id", "version", "artifact_digest", "environment", "deployed_at")
TEMPLATE_VARIABLES = frozenset(
    {"service", "environment", "incident.id"}
    | {f"{who}.{name}" for who in ("last_healthy", "current_release") for name in RELEASE_FIELDS}
)
ENV_PREFIX = "env."  # ${env.NAME}: read from the server's environment at execution (secrets), masked in output


def placeholders(template: str) -> list[str]:
    return PLACEHOLDER.findall(template)


def unknown_variables(templates: Iterable[str]) -> list[str]:
    """Placeholders that are neither template variables nor `env.NAME`, for config checks."""
    found = {name for template in templates for name in placeholders(template)}
    return sorted(n for n in found if n not in TEMPLATE_VARIABLES and not n.startswith(ENV_PREFIX))


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace every `${name}` with its value; a name without a value is an error naming it."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ValueError(f"no value for ${{{name}}}")
        return values[name]

    return PLACEHOLDER.sub(one, template)


def mask(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced by `***`."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# --- automatic rollback ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoRollbackFacts:
    probe_failing: bool  # the readiness probe's state machine is failing (unknown outcomes never count)
    consecutive_failures: int
    required_failures: int  # the automation's `when: readiness_probe_consecutive_failures`
    current_verdict: Verdict | None  # of the service's current release; None: no release recorded
    already_requested: bool  # an automatic rollback was already requested for this incident


def auto_rollback(facts: AutoRollbackFacts) -> str | None:
    """None: roll back now; otherwise the reason not to, for the timeline."""
    if facts.already_requested:
        return "an automatic rollback was already requested for this incident"
    if not facts.probe_failing or facts.consecutive_failures < facts.required_failures:
        seen, needed = facts.consecutive_failures, facts.required_failures
        return f"the readiness probe failed {seen} consecutive checks, not {needed}"
    if facts.current_verdict is None:
        return "no release of the service is recorded, so there is nothing to roll back from"
    if facts.current_verdict is Verdict.HEALTHY:
        return "the current release had already passed its settle period; roll back by hand if it is to blame"
    if facts.current_verdict is Verdict.ROLLED_BACK:
        return "the current release was already rolled back"
    return None
