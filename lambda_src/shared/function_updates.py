"""Changing a Lambda function that Lambda may still be changing.

Lambda answers UpdateFunctionCode, PublishVersion and UpdateAlias with ResourceConflictException
while the function is Pending (just created) or an earlier update is InProgress (a terraform apply,
an operator, a configuration change). `change` waits until the function is ready, then makes the
call, waiting again after each conflict; a conflict that outlasts `BUSY_SECONDS` is FunctionBusy,
which the state machine retries with backoff.
"""

import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from shared.errors import CodeUpdateFailed, FunctionBusy
from shared.observability import logger

BUSY_SECONDS = 45
POLL_SECONDS = 2.0
Result = TypeVar("Result")


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def busy_reason(configuration: dict[str, Any]) -> str | None:
    """Why Lambda would refuse a change now, or None when the function can be changed."""
    state, update = configuration.get("State", "Active"), configuration.get("LastUpdateStatus", "Successful")
    if state == "Pending":
        return "is Pending (Lambda is still creating it)"
    if update == "InProgress":
        return "has an update in progress"
    return None


def wait_until_changeable(client: Any, function_name: str, deadline: float) -> None:
    """Return once Lambda accepts changes to the function; FunctionBusy past `deadline` (time.monotonic)."""
    while True:
        configuration = client.get_function_configuration(FunctionName=function_name)
        if configuration.get("State") == "Failed":
            raise CodeUpdateFailed(f"{function_name} is in the Failed state ({configuration.get('StateReason', 'no reason given')}); Lambda accepts no change until it is recreated")
        reason = busy_reason(configuration)
        if reason is None:
            return
        if time.monotonic() >= deadline:
            raise FunctionBusy(f"{function_name} still {reason} after {BUSY_SECONDS} s; retrying later")
        logger.info("waiting for the function to accept changes", extra={"function_name": function_name, "reason": reason})
        time.sleep(POLL_SECONDS)


def change(client: Any, function_name: str, what: str, call: Callable[[], Result]) -> Result:
    """`call()` (e.g. UpdateFunctionCode) once the function accepts changes, again after each
    ResourceConflictException, for up to BUSY_SECONDS."""
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        wait_until_changeable(client, function_name, deadline)
        try:
            return call()
        except ClientError as error:
            if error_code(error) != "ResourceConflictException":
                raise
            message = str(error.response.get("Error", {}).get("Message", ""))[:300]
            if time.monotonic() >= deadline:
                raise FunctionBusy(f"{what} of {function_name} kept conflicting with another change for {BUSY_SECONDS} s ({message}); retrying later") from None
            logger.info("the function is busy; waiting", extra={"function_name": function_name, "operation": what, "conflict": message})
            time.sleep(POLL_SECONDS)
