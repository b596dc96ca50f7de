"""Deploys to production: publishes the artifact as a new version and shifts the live alias with CodeDeploy.

Payload: {"action": "deploy", "commit_id", "artifact", "execution"} or {"action": "check", "deployment"}.
"""

from typing import Any

from shared.deploy import handle
from shared.observability import lambda_entry


@lambda_entry
def handler(event: Any, context: Any) -> dict[str, Any]:
    return handle(event, "production")
