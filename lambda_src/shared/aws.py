"""boto3 clients, created once per container and reused across invocations.

Inside `acting_as(session, services)`, the clients of `services` come from `session` (a service's
access role, shared/services.py `acting_for`); every other client, and every client outside, acts
as the function's own role.
"""

import contextlib
import functools
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import boto3
from botocore.config import Config

# Long enough for a synchronous Lambda invoke of a function at its 15-minute maximum, so a slow
# function under test is never invoked a second time by a client-side retry.
INVOKE_READ_TIMEOUT_SECONDS = 900

_acting: ContextVar[tuple[boto3.session.Session, frozenset[str]] | None] = ContextVar("acting", default=None)
# Sessions of assumed roles, by role ARN and session name, with their credentials' expiry (shared/services.py).
sessions: dict[tuple[str, str], tuple[boto3.session.Session, Any]] = {}


def client(service: str, read_timeout: int = 30) -> Any:
    acting = _acting.get()
    session = acting[0] if acting is not None and service in acting[1] else None
    return _client(session, service, read_timeout, None)


def session_client(session: boto3.session.Session | None, service: str, region: str | None = None, read_timeout: int = 30) -> Any:
    """A client of `session` (None: the function's own credentials) in `region` (None: the
    function's), whatever `acting_as` holds; made once, like `client`'s."""
    return _client(session, service, read_timeout, region)


@functools.cache
def _client(session: boto3.session.Session | None, service: str, read_timeout: int, region: str | None) -> Any:
    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=read_timeout,
        user_agent_extra="serverless-cd",
    )
    return (session or boto3).client(service, config=config, region_name=region)


@contextlib.contextmanager
def acting_as(session: boto3.session.Session, services: frozenset[str]) -> Iterator[None]:
    """The clients of `services` made inside come from `session`."""
    token = _acting.set((session, services))
    try:
        yield
    finally:
        _acting.reset(token)


def reset() -> None:
    """Forget every client and session (a test's new fake AWS)."""
    _client.cache_clear()
    sessions.clear()
