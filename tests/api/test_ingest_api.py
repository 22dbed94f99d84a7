"""Alert ingestion over HTTP: keys, dedup, grouping into incidents, recovery, refusals kept as dead letters."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from missionctl.auth.roles import Role
from missionctl.catalog import loader as catalog_loader
from missionctl.catalog import service as catalog
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.incidents.models import Incident, TimelineEvent
from missionctl.settings import Settings
from missionctl.signals import integrations
from missionctl.signals.integrations import IntegrationKind
from missionctl.signals.models import DeadLetter, SignalAlert

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples" / "catalog"
FIXTURES = ROOT / "tests" / "fixtures" / "signals"
AM = "/api/v1/integrations/alertmanager"
GRAFANA = "/api/v1/integrations/grafana"
PD = "/v2/enqueue"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


@pytest.fixture
def with_catalog(ctx: AppContext) -> AppContext:
    with ctx.write() as session:
        catalog.load_catalog(session, documents=catalog_loader.read_paths([EXAMPLES]), now=ctx.clock.now())
    return ctx


def new_key(ctx: AppContext, kind: IntegrationKind, service: str) -> str:
    with ctx.write() as session:
        return integrations.create(session, kind=kind, service_id=service, name=None, now=ctx.clock.now()).key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def incidents(ctx: AppContext) -> list[Incident]:
    with ctx.read() as session:
        return list(session.scalars(select(Incident).order_by(Incident.id)))


def timeline(ctx: AppContext, incident_id: int, kind: str) -> list[TimelineEvent]:
    with ctx.read() as session:
        query = select(TimelineEvent).where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind == kind)
        return list(session.scalars(query.order_by(TimelineEvent.id)))


def test_alertmanager_alerts_open_one_incident_that_pages_and_repeats_change_nothing(
    with_catalog: AppContext, app_client: TestClient, tokens: dict[Role, str]
) -> None:
    key = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    answer = app_client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(key))
    assert answer.status_code == 202, answer.text
    [incident] = incidents(with_catalog)
    assert answer.json() == {"status": "accepted", "alerts": 2, "incidents": [incident.id]}
    assert (incident.runbook_id, incident.service, incident.status) == ("RB-002", "payments-db", "declared")
    assert incident.severity == "SEV3"  # the alerts' `severity: warning`
    [fired] = timeline(with_catalog, incident.id, "signal_fired")
    assert fired.data["count"] == 2 and fired.data["opened"] is True
    assert fired.actor == "alertmanager integration 'payments-db alertmanager'"

    read = app_client.get(f"/api/v1/incidents/{incident.id}", headers=bearer(tokens[Role.VIEWER])).json()
    assert read["pages"], "the incident pages its service's escalation policy at once"

    again = app_client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(key))
    assert again.status_code == 202 and again.json()["incidents"] == [incident.id]
    assert len(incidents(with_catalog)) == 1
    assert len(timeline(with_catalog, incident.id, "signal_fired")) == 1  # a repeat is not news
    with with_catalog.read() as session:
        counts = sorted(a.received_count for a in session.scalars(select(SignalAlert)))
    assert counts == [2, 2]


def test_a_resolved_alert_is_recorded_and_the_incident_stays_open(
    with_catalog: AppContext, app_client: TestClient
) -> None:
    key = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    app_client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(key))
    resolved = app_client.post(AM, json=fixture("alertmanager_resolved"), headers=bearer(key))
    assert resolved.status_code == 202, resolved.text
    [incident] = incidents(with_catalog)
    [first] = timeline(with_catalog, incident.id, "signal_recovered")
    assert first.data["all_recovered"] is False  # the second instance is still firing

    both = fixture("alertmanager_firing")
    both["status"] = "resolved"
    for alert in both["alerts"]:
        alert["status"] = "resolved"
    app_client.post(AM, json=both, headers=bearer(key))
    recovered = timeline(with_catalog, incident.id, "signal_recovered")
    assert len(recovered) == 2 and recovered[-1].data["all_recovered"] is True
    assert "no alerts are firing" in recovered[-1].summary
    assert incidents(with_catalog)[0].status == "declared"  # resolving is a person's decision

    app_client.post(AM, json=both, headers=bearer(key))  # resolving again changes nothing
    assert len(timeline(with_catalog, incident.id, "signal_recovered")) == 2


def test_alerts_join_an_incident_a_person_declared_for_the_same_service_and_runbook(
    with_catalog: AppContext, client: TestClient
) -> None:
    declared = client.post(
        "/api/v1/incidents",
        json={"runbook": "RB-002", "service": "payments-db", "title": "Slow payments", "severity": "SEV2"},
    ).json()
    key = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    answer = client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(key))
    assert answer.json()["incidents"] == [declared["id"]]
    assert len(incidents(with_catalog)) == 1
    [fired] = timeline(with_catalog, declared["id"], "signal_fired")
    assert fired.data["opened"] is False


def test_an_alert_firing_again_after_the_incident_was_resolved_opens_a_new_one(
    with_catalog: AppContext, client: TestClient, clock: FrozenClock
) -> None:
    key = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    first = client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(key)).json()["incidents"][0]
    resolved = fixture("alertmanager_firing")
    for alert in resolved["alerts"]:
        alert["status"] = "resolved"
    client.post(AM, json=resolved, headers=bearer(key))
    client.post(
        f"/api/v1/incidents/{first}/action-items", json={"title": "x", "assignee": "alice", "due": "2027-01-01"}
    )
    answer = client.post(f"/api/v1/incidents/{first}/resolve", json={"evidence": "p95 back under SLO for 30 minutes"})
    assert answer.status_code == 200, answer.text
    clock.advance(timedelta(minutes=30))
    second = client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(key)).json()["incidents"]
    assert second != [first] and len(second) == 1
    assert [i.status for i in incidents(with_catalog)] == ["resolved", "declared"]


def test_keys_are_checked_per_source_and_revocation_takes_effect(
    with_catalog: AppContext, app_client: TestClient, tokens: dict[Role, str]
) -> None:
    body = fixture("alertmanager_firing")
    assert app_client.post(AM, json=body).status_code == 401
    assert app_client.post(AM, json=body, headers=bearer("mci_not-a-key")).status_code == 401
    grafana_key = new_key(with_catalog, IntegrationKind.GRAFANA, "payments-db")
    wrong_kind = app_client.post(AM, json=body, headers=bearer(grafana_key))
    assert wrong_kind.status_code == 401 and wrong_kind.json()["error"]["code"] == "invalid_integration_key"
    key = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    assert app_client.post(AM, json=body, headers=bearer(key)).status_code == 202
    with with_catalog.read() as session:
        record_id = integrations.listing(session)[-1].id
    revoked = app_client.delete(f"/api/v1/integrations/{record_id}", headers=bearer(tokens[Role.ADMIN]))
    assert revoked.status_code == 204
    assert app_client.post(AM, json=body, headers=bearer(key)).status_code == 401
    with with_catalog.read() as session:
        assert session.scalars(select(DeadLetter)).first() is None  # unauthenticated events are not stored


def test_malformed_and_unroutable_events_are_refused_by_name_and_kept(
    with_catalog: AppContext, app_client: TestClient, tokens: dict[Role, str]
) -> None:
    key = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    broken = fixture("alertmanager_firing")
    broken["alerts"][1]["labels"] = "not an object"
    answer = app_client.post(AM, json=broken, headers=bearer(key))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_payload" and "alerts[1].labels" in error["message"]
    assert error["details"]["dead_letter"] is not None

    unroutable = fixture("alertmanager_firing")
    for alert in unroutable["alerts"]:
        alert["labels"]["alertname"] = "DiskAlmostFull"
    answer = app_client.post(AM, json=unroutable, headers=bearer(key))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "unroutable" and "DiskAlmostFull" not in error["message"]
    assert any("RB-002 skipped" in line for line in error["details"]["trace"])

    with with_catalog.read() as session:
        letters = list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))
    assert [(d.reason, d.source, d.status) for d in letters] == [
        ("invalid_payload", "alertmanager", "pending"),
        ("unroutable", "alertmanager", "pending"),
    ]
    assert json.loads(letters[1].body) == unroutable  # kept verbatim
    assert incidents(with_catalog) == []  # nothing of a refused payload is half-applied


def test_not_json_and_too_large_bodies(with_catalog: AppContext, app_client: TestClient) -> None:
    key = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    answer = app_client.post(AM, content=b"{not json", headers=bearer(key))
    assert answer.status_code == 422 and "not valid JSON" in answer.json()["error"]["message"]
    huge = b'{"alerts": [' + b" " * 2_000_000 + b"]}"
    assert app_client.post(AM, content=huge, headers=bearer(key)).status_code == 413


def test_a_key_over_its_rate_is_told_when_to_retry(ctx: AppContext, settings: Settings) -> None:
    from missionctl.app import create_app

    with ctx.write() as session:
        catalog.load_catalog(session, documents=catalog_loader.read_paths([EXAMPLES]), now=ctx.clock.now())
    limited = settings.model_copy(update={"ingest_rate_per_key": 0.5, "ingest_burst_per_key": 2})
    key = new_key(ctx, IntegrationKind.ALERTMANAGER, "payments-db")
    with TestClient(create_app(limited, context=dataclasses.replace(ctx, settings=limited))) as client:
        codes = [client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(key)) for _ in range(3)]
    assert [c.status_code for c in codes] == [202, 202, 429]
    assert int(codes[2].headers["Retry-After"]) >= 1
    assert codes[2].json()["error"]["code"] == "rate_limited"


def test_grafana_payloads_open_incidents_with_their_links(with_catalog: AppContext, app_client: TestClient) -> None:
    key = new_key(with_catalog, IntegrationKind.GRAFANA, "checkout")
    answer = app_client.post(GRAFANA, json=fixture("grafana_firing"), headers=bearer(key))
    assert answer.status_code == 202, answer.text
    [incident] = incidents(with_catalog)
    assert (incident.runbook_id, incident.service, incident.severity) == ("RB-001", "checkout", "SEV1")
    with with_catalog.read() as session:
        [alert] = session.scalars(select(SignalAlert))
    assert {link["kind"] for link in alert.links} >= {"silence", "dashboard"}


def pd_event(name: str, key: str) -> dict[str, Any]:
    event = copy.deepcopy(fixture(name))
    event["routing_key"] = key
    return event


def test_pagerduty_events_trigger_acknowledge_and_resolve_like_pagerduty(
    with_catalog: AppContext, app_client: TestClient
) -> None:
    key = new_key(with_catalog, IntegrationKind.PAGERDUTY, "payments-db")
    answer = app_client.post(PD, json=pd_event("pagerduty_trigger", key))
    assert answer.status_code == 202
    assert answer.json() == {"status": "success", "message": "Event processed", "dedup_key": "payments-db/p95-latency"}
    [incident] = incidents(with_catalog)
    assert incident.runbook_id == "RB-002" and incident.acknowledged_at is None

    assert app_client.post(PD, json=pd_event("pagerduty_acknowledge", key)).status_code == 202
    [incident] = incidents(with_catalog)
    assert incident.acknowledged_by == "pagerduty integration 'payments-db pagerduty'"
    assert len(timeline(with_catalog, incident.id, "signal_acknowledged")) == 1

    assert app_client.post(PD, json=pd_event("pagerduty_resolve", key)).status_code == 202
    [recovered] = timeline(with_catalog, incident.id, "signal_recovered")
    assert recovered.data["all_recovered"] is True


def test_pagerduty_refusals_have_pagerduty_shapes(with_catalog: AppContext, app_client: TestClient) -> None:
    key = new_key(with_catalog, IntegrationKind.PAGERDUTY, "payments-db")
    missing_key = app_client.post(PD, json={"event_action": "trigger"})
    assert missing_key.status_code == 400 and missing_key.json()["status"] == "invalid event"
    wrong = pd_event("pagerduty_trigger", "0" * 32)
    assert app_client.post(PD, json=wrong).status_code == 401
    invalid = pd_event("pagerduty_trigger", key)
    del invalid["payload"]["severity"]
    answer = app_client.post(PD, json=invalid)
    assert answer.status_code == 400
    assert answer.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["'payload.severity' is missing or blank"],
    }
    with with_catalog.read() as session:
        [letter] = session.scalars(select(DeadLetter))
    assert letter.source == "pagerduty" and letter.reason == "invalid_payload"


def test_the_front_door_answers_as_the_routes_do(with_catalog: AppContext, settings: Settings) -> None:
    """`missionctl serve` answers the ingest POSTs ahead of FastAPI; both ways must give the same answers."""
    from missionctl.app import create_app
    from missionctl.signals.inbound import FrontDoor

    am_key = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    pd_key = new_key(with_catalog, IntegrationKind.PAGERDUTY, "payments-db")
    unroutable = fixture("alertmanager_firing")
    unroutable["alerts"][0]["labels"]["alertname"] = "DiskAlmostFull"
    invalid_pd = pd_event("pagerduty_trigger", pd_key)
    invalid_pd["event_action"] = "explode"
    calls: list[tuple[str, dict[str, Any]]] = [
        (AM, {"json": fixture("alertmanager_firing"), "headers": bearer(am_key)}),
        (AM, {"json": fixture("alertmanager_firing")}),
        (AM, {"json": fixture("alertmanager_firing"), "headers": bearer(pd_key)}),
        (AM, {"json": unroutable, "headers": bearer(am_key)}),
        (AM, {"content": b"[", "headers": bearer(am_key)}),
        (AM, {"content": b"x" * 2_000_000, "headers": bearer(am_key)}),
        (GRAFANA, {"json": fixture("grafana_firing"), "headers": bearer(am_key)}),
        (PD, {"json": pd_event("pagerduty_trigger", pd_key)}),
        (PD, {"json": invalid_pd}),
        (PD, {"content": b"nope"}),
    ]
    answers = []
    for wrap in (False, True):
        app = create_app(settings, context=with_catalog)
        with TestClient(FrontDoor(app) if wrap else app) as client:
            answers.append([(r.status_code, r.json()) for r in (client.post(path, **kw) for path, kw in calls)])
            metrics = client.get("/metrics", headers=bearer(_viewer_token(with_catalog))).text
        assert 'handler="alertmanager_webhook",method="POST",status="202"' in metrics
        assert 'missionctl_inbound_events_total{outcome="accepted",source="alertmanager"} 2.0' in metrics
        assert 'missionctl_inbound_events_total{outcome="unroutable",source="alertmanager"} 1.0' in metrics
        assert 'missionctl_inbound_events_total{outcome="invalid_key",source="alertmanager"} 2.0' in metrics
    routes, front_door = answers
    for (path, _), a, b in zip(calls, routes, front_door, strict=True):
        if isinstance(a[1], dict) and "error" in a[1] and a[1]["error"]["details"]:
            a[1]["error"]["details"].pop("dead_letter", None)  # a new dead letter each time
            b[1]["error"]["details"].pop("dead_letter", None)
        assert a == b, path
    assert [status for status, _ in front_door] == [202, 401, 401, 422, 422, 413, 401, 202, 400, 400]


def _viewer_token(ctx: AppContext) -> str:
    from missionctl.auth import service as auth

    with ctx.write() as session:
        return auth.create_token(session, name="metrics", role=Role.VIEWER, now=ctx.clock.now()).token


def test_dead_letters_replay_after_a_routing_fix_without_a_restart(
    ctx: AppContext, settings: Settings, tokens: dict[Role, str], tmp_path: Path
) -> None:
    from missionctl.app import create_app
    from missionctl.signals import ingest

    with ctx.write() as session:
        catalog.load_catalog(session, documents=catalog_loader.read_paths([EXAMPLES]), now=ctx.clock.now())
    routes = tmp_path / "routes.yaml"
    routes.write_text("routes: []\n")
    configured = settings.model_copy(update={"routes_file": routes})
    key = new_key(ctx, IntegrationKind.ALERTMANAGER, "payments-db")
    disk = fixture("alertmanager_firing")
    for alert in disk["alerts"]:
        alert["labels"]["alertname"] = "DiskAlmostFull"
    responder, viewer = bearer(tokens[Role.RESPONDER]), bearer(tokens[Role.VIEWER])
    with TestClient(create_app(configured, context=dataclasses.replace(ctx, settings=configured))) as client:
        refused = [client.post(AM, json=disk, headers=bearer(key)) for _ in range(3)]
        assert [r.status_code for r in refused] == [422, 422, 422]
        ids = [r.json()["error"]["details"]["dead_letter"] for r in refused]
        listed = client.get("/api/v1/dead-letters?status=pending", headers=viewer).json()
        assert [d["id"] for d in listed] == sorted(ids, reverse=True)
        shown = client.get(f"/api/v1/dead-letters/{ids[0]}", headers=viewer).json()
        assert json.loads(shown["body"]) == disk and shown["reason"] == "unroutable"

        still = client.post(f"/api/v1/dead-letters/{ids[0]}/replay", headers=responder)
        assert still.status_code == 422 and still.json()["error"]["code"] == "still_unroutable"
        assert client.post(f"/api/v1/dead-letters/{ids[0]}/replay", headers=viewer).status_code == 403

        routes.write_text("routes:\n  - name: disks\n    match: {alertname: Disk.*}\n    runbook: RB-002\n")
        ingest.ROUTES_CHECK_SECONDS, saved = 0.0, ingest.ROUTES_CHECK_SECONDS
        try:
            replayed = client.post(f"/api/v1/dead-letters/{ids[0]}/replay", headers=responder)
            assert replayed.status_code == 200, replayed.text
            assert replayed.json()["alerts"] == 2 and replayed.json()["dead_letter"]["status"] == "replayed"
            again = client.post(f"/api/v1/dead-letters/{ids[0]}/replay", headers=responder)
            assert again.status_code == 409
            discarded = client.post(f"/api/v1/dead-letters/{ids[1]}/discard", headers=responder).json()
            assert discarded["status"] == "discarded"
            bulk = client.post("/api/v1/dead-letters/replay", headers=responder).json()
            assert [r["dead_letter"]["id"] for r in bulk["replayed"]] == [ids[2]] and bulk["still_failing"] == []
            live = client.post(AM, json=disk, headers=bearer(key))  # and live deliveries route too
            assert live.status_code == 202
        finally:
            ingest.ROUTES_CHECK_SECONDS = saved
    [incident] = incidents(ctx)
    assert incident.runbook_id == "RB-002"
    with ctx.read() as session:
        counts = sorted(a.received_count for a in session.scalars(select(SignalAlert)))
    assert counts == [3, 3]  # the replayed letter, the bulk replay and the live delivery, deduplicated


def test_a_runbook_may_resolve_its_incident_when_every_alert_recovers(
    database_url: str, settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    from missionctl.app import create_app
    from missionctl.context import build_context
    from missionctl.runbooks.loader import builtin_files

    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    text = dict(builtin_files())["RB-002.yaml"]
    (runbooks / "RB-002.yaml").write_text(text.replace("trigger:\n", "trigger:\n  resolve_on_recovery: true\n", 1))
    configured = settings.model_copy(update={"runbook_dirs": [runbooks]})
    ctx = build_context(configured, clock=clock)
    try:
        with ctx.write() as session:
            catalog.load_catalog(session, documents=catalog_loader.read_paths([EXAMPLES]), now=ctx.clock.now())
        key = new_key(ctx, IntegrationKind.ALERTMANAGER, "payments-db")
        firing, resolved = fixture("alertmanager_firing"), fixture("alertmanager_firing")
        for alert in resolved["alerts"]:
            alert["status"] = "resolved"
        critical = copy.deepcopy(firing)
        for alert in critical["alerts"]:
            alert["labels"]["severity"] = "critical"
            alert["fingerprint"] += "-critical"
        with TestClient(create_app(configured, context=ctx)) as client:
            client.post(AM, json=firing, headers=bearer(key))  # SEV3: no action items needed
            client.post(AM, json=resolved, headers=bearer(key))
            [warning] = incidents(ctx)
            assert warning.status == "resolved" and warning.recovery_evidence is not None
            assert "recovered" in warning.recovery_evidence

            client.post(AM, json=critical, headers=bearer(key))  # SEV1 needs an action item first
            for alert in critical["alerts"]:
                alert["status"] = "resolved"
            client.post(AM, json=critical, headers=bearer(key))
            sev1 = incidents(ctx)[-1]
            assert (sev1.severity, sev1.status) == ("SEV1", "declared")
            [refused] = timeline(ctx, sev1.id, "auto_resolve_refused")
            assert "action item" in refused.summary
    finally:
        ctx.dispose()


def test_alerts_written_in_bulk_store_timestamps_as_sqlalchemy_does(
    with_catalog: AppContext, app_client: TestClient
) -> None:
    """The bulk writer bypasses the ORM; its timestamps must compare and sort like every other row's."""
    from sqlalchemy import text

    key = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    app_client.post(AM, json=fixture("alertmanager_firing"), headers=bearer(key))
    with with_catalog.read() as session:
        raw = session.execute(text("SELECT fired_at, last_seen_at, first_seen_at FROM signal_alerts")).all()
        declared = session.execute(text("SELECT declared_at FROM incidents")).scalar_one()
    # The ORM wrote the incident at the same instant: the stored values must be identical (SQLite keeps text).
    assert {value for row in raw for value in row} == {declared}


def test_a_refusal_that_cannot_be_kept_is_answered_503_so_the_sender_retries(
    with_catalog: AppContext, app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from missionctl.signals import ingest

    def unwritable(**_: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest, "DeadLetter", unwritable)
    key = new_key(with_catalog, IntegrationKind.ALERTMANAGER, "payments-db")
    answer = app_client.post(AM, content=b"{not json", headers=bearer(key))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert answer.json()["error"]["code"] == "unavailable"
