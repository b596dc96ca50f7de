"""API Gateway's Lambda proxy requests (REST API, payload format 1.0) and the answers to them, for
the handlers behind the platform's API: release_intake (POST /releases) and approval
(POST /approvals), both with AWS_IAM authorization."""

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidInput


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]

    def response(self) -> dict[str, Any]:
        """The proxy integration's answer: API Gateway sends it to the caller as it is."""
        return {"statusCode": self.status_code, "headers": {"Content-Type": "application/json"}, "body": json.dumps(self.body)}


def is_request(event: Any) -> bool:
    return isinstance(event, Mapping) and "httpMethod" in event


def caller_arn(event: Mapping[str, Any]) -> str | None:
    """The ARN of the principal who signed the request (AWS_IAM authorization), if it names one."""
    identity = (event.get("requestContext") or {}).get("identity") or {}
    caller = identity.get("userArn") or identity.get("caller")
    return str(caller) if caller else None


def body_text(event: Mapping[str, Any]) -> str:
    """The request's body as text; InvalidInput when API Gateway passed it base64-encoded and it
    is not UTF-8 text."""
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(body)
    try:
        return base64.b64decode(body).decode("utf-8")
    except ValueError:
        raise InvalidInput("the request body is not base64-encoded UTF-8 text") from None
