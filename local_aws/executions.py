"""A state machine execution's history as the console shows it, read through boto3."""

import time
from typing import Any

import boto3


def history(execution_arn: str) -> list[dict[str, Any]]:
    """Every event of the execution, oldest first (all pages: a long polling loop has thousands)."""
    pages = boto3.client("stepfunctions").get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return [event for page in pages for event in page["events"]]


def states_entered(execution_arn: str) -> list[str]:
    return [event["stateEnteredEventDetails"]["name"] for event in history(execution_arn) if "stateEnteredEventDetails" in event]


def wait(execution_arn: str, timeout_seconds: float = 120) -> dict[str, Any]:
    """The execution described once it has ended (TimeoutError if it still runs after `timeout_seconds`)."""
    client = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        described = client.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise TimeoutError(f"{execution_arn} still running after {timeout_seconds} s")
