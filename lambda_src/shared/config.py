"""Environment variables the handlers read. Terraform sets them in lambda.tf."""

import os

from shared.errors import ConfigurationError


def env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set on this function")
    return value


def env_int(name: str, minimum: int = 0) -> int:
    raw = env(name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigurationError(f"environment variable {name}={value} is below {minimum}")
    return value
