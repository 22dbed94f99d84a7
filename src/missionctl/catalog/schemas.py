"""The catalog file format: one strict pydantic model per entity, shared by YAML files and the API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from missionctl.oncall.schemas import ScheduleSpec
from missionctl.runbooks.schemas import RUNBOOK_ID_PATTERN

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-_]*$"
ALL_SERVICES = "*"

Slug = Annotated[str, Field(pattern=SLUG_PATTERN, max_length=100, examples=["checkout"])]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Address = Annotated[str, Field(min_length=1, max_length=2000)]
RunbookId = Annotated[str, Field(pattern=RUNBOOK_ID_PATTERN)]


class Kind(StrEnum):
    """The kinds of catalog entity, in the order a load writes them (referenced kinds first)."""

    PERSON = "person"
    SCHEDULE = "schedule"
    ESCALATION_POLICY = "escalation_policy"
    TEAM = "team"
    SERVICE = "service"
    SUBSCRIBER = "subscriber"

    @property
    def section(self) -> str:
        """The top-level key of a catalog file that lists this kind."""
        return SECTIONS[self]


SECTIONS: dict[Kind, str] = {
    Kind.PERSON: "people",
    Kind.SCHEDULE: "schedules",
    Kind.ESCALATION_POLICY: "escalation_policies",
    Kind.TEAM: "teams",
    Kind.SERVICE: "services",
    Kind.SUBSCRIBER: "subscribers",
}


class ChannelKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    APPRISE = "apprise"
    INBOX = "inbox"  # kept in Mission Control itself; the address is a free-form label


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _check_address(kind: ChannelKind, address: str) -> str:
    """A light sanity check per channel; delivery reports anything subtler."""
    if kind is ChannelKind.EMAIL and ("@" not in address or address.startswith("@")):
        raise ValueError(f"{address!r} is not an email address")
    if kind is ChannelKind.WEBHOOK and not address.startswith(("http://", "https://")):
        raise ValueError("a webhook address is an http:// or https:// URL")
    if kind is ChannelKind.APPRISE and "://" not in address:
        raise ValueError("an apprise address is an Apprise URL such as ntfy://ntfy.sh/topic")
    return address


class ContactMethod(_Strict):
    """One way to reach a person."""

    id: Slug
    kind: ChannelKind
    address: Address
    label: Name | None = None

    @model_validator(mode="after")
    def _address_fits_kind(self) -> ContactMethod:
        _check_address(self.kind, self.address)
        return self


class NotificationRule(_Strict):
    """Use `contact_method` this many minutes after a page, unless it was acknowledged by then."""

    contact_method: Slug
    after_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 0


def _check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
    return value


class Person(_Strict):
    id: Slug
    name: Name
    email: Annotated[str, Field(max_length=320)] | None = None
    time_zone: Annotated[str, AfterValidator(_check_time_zone)] = "UTC"
    contact_methods: list[ContactMethod] = Field(default_factory=list)
    notification_rules: list[NotificationRule] = Field(
        default_factory=list, description="Default: every contact method at once"
    )

    @field_validator("contact_methods")
    @classmethod
    def _unique_methods(cls, methods: list[ContactMethod]) -> list[ContactMethod]:
        seen: set[str] = set()
        for method in methods:
            if method.id in seen:
                raise ValueError(f"contact method id {method.id!r} is given twice")
            seen.add(method.id)
        return methods

    @field_validator("notification_rules")
    @classmethod
    def _rules_name_methods(cls, rules: list[NotificationRule], info: ValidationInfo) -> list[NotificationRule]:
        methods = [m.id for m in info.data.get("contact_methods", [])]
        for number, rule in enumerate(rules):
            if rule.contact_method not in methods:
                have = ", ".join(methods) or "none"
                raise ValueError(
                    f"rule {number} names contact method {rule.contact_method!r}, "
                    f"which this person does not have (has: {have})"
                )
        return rules

    def effective_rules(self) -> list[NotificationRule]:
        """The rules in force: as written, or every contact method at minute 0."""
        if self.notification_rules:
            return list(self.notification_rules)
        return [NotificationRule(contact_method=m.id) for m in self.contact_methods]


class Team(_Strict):
    id: Slug
    name: Name
    members: list[Slug] = Field(default_factory=list, description="Person ids")
    schedule: Slug | None = Field(default=None, description="The schedule whose on-call answers for the team")
    escalation_policy: Slug | None = None

    @field_validator("members")
    @classmethod
    def _unique_members(cls, members: list[str]) -> list[str]:
        repeated = sorted({m for m in members if members.count(m) > 1})
        if repeated:
            raise ValueError(f"members listed twice: {', '.join(repeated)}")
        return members


def _exactly_one(model: BaseModel, kinds: tuple[str, ...]) -> None:
    given = [k for k in kinds if getattr(model, k) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of {', '.join(kinds)}")


class PolicyTarget(_Strict):
    """Who a policy level pages: a person, a schedule's on-call, a team's on-call, or a role."""

    person: Slug | None = None
    schedule: Slug | None = None
    team: Slug | None = None
    role: Slug | None = Field(default=None, description="An incident role or a role from the service's map")

    @model_validator(mode="after")
    def _one_kind(self) -> PolicyTarget:
        _exactly_one(self, ("person", "schedule", "team", "role"))
        return self

    def as_dict(self) -> dict[str, str]:
        """`{kind: id}`, the form `ownership.resolve_target` takes."""
        return {k: v for k, v in self.model_dump(exclude_none=True).items() if isinstance(v, str)}


class EscalationLevel(_Strict):
    escalate_after_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = Field(
        description="Minutes after paging this level before the next one is paged"
    )
    targets: Annotated[list[PolicyTarget], Field(min_length=1)]


class EscalationPolicy(_Strict):
    id: Slug
    name: Name
    repeat: Annotated[int, Field(ge=0, le=20)] = Field(
        default=0, description="Times to run the whole ladder again after the last level"
    )
    ack_timeout_minutes: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Page again if acknowledged but not resolved within this; null: never"
    )
    levels: Annotated[list[EscalationLevel], Field(min_length=1)]


class RoleHolder(_Strict):
    """Who holds a service role: a person, a team (its on-call), or a schedule (its on-call)."""

    person: Slug | None = None
    team: Slug | None = None
    schedule: Slug | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> RoleHolder:
        _exactly_one(self, ("person", "team", "schedule"))
        return self

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump(exclude_none=True).items() if isinstance(v, str)}


class Service(_Strict):
    id: Slug
    name: Name
    description: Annotated[str, Field(max_length=2000)] | None = None
    tier: Annotated[int, Field(ge=1, le=4)] = Field(default=3, description="1 is the most critical")
    team: Slug = Field(description="The owning team")
    components: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    runbooks: list[RunbookId] = Field(default_factory=list)
    escalation_policy: Slug | None = Field(default=None, description="Default: the owning team's")
    roles: dict[Slug, RoleHolder] = Field(
        default_factory=dict, description="e.g. release_owner, platform_lead, integration_owner"
    )


class Subscriber(_Strict):
    """A stakeholder who receives every update posted on incidents of a service ('*': every service)."""

    service: Annotated[str, Field(pattern=rf"{SLUG_PATTERN}|^\*$", max_length=100)]
    kind: ChannelKind
    address: Address
    name: Name | None = None

    @model_validator(mode="after")
    def _address_fits_kind(self) -> Subscriber:
        _check_address(self.kind, self.address)
        return self

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes a subscription unique: loading it again updates it rather than adding another."""
        return (self.service, self.kind, self.address)


Spec = Person | ScheduleSpec | EscalationPolicy | Team | Service | Subscriber

MODELS: dict[Kind, type[BaseModel]] = {
    Kind.PERSON: Person,
    Kind.SCHEDULE: ScheduleSpec,
    Kind.ESCALATION_POLICY: EscalationPolicy,
    Kind.TEAM: Team,
    Kind.SERVICE: Service,
    Kind.SUBSCRIBER: Subscriber,
}


Reference = tuple[tuple[int | str, ...], Kind, str]


def kind_of(spec: Spec) -> Kind:
    return next(kind for kind, model in MODELS.items() if isinstance(spec, model))


def entity_key(spec: Spec) -> str:
    """How a spec is named in messages and duplicates: its id, or a subscriber's service/kind/address."""
    return "/".join(spec.key) if isinstance(spec, Subscriber) else spec.id


def references(spec: Spec) -> list[Reference]:
    """Every (field path, kind, id) this spec refers to; the catalog must hold each one."""
    if isinstance(spec, Team):
        found: list[Reference] = [(("members", i), Kind.PERSON, m) for i, m in enumerate(spec.members)]
        found += _optional(("schedule",), Kind.SCHEDULE, spec.schedule)
        return found + _optional(("escalation_policy",), Kind.ESCALATION_POLICY, spec.escalation_policy)
    if isinstance(spec, ScheduleSpec):
        return _schedule_references(spec)
    if isinstance(spec, EscalationPolicy):
        return [
            (("levels", i, "targets", j, key), kind, ident)
            for i, level in enumerate(spec.levels)
            for j, target in enumerate(level.targets)
            for key, ident in target.as_dict().items()
            if (kind := TARGET_KINDS.get(key)) is not None
        ]
    if isinstance(spec, Service):
        return _service_references(spec)
    if isinstance(spec, Subscriber) and spec.service != ALL_SERVICES:
        return [(("service",), Kind.SERVICE, spec.service)]
    return []


TARGET_KINDS = {"person": Kind.PERSON, "schedule": Kind.SCHEDULE, "team": Kind.TEAM}


def _optional(loc: tuple[int | str, ...], kind: Kind, ident: str | None) -> list[Reference]:
    return [] if ident is None else [(loc, kind, ident)]


def _schedule_references(spec: ScheduleSpec) -> list[Reference]:
    found: list[Reference] = [
        (("layers", i, "participants", j), Kind.PERSON, person)
        for i, layer in enumerate(spec.layers)
        for j, person in enumerate(layer.participants)
    ]
    return found + [(("overrides", i, "person"), Kind.PERSON, o.person) for i, o in enumerate(spec.overrides)]


def _service_references(spec: Service) -> list[Reference]:
    found: list[Reference] = [(("team",), Kind.TEAM, spec.team)]
    found += _optional(("escalation_policy",), Kind.ESCALATION_POLICY, spec.escalation_policy)
    for role, holder in spec.roles.items():
        found += [(("roles", role, key), TARGET_KINDS[key], ident) for key, ident in holder.as_dict().items()]
    return found


class CatalogFile(_Strict):
    """A whole catalog file; used for its JSON Schema and key suggestions, entities are checked one by one."""

    people: list[Person] = Field(default_factory=list)
    schedules: list[ScheduleSpec] = Field(default_factory=list)
    escalation_policies: list[EscalationPolicy] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    subscribers: list[Subscriber] = Field(default_factory=list)


class PersonRead(Person):
    created_at: datetime
    updated_at: datetime


class TeamRead(Team):
    created_at: datetime
    updated_at: datetime


class ScheduleRead(ScheduleSpec):
    created_at: datetime
    updated_at: datetime


class EscalationPolicyRead(EscalationPolicy):
    created_at: datetime
    updated_at: datetime


class ServiceRead(Service):
    effective_escalation_policy: str | None = Field(description="The service's policy, else its team's")
    created_at: datetime
    updated_at: datetime


class SubscriberRead(Subscriber):
    id: int
    created_at: datetime
    updated_at: datetime


def json_schema() -> dict[str, Any]:
    """The JSON Schema editors use to validate catalog files."""
    schema = CatalogFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Mission Control catalog"
    return schema


def redact(kind: str, address: str) -> str:
    """An address as shown to non-admins: webhook paths and Apprise URLs often carry credentials."""
    if kind in (ChannelKind.EMAIL, ChannelKind.INBOX):
        return address
    scheme, _, rest = address.partition("://")
    if kind == ChannelKind.WEBHOOK:
        host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
        return f"{scheme}://{host}/…"
    return f"{scheme}://…"
