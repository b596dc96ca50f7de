"""Failures injected into the AWS calls a function makes, for the end-to-end fault matrix.

A fault names the function (see `running`), the IAM action of the
call (e.g. lambda:UpdateFunctionCode) and the error AWS would answer with; the next `times` such
calls raise that error before reaching the local AWS, as a failing AWS request would. A delay
(`delay`) lets the call through and holds its answer back for a while, as a slow network or a
throttled retry inside the SDK would. Calls made outside a function, or by other functions, are
untouched.
"""

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from local_aws.iam import action_of

_running = threading.local()


@contextlib.contextmanager
def running(function_name: str) -> Iterator[None]:
    """Mark the calls made in this thread as made by `function_name` until exit."""
    saved = getattr(_running, "name", None)
    _running.name = function_name
    try:
        yield
    finally:
        _running.name = saved


@dataclass
class Fault:
    function_name: str
    action: str
    code: str
    message: str
    times: int
    status: int = 500
    delay_seconds: float = 0.0  # a delay, not an error: the call succeeds this much later


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.raised: list[tuple[str, str, str]] = []  # (function, action, code) of each injected error (not the delays)

    def fail(self, function_name: str, action: str, code: str, message: str, times: int = 1, status: int = 500) -> None:
        with self._lock:
            self._faults.append(Fault(function_name, action, code, message, times, status))

    def delay(self, function_name: str, action: str, seconds: float, times: int = 1) -> None:
        """Hold back the answer of the function's next `times` calls of `action` for `seconds`."""
        with self._lock:
            self._faults.append(Fault(function_name, action, "", "", times, delay_seconds=seconds))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.raised.clear()

    def take(self, action: str) -> Fault | None:
        """The fault for `action` in the function running now, counted as used; None if there is none."""
        function_name = getattr(_running, "name", None)
        if function_name is None:
            return None
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.function_name == function_name and fault.action == action:
                    fault.times -= 1
                    if not fault.delay_seconds:
                        self.raised.append((function_name, action, fault.code))
                    return fault
        return None

    def patch_botocore(self) -> Callable[[], None]:
        """Raise injected faults from botocore; returns a function that undoes it."""
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        faults = self

        def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
            fault = faults.take(action_of(client, operation))
            if fault is not None and fault.delay_seconds:
                answer = original(client, operation, params)
                time.sleep(fault.delay_seconds)
                return answer
            if fault is not None:
                error = {"Error": {"Code": fault.code, "Message": fault.message}, "ResponseMetadata": {"HTTPStatusCode": fault.status}}
                raise ClientError(error, operation)
            return original(client, operation, params)

        BaseClient._make_api_call = make_api_call

        def undo() -> None:
            BaseClient._make_api_call = original

        return undo
