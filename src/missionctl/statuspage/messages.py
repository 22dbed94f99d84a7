"""What status subscribers receive (pure): plain words, nothing internal (no titles, no names of responders).

Links are given as paths with a label; delivery makes them absolute with the configured public URL and
appends them to the text (`payload["links"]`), so every message ends with its unsubscribe link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from missionctl.web import views

Link = tuple[str, str, str]  # (label in the text, key in the webhook payload, path)


def scope(service_name: str | None) -> str:
    return f"the {service_name} service" if service_name else "every service"


def confirmation(
    *, kind: str, service_name: str | None, confirm_path: str, unsubscribe_path: str
) -> tuple[str, str, dict[str, Any]]:
    """Subject, text and webhook payload asking the subscriber to confirm (double opt-in)."""
    subject = "Confirm your status updates subscription"
    how = "open the link below and press Confirm" if kind == "email" else "open confirm_url and press Confirm"
    text = (
        f"Someone (hopefully you) asked for status updates about {scope(service_name)} to be sent here.\n"
        f"To start receiving them, {how}. If it was not you, ignore this message: nothing more will be sent.\n\n"
    )
    links: list[Link] = [
        ("Confirm", "confirm_url", confirm_path),
        ("Unsubscribe", "unsubscribe_url", unsubscribe_path),
    ]
    payload = {"type": "status.subscription.confirm", "service": service_name, "links": links}
    return subject, text, payload


def update(
    *,
    incident_id: int,
    update_id: int,
    service: str,
    service_name: str,
    severity: str,
    status: str,
    message: str,
    posted_at: datetime,
    unsubscribe_path: str,
) -> tuple[str, str, dict[str, Any]]:
    """Subject, text and webhook payload of a stakeholder update, as the public status page words it."""
    impact, state = views.public_impact(severity), views.public_status(status)
    subject = f"{service_name}: {impact} - update"
    text = f"{message}\n\n{service_name}: {impact}. {state}\nPosted {views.utc(posted_at)}.\n\n"
    links: list[Link] = [("Status page", "status_url", "/status"), ("Unsubscribe", "unsubscribe_url", unsubscribe_path)]
    payload = {
        "type": "status.update",
        "incident_id": incident_id,
        "update_id": update_id,
        "service": service,
        "service_name": service_name,
        "impact": impact,
        "status": status,
        "status_text": state,
        "message": message,
        "posted_at": posted_at.isoformat(),
        "links": links,
    }
    return subject, text, payload
