"""Runs declared test cases against an unpacked deployment package, in a process of its own.

run_tests starts it as `python -I case_runner.py <package directory>` with the package directory as
working directory and no AWS variables in the environment. Standard library only.

stdin:  {"handler": "app.handler", "cases": [{"name": str, "event": any}, ...], "timeout_seconds": 30}
stdout: one JSON line per case, in order, written as soon as the case ends:
        {"index": 0, "result": <what the handler returned>}, {"index": 0, "error": "Type: message"} when
        the handler raised, or {"index": 0, "failure": "<why>"} when it could not be loaded or
        returned something that is not JSON.

The module is imported once and every case runs in the same process, as in a warm Lambda
environment. Anything the application prints goes to stderr, so it cannot corrupt the report.
"""

import importlib
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any, TextIO

MAX_ERROR_CHARS = 500


class Context:
    """The attributes and method of Lambda's context object that handlers commonly use."""

    function_name = "package-under-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:package-under-test"
    memory_limit_in_mb = 128
    log_group_name = "/aws/lambda/package-under-test"
    log_stream_name = "package-under-test"
    identity = None
    client_context = None

    def __init__(self, deadline: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def describe(error: BaseException) -> str:
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - an exception whose __str__ fails still has a type to report
        message = "<message cannot be shown>"
    return f"{type(error).__name__}: {message}"[:MAX_ERROR_CHARS]


def load(handler: str) -> Callable[..., Any]:
    module_name, function_name = handler.rsplit(".", 1)
    module = importlib.import_module(module_name.replace("/", "."))
    function = getattr(module, function_name, None)
    if not callable(function):
        raise AttributeError(f"module {module.__name__!r} has no function {function_name!r}")
    return function  # type: ignore[no-any-return]


def run_case(function: Callable[..., Any], event: Any, timeout_seconds: float) -> dict[str, Any]:
    try:
        return {"result": function(event, Context(time.monotonic() + timeout_seconds))}
    except BaseException as error:  # noqa: BLE001 - SystemExit and the like fail the case, not the run
        return {"error": describe(error)}


def report(out: TextIO, index: int, outcome: dict[str, Any]) -> None:
    try:
        line = json.dumps({"index": index, **outcome})
    except (TypeError, ValueError, RecursionError) as error:
        line = json.dumps({"index": index, "failure": f"the handler returned a value that is not JSON: {describe(error)}"})
    out.write(line + "\n")
    out.flush()


def main() -> int:
    package_dir = sys.argv[1]
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    request = json.load(sys.stdin)
    sys.path.insert(0, package_dir)
    timeout_seconds = float(request.get("timeout_seconds", 30))
    try:
        function = load(request["handler"])
    except BaseException as error:  # noqa: BLE001 - an import failure fails every case
        failure = f"cannot load the handler {request['handler']!r}: {describe(error)}"
        for index, _ in enumerate(request["cases"]):
            report(out, index, {"failure": failure})
        return 0
    for index, case in enumerate(request["cases"]):
        report(out, index, run_case(function, case["event"], timeout_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
