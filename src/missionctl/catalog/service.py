"""Catalog use cases: load files as an upsert by id, and read, replace or delete single entities."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from missionctl.catalog import models, schemas
from missionctl.catalog.loader import CatalogDocuments, Entry, Origin, check_references, every_problem
from missionctl.catalog.schemas import Kind, Spec
from missionctl.errors import Conflict, InvalidInput, NotFound
from missionctl.oncall.schemas import ScheduleSpec
from missionctl.runbooks.lint import Problem

Row = models.Person | models.Schedule | models.EscalationPolicy | models.Team | models.Service
R = TypeVar("R", models.Person, models.Schedule, models.EscalationPolicy, models.Team, models.Service)

ROWS: dict[Kind, type[Row]] = {
    Kind.PERSON: models.Person,
    Kind.SCHEDULE: models.Schedule,
    Kind.ESCALATION_POLICY: models.EscalationPolicy,
    Kind.TEAM: models.Team,
    Kind.SERVICE: models.Service,
}


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass
class KindCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class LoadReport:
    """What a load did, per kind, and what it noticed but skipped."""

    files: list[str] = field(default_factory=list)
    counts: dict[Kind, KindCounts] = field(default_factory=lambda: {kind: KindCounts() for kind in Kind})
    notes: list[str] = field(default_factory=list)

    def count(self, kind: Kind, outcome: Outcome) -> None:
        counts = self.counts[kind]
        setattr(counts, outcome.value, getattr(counts, outcome.value) + 1)

    @property
    def changed(self) -> int:
        return sum(c.created + c.updated for c in self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        counts = {kind.section: vars(c) for kind, c in self.counts.items()}
        return {"files": self.files, "counts": counts, "notes": self.notes}


# Loading ------------------------------------------------------------------------------------------------


def load_catalog(
    session: Session,
    *,
    documents: CatalogDocuments,
    now: datetime,
    runbook_ids: Collection[str] | None = None,
) -> LoadReport:
    """Upsert every entity by id, referenced kinds first; any problem raises `catalog_invalid`, writing nothing.

    Entities the files do not mention are kept. References may point at entities already stored.
    """
    known = {kind: {*stored_ids(session, kind=kind), *documents.declared[kind]} for kind in Kind}
    problems = every_problem(documents, known, runbook_ids)
    if problems:
        raise invalid_catalog(problems)
    report = LoadReport(files=list(documents.files), notes=list(documents.notes))
    for kind in Kind:
        for entry in (e for e in documents.entries if e.kind is kind):
            report.count(kind, _upsert(session, entry.spec, now))
        session.flush()  # the next kind's foreign keys point at these rows
    return report


def invalid_catalog(problems: Sequence[Problem]) -> InvalidInput:
    more = len(problems) - 1
    suffix = f" (and {more} more problem{'s' if more != 1 else ''})" if more > 0 else ""
    return InvalidInput(
        f"invalid catalog: {problems[0]}{suffix}",
        code="catalog_invalid",
        details=[str(problem) for problem in problems],
    )


def stored_ids(session: Session, *, kind: Kind) -> set[str]:
    """Ids of every stored entity of `kind` (subscribers have none)."""
    if kind is Kind.SUBSCRIBER:
        return set()
    return set(session.scalars(select(ROWS[kind].id)))


def save(session: Session, *, spec: Spec, now: datetime, runbook_ids: Collection[str] | None = None) -> Outcome:
    """Create or replace one entity whose references must all be stored (422 `unknown_reference`)."""
    kind = schemas.kind_of(spec)
    known = {k: stored_ids(session, kind=k) for k in Kind}
    problems = check_references([Entry(kind, spec, Origin("request body"))], known, runbook_ids)
    if problems:
        details = [{"field": p.field_path, "message": p.message} for p in problems]
        first = problems[0]
        raise InvalidInput(f"{first.field_path}: {first.message}", code="unknown_reference", details=details)
    outcome = _upsert(session, spec, now)
    session.flush()
    return outcome


# Rows <-> specs -----------------------------------------------------------------------------------------


def person_spec(row: models.Person) -> schemas.Person:
    methods = [
        schemas.ContactMethod(id=m.method_id, kind=schemas.ChannelKind(m.kind), address=m.address, label=m.label)
        for m in row.contact_methods
    ]
    return schemas.Person.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "email": row.email,
            "time_zone": row.time_zone,
            "contact_methods": methods,
            "notification_rules": row.notification_rules,
        }
    )


def schedule_spec(row: models.Schedule) -> ScheduleSpec:
    return ScheduleSpec.model_validate(row.spec)


def policy_spec(row: models.EscalationPolicy) -> schemas.EscalationPolicy:
    fields = ("id", "name", "repeat", "ack_timeout_minutes", "levels")
    return schemas.EscalationPolicy.model_validate({name: getattr(row, name) for name in fields})


def team_spec(row: models.Team) -> schemas.Team:
    return schemas.Team(
        id=row.id,
        name=row.name,
        members=[m.person_id for m in row.members],
        schedule=row.schedule_id,
        escalation_policy=row.escalation_policy_id,
    )


def service_spec(row: models.Service) -> schemas.Service:
    fields = ("id", "name", "description", "tier", "components", "runbooks", "roles")
    data = {name: getattr(row, name) for name in fields}
    return schemas.Service.model_validate(data | {"team": row.team_id, "escalation_policy": row.escalation_policy_id})


def subscriber_spec(row: models.Subscriber) -> schemas.Subscriber:
    return schemas.Subscriber.model_validate(
        {"service": row.service, "kind": row.kind, "address": row.address, "name": row.name}
    )


def spec_of(row: Row) -> Spec:
    """The catalog model of a stored row."""
    if isinstance(row, models.Person):
        return person_spec(row)
    if isinstance(row, models.Schedule):
        return schedule_spec(row)
    if isinstance(row, models.EscalationPolicy):
        return policy_spec(row)
    if isinstance(row, models.Team):
        return team_spec(row)
    return service_spec(row)


def _same(old: Spec, new: Spec) -> bool:
    return old.model_dump(mode="json") == new.model_dump(mode="json")


# Upserts: content that did not change leaves the row, and its updated_at, alone ------------------------


def _upsert_person(session: Session, spec: schemas.Person, now: datetime) -> Outcome:
    row = session.get(models.Person, spec.id)
    if row is not None and _same(person_spec(row), spec):
        return Outcome.UNCHANGED
    outcome = Outcome.UPDATED if row is not None else Outcome.CREATED
    if row is None:
        row = models.Person(id=spec.id, created_at=now, contact_methods=[])
        session.add(row)
    row.name, row.email, row.time_zone = spec.name, spec.email, spec.time_zone
    row.notification_rules = [rule.model_dump(mode="json") for rule in spec.notification_rules]
    _sync_contact_methods(row, spec.contact_methods)
    row.updated_at = now
    return outcome


def _sync_contact_methods(row: models.Person, methods: Sequence[schemas.ContactMethod]) -> None:
    """Update methods in place by their id, so their integer ids (cited by notifications) stay stable."""
    existing = {m.method_id: m for m in row.contact_methods}
    kept: list[models.ContactMethod] = []
    for position, method in enumerate(methods):
        stored = existing.get(method.id) or models.ContactMethod(method_id=method.id)
        stored.position, stored.kind, stored.address = position, method.kind, method.address
        stored.label = method.label
        kept.append(stored)
    row.contact_methods = kept


def _upsert_schedule(session: Session, spec: ScheduleSpec, now: datetime) -> Outcome:
    row = session.get(models.Schedule, spec.id)
    if row is not None and _same(schedule_spec(row), spec):
        return Outcome.UNCHANGED
    outcome = Outcome.UPDATED if row is not None else Outcome.CREATED
    if row is None:
        row = models.Schedule(id=spec.id, created_at=now)
        session.add(row)
    row.name, row.time_zone, row.spec = spec.name, spec.time_zone, spec.model_dump(mode="json")
    row.updated_at = now
    return outcome


def _upsert_policy(session: Session, spec: schemas.EscalationPolicy, now: datetime) -> Outcome:
    row = session.get(models.EscalationPolicy, spec.id)
    if row is not None and _same(policy_spec(row), spec):
        return Outcome.UNCHANGED
    outcome = Outcome.UPDATED if row is not None else Outcome.CREATED
    if row is None:
        row = models.EscalationPolicy(id=spec.id, created_at=now)
        session.add(row)
    row.name, row.repeat, row.ack_timeout_minutes = spec.name, spec.repeat, spec.ack_timeout_minutes
    row.levels = [level.model_dump(mode="json", exclude_none=True) for level in spec.levels]
    row.updated_at = now
    return outcome


def _upsert_team(session: Session, spec: schemas.Team, now: datetime) -> Outcome:
    row = session.get(models.Team, spec.id)
    if row is not None and _same(team_spec(row), spec):
        return Outcome.UNCHANGED
    outcome = Outcome.UPDATED if row is not None else Outcome.CREATED
    if row is None:
        row = models.Team(id=spec.id, created_at=now, members=[])
        session.add(row)
    row.name, row.schedule_id, row.escalation_policy_id = spec.name, spec.schedule, spec.escalation_policy
    existing = {m.person_id: m for m in row.members}
    members = [existing.get(person) or models.TeamMember(person_id=person) for person in spec.members]
    for position, member in enumerate(members):
        member.position = position
    row.members = members
    row.updated_at = now
    return outcome


def _upsert_service(session: Session, spec: schemas.Service, now: datetime) -> Outcome:
    row = session.get(models.Service, spec.id)
    if row is not None and _same(service_spec(row), spec):
        return Outcome.UNCHANGED
    outcome = Outcome.UPDATED if row is not None else Outcome.CREATED
    if row is None:
        row = models.Service(id=spec.id, created_at=now)
        session.add(row)
    row.name, row.description, row.tier = spec.name, spec.description, spec.tier
    row.team_id, row.escalation_policy_id = spec.team, spec.escalation_policy
    row.components, row.runbooks = list(spec.components), list(spec.runbooks)
    row.roles = {role: holder.as_dict() for role, holder in spec.roles.items()}
    row.updated_at = now
    return outcome


def _upsert_subscriber(session: Session, spec: schemas.Subscriber, now: datetime) -> Outcome:
    row = find_subscriber(session, spec=spec)
    if row is not None and _same(subscriber_spec(row), spec):
        return Outcome.UNCHANGED
    if row is not None:
        row.name, row.updated_at = spec.name, now
        return Outcome.UPDATED
    values = spec.model_dump(mode="json")
    session.add(models.Subscriber(**values, created_at=now, updated_at=now))
    return Outcome.CREATED


def _upsert(session: Session, spec: Spec, now: datetime) -> Outcome:
    if isinstance(spec, schemas.Person):
        return _upsert_person(session, spec, now)
    if isinstance(spec, ScheduleSpec):
        return _upsert_schedule(session, spec, now)
    if isinstance(spec, schemas.EscalationPolicy):
        return _upsert_policy(session, spec, now)
    if isinstance(spec, schemas.Team):
        return _upsert_team(session, spec, now)
    if isinstance(spec, schemas.Service):
        return _upsert_service(session, spec, now)
    return _upsert_subscriber(session, spec, now)


# Reading and deleting -----------------------------------------------------------------------------------


def get(session: Session, *, model: type[R], entity_id: str) -> R:
    """One stored entity, or 404 `<kind>_not_found`."""
    row = session.get(model, entity_id)
    if row is None:
        kind = _kind_of_model(model)
        raise NotFound(f"no {kind.replace('_', ' ')} with id {entity_id!r}", code=f"{kind}_not_found")
    return row


def list_all(session: Session, *, model: type[R]) -> list[R]:
    """Every stored entity of one kind, by id."""
    return list(session.scalars(select(model).order_by(model.id)))


def _kind_of_model(model: type[Row]) -> Kind:
    return next(kind for kind, row_model in ROWS.items() if row_model is model)


def effective_policy_id(session: Session, *, service: models.Service) -> str | None:
    """The service's own escalation policy, else its team's."""
    if service.escalation_policy_id is not None:
        return service.escalation_policy_id
    team = session.get(models.Team, service.team_id)
    return team.escalation_policy_id if team is not None else None


def delete(session: Session, *, model: type[R], entity_id: str) -> None:
    """Delete an entity nothing refers to; otherwise 409 `catalog_in_use` naming who refers to it."""
    row = get(session, model=model, entity_id=entity_id)
    kind = _kind_of_model(model)
    users = referrers(session, kind=kind, entity_id=entity_id)
    if users:
        raise Conflict(
            f"{kind.replace('_', ' ')} {entity_id!r} is still referred to by {', '.join(users)}",
            code="catalog_in_use",
            details=users,
        )
    session.delete(row)
    session.flush()


def referrers(session: Session, *, kind: Kind, entity_id: str) -> list[str]:
    """Every stored entity that refers to (kind, entity_id), as 'team backend (members.0)'."""
    found: list[str] = []
    rows: list[Row] = [
        *list_all(session, model=models.Schedule),
        *list_all(session, model=models.EscalationPolicy),
        *list_all(session, model=models.Team),
        *list_all(session, model=models.Service),
    ]
    specs: list[Spec] = [spec_of(row) for row in rows]
    specs += [subscriber_spec(row) for row in list_subscribers(session)]
    for spec in specs:
        for loc, ref_kind, ident in schemas.references(spec):
            if ref_kind is kind and ident == entity_id:
                where = ".".join(str(part) for part in loc)
                found.append(f"{schemas.kind_of(spec)} {schemas.entity_key(spec)} ({where})")
    return found


def list_subscribers(session: Session) -> list[models.Subscriber]:
    return list(session.scalars(select(models.Subscriber).order_by(models.Subscriber.id)))


def find_subscriber(session: Session, *, spec: schemas.Subscriber) -> models.Subscriber | None:
    query = select(models.Subscriber).where(
        models.Subscriber.service == spec.service,
        models.Subscriber.kind == spec.kind,
        models.Subscriber.address == spec.address,
    )
    return session.scalars(query).one_or_none()


def delete_subscriber(session: Session, *, subscriber_id: int) -> None:
    row = session.get(models.Subscriber, subscriber_id)
    if row is None:
        raise NotFound(f"no subscriber with id {subscriber_id}", code="subscriber_not_found")
    session.delete(row)
    session.flush()
