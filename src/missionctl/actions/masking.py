"""Keep secrets out of what is stored and shown: replace secret values by `***`, and cap what an action returns."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from missionctl.actions.templates import MASK

TEXT_LIMIT = 4000  # characters of one output text (stdout, a response body) kept on the record
TRUNCATED = "…[truncated]"


def mask(value: Any, secrets: Collection[str]) -> Any:
    """`value` with every occurrence of a secret value replaced by `***`, in strings, keys, lists and mappings."""
    ordered = sorted((s for s in secrets if s), key=len, reverse=True)  # longest first: no partial leftovers
    if not ordered:
        return value
    return _mask(value, ordered)


def _mask(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, Mapping):
        return {_mask(key, secrets): _mask(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(item, secrets) for item in value]
    return value


def truncate(text: str, limit: int = TEXT_LIMIT) -> str:
    """At most `limit` characters, marked when cut."""
    return text if len(text) <= limit else text[:limit] + TRUNCATED


def truncate_all(value: Any, limit: int = TEXT_LIMIT) -> Any:
    """Every string inside `value` truncated to `limit` characters."""
    if isinstance(value, str):
        return truncate(value, limit)
    if isinstance(value, Mapping):
        return {key: truncate_all(item, limit) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [truncate_all(item, limit) for item in value]
    return value
