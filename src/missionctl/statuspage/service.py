"""Status subscription use cases: subscribe (double opt-in), confirm, unsubscribe, and the update fan-out.

Email and webhook subscriptions are verified the same way: the first message carries a confirmation
link, and nothing else is sent until someone opens it and presses Confirm (a webhook receiver may
simply POST to `confirm_url`). So an address typed in by someone else receives one message, never a
stream of updates. Messages go through the outbox like every page.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from missionctl.catalog import models as catalog
from missionctl.errors import InvalidInput, NotFound
from missionctl.incidents.models import Incident
from missionctl.notifications import service as outbox
from missionctl.notifications.email import address_problem
from missionctl.notifications.models import Purpose
from missionctl.notifications.webhook import url_problem
from missionctl.statuspage import links, messages
from missionctl.statuspage.models import StatusSubscription, SubscriptionKind

SECRET_NAME = "status_links"  # noqa: S105 - the name under which the secret is kept
CONFIRM_WITHIN = timedelta(days=7)
MAX_ADDRESS = 2000


def confirm_path(token: str) -> str:
    return f"/status/confirm/{token}"


def unsubscribe_path(token: str) -> str:
    return f"/status/unsubscribe/{token}"


def _secret(session: Session, now: datetime) -> str:
    return outbox.server_secret(session, name=SECRET_NAME, now=now)


def _service_name(session: Session, service: str | None) -> str | None:
    if service is None:
        return None
    row = session.get(catalog.Service, service)
    return row.name if row is not None else service


def _check(session: Session, *, kind: SubscriptionKind, address: str, service: str | None) -> None:
    problem = address_problem(address) if kind is SubscriptionKind.EMAIL else url_problem(address)
    if len(address) > MAX_ADDRESS:
        problem = "address too long"
    if problem is not None:
        field = "email address" if kind is SubscriptionKind.EMAIL else "webhook URL"
        raise InvalidInput(f"that {field} cannot be used: {problem}", code="invalid_address")
    if service is not None and session.get(catalog.Service, service) is None:
        raise InvalidInput(f"there is no service {service!r}", code="unknown_service")


def subscribe(
    session: Session, *, kind: SubscriptionKind, address: str, service: str | None, now: datetime
) -> StatusSubscription:
    """Record a pending subscription and send its confirmation; asking again re-sends it (a new link).

    An address already confirmed for the same scope gets nothing, so the page's answer is the same
    either way and nobody learns who is subscribed.
    """
    _check(session, kind=kind, address=address, service=service)
    known = session.scalar(
        select(StatusSubscription).where(
            StatusSubscription.kind == kind,
            StatusSubscription.address == address,
            StatusSubscription.service.is_(None) if service is None else StatusSubscription.service == service,
            StatusSubscription.unsubscribed_at.is_(None),
        )
    )
    if known is not None and known.confirmed_at is not None:
        return known
    token = links.new_token()
    row = known or StatusSubscription(kind=kind, address=address, service=service, created_at=now)
    row.token_hash = links.token_hash(token)
    row.created_at = now  # the confirmation window starts again with the new link
    session.add(row)
    session.flush()
    subject, text, payload = messages.confirmation(
        kind=kind,
        service_name=_service_name(session, service),
        confirm_path=confirm_path(token),
        unsubscribe_path=unsubscribe_path(links.unsubscribe_token(_secret(session, now), row.id)),
    )
    _queue(session, row, subject, text, payload, key=f"status-confirm-{row.id}-{row.token_hash[:16]}", now=now)
    return row


def pending(session: Session, *, token: str, now: datetime) -> StatusSubscription:
    """The subscription a confirmation link is for, if it can still be confirmed (or already was)."""
    row = session.scalar(select(StatusSubscription).where(StatusSubscription.token_hash == links.token_hash(token)))
    if row is None or row.unsubscribed_at is not None:
        raise NotFound("this confirmation link is invalid or was replaced by a newer one", code="invalid_link")
    if row.confirmed_at is None and now - row.created_at > CONFIRM_WITHIN:
        raise NotFound("this confirmation link has expired; subscribe again for a new one", code="invalid_link")
    return row


def confirm(session: Session, *, token: str, now: datetime) -> StatusSubscription:
    """Confirm a subscription through its link; confirming twice changes nothing."""
    row = pending(session, token=token, now=now)
    if row.confirmed_at is None:
        row.confirmed_at = now
    return row


def by_unsubscribe_token(session: Session, *, token: str, now: datetime) -> StatusSubscription:
    """The subscription an unsubscribe link is for."""
    ident = links.read_unsubscribe_token(_secret(session, now), token)
    row = None if ident is None else session.get(StatusSubscription, ident)
    if row is None:
        raise NotFound("this unsubscribe link is invalid", code="invalid_link")
    return row


def unsubscribe(session: Session, *, token: str, now: datetime) -> StatusSubscription:
    """Stop a subscription (confirmed or not); unsubscribing twice changes nothing."""
    row = by_unsubscribe_token(session, token=token, now=now)
    if row.unsubscribed_at is None:
        row.unsubscribed_at = now
    return row


def subscribers_for(session: Session, service: str) -> list[StatusSubscription]:
    """Confirmed, active subscriptions to `service` or to every service, oldest first."""
    query = select(StatusSubscription).where(
        StatusSubscription.confirmed_at.is_not(None),
        StatusSubscription.unsubscribed_at.is_(None),
        or_(StatusSubscription.service.is_(None), StatusSubscription.service == service),
    )
    return list(session.scalars(query.order_by(StatusSubscription.id)))


def on_update_posted(session: Session, *, incident: Incident, update_id: int, message: str, now: datetime) -> int:
    """Queue a posted stakeholder update for every confirmed status subscriber of its service; returns how many."""
    subscribers = subscribers_for(session, incident.service)
    if not subscribers:
        return 0
    secret = _secret(session, now)
    name = _service_name(session, incident.service) or incident.service
    for row in subscribers:
        subject, text, payload = messages.update(
            incident_id=incident.id,
            update_id=update_id,
            service=incident.service,
            service_name=name,
            severity=incident.severity,
            status=incident.status,
            message=message,
            posted_at=now,
            unsubscribe_path=unsubscribe_path(links.unsubscribe_token(secret, row.id)),
        )
        _queue(session, row, subject, text, payload, key=f"status-update-{update_id}-{row.id}", now=now)
    return len(subscribers)


def _queue(
    session: Session,
    row: StatusSubscription,
    subject: str,
    text: str,
    payload: dict[str, object],
    *,
    key: str,
    now: datetime,
) -> None:
    # No incident_id: a public subscriber's failing address is not news for the incident's timeline.
    outbox.queue(
        session,
        outgoing=outbox.Outgoing(
            purpose=Purpose.STAKEHOLDER_UPDATE,
            channel=row.kind,
            address=row.address,
            subject=subject,
            body=text,
            idempotency_key=key,
            contact_label=f"status subscription {row.id}",
            payload=payload,
        ),
        due_at=now,
        now=now,
    )
