"""Backstage `catalog-info.yaml` to catalog entities: Component → service, Group → team, User → person.

Backstage names may hold capitals and dots; ids here are lower-case slugs, so `Jane.Doe` becomes `jane-doe`
(references are converted the same way). Namespaces are not kept. Annotations under `missionctl.io/`
fill what Backstage has no field for: a Component's tier, runbooks and escalation policy, and a Group's
schedule and escalation policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from yaml.nodes import Node

from missionctl.catalog.schemas import Kind
from missionctl.runbooks.lint import Loc, Problem, locate, node_position

API_VERSIONS = ("backstage.io/v1alpha1", "backstage.io/v1beta1")
HANDLED_KINDS = ("Component", "Group", "User")
ANNOTATION = "missionctl.io/"


@dataclass(frozen=True)
class Converted:
    """A catalog entity as plain data, with the Backstage node it came from and where its fields sit there.

    `problems` are references that could not be read (a User as a Component's owner, say); such an
    entity is not loaded, but its id still counts as declared so others referring to it are not blamed.
    """

    kind: Kind
    data: dict[str, Any]
    node: Node
    aliases: dict[str, Loc]
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Membership:
    """A User's `memberOf`: `person` joins `team`; `loc` is where it was written in `node`."""

    person: str
    team: str
    node: Node
    loc: Loc


@dataclass
class BackstageFile:
    entities: list[Converted] = field(default_factory=list)
    memberships: list[Membership] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Metadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    title: str | None = None
    description: str | None = None
    annotations: dict[str, str] = Field(default_factory=dict)


class _Entity(BaseModel):
    model_config = ConfigDict(extra="allow")

    apiVersion: str
    kind: str
    metadata: _Metadata
    spec: dict[str, Any] = Field(default_factory=dict)


def is_backstage(documents: Sequence[Any]) -> bool:
    """A file is Backstage when its documents carry `apiVersion` and `kind`."""
    return any(isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc for doc in documents)


def convert(documents: Sequence[tuple[Node, Any]], source: str) -> BackstageFile:
    """Turn every Component, Group and User into catalog data; other kinds become a note."""
    result = BackstageFile()
    for node, data in documents:
        entity = _entity(node, data, source, result)
        if entity is None:
            continue
        if entity.apiVersion not in API_VERSIONS or entity.kind not in HANDLED_KINDS:
            result.notes.append(_skipped(entity, node, source))
        else:
            _CONVERTERS[entity.kind](entity, node, source, result)
    return result


def _entity(node: Node, data: Any, source: str, result: BackstageFile) -> _Entity | None:
    if not isinstance(data, dict) or "apiVersion" not in data or "kind" not in data:
        line, column = node_position(node)
        message = "every document of a Backstage file needs apiVersion and kind"
        result.problems.append(Problem(source, line, column, "(document)", message))
        return None
    try:
        return _Entity.model_validate(data)
    except ValidationError as exc:
        result.problems += [_problem(node, tuple(e["loc"]), e["msg"], source) for e in exc.errors()]
        return None


def _skipped(entity: _Entity, node: Node, source: str) -> str:
    line, _ = node_position(node)
    what = f"{entity.kind} {entity.metadata.name!r}"
    if entity.apiVersion not in API_VERSIONS:
        return f"{source}:{line}: skipped {what}: apiVersion {entity.apiVersion} is not Backstage's"
    hint = "; pass the files it targets as well" if entity.kind == "Location" else ""
    return f"{source}:{line}: skipped {what}: Mission Control reads Component, Group and User{hint}"


def _problem(node: Node, loc: Loc, message: str, source: str) -> Problem:
    line, column = node_position(locate(node, loc))
    return Problem(source, line, column, ".".join(str(p) for p in loc), message)


def slug(name: str) -> str:
    """A Backstage name as a catalog id: lower case, dots as dashes."""
    return name.strip().lower().replace(".", "-")


def parse_ref(ref: Any, expected: str) -> tuple[str | None, str]:
    """`[kind:][namespace/]name` → (kind or None, id); the kind is checked against `expected`."""
    text = str(ref).strip()
    kind, _, rest = text.rpartition(":") if ":" in text else ("", "", text)
    name = rest.rpartition("/")[2]
    found = kind.lower() or None
    if found is not None and found != expected:
        raise ValueError(f"{text!r} is a {found}, expected a {expected}")
    return found, slug(name)


def _name_aliases(entity: _Entity, display: str | None) -> dict[str, Loc]:
    title_key = ("spec", "profile", "displayName") if display else ("metadata", "title")
    name_at = title_key if (display or entity.metadata.title) else ("metadata", "name")
    return {"id": ("metadata", "name"), "name": name_at}


def _annotation(entity: _Entity, key: str) -> str | None:
    value = entity.metadata.annotations.get(ANNOTATION + key)
    return value.strip() if value and value.strip() else None


def _component(entity: _Entity, node: Node, source: str, result: BackstageFile) -> None:
    meta, problems = entity.metadata, list[Problem]()
    annotations = ("metadata", "annotations")
    data: dict[str, Any] = {
        "id": slug(meta.name),
        "name": meta.title or meta.name,
        "description": meta.description,
        "runbooks": [rb.strip() for rb in (_annotation(entity, "runbooks") or "").split(",") if rb.strip()],
        "escalation_policy": _annotation(entity, "escalation-policy"),
    }
    if (tier := _annotation(entity, "tier")) is not None:
        data["tier"] = tier
    if (owner := entity.spec.get("owner")) is not None:
        data["team"] = _ref(owner, "group", node, ("spec", "owner"), source, problems)
    aliases = _name_aliases(entity, None) | {
        "description": ("metadata", "description"),
        "team": ("spec", "owner"),
        "tier": (*annotations, ANNOTATION + "tier"),
        "runbooks": (*annotations, ANNOTATION + "runbooks"),
        "escalation_policy": (*annotations, ANNOTATION + "escalation-policy"),
    }
    result.entities.append(Converted(Kind.SERVICE, data, node, aliases, problems))


def _group(entity: _Entity, node: Node, source: str, result: BackstageFile) -> None:
    spec, problems = entity.spec, list[Problem]()
    profile = spec.get("profile") if isinstance(spec.get("profile"), dict) else {}
    display = profile.get("displayName") if isinstance(profile, dict) else None
    members = spec.get("members") or []
    data = {
        "id": slug(entity.metadata.name),
        "name": display or entity.metadata.title or entity.metadata.name,
        "members": [
            _ref(m, "user", node, ("spec", "members", i), source, problems)
            for i, m in enumerate(members if isinstance(members, list) else [])
        ],
        "schedule": _annotation(entity, "schedule"),
        "escalation_policy": _annotation(entity, "escalation-policy"),
    }
    annotations = ("metadata", "annotations")
    aliases = _name_aliases(entity, display) | {
        "members": ("spec", "members"),
        "schedule": (*annotations, ANNOTATION + "schedule"),
        "escalation_policy": (*annotations, ANNOTATION + "escalation-policy"),
    }
    result.entities.append(Converted(Kind.TEAM, data, node, aliases, problems))


def _user(entity: _Entity, node: Node, source: str, result: BackstageFile) -> None:
    spec, problems = entity.spec, list[Problem]()
    profile = spec.get("profile") if isinstance(spec.get("profile"), dict) else {}
    display = profile.get("displayName") if isinstance(profile, dict) else None
    email = profile.get("email") if isinstance(profile, dict) else None
    person = slug(entity.metadata.name)
    data: dict[str, Any] = {
        "id": person,
        "name": display or entity.metadata.title or entity.metadata.name,
        "email": email,
        "contact_methods": [{"id": "email", "kind": "email", "address": email}] if email else [],
    }
    email_at: Loc = ("spec", "profile", "email")
    aliases = _name_aliases(entity, display) | {"email": email_at, "contact_methods": email_at}
    member_of = spec.get("memberOf") or []
    for i, ref in enumerate(member_of if isinstance(member_of, list) else []):
        loc = ("spec", "memberOf", i)
        team = _ref(ref, "group", node, loc, source, problems)
        if team:
            result.memberships.append(Membership(person, team, node, loc))
    result.entities.append(Converted(Kind.PERSON, data, node, aliases, problems))


def _ref(ref: Any, expected: str, node: Node, loc: Loc, source: str, problems: list[Problem]) -> str:
    """The id an entity reference names, or "" with a problem recorded."""
    try:
        return parse_ref(ref, expected)[1]
    except ValueError as exc:
        hint = "; services are owned by teams: set spec.owner to a group" if loc[-1] == "owner" else ""
        problems.append(_problem(node, loc, f"{exc}{hint}", source))
        return ""


_CONVERTERS = {"Component": _component, "Group": _group, "User": _user}
