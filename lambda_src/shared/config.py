"""Environment variables the handlers read. Terraform sets them in lambda.tf."""

import os
import re

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


def env_default(name: str, default: str) -> str:
    """The variable's value, or `default` when it is unset or blank."""
    return os.environ.get(name, "").strip() or default


HANDLER_SETTING = re.compile(r"[A-Za-z_]\w*(?:[./][A-Za-z_]\w*)*\.[A-Za-z_]\w*", re.ASCII)


def handler_env(name: str) -> tuple[str, str]:
    """A Lambda handler setting such as `app.handler` or `src/app.handler`, as (module, function).

    The module is dotted (`src.app`), as the Python runtime imports it.
    """
    value = env(name)
    if not HANDLER_SETTING.fullmatch(value):
        raise ConfigurationError(f"environment variable {name}={value[:80]!r} is not a handler like 'app.handler' (module.function)")
    module, function = value.rsplit(".", 1)
    return module.replace("/", "."), function
