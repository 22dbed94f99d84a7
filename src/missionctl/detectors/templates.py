"""Runbook default detectors: a detector with `${variable}` placeholders that a detectors file fills in.

A template is checked when its runbook is linted: its placeholders must be well formed, and the detector must be
valid once they are filled with sample values, so that a typo in a built-in or user runbook is caught before any
service uses it. Filling in the real values (`instantiate`) validates the result again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ModelWrapValidatorHandler,
    TypeAdapter,
    model_serializer,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from missionctl.detectors.schemas import KINDS, AnyDetector, Detector

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
VARIABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
TEMPLATE_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
TEMPLATE_NAME_MAX = 20  # `<entry>.<template>` must fit a signal origin (`detector:` + 55 characters)
SAMPLE_URL = "http://placeholder.invalid/"
SAMPLE_TEXT = "placeholder"

VarValue = str | int | float
_DETECTOR: TypeAdapter[AnyDetector] = TypeAdapter(Detector)


def variables(value: Any) -> set[str]:
    """Every variable named by a placeholder anywhere in `value` (strings inside lists and mappings too)."""
    if isinstance(value, str):
        return {match.group(1) for match in PLACEHOLDER.finditer(value)}
    if isinstance(value, dict):
        return set().union(*(variables(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(variables(item) for item in value))
    return set()


def check_placeholders(value: Any) -> None:
    """Raise ValueError naming the first malformed placeholder (`${}`, `${Bad-Name}`, an unclosed `${`)."""
    for name in sorted(variables(value)):
        if not VARIABLE_NAME.match(name):
            raise ValueError(f"placeholder ${{{name}}}: variable names are lowercase letters, digits and _")
    if any("${" in PLACEHOLDER.sub("", text) for text in _strings(value)):
        raise ValueError("a placeholder '${' is not closed with '}'")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def fill(value: Any, values: Mapping[str, VarValue]) -> Any:
    """`value` with every placeholder replaced; a string that is exactly one placeholder takes the value as is."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole is not None:
            return values[whole.group(1)]
        return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), value)
    if isinstance(value, dict):
        return {key: fill(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, values) for item in value]
    return value


def _sampled(body: dict[str, Any]) -> dict[str, Any]:
    """The template with sample values in place of placeholders, to validate it before any value is known."""
    kind = body.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    sampled: dict[str, Any] = {}
    for key, value in body.items():
        field = model.model_fields.get(key) if model is not None else None
        if isinstance(value, str) and PLACEHOLDER.fullmatch(value) and field is not None:
            sampled[key] = _sample_for(field)
        else:
            sampled[key] = fill(value, _Samples())
    return sampled


class _Samples(dict[str, VarValue]):
    def __missing__(self, key: str) -> VarValue:
        return SAMPLE_TEXT


def _sample_for(field: FieldInfo) -> Any:
    if not field.is_required():
        return field.get_default(call_default_factory=True)
    if field.annotation is HttpUrl:
        return SAMPLE_URL
    if field.annotation in (int, float):
        return 1
    return SAMPLE_TEXT


class DetectorTemplate(BaseModel):
    """One default detector of a runbook, written flat in YAML: `name`, then the detector's own keys."""

    model_config = ConfigDict(frozen=True)

    name: Annotated[str, Field(pattern=TEMPLATE_NAME_PATTERN, max_length=TEMPLATE_NAME_MAX)]
    body: dict[str, Any]

    @model_validator(mode="wrap")
    @classmethod
    def _from_flat(cls, value: Any, handler: ModelWrapValidatorHandler[DetectorTemplate]) -> DetectorTemplate:
        if not isinstance(value, dict) or "body" in value:
            return handler(value)
        body = {key: item for key, item in value.items() if key != "name"}
        template = handler({"body": body, **({"name": value["name"]} if "name" in value else {})})
        check_placeholders(body)
        _DETECTOR.validate_python(_sampled(body))
        return template

    @model_serializer(mode="plain")
    def _flat(self) -> dict[str, Any]:
        return {"name": self.name, **self.body}

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema, handler: Any) -> JsonSchemaValue:
        return {
            "type": "object",
            "title": "DetectorTemplate",
            "description": "A detector (see `kind`) with a `name`; string values may hold ${variable} placeholders "
            f"that a detectors file fills in. Detector kinds: {', '.join(KINDS)}.",
            "required": ["name", "kind"],
            "properties": {"name": {"type": "string", "pattern": TEMPLATE_NAME_PATTERN}, "kind": {"enum": list(KINDS)}},
            "additionalProperties": True,
        }

    @property
    def variables(self) -> set[str]:
        return variables(self.body)

    def instantiate(self, values: Mapping[str, VarValue]) -> AnyDetector:
        """The detector with `values` filled in (every variable must have one); raises ValidationError if invalid."""
        missing = self.variables - set(values)
        if missing:
            raise KeyError(sorted(missing)[0])
        return _DETECTOR.validate_python(fill(self.body, values))
