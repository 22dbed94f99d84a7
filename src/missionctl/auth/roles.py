"""Roles and what each may do (pure)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"


_RANK = {Role.VIEWER: 0, Role.RESPONDER: 1, Role.ADMIN: 2}


def allows(held: Role, needed: Role) -> bool:
    """Roles are ordered: an admin may do what a responder may, a responder what a viewer may."""
    return _RANK[held] >= _RANK[needed]
