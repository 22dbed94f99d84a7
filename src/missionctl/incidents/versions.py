"""Stored runbook versions, read once per process: content-addressed rows that never change.

What a process has read of a version holds for good, so its content and parsed form are kept per hash (valid for
every database alike), and each database connection remembers which hashes its database is known to hold.
Declaring an incident used to read the same version back three times.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from missionctl.db import transaction_set
from missionctl.incidents.models import RunbookVersion
from missionctl.runbooks.schemas import Runbook

_KNOWN_STORED = "missionctl.stored_runbook_hashes"  # Connection.info key: hashes committed in this database
_INSERTED = "missionctl.inserted_runbook_hashes"  # Session.info key: hashes this transaction stores
_CONTENT: dict[str, dict[str, Any]] = {}
_PARSED: dict[str, Runbook] = {}
_KEPT = 256  # versions kept per process; beyond that the caches start over


def content(session: Session, content_hash: str) -> dict[str, Any]:
    """The stored runbook version `content_hash` as stored (JSON). Shared: read it, never change it."""
    found = _CONTENT.get(content_hash)
    if found is None:
        found = session.get_one(RunbookVersion, content_hash).content
        _keep(_CONTENT, content_hash, found)
    return found


def parsed(session: Session, content_hash: str) -> Runbook:
    """The stored runbook version `content_hash`, parsed. Shared: read it, never change it."""
    found = _PARSED.get(content_hash)
    if found is None:
        found = Runbook.model_validate(content(session, content_hash))
        _keep(_PARSED, content_hash, found)
    return found


def _keep(cache: dict[str, Any], key: str, value: Any) -> None:
    if len(cache) >= _KEPT:
        cache.clear()
    cache[key] = value


def known_stored(session: Session, content_hash: str) -> bool:
    """Whether this database holds version `content_hash`, committed or stored by this transaction (`storing`)."""
    if content_hash in transaction_set(session, _INSERTED):
        return True  # ours, not committed yet: not remembered for other transactions (this one may roll back)
    known: set[str] = session.connection().info.setdefault(_KNOWN_STORED, set())
    if content_hash in known:
        return True
    if session.get(RunbookVersion, content_hash) is None:
        return False
    known.add(content_hash)  # not inserted by this transaction, so committed by another
    return True


def storing(session: Session, content_hash: str) -> None:
    """Say that this transaction inserts version `content_hash` (see `known_stored`)."""
    transaction_set(session, _INSERTED).add(content_hash)
