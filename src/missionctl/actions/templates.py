"""Action templates: `${name}` filled from variables, `${secret:NAME}` from secrets; anything unknown is an error.

The syntax is deliberately small. `${incident.id}` looks a dotted name up in nested variables, `${secret:NAME}`
names a configured secret, `$${` is a literal `${`. A string that is exactly one variable placeholder takes the
variable's value as is (so a JSON body keeps numbers and lists); anywhere else values are turned into text.
Values are inserted once and never expanded again, so a parameter containing `${secret:x}` stays that text.

Rendering produces the real value and, alongside, the same value with every secret replaced by `***`: the
masked one is what gets stored, shown and logged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

MASK = "***"
TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}")
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
SECRET = re.compile(r"^secret:([A-Za-z_][A-Za-z0-9_]*)$")

SecretLookup = Callable[[str], str]
Quote = Callable[[str], str]


class TemplateError(ValueError):
    """A malformed placeholder, an unknown variable or an unknown secret."""


@dataclass(frozen=True)
class Rendered:
    value: Any
    masked: Any


@dataclass(frozen=True)
class References:
    variables: frozenset[str]
    secrets: frozenset[str]


def references(value: Any) -> References:
    """Every variable and secret a template (or strings nested in lists and mappings) names; checks the syntax."""
    variables: set[str] = set()
    secrets: set[str] = set()
    for text in _strings(value):
        for name in _placeholders(text):
            secret = SECRET.match(name)
            if secret is not None:
                secrets.add(secret.group(1))
            else:
                variables.add(name)
    return References(frozenset(variables), frozenset(secrets))


def _placeholders(text: str) -> Iterator[str]:
    for match in TOKEN.finditer(text):
        name = match.group(1)
        if name is None:
            continue  # $${ escape
        if not (VARIABLE.match(name) or SECRET.match(name)):
            raise TemplateError(f"placeholder ${{{name}}}: expected ${{name}}, ${{dotted.name}} or ${{secret:NAME}}")
        yield name
    if "${" in TOKEN.sub("", text):
        raise TemplateError("a placeholder '${' is not closed with '}'")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def lookup(variables: Mapping[str, Any], name: str) -> Any:
    """The value of a dotted variable name; TemplateError naming it if any part is missing."""
    value: Any = variables
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise TemplateError(f"unknown variable ${{{name}}}")
        value = value[part]
    return value


def render(value: Any, variables: Mapping[str, Any], secrets: SecretLookup, *, quote: Quote | None = None) -> Rendered:
    """Fill every placeholder in `value` (strings nested in lists and mappings too); `quote` escapes inserted text."""
    if isinstance(value, str):
        return _render_text(value, variables, secrets, quote)
    if isinstance(value, Mapping):
        pairs = [(render(k, variables, secrets), render(v, variables, secrets, quote=quote)) for k, v in value.items()]
        return Rendered({k.value: v.value for k, v in pairs}, {k.masked: v.masked for k, v in pairs})
    if isinstance(value, list | tuple):
        items = [render(item, variables, secrets, quote=quote) for item in value]
        return Rendered([item.value for item in items], [item.masked for item in items])
    return Rendered(value, value)


def _render_text(text: str, variables: Mapping[str, Any], secrets: SecretLookup, quote: Quote | None) -> Rendered:
    names = list(_placeholders(text))  # checks the syntax first
    whole = TOKEN.fullmatch(text)
    if whole is not None and whole.group(1) is not None and quote is None and names:
        secret = SECRET.match(names[0])
        if secret is None:
            found = lookup(variables, names[0])
            return Rendered(found, found)
        return Rendered(_secret(secrets, secret.group(1)), MASK)
    real: list[str] = []
    masked: list[str] = []
    position = 0
    for match in TOKEN.finditer(text):
        literal = text[position : match.start()]
        real.append(literal)
        masked.append(literal)
        position = match.end()
        name = match.group(1)
        if name is None:
            real.append("${")
            masked.append("${")
            continue
        secret = SECRET.match(name)
        inserted = _secret(secrets, secret.group(1)) if secret else as_text(lookup(variables, name))
        inserted = quote(inserted) if quote is not None else inserted
        real.append(inserted)
        masked.append(MASK if secret else inserted)
    real.append(text[position:])
    masked.append(text[position:])
    return Rendered("".join(real), "".join(masked))


def _secret(secrets: SecretLookup, name: str) -> str:
    try:
        return secrets(name)
    except KeyError:
        raise TemplateError(f"unknown secret ${{secret:{name}}}") from None


def as_text(value: Any) -> str:
    """How a value reads inside a string: JSON for lists and mappings, '' for None, lower-case booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)
