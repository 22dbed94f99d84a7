"""The ownership map on a real database: every target kind, roles, policies, contact plans, subscribers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from missionctl.catalog import ownership, schemas, service
from missionctl.catalog.loader import read_paths
from missionctl.context import AppContext
from missionctl.oncall.schemas import ScheduleSpec
from tests.conftest import START

EXAMPLES = Path(__file__).parents[2] / "examples/catalog"
NIGHT = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)  # 21:00 in Berlin: the weekly layer, Alice's week


def load_examples(ctx: AppContext) -> None:
    with ctx.write() as session:
        service.load_catalog(session, documents=read_paths([EXAMPLES]), now=ctx.clock.now())


def resolve(
    ctx: AppContext,
    target: dict[str, str],
    *,
    service_id: str | None = "checkout",
    roles: dict[str, str] | None = None,
    at: datetime = START,
) -> ownership.Resolution:
    with ctx.read() as session:
        return ownership.resolve_target(
            session, target=target, service_id=service_id, incident_roles=roles or {}, at=at
        )


def save(ctx: AppContext, spec: schemas.Spec) -> None:
    with ctx.write() as session:
        service.save(session, spec=spec, now=ctx.clock.now())


def test_person_target(ctx: AppContext) -> None:
    load_examples(ctx)
    assert resolve(ctx, {"person": "dave"}) == ownership.Resolution(["dave"], [])
    unknown = resolve(ctx, {"person": "zoe"})
    assert unknown.people == [] and unknown.notes == ["person 'zoe' is not in the catalog"]


def test_schedule_target_follows_the_layers(ctx: AppContext) -> None:
    load_examples(ctx)
    assert resolve(ctx, {"schedule": "backend-weekly"}).people == ["carol"]  # business hours in Berlin
    assert resolve(ctx, {"schedule": "backend-weekly"}, at=NIGHT).people == ["alice"]
    assert resolve(ctx, {"schedule": "nightly"}).notes == ["schedule 'nightly' is not in the catalog"]


def test_schedule_with_nobody_on_call_is_empty_with_a_note(ctx: AppContext) -> None:
    load_examples(ctx)
    daytime_only = ScheduleSpec.model_validate(
        {
            "id": "daytime",
            "name": "Daytime only",
            "time_zone": "UTC",
            "layers": [
                {
                    "name": "days",
                    "rotation": {"kind": "daily", "start": "2026-01-01"},
                    "participants": ["dave"],
                    "restrict": {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "18:00"},
                }
            ],
        }
    )
    save(ctx, daytime_only)
    found = resolve(ctx, {"schedule": "daytime"}, at=NIGHT)
    assert found.people == []
    assert found.notes == ["nobody is on call in schedule 'daytime' at 2026-03-02T20:00:00+00:00"]


def test_team_target_is_its_on_call_or_else_every_member(ctx: AppContext) -> None:
    load_examples(ctx)
    assert resolve(ctx, {"team": "backend"}, at=NIGHT).people == ["alice"]
    assert resolve(ctx, {"team": "platform"}).people == ["erin"]
    assert resolve(ctx, {"team": "integrations"}) == ownership.Resolution(["frank", "erin"], [])
    assert resolve(ctx, {"team": "security"}).notes == ["team 'security' is not in the catalog"]


def test_role_from_the_incident_first(ctx: AppContext) -> None:
    load_examples(ctx)
    assert resolve(ctx, {"role": "commander"}, roles={"commander": "dave"}).people == ["dave"]
    assert resolve(ctx, {"role": "scribe"}, roles={"commander": "dave", "scribe": "erin"}).people == ["erin"]


def test_role_from_the_service_roles_map(ctx: AppContext) -> None:
    load_examples(ctx)
    assert resolve(ctx, {"role": "release_owner"}).people == ["bob"]
    assert resolve(ctx, {"role": "integration_owner"}, service_id="webhooks").people == ["frank"]
    owner_by_team = schemas.Service(
        id="checkout",
        name="Checkout",
        team="backend",
        roles={
            "release_owner": schemas.RoleHolder(team="backend"),
            "db_owner": schemas.RoleHolder(schedule="platform-primary"),
        },
    )
    save(ctx, owner_by_team)
    assert resolve(ctx, {"role": "release_owner"}, at=NIGHT).people == ["alice"]
    assert resolve(ctx, {"role": "db_owner"}).people == ["erin"]


def test_an_incident_role_held_by_a_stranger_falls_back_to_the_service(ctx: AppContext) -> None:
    load_examples(ctx)
    found = resolve(ctx, {"role": "release_owner"}, roles={"release_owner": "responder-user"})
    assert found.people == ["bob"]
    assert found.notes == ["release_owner 'responder-user' is not a person in the catalog; asking the service's roles"]
    commander = resolve(ctx, {"role": "commander"}, roles={"commander": "responder-user"})
    assert commander.people == []
    assert commander.notes[-1] == "nobody holds role 'commander': service 'checkout' has no such role"


def test_roles_without_a_service(ctx: AppContext) -> None:
    load_examples(ctx)
    assert resolve(ctx, {"role": "release_owner"}, service_id=None).notes == [
        "nobody holds role 'release_owner': the incident names no service"
    ]
    assert resolve(ctx, {"role": "release_owner"}, service_id="legacy").notes == [
        "nobody holds role 'release_owner': service 'legacy' is not in the catalog"
    ]


def test_malformed_targets_are_a_note(ctx: AppContext) -> None:
    load_examples(ctx)
    assert resolve(ctx, {}).people == []
    assert resolve(ctx, {"person": "dave", "team": "backend"}).notes[0].startswith("cannot page")
    assert resolve(ctx, {"pager": "x"}).notes[0].startswith("cannot page")
    with ctx.read() as session:  # a policy snapshot dumped with nulls still names one target
        found = ownership.resolve_target(
            session,
            target={"person": None, "schedule": None, "team": "integrations", "role": None},
            service_id=None,
            incident_roles={},
            at=START,
        )
    assert found.people == ["frank", "erin"]


def test_policy_for_service(ctx: AppContext) -> None:
    load_examples(ctx)
    with ctx.read() as session:
        policy = ownership.policy_for_service(session, "checkout")
        assert policy is not None and policy.id == "backend-default"  # the team's
        assert ownership.policy_for_service(session, "legacy") is None
    save(
        ctx,
        schemas.Service(id="webhooks", name="Webhooks", team="integrations", escalation_policy="platform-default"),
    )
    save(ctx, schemas.Team(id="ops", name="Ops"))
    save(ctx, schemas.Service(id="cron", name="Cron", team="ops"))
    with ctx.read() as session:
        own = ownership.policy_for_service(session, "webhooks")
        assert own is not None and own.id == "platform-default" and own.levels[0].escalate_after_minutes == 10
        assert ownership.policy_for_service(session, "cron") is None


def test_contact_plan_orders_by_delay_and_defaults_to_every_method_at_once(ctx: AppContext) -> None:
    load_examples(ctx)
    methods = [
        schemas.ContactMethod(id="email", kind=schemas.ChannelKind.EMAIL, address="erin@example.com"),
        schemas.ContactMethod(id="push", kind=schemas.ChannelKind.APPRISE, address="ntfy://ntfy.example.com/erin"),
    ]
    rules = [
        schemas.NotificationRule(contact_method="email", after_minutes=2),
        schemas.NotificationRule(contact_method="push", after_minutes=0),
    ]
    save(ctx, schemas.Person(id="erin", name="Erin", contact_methods=methods, notification_rules=rules))
    save(ctx, schemas.Person(id="gina", name="Gina", contact_methods=methods))
    with ctx.read() as session:
        plan = ownership.contact_plan(session, "erin")
        assert [(m.method_id, m.kind, after) for m, after in plan] == [("push", "apprise", 0), ("email", "email", 2)]
        assert [(m.method_id, after) for m, after in ownership.contact_plan(session, "gina")] == [
            ("email", 0),
            ("push", 0),
        ]
        assert all(isinstance(m.id, int) for m, _ in plan)
        assert ownership.contact_plan(session, "zoe") == []


def test_subscribers_for_a_service_include_everyone_subscribed_to_all(ctx: AppContext) -> None:
    load_examples(ctx)
    save(ctx, schemas.Subscriber(service="*", kind=schemas.ChannelKind.EMAIL, address="ceo@example.com"))
    save(ctx, schemas.Subscriber(service="webhooks", kind=schemas.ChannelKind.EMAIL, address="partners@example.com"))
    with ctx.read() as session:
        assert [s.address for s in ownership.subscribers_for(session, "checkout")] == [
            "support-leads@example.com",
            "ceo@example.com",
        ]
        assert [s.address for s in ownership.subscribers_for(session, "legacy")] == ["ceo@example.com"]
        assert [s.address for s in ownership.subscribers_for(session, None)] == ["ceo@example.com"]
