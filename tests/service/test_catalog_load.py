"""Loading catalog files on a real database: upsert by id, nothing written on any problem, Backstage files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from missionctl.catalog import models, schemas, service
from missionctl.catalog.loader import read_paths
from missionctl.catalog.schemas import Kind
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.errors import InvalidInput
from tests.conftest import START

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples/catalog"
BACKSTAGE = ROOT / "tests/fixtures/catalog/backstage/catalog-info.yaml"


def load(ctx: AppContext, *paths: Path) -> service.LoadReport:
    documents = read_paths(list(paths))
    with ctx.write() as session:
        return service.load_catalog(
            session, documents=documents, now=ctx.clock.now(), runbook_ids=set(ctx.runbooks.entries)
        )


def refused(ctx: AppContext, *paths: Path) -> list[str]:
    """Load files that must be refused; the problems as printed."""
    with pytest.raises(InvalidInput) as caught:
        load(ctx, *paths)
    assert caught.value.code == "catalog_invalid"
    return list(caught.value.details)


def counts(report: service.LoadReport) -> dict[str, tuple[int, int, int]]:
    return {kind.section: (c.created, c.updated, c.unchanged) for kind, c in report.counts.items()}


def row_count(ctx: AppContext, model: type[models.Person] | type[models.Team] | type[models.Service]) -> int:
    with ctx.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_catalog_loads(ctx: AppContext) -> None:
    report = load(ctx, EXAMPLES)
    assert counts(report) == {
        "people": (6, 0, 0),
        "schedules": (2, 0, 0),
        "escalation_policies": (3, 0, 0),
        "teams": (3, 0, 0),
        "services": (3, 0, 0),
        "subscribers": (1, 0, 0),
    }
    assert [Path(f).name for f in report.files] == ["oncall.yaml", "people.yaml", "services.yaml"]
    with ctx.read() as session:
        checkout = service.service_spec(service.get(session, model=models.Service, entity_id="checkout"))
        assert checkout.tier == 1 and checkout.team == "backend"
        assert checkout.runbooks == ["RB-001", "RB-002"]
        assert checkout.roles["release_owner"].person == "bob"
        backend = service.team_spec(service.get(session, model=models.Team, entity_id="backend"))
        assert backend.members == ["alice", "bob", "carol"] and backend.schedule == "backend-weekly"
        schedule = service.schedule_spec(service.get(session, model=models.Schedule, entity_id="backend-weekly"))
        assert schedule.time_zone == "Europe/Berlin"
        assert [layer.name for layer in schedule.layers] == ["weekly", "business-hours"]
        policy = service.policy_spec(service.get(session, model=models.EscalationPolicy, entity_id="backend-default"))
        assert policy.repeat == 1 and len(policy.levels) == 2
        assert policy.levels[1].targets[1].role == "release_owner"


def test_loading_twice_changes_nothing(ctx: AppContext, clock: FrozenClock) -> None:
    load(ctx, EXAMPLES)
    with ctx.read() as session:
        method_ids = [m.id for m in service.get(session, model=models.Person, entity_id="alice").contact_methods]
    clock.advance(timedelta(hours=1))
    again = load(ctx, EXAMPLES)
    assert again.changed == 0
    assert counts(again)["people"] == (0, 0, 6) and counts(again)["subscribers"] == (0, 0, 1)
    with ctx.read() as session:
        for model in (models.Person, models.Team, models.Schedule, models.EscalationPolicy, models.Service):
            assert {row.updated_at for row in service.list_all(session, model=model)} == {START}
        assert {row.updated_at for row in service.list_subscribers(session)} == {START}
        alice = service.get(session, model=models.Person, entity_id="alice")
        assert [m.id for m in alice.contact_methods] == method_ids


def test_a_change_updates_only_that_entity_and_keeps_contact_method_ids(
    ctx: AppContext, clock: FrozenClock, tmp_path: Path
) -> None:
    load(ctx, EXAMPLES)
    with ctx.read() as session:
        before = {m.method_id: m.id for m in service.get(session, model=models.Person, entity_id="bob").contact_methods}
    edited = (
        (EXAMPLES / "people.yaml")
        .read_text()
        .replace(
            "        address: bob@example.com\n",
            "        address: bob@example.com\n      - id: pager\n        kind: webhook\n"
            "        address: https://pager.example.com/hooks/bob\n",
        )
    )
    folder = tmp_path / "catalog"
    folder.mkdir()
    write(folder / "people.yaml", edited)
    later = clock.advance(timedelta(minutes=5))
    report = load(ctx, folder)
    assert counts(report)["people"] == (0, 1, 5)
    with ctx.read() as session:
        bob = service.get(session, model=models.Person, entity_id="bob")
        assert bob.updated_at == later and bob.created_at == START
        assert [m.method_id for m in bob.contact_methods] == ["inbox", "email", "pager"]
        assert bob.contact_methods[1].id == before["email"]
        assert service.get(session, model=models.Person, entity_id="alice").updated_at == START


def test_entities_not_mentioned_are_kept_and_may_be_referred_to(ctx: AppContext, tmp_path: Path) -> None:
    load(ctx, EXAMPLES)
    extra = write(
        tmp_path / "search.yaml",
        "teams:\n  - id: search\n    name: Search\n    members: [alice, dave]\n    escalation_policy: backend-default\n"
        "services:\n  - id: search\n    name: Search\n    team: search\n",
    )
    report = load(ctx, extra)
    assert counts(report)["teams"] == (1, 0, 0) and counts(report)["services"] == (1, 0, 0)
    assert row_count(ctx, models.Person) == 6
    assert row_count(ctx, models.Service) == 4


def test_a_broken_file_reports_file_line_column_and_writes_nothing(ctx: AppContext, tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    write(folder / "a-people.yaml", (EXAMPLES / "people.yaml").read_text())
    broken = write(
        folder / "b-teams.yaml",
        "teams:\n"
        "  - id: backend\n"
        "    name: Backend\n"
        "    members: [alice, zoe]\n"
        "    schedul: backend-weekly\n"
        "services:\n"
        "  - id: checkout\n"
        "    name: Checkout\n"
        "    tier: 7\n"
        "    team: backend\n",
    )
    problems = refused(ctx, folder)
    assert problems == [
        f"{broken}:5:5: teams.0.schedul: unknown key 'schedul' (did you mean 'schedule'?)",
        f"{broken}:9:11: services.0.tier: Input should be less than or equal to 4",
    ]
    assert row_count(ctx, models.Person) == 0


def test_unknown_references_are_reported_where_they_are_written(ctx: AppContext, tmp_path: Path) -> None:
    path = write(
        tmp_path / "catalog.yaml",
        "people:\n"
        "  - id: alice\n"
        "    name: Alice\n"
        "teams:\n"
        "  - id: backend\n"
        "    name: Backend\n"
        "    members: [alice, alicia, zoe]\n"
        "    schedule: nightly\n"
        "services:\n"
        "  - id: checkout\n"
        "    name: Checkout\n"
        "    team: backend\n"
        "    runbooks: [RB-001, RB-099]\n"
        "    roles:\n"
        "      release_owner: {person: bob}\n"
        "subscribers:\n"
        "  - {service: chekout, kind: email, address: leads@example.com}\n",
    )
    assert refused(ctx, path) == [
        f"{path}:7:22: teams.0.members.1: unknown person 'alicia' (did you mean 'alice'?)",
        f"{path}:7:30: teams.0.members.2: unknown person 'zoe' (not in these files or the catalog)",
        f"{path}:8:15: teams.0.schedule: unknown schedule 'nightly' (not in these files or the catalog)",
        f"{path}:13:24: services.0.runbooks.1: unknown runbook 'RB-099' (runbooks in force: RB-001, RB-002, RB-003)",
        f"{path}:15:31: services.0.roles.release_owner.person: unknown person 'bob' "
        "(not in these files or the catalog)",
        f"{path}:17:15: subscribers.0.service: unknown service 'chekout' (did you mean 'checkout'?)",
    ]
    assert row_count(ctx, models.Person) == 0


def test_duplicate_ids_across_files(ctx: AppContext, tmp_path: Path) -> None:
    first = write(tmp_path / "a.yaml", "people:\n  - {id: alice, name: Alice}\n")
    second = write(tmp_path / "b.yaml", "people:\n  - id: alice\n    name: Alice Again\n")
    assert refused(ctx, first, second) == [
        f"{second}:2:9: people.0.id: duplicate person 'alice': also defined at {first}:2:10"
    ]


def test_yaml_syntax_errors_and_person_rules(ctx: AppContext, tmp_path: Path) -> None:
    bad_yaml = write(tmp_path / "a.yaml", "people:\n  - id: alice\n    name: [Alice\n")
    bad_rule = write(
        tmp_path / "b.yaml",
        "people:\n"
        "  - id: bob\n"
        "    name: Bob\n"
        "    contact_methods:\n"
        "      - {id: email, kind: email, address: bob@example.com}\n"
        "    notification_rules:\n"
        "      - {contact_method: sms, after_minutes: 2}\n",
    )
    problems = refused(ctx, bad_yaml, bad_rule)
    assert problems[0].startswith(f"{bad_yaml}:4:1: (root): YAML syntax error")
    assert problems[1] == (
        f"{bad_rule}:7:7: people.0.notification_rules: rule 0 names contact method 'sms', "
        "which this person does not have (has: email)"
    )


def test_backstage_catalog_info(ctx: AppContext) -> None:
    report = load(ctx, BACKSTAGE)
    assert counts(report)["services"] == (2, 0, 0)
    assert counts(report)["teams"] == (2, 0, 0) and counts(report)["people"] == (2, 0, 0)
    assert [note.split(": skipped ")[1].split(":")[0] for note in report.notes] == [
        "Location 'storefront-root'",
        "System 'storefront'",
        "API 'search-api'",
        "Resource 'search-db'",
    ]
    with ctx.read() as session:
        search = service.service_spec(service.get(session, model=models.Service, entity_id="search-api"))
        assert (search.name, search.team, search.tier) == ("Search API", "storefront", 2)
        assert search.description == "Product search for the storefront."
        assert search.runbooks == ["RB-001", "RB-002"]
        recommendations = service.get(session, model=models.Service, entity_id="recommendations")
        assert recommendations.tier == 3 and recommendations.name == "Recommendations"
        storefront = service.team_spec(service.get(session, model=models.Team, entity_id="storefront"))
        assert storefront.name == "Storefront Team" and storefront.members == ["jane-doe", "sam-lee"]
        guild = service.team_spec(service.get(session, model=models.Team, entity_id="search-guild"))
        assert guild.members == ["sam-lee"]
        jane = service.person_spec(service.get(session, model=models.Person, entity_id="jane-doe"))
        assert (jane.name, jane.email) == ("Jane Doe", "jane.doe@example.com")
        assert [(m.kind, m.address) for m in jane.contact_methods] == [("email", "jane.doe@example.com")]
    assert load(ctx, BACKSTAGE).changed == 0


def test_backstage_problems_point_into_the_backstage_file(ctx: AppContext, tmp_path: Path) -> None:
    path = write(
        tmp_path / "catalog-info.yaml",
        "apiVersion: backstage.io/v1alpha1\n"
        "kind: Component\n"
        "metadata:\n"
        "  name: billing\n"
        "spec:\n"
        "  type: service\n"
        "  owner: user:default/jane.doe\n"
        "---\n"
        "apiVersion: backstage.io/v1alpha1\n"
        "kind: User\n"
        "metadata:\n"
        "  name: jane.doe\n"
        "spec:\n"
        "  memberOf: [billing-team]\n",
    )
    assert refused(ctx, path) == [
        f"{path}:7:10: spec.owner: 'user:default/jane.doe' is a user, expected a group; "
        "services are owned by teams: set spec.owner to a group",
        f"{path}:14:14: spec.memberOf.0: unknown group 'billing-team': memberOf names a Group loaded in the same run",
    ]


def test_native_files_may_refer_to_backstage_entities(ctx: AppContext, tmp_path: Path) -> None:
    extra = write(
        tmp_path / "stakeholders.yaml",
        "subscribers:\n  - {service: search-api, kind: webhook, address: 'https://status.example.com/hook'}\n",
    )
    report = load(ctx, BACKSTAGE, extra)
    assert counts(report)["subscribers"] == (1, 0, 0)


def test_schema_of_catalog_files_names_every_section() -> None:
    schema = schemas.json_schema()
    assert set(schema["properties"]) == {kind.section for kind in Kind}
