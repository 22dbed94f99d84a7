"""The ownership map the paging engine asks: who a target means now, which policy, how to reach a person.

Nothing here raises for a gap in the catalog: a page must go out even when the catalog is imperfect.
Unknown ids give an empty answer, and `resolve_target` says why in `notes` for the incident timeline.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from missionctl.catalog import models, service
from missionctl.catalog.schemas import ALL_SERVICES, EscalationPolicy
from missionctl.oncall.resolve import on_call_at

log = logging.getLogger(__name__)

TARGET_KINDS = ("person", "schedule", "team", "role")


@dataclass
class Resolution:
    """The people a target resolves to (person ids, in order, no repeats) and why it is short, if it is."""

    people: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, people: list[str]) -> None:
        self.people += [p for p in people if p not in self.people]


def resolve_target(
    session: Session,
    *,
    target: Mapping[str, str | None],
    service_id: str | None,
    incident_roles: Mapping[str, str],
    at: datetime,
) -> Resolution:
    """The people `{person|schedule|team|role: id}` means at `at`, for an incident of `service_id`."""
    result = Resolution()
    given = {kind: ident for kind, ident in target.items() if ident}
    if len(given) != 1 or next(iter(given)) not in TARGET_KINDS:
        result.notes.append(f"cannot page {dict(target)!r}: a target names one of {', '.join(TARGET_KINDS)}")
        return result
    kind, ident = next(iter(given.items()))
    if kind == "role":
        _role(session, ident, service_id, incident_roles, at, result)
    else:
        _holder(session, kind, ident, at, result)
    return result


def _holder(session: Session, kind: str, ident: str, at: datetime, result: Resolution) -> None:
    if kind == "person":
        _person(session, ident, result)
    elif kind == "schedule":
        _schedule(session, ident, at, result)
    else:
        _team(session, ident, at, result)


def _person(session: Session, person_id: str, result: Resolution) -> None:
    if session.get(models.Person, person_id) is None:
        result.notes.append(f"person {person_id!r} is not in the catalog")
    else:
        result.add([person_id])


def _schedule(session: Session, schedule_id: str, at: datetime, result: Resolution) -> None:
    row = session.get(models.Schedule, schedule_id)
    if row is None:
        result.notes.append(f"schedule {schedule_id!r} is not in the catalog")
        return
    try:
        person = on_call_at(service.schedule_spec(row), at)
    except ValidationError as exc:
        result.notes.append(f"schedule {schedule_id!r} is stored in a form that no longer validates: {exc}")
        return
    if person is None:
        result.notes.append(f"nobody is on call in schedule {schedule_id!r} at {at.isoformat()}")
    else:
        result.add([person])


def _team(session: Session, team_id: str, at: datetime, result: Resolution) -> None:
    team = session.get(models.Team, team_id)
    if team is None:
        result.notes.append(f"team {team_id!r} is not in the catalog")
    elif team.schedule_id is not None:
        _schedule(session, team.schedule_id, at, result)
    elif not team.members:
        result.notes.append(f"team {team_id!r} has no schedule and no members")
    else:
        result.add([m.person_id for m in team.members])


def _role(
    session: Session,
    role: str,
    service_id: str | None,
    incident_roles: Mapping[str, str],
    at: datetime,
    result: Resolution,
) -> None:
    """The incident's own holder of `role` if that is a catalog person, else the service's role map."""
    holder = incident_roles.get(role)
    if holder and session.get(models.Person, holder) is not None:
        result.add([holder])
        return
    if holder:
        result.notes.append(f"{role} {holder!r} is not a person in the catalog; asking the service's roles")
    svc = session.get(models.Service, service_id) if service_id else None
    entry = svc.roles.get(role) if svc is not None else None
    if entry is None:
        result.notes.append(_no_role(role, service_id, svc is not None))
        return
    kind, ident = next(iter(entry.items()))
    _holder(session, kind, ident, at, result)


def _no_role(role: str, service_id: str | None, service_known: bool) -> str:
    if service_id is None:
        return f"nobody holds role {role!r}: the incident names no service"
    if not service_known:
        return f"nobody holds role {role!r}: service {service_id!r} is not in the catalog"
    return f"nobody holds role {role!r}: service {service_id!r} has no such role"


def policy_for_service(session: Session, service_id: str) -> EscalationPolicy | None:
    """The service's escalation policy, else its team's; None (logged) when there is none."""
    svc = session.get(models.Service, service_id)
    if svc is None:
        log.info("no escalation policy: service %r is not in the catalog", service_id)
        return None
    policy_id = service.effective_policy_id(session, service=svc)
    row = session.get(models.EscalationPolicy, policy_id) if policy_id else None
    if row is None:
        log.info("no escalation policy for service %r (policy %r)", service_id, policy_id)
        return None
    return service.policy_spec(row)


def contact_plan(session: Session, person_id: str) -> list[tuple[models.ContactMethod, int]]:
    """(contact method, minutes after the page) per notification rule, soonest first; [] if unknown."""
    person = session.get(models.Person, person_id)
    if person is None:
        log.info("no contact plan: person %r is not in the catalog", person_id)
        return []
    methods = {m.method_id: m for m in person.contact_methods}
    rules = service.person_spec(person).effective_rules()
    plan = [(methods[r.contact_method], r.after_minutes) for r in rules if r.contact_method in methods]
    return sorted(plan, key=lambda item: (item[1], item[0].position))


def subscribers_for(session: Session, service_id: str | None) -> list[models.Subscriber]:
    """Stakeholders of the service and of every service ('*'), oldest subscription first."""
    wanted = [ALL_SERVICES] if service_id is None else [ALL_SERVICES, service_id]
    query = select(models.Subscriber).where(models.Subscriber.service.in_(wanted))
    return list(session.scalars(query.order_by(models.Subscriber.id)))
