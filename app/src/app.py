"""A greeting API: the sample application the platform deploys by default.

Invoked through API Gateway (proxy integration) or directly. The name comes from the query string
(`?name=Ada`), from a JSON body (`{"name": "Ada"}`) or, for a direct invocation, from the event
itself. Without a name it greets the world; a name that is empty, too long or not text is a 400.
The response shows VERSION so a new deployment is visible.
"""

import json
from typing import Any

VERSION = "1.0.0"
MAX_NAME_LENGTH = 64


class BadRequest(Exception):
    """The request cannot be answered; the message is shown to the caller."""


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        name = read_name(event)
    except BadRequest as error:
        return respond(400, {"error": str(error), "version": VERSION})
    return respond(200, {"message": f"Hello, {name}!", "version": VERSION})


def read_name(event: Any) -> str:
    if not isinstance(event, dict):
        raise BadRequest("the request must be a JSON object")
    query = event.get("queryStringParameters") or {}
    if not isinstance(query, dict):
        raise BadRequest("queryStringParameters must be an object")
    body = parse_body(event.get("body"))
    for source in (query, body, event):
        if "name" in source:
            return valid_name(source["name"])
    return "world"


def parse_body(body: Any) -> dict[str, Any]:
    if body is None or body == "":
        return {}
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            raise BadRequest("the body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def valid_name(name: object) -> str:
    if not isinstance(name, str):
        raise BadRequest("name must be a string")
    name = name.strip()
    if not name:
        raise BadRequest("name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise BadRequest(f"name must be at most {MAX_NAME_LENGTH} characters")
    if not name.isprintable():
        raise BadRequest("name must be printable text")
    return name


def respond(status: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(payload),
    }
