"""A clock API: the second service of the repository's local platform (examples/clock).

Answers the current UTC time, or a given Unix timestamp (`?at=1700000000`) as ISO 8601. A
timestamp that is not a whole number is a 400. The response shows VERSION so a new deployment is
visible.
"""

import json
from datetime import UTC, datetime
from typing import Any

VERSION = "1.0.0"


def handler(event: Any, context: Any) -> dict[str, Any]:
    query = (event.get("queryStringParameters") if isinstance(event, dict) else None) or {}
    raw = query.get("at") if isinstance(query, dict) else None
    if raw is None:
        moment = datetime.now(UTC)
    elif isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        moment = datetime.fromtimestamp(int(raw), UTC)
    else:
        return respond(400, {"error": "at must be a whole number of seconds since 1970", "version": VERSION})
    return respond(200, {"utc": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "version": VERSION})


def respond(status: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(payload)}
