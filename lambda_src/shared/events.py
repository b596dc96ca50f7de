"""Strict reading of handler payloads: a missing or mistyped field is an InvalidInput naming it."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidInput

MISSING = object()
COMMIT_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def field(event: Any, path: str, kind: type | tuple[type, ...], *, default: Any = MISSING) -> Any:
    """The value at dotted `path` in `event`, checked against `kind`."""
    value = event
    walked: list[str] = []
    for part in path.split("."):
        if not isinstance(value, Mapping):
            where = ".".join(walked) or "the event"
            raise InvalidInput(f"{where} must be a JSON object to read '{path}', got {type_name(value)}")
        walked.append(part)
        if part not in value or value[part] is None:
            if default is not MISSING:
                return default
            raise InvalidInput(f"the event has no '{path}'")
        value = value[part]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise InvalidInput(f"'{path}' must be {kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise InvalidInput(f"'{path}' must be {kind_name(kind)}, got {type_name(value)}")
    if isinstance(value, str) and not value.strip():
        raise InvalidInput(f"'{path}' must not be empty")
    return value


def type_name(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number"}.get(type(value), "null" if value is None else type(value).__name__)


def kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({dict: "an object", str: "a string", int: "an integer", list: "an array"}.get(k, k.__name__) for k in kinds)


def ensure_object(event: Any) -> Mapping[str, Any]:
    if not isinstance(event, Mapping):
        raise InvalidInput(f"the event must be a JSON object, got {type_name(event)}")
    return event


@dataclass(frozen=True)
class ArtifactLocation:
    bucket: str
    key: str
    version_id: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def artifact_location(event: Any) -> ArtifactLocation:
    ensure_object(event)
    return ArtifactLocation(
        bucket=field(event, "artifact.bucket", str),
        key=field(event, "artifact.key", str),
        version_id=field(event, "artifact.version_id", str, default=None),
    )


def commit_id(event: Any) -> str:
    ensure_object(event)
    value: str = field(event, "commit_id", str)
    if not COMMIT_ID.match(value):
        raise InvalidInput(f"'commit_id' {value[:80]!r} is not a commit id (1-128 letters, digits or ._:@/+=-)")
    return value


@dataclass(frozen=True)
class Execution:
    arn: str
    name: str


def execution(event: Any) -> Execution:
    ensure_object(event)
    return Execution(arn=field(event, "execution.arn", str), name=field(event, "execution.name", str))
