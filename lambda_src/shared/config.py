"""Environment variables the handlers read. Terraform sets them in lambda.tf."""

import os

from shared.errors import ConfigurationError


def env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set on this function")
    return value


def env_default(name: str, default: str) -> str:
    """The variable's value, or `default` when it is unset or blank (for a value only messages use)."""
    return os.environ.get(name, "").strip() or default
