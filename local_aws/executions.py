"""A state machine execution's history as the console shows it, read through boto3."""

from typing import Any

import boto3


def history(execution_arn: str) -> list[dict[str, Any]]:
    """Every event of the execution, oldest first (all pages: a long polling loop has thousands)."""
    pages = boto3.client("stepfunctions").get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return [event for page in pages for event in page["events"]]


def states_entered(execution_arn: str) -> list[str]:
    return [event["stateEnteredEventDetails"]["name"] for event in history(execution_arn) if "stateEnteredEventDetails" in event]
