"""Approvals: approve or decline a pending execution, and the engine job that times it out at its deadline.

Kept apart from `service.py` so the engine's handler table can import it without the action catalog.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from missionctl.actions.models import ActionExecution
from missionctl.actions.rules import RELEASES_ONCE, Status
from missionctl.engine import jobs
from missionctl.errors import Conflict, NotFound
from missionctl.incidents.models import Incident
from missionctl.incidents.timeline import note

EXPIRE = "actions.approval_expiry"


def get_execution(session: Session, *, execution_id: int, for_update: bool = False) -> ActionExecution:
    query = select(ActionExecution).where(ActionExecution.id == execution_id)
    row = session.scalars(query.with_for_update() if for_update else query).one_or_none()
    if row is None:
        raise NotFound(f"no action execution {execution_id}", code="execution_not_found")
    return row


def schedule_expiry(session: Session, *, execution: ActionExecution, now: datetime) -> None:
    """The job that times the request out at `expires_at` unless someone decided first."""
    assert execution.expires_at is not None
    jobs.enqueue(
        session,
        kind=EXPIRE,
        run_at=execution.expires_at,
        payload={"execution_id": execution.id},
        dedup_key=f"{EXPIRE}:{execution.id}",
        now=now,
    )


def approve(session: Session, *, execution_id: int, approver: str, now: datetime) -> ActionExecution:
    """Approve a pending execution: never by its requester, never after its deadline."""
    row = _pending(session, execution_id, now)
    if approver == row.requested_by:
        raise Conflict(
            f"{approver} requested this action and cannot approve it: another responder must",
            code="self_approval",
        )
    row.status = Status.APPROVED
    row.approved_by = approver
    row.decided_at = now
    audit(session, row, now, "action_approved", f"{approver} approved {row.action}", actor=approver)
    return row


def decline(session: Session, *, execution_id: int, decider: str, now: datetime) -> ActionExecution:
    """Decline a pending execution (another responder than the requester decides)."""
    row = _pending(session, execution_id, now)
    if decider == row.requested_by:
        raise Conflict(f"{decider} requested this action and cannot decide on it", code="self_approval")
    row.declined_by = decider
    row.decided_at = now
    end(row, Status.DECLINED, now)
    audit(session, row, now, "action_declined", f"{decider} declined {row.action}", actor=decider)
    return row


def _pending(session: Session, execution_id: int, now: datetime) -> ActionExecution:
    row = get_execution(session, execution_id=execution_id, for_update=True)
    timed_out = row.status == Status.TIMED_OUT or (
        row.status == Status.PENDING_APPROVAL and row.expires_at is not None and now >= row.expires_at
    )
    if timed_out:
        raise Conflict(
            f"the approval window of execution {row.id} ({row.action}) has closed; request it again",
            code="approval_timed_out",
            details={"expires_at": row.expires_at.isoformat() if row.expires_at else None},
        )
    if row.status != Status.PENDING_APPROVAL:
        raise Conflict(
            f"execution {row.id} is {row.status}, not waiting for approval",
            code="not_pending_approval",
            details={"status": row.status},
        )
    return row


def expire(session: Session, *, payload: dict[str, Any], now: datetime) -> None:
    """Engine job: a request still waiting for approval at its deadline times out (a distinct result)."""
    row = session.get(ActionExecution, int(payload["execution_id"]), with_for_update=True)
    if row is None or row.status != Status.PENDING_APPROVAL or row.expires_at is None or now < row.expires_at:
        return  # decided meanwhile (or a stale job)
    row.decided_at = now
    end(row, Status.TIMED_OUT, now)
    row.error = "nobody approved it in time"
    audit(session, row, now, "action_timed_out", f"{row.action}: nobody approved it in time; not run")


def end(row: ActionExecution, status: Status, now: datetime) -> None:
    """Put an execution in a final state, releasing its concurrency lock and (if it never ran) its once key."""
    row.status = status
    row.finished_at = now
    row.lock_key = None
    if status in RELEASES_ONCE:
        row.once_key = None


def audit(
    session: Session, row: ActionExecution, now: datetime, kind: str, summary: str, *, actor: str | None = None
) -> None:
    """The timeline entry of one step of an execution (nothing when it belongs to no incident)."""
    if row.incident_id is None:
        return
    incident = session.get_one(Incident, row.incident_id)
    data: dict[str, Any] = {
        "execution_id": row.id,
        "action": row.action,
        "service": row.service,
        "action_kind": row.kind,
        "mode": row.mode,
        "trigger": row.triggered_by,
        "requested_by": row.requested_by,
        "approver": row.approved_by,
        "declined_by": row.declined_by,
        "dry_run": row.dry_run,
        "inputs": row.inputs,
        "result": row.status,
    }
    if row.finished_at is not None:
        data |= {"output": row.output, "duration_ms": row.duration_ms, "error": row.error}
    note(session, incident, now, kind, summary, actor=actor or "missionctl", **data)
