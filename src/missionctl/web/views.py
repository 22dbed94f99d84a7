"""Pure presentation helpers for the console's templates: durations, clock states, plain words."""

from __future__ import annotations

from datetime import UTC, datetime

from missionctl.incidents.lifecycle import Status
from missionctl.runbooks.schemas import Severity

# What a severity means to someone outside the team (the public status page).
PUBLIC_IMPACT = {
    Severity.SEV1: "Major outage",
    Severity.SEV2: "Partial outage",
    Severity.SEV3: "Degraded performance",
    Severity.SEV4: "Minor issue",
}

PUBLIC_STATUS = {
    Status.DECLARED: "We are aware of the problem and are looking into it.",
    Status.INVESTIGATING: "We are investigating the cause.",
    Status.MITIGATED: "A fix is in place and we are watching the results.",
    Status.RESOLVED: "Resolved.",
    Status.CLOSED: "Resolved.",
}

NONE = "\u2013"  # an en dash: "nothing yet"

CLOCK_WORDS = {
    "running": "left",
    "breached": "over",
    "met": "met",
    "missed": "missed",
    "incomplete": "not completed",
}


def duration(seconds: float | None) -> str:
    """A compact, always-positive duration: 45s, 4m 05s, 1h 02m, 3d 04h."""
    if seconds is None:
        return NONE
    total = abs(int(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def short_duration(seconds: float) -> str:
    """An axis label: the two largest units only, without zero padding (0, 45s, 5m, 1h 30m, 2d)."""
    total = round(seconds)
    if total == 0:
        return "0"
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return " ".join(parts[:2])


def plain_duration(seconds: float | None) -> str:
    """How long, in words, for the public: "42 minutes", "1 hour 5 minutes", "2 days 3 hours"."""
    if seconds is None:
        return NONE
    total_minutes = max(1, round(seconds / 60))
    days, rest = divmod(total_minutes, 1440)
    hours, minutes = divmod(rest, 60)
    units = [(days, "day"), (hours, "hour")] if days else [(hours, "hour"), (minutes, "minute")]
    words = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in units if n]
    return " ".join(words)


def percent(value: float | None) -> str:
    """97.5%, 100%; an en dash when there is nothing to judge."""
    if value is None:
        return NONE
    return f"{value:.1f}".removesuffix(".0") + "%"


def since(then: datetime | None, now: datetime) -> str:
    """How long ago, in the compact form ("12m 03s ago")."""
    if then is None:
        return NONE
    return f"{duration((now - then).total_seconds())} ago"


def clock_text(seconds_left: int, state: str) -> str:
    """What a countdown says: "4m 05s left", "1m 10s over", "met"."""
    if state == "running":
        return f"{duration(seconds_left)} left" if seconds_left >= 0 else f"{duration(seconds_left)} over"
    if state == "breached":
        return f"{duration(seconds_left)} over"
    return CLOCK_WORDS.get(state, state)


def clock_tone(seconds_left: int | None, state: str, total_seconds: float | None = None) -> str:
    """ok / warn / bad: the colour a clock shows (warn in the last fifth of its time)."""
    if state in {"breached", "missed", "incomplete"} or (state == "running" and (seconds_left or 0) < 0):
        return "bad"
    if state == "running" and total_seconds and seconds_left is not None and seconds_left <= total_seconds / 5:
        return "warn"
    return "ok"


def utc(moment: datetime | None) -> str:
    """A timestamp as people read it at 3 a.m.: 2026-03-02 09:05:12 UTC."""
    if moment is None:
        return NONE
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def hhmm(moment: datetime | None) -> str:
    if moment is None:
        return NONE
    return moment.astimezone(UTC).strftime("%H:%M UTC")


def iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def short_digest(digest: str) -> str:
    """`sha256:0123…` as people compare it: the algorithm and the first 12 hex digits."""
    algorithm, _, value = digest.rpartition(":")
    short = value[:12] + ("…" if len(value) > 12 else "")
    return f"{algorithm}:{short}" if algorithm else short


def words(value: str) -> str:
    """`communications_lead` → `communications lead`."""
    return value.replace("_", " ")


def public_impact(severity: str) -> str:
    return PUBLIC_IMPACT.get(Severity(severity), "Issue")


def public_status(status: str) -> str:
    return PUBLIC_STATUS.get(Status(status), status)
