"""boto3 clients, created once per container and reused across invocations."""

import functools
from typing import Any

import boto3
from botocore.config import Config

# Long enough for a synchronous Lambda invoke of a function at its 15-minute maximum, so a slow
# function under test is never invoked a second time by a client-side retry.
INVOKE_READ_TIMEOUT_SECONDS = 900


@functools.cache
def client(service: str, read_timeout: int = 30) -> Any:
    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=read_timeout,
        user_agent_extra="serverless-cd",
    )
    return boto3.client(service, config=config)
