"""Runs the application's declared test cases for one phase and returns a verdict.

Payload: {"phase": "package" | "staging" | "production", "commit_id", "artifact", "service"}; the
handler, the test cases' path, the time a case may take and the functions and alias the live phases
invoke are the service's registered ones (shared/services.py).
Returns {"phase", "passed", "total", "failed", "cases": [{"name", "passed", "differences"}], "summary"}.
Raises InvalidInput, ConfigurationError, UnknownService, TargetNotAllowed, ArtifactUnavailable,
InvalidArtifact (not a zip, unsafe entries, an entry that cannot be unpacked), and Throttled /
AwsRequestFailed when the function under test cannot be invoked.

The test cases live in the artifact, in the JSON file at the service's `test_cases_path` (e.g.
test_cases.json):

    {"cases": [
        {"name": "greets by name",
         "event": {"queryStringParameters": {"name": "Ada"}},
         "expect": {"statusCode": 200, "body.message": "Hello, Ada!"},
         "phases": ["package", "staging"]}
    ]}

  name         unique, non-empty.
  event        any JSON value: the event the application's handler receives.
  expect       dotted paths into what the handler returns, each with the JSON value expected there.
               A path walks object keys and list indices ("items.0.id"). A string met on the way
               that holds JSON, such as API Gateway's "body", is parsed and the walk goes on, so
               "body.message" works. Values compare as JSON: 1 equals 1.0, true does not equal 1,
               objects and arrays compare whole; a JSON string compared with an expected object,
               array, number, boolean or null is parsed first.
  phases       optional, default all: where the case runs.
  description  optional, for people.

A case fails when an expected path is missing or holds another value, or when the handler raised
(package) or the function returned an error (staging, production). A phase with no case fails:
a deployment must be tested.

Phase package runs the cases against the artifact itself, unpacked into a temporary directory, in
one separate Python process (case_runner.py) with the runtime's environment minus every credential
(shared/isolation.py). Each case may take the service's `test_timeout_seconds`; a case that takes
longer is stopped with the process, and the cases after it are reported as not run. Phases staging
and production invoke the service's alias of its staging / production function.
"""

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from shared import aws
from shared.artifacts import open_zip, read_artifact, safe_extract
from shared.errors import InvalidInput
from shared.events import artifact_location, commit_id, ensure_object, field
from shared.isolation import child_environment, exit_description
from shared.observability import lambda_entry, logger
from shared.services import Service, acting_for, service_of
from shared.testcases import PHASES, DeclaredCase, InvalidTestCases, load_test_cases

RUNNER = Path(__file__).with_name("case_runner.py")
# This function's own interpreter: on Lambda /var/lang/bin/python3.x, which needs the runtime's
# LD_LIBRARY_PATH to start.
INTERPRETER = sys.executable
PHASE_LABELS = {"package": "against the package", "staging": "in staging", "production": "in production"}
# Time kept back from the Lambda's own timeout to report after stopping the test process.
REPORTING_SECONDS = 10
KILL_GRACE_SECONDS = 5
MAX_DIFFERENCES = 5
DIFFERENCE_CHARS = 300
PREVIEW_CHARS = 80
SUMMARY_LIMIT = 1500
MISSING = object()


@dataclass(frozen=True)
class Outcome:
    """What one case produced: a result, or why it failed before its expectations could be checked."""

    result: Any = None
    failure: str | None = None


@dataclass(frozen=True)
class CaseResult:
    name: str
    differences: list[str]

    @property
    def passed(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "differences": self.differences}


@lambda_entry
def handler(event: Any, context: Any) -> dict[str, Any]:
    ensure_object(event)
    phase = read_phase(event)
    commit = commit_id(event)
    location = artifact_location(event)
    service = service_of(event)
    cases_path = service.test_cases_path
    logger.info("running test cases", extra={"phase": phase, "commit_id": commit, "artifact": location.uri, "service": service.name})

    with read_artifact(location) as artifact, open_zip(artifact.file) as archive:
        try:
            declared = load_test_cases(archive, cases_path)
        except InvalidTestCases as error:
            return not_run(phase, f"cannot run the tests: {cases_path}: {error}")
        cases = [case for case in declared if phase in case.phases]
        if not cases:
            return not_run(phase, f"no test cases are declared for the {phase} phase in {cases_path}; a deployment must be tested")
        if phase == "package":
            outcomes = run_package(archive, cases, context, service)
        else:
            function = service.live_alias(phase)
            with acting_for(service, "run_tests"):
                outcomes = [invoke_live(function, case) for case in cases]

    results = [CaseResult(case.name, differences(case.expect, outcome)) for case, outcome in zip(cases, outcomes, strict=True)]
    for result in results:
        logger.info("test case finished", extra={"phase": phase, "case": result.name, "passed": result.passed, "differences": result.differences})
    return verdict(phase, results)


def read_phase(event: Any) -> str:
    phase: str = field(event, "phase", str)
    if phase not in PHASES:
        raise InvalidInput(f"'phase' must be one of {', '.join(PHASES)}, got {phase[:40]!r}")
    return phase


@dataclass(frozen=True)
class Limits:
    case_seconds: int  # the service's test_timeout_seconds: the time one case may take
    run_seconds: float  # the time the whole run may take: what is left of this invocation

    @classmethod
    def of(cls, context: Any, cases: int, case_seconds: int) -> "Limits":
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining):
            return cls(case_seconds, max(1.0, int(remaining()) / 1000 - REPORTING_SECONDS))
        return cls(case_seconds, float(case_seconds * (cases + 1)))


# --- phase package: the artifact in a separate process ---------------------------------------


@dataclass(frozen=True)
class RunnerReport:
    lines: dict[int, dict[str, Any]]
    stopped: str | None  # how the process ended when it did not report every case


def run_package(archive: zipfile.ZipFile, cases: list[DeclaredCase], context: Any, service: Service) -> list[Outcome]:
    module, function = service.handler
    limits = Limits.of(context, len(cases), service.test_timeout_seconds)
    request = {
        "handler": f"{module}.{function}",
        "cases": [{"name": case.name, "event": case.event} for case in cases],
        "timeout_seconds": limits.case_seconds,
    }
    with tempfile.TemporaryDirectory(prefix="run-tests-", ignore_cleanup_errors=True) as directory:
        package = Path(directory) / "package"
        package.mkdir()
        safe_extract(archive, package)
        logger.info("running the package's test cases in a separate process", extra={"cases": len(cases), "case_seconds": limits.case_seconds})
        report = run_isolated(package, request, limits)
    return runner_outcomes(report, cases)


def isolated_environment(package: Path) -> dict[str, str]:
    """What the test process may see: the runtime's non-secret variables, no credentials.

    `python -I` ignores PYTHONPATH (case_runner.py puts the package on sys.path itself); it is set
    for processes the application may start."""
    return child_environment({"PYTHONPATH": str(package)})


def run_isolated(package: Path, request: dict[str, Any], limits: Limits) -> RunnerReport:
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [INTERPRETER, "-I", str(RUNNER), str(package)],
            cwd=package,
            env=isolated_environment(package),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,
        )
        try:
            lines, stopped = collect(process, json.dumps(request).encode(), limits)
        except BaseException:
            finish(process, kill=True)
            raise
        finish(process, kill=stopped is not None)
        if stopped is None and len(lines) < len(request["cases"]):
            stopped = exit_description(process.returncode)
        if stopped:
            logger.warning("the test process ended early", extra={"how": stopped, "last_output": last_line(errors)})
    return RunnerReport(lines, stopped)


def collect(process: "subprocess.Popen[bytes]", request: bytes, limits: Limits) -> tuple[dict[int, dict[str, Any]], str | None]:
    """The runner's report lines as they come, and why the run was cut short, if it was: each case
    gets `limits.case_seconds` from the end of the one before."""
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(request)
        process.stdin.close()
    except BrokenPipeError:
        pass  # it ended before reading its cases; its exit code says how
    lines: dict[int, dict[str, Any]] = {}
    pending = b""
    started = time.monotonic()
    case_deadline, run_deadline = started + limits.case_seconds, started + limits.run_seconds
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if now >= run_deadline:
                return lines, f"was stopped after {now - started:.0f} s to stay within run_tests' own timeout"
            if now >= case_deadline:
                return lines, f"timed out after {limits.case_seconds} s"
            if not selector.select(min(case_deadline, run_deadline) - now):
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                return lines, None
            *complete, pending = (pending + chunk).split(b"\n")
            for raw in complete:
                line = parse_line(raw)
                if line is not None:
                    lines.setdefault(line["index"], line)
                    case_deadline = time.monotonic() + limits.case_seconds


def finish(process: "subprocess.Popen[bytes]", kill: bool) -> None:
    """Reap the test process, killing it first when it was stopped or does not exit by itself."""
    if not kill:
        try:
            process.wait(timeout=KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            kill = True
    try:
        # The whole group: this also ends processes the application started and left running.
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if kill:
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def last_line(stream: IO[bytes]) -> str:
    """The last line the test process wrote to stderr (a crash's last words), for the log."""
    stream.seek(0, os.SEEK_END)
    stream.seek(max(0, stream.tell() - 2048))
    lines = [line.strip() for line in stream.read().decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def parse_line(raw: bytes) -> dict[str, Any] | None:
    try:
        line = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return line if isinstance(line, dict) and isinstance(line.get("index"), int) else None


def runner_outcomes(report: RunnerReport, cases: list[DeclaredCase]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    interrupted: str | None = None
    for index, case in enumerate(cases):
        line = report.lines.get(index)
        if line is not None:
            outcomes.append(reported_outcome(line))
        elif interrupted is None:
            interrupted = case.name
            outcomes.append(Outcome(failure=f"the test process {report.stopped or 'ended without reporting'} during this case"))
        else:
            outcomes.append(Outcome(failure=f"not run: the test process {report.stopped or 'ended without reporting'} during '{interrupted}'"))
    return outcomes


def reported_outcome(line: dict[str, Any]) -> Outcome:
    if "result" in line:
        return Outcome(result=line["result"])
    if isinstance(line.get("error"), str):
        return Outcome(failure=f"the handler raised {line['error']}")
    if isinstance(line.get("failure"), str):
        return Outcome(failure=line["failure"])
    return Outcome(failure="the test process reported nothing for this case")


# --- phases staging and production: the live alias --------------------------------------------


def invoke_live(function: str, case: DeclaredCase) -> Outcome:
    lambda_client = aws.client("lambda", read_timeout=aws.INVOKE_READ_TIMEOUT_SECONDS)
    response = lambda_client.invoke(FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(case.event).encode())
    payload = decode_payload(response["Payload"].read())
    if response.get("FunctionError"):
        return Outcome(failure=f"the function failed ({response['FunctionError']}): {function_error(payload)}")
    return Outcome(result=payload)


def decode_payload(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw.decode("utf-8", "replace")


def function_error(payload: Any) -> str:
    if isinstance(payload, dict) and "errorMessage" in payload:
        kind = payload.get("errorType")
        return f"{kind}: {payload['errorMessage']}" if kind else str(payload["errorMessage"])
    return preview(payload)


# --- comparing ---------------------------------------------------------------------------------


def differences(expect: dict[str, Any], outcome: Outcome) -> list[str]:
    if outcome.failure is not None:
        return [clip(outcome.failure, DIFFERENCE_CHARS)]
    found = []
    for path, expected in expect.items():
        actual = lookup(outcome.result, path)
        if actual is MISSING:
            found.append(f"{path}: missing")
        elif not json_equal(expected, comparable(expected, actual)):
            found.append(clip(f"{path}: expected {preview(expected)}, got {preview(actual)}", DIFFERENCE_CHARS))
    if len(found) > MAX_DIFFERENCES:
        found = found[:MAX_DIFFERENCES] + [f"and {len(found) - MAX_DIFFERENCES} more"]
    return found


def parsed_json(value: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return MISSING


def lookup(value: Any, path: str) -> Any:
    """The value at dotted `path`, or MISSING; JSON held in a string is walked into."""
    for step in path.split("."):
        if isinstance(value, str):
            parsed = parsed_json(value)
            value = parsed if isinstance(parsed, (dict, list)) else value
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isascii() and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return MISSING
    return value


def comparable(expected: Any, actual: Any) -> Any:
    if isinstance(actual, str) and not isinstance(expected, str):
        parsed = parsed_json(actual)
        return actual if parsed is MISSING else parsed
    return actual


def json_equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return expected == actual
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(json_equal(value, actual[key]) for key, value in expected.items())
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(json_equal(a, b) for a, b in zip(expected, actual, strict=True))
    return type(expected) is type(actual) and bool(expected == actual)


def preview(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return clip(text, PREVIEW_CHARS)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the verdict ---------------------------------------------------------------------------------


def verdict(phase: str, results: list[CaseResult]) -> dict[str, Any]:
    failed = [result for result in results if not result.passed]
    label = PHASE_LABELS[phase]
    if failed:
        listed = "; ".join(f"'{result.name}' ({'; '.join(result.differences)})" for result in failed)
        summary = clip(f"{len(failed)} of {len(results)} test cases failed {label}: {listed}", SUMMARY_LIMIT)
    else:
        summary = f"all {len(results)} test case{'s' if len(results) > 1 else ''} passed {label}"
    logger.info("tests finished", extra={"phase": phase, "total": len(results), "failed": len(failed)})
    return {
        "phase": phase,
        "passed": not failed,
        "total": len(results),
        "failed": len(failed),
        "cases": [result.as_dict() for result in results],
        "summary": summary,
    }


def not_run(phase: str, summary: str) -> dict[str, Any]:
    logger.warning("no test case ran", extra={"phase": phase, "why": summary})
    return {"phase": phase, "passed": False, "total": 0, "failed": 0, "cases": [], "summary": clip(summary, SUMMARY_LIMIT)}
