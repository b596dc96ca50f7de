"""Strict reading of handler payloads: a missing or mistyped field is an InvalidInput naming it."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidInput

MISSING = object()
COMMIT_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# No text field of a handler payload is longer: a longer one is not the platform's.
MAX_TEXT = 2048
# S3's bucket naming rules, with the longer, mixed-case names of legacy us-east-1 buckets.
BUCKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]")
MAX_KEY_BYTES = 1024
MAX_EXECUTION_ARN = 256
MAX_EXECUTION_NAME = 80
# A service's name, as the platform's registry (shared/services.py) keys it.
SERVICE_NAME = re.compile(r"[a-z][a-z0-9-]{0,22}", re.ASCII)


def preview(value: str, limit: int = 80) -> str:
    """`value` as a message shows it: quoted, escaped and cut to `limit` characters."""
    return repr(value[:limit]) + (f"… ({len(value)} characters)" if len(value) > limit else "")


def checked_text(path: str, value: str, max_length: int) -> str:
    """`value` when it is text AWS can take: valid Unicode (no lone surrogate, which JSON can
    carry and UTF-8 cannot), at most `max_length` characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidInput(f"'{path}' is not valid Unicode text: character {error.start + 1} is a lone surrogate ({preview(value)})") from None
    if len(value) > max_length:
        raise InvalidInput(f"'{path}' is {len(value)} characters long; the limit is {max_length} ({preview(value)})")
    return value


def field(event: Any, path: str, kind: type | tuple[type, ...], *, default: Any = MISSING, max_length: int = MAX_TEXT) -> Any:
    """The value at dotted `path` in `event`, checked against `kind`; text is also checked to be
    valid Unicode of at most `max_length` characters."""
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
    if isinstance(value, str):
        if not value.strip():
            raise InvalidInput(f"'{path}' must not be empty")
        checked_text(path, value, max_length)
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
    bucket: str = field(event, "artifact.bucket", str)
    if not BUCKET_NAME.fullmatch(bucket):
        raise InvalidInput(f"'artifact.bucket' {preview(bucket)} is not an S3 bucket name (3-255 letters, digits, '.', '-' or '_')")
    key: str = field(event, "artifact.key", str)
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidInput(f"'artifact.key' is {len(key.encode('utf-8'))} bytes long; S3 keys are at most {MAX_KEY_BYTES} ({preview(key)})")
    return ArtifactLocation(bucket=bucket, key=key, version_id=field(event, "artifact.version_id", str, default=None, max_length=1024))


def commit_id(event: Any) -> str:
    ensure_object(event)
    value: str = field(event, "commit_id", str)
    if not COMMIT_ID.fullmatch(value):
        raise InvalidInput(f"'commit_id' {preview(value)} is not a commit id (1-128 letters, digits or ._:@/+=-)")
    return value


@dataclass(frozen=True)
class Execution:
    arn: str
    name: str


def execution(event: Any) -> Execution:
    ensure_object(event)
    return Execution(arn=field(event, "execution.arn", str, max_length=MAX_EXECUTION_ARN), name=field(event, "execution.name", str, max_length=MAX_EXECUTION_NAME))


def is_service_name(name: str) -> bool:
    return bool(SERVICE_NAME.fullmatch(name))
