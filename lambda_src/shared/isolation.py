"""The environment of a child process that runs or inspects the application's code.

A child gets what the Lambda runtime needs to start an interpreter and nothing that grants access:
the runtime's library path (on Lambda, /var/lang/bin/python3.x loads libpython from /var/lang/lib
through LD_LIBRARY_PATH), PATH, the locale and time zone, the task and runtime directories and the
Region, but no credentials (the execution role's keys, the container credentials of SnapStart) and
no runtime API address (a child must not answer this invocation). Names are copied from an allow
list, so a variable the runtime adds later stays out until it is named here.
"""

import os
import signal
from collections.abc import Mapping

# Lambda's defined runtime variables a child needs to run as the function would, none of them secret.
INHERITED = ("PATH", "LANG", "TZ", "LD_LIBRARY_PATH", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "AWS_REGION", "AWS_DEFAULT_REGION")
DEFAULTS = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
# What the runtime exposes for credentials, and the runtime API: never passed on, whatever the allow list says.
WITHHELD_PREFIXES = ("AWS_ACCESS_KEY", "AWS_SECRET", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CONTAINER_", "AWS_LAMBDA_RUNTIME_API")


def withheld(name: str) -> bool:
    return name.upper().startswith(WITHHELD_PREFIXES)


def child_environment(extra: Mapping[str, str] | None = None, parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """The runtime's non-secret variables from `parent` (default os.environ), then `extra`.

    Without credentials in its environment, botocore in the child would ask the EC2 instance
    metadata service next and wait for it to time out: AWS_EC2_METADATA_DISABLED stops that."""
    source = os.environ if parent is None else parent
    environment = {name: source[name] for name in INHERITED if source.get(name)}
    environment = DEFAULTS | environment | {"AWS_EC2_METADATA_DISABLED": "true"} | dict(extra or {})
    return {name: value for name, value in environment.items() if not withheld(name)}


def exit_description(returncode: int | None) -> str:
    """How a child process ended, as the end of a sentence about it."""
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"
