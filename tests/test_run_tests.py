"""run_tests: the package phase in a real subprocess on real zips, the live phases through the
handler's Lambda client with botocore's Stubber (moto cannot invoke functions without Docker)."""

import functools
import io
import json
import os
import re
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from aws_fixtures import register_service, registered_document, service_client, service_document, use_registry
from conftest import ROOT, load_handler
from shared import aws as shared_aws, errors
from zip_craft import DAMAGE, damaged

BUCKET = "artifacts"
KEY = "pipeline/BuildOutput/artifact.zip"
FUNCTIONS = {"staging": "app-staging", "production": "app-production"}

APP = """
import json
import os
import time


def handler(event, context):
    action = event.get("action", "greet")
    if action == "greet":
        name = event.get("name", "")
        if not name:
            return {"statusCode": 400, "body": json.dumps({"error": "name is required"})}
        return {"statusCode": 200, "body": json.dumps({"message": "Hello, " + name}), "items": [{"id": 7}], "ok": True}
    if action == "raise":
        raise ValueError("no greeting for " + event["name"])
    if action == "sleep":
        time.sleep(event["seconds"])
        return {"slept": True}
    if action == "environment":
        return {
            "aws": sorted(key for key in os.environ if key.startswith("AWS")),
            "leaked": "DATABASE_PASSWORD" in os.environ,
            "in_package": os.path.isfile("app.py") and os.path.isfile("test_cases.json"),
            "time_left": context.get_remaining_time_in_millis() > 0,
        }
    if action == "exit":
        os._exit(3)
    if action == "print":
        print("noise on stdout")
        os.write(1, b"raw noise on file descriptor 1\\n")
        return {"printed": True}
    if action == "set":
        return {"value": {1, 2}}
    raise AssertionError(action)
"""


def case(name: str, event: Any, expect: dict[str, Any], phases: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "event": event, "expect": expect} | ({"phases": phases} if phases else {})


GREETS = case("greets by name", {"name": "Ada"}, {"statusCode": 200, "body.message": "Hello, Ada", "items.0.id": 7})
REJECTS = case("rejects empty name", {"name": ""}, {"statusCode": 400})


def make_zip(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def app_zip(cases: list[dict[str, Any]], app: str = APP, extra: dict[str, str] | None = None) -> bytes:
    return make_zip({"app.py": app, "test_cases.json": json.dumps({"cases": cases}), **(extra or {})})


@functools.cache
def warm_session() -> boto3.Session:
    """One boto3 session for the module: moto resets boto3's default session for every test, and a
    fresh session loads every service model again (a tenth of a second per client)."""
    return boto3.Session()


@pytest.fixture
def platform(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", warm_session())
    registered = use_registry(monkeypatch, service_document() | {"test_timeout_seconds": 10})
    assert {environment: target["function_name"] for environment, target in registered["environments"].items()} == FUNCTIONS
    shared_aws.client("s3").create_bucket(Bucket=BUCKET)


def registered_with(**changes: Any) -> None:
    """Change the service's registry entry (the next run's input carries the changed entry)."""
    register_service(registered_document() | changes)


def run(context: Any, phase: str, data: bytes) -> dict[str, Any]:
    shared_aws.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=data)
    event = {"phase": phase, "commit_id": "9fceb02d0ae5", "artifact": {"bucket": BUCKET, "key": KEY}, "service": registered_document()}
    return load_handler("run_tests").handler(event, context)  # type: ignore[no-any-return]


def differences(verdict: dict[str, Any]) -> dict[str, list[str]]:
    return {result["name"]: result["differences"] for result in verdict["cases"]}


# --- phase package ---------------------------------------------------------------------------------


def test_the_package_passes_its_cases_in_a_separate_process(platform: None, context: Any) -> None:
    verdict = run(context, "package", app_zip([GREETS, REJECTS]))

    assert verdict == {
        "phase": "package",
        "passed": True,
        "total": 2,
        "failed": 0,
        "cases": [{"name": "greets by name", "passed": True, "differences": []}, {"name": "rejects empty name", "passed": True, "differences": []}],
        "summary": "all 2 test cases passed against the package",
    }


def test_each_difference_is_named_in_the_case_and_the_summary(platform: None, context: Any) -> None:
    cases = [
        case("greets by name", {"name": "Bob"}, {"body.message": "Hello, Ada"}),
        case("rejects empty name", {"name": "Eve"}, {"statusCode": 400}),
        case("has everything", {"name": "Ada"}, {"body.greeting": "Hi", "items.1.id": 7, "statusCode": "200", "ok": 1}),
        case("passes", {"name": "Ada"}, {"ok": True}),
    ]

    verdict = run(context, "package", app_zip(cases))

    assert (verdict["passed"], verdict["total"], verdict["failed"]) == (False, 4, 3)
    assert differences(verdict) == {
        "greets by name": ['body.message: expected "Hello, Ada", got "Hello, Bob"'],
        "rejects empty name": ["statusCode: expected 400, got 200"],
        "has everything": ["body.greeting: missing", "items.1.id: missing", 'statusCode: expected "200", got 200', "ok: expected 1, got true"],
        "passes": [],
    }
    assert verdict["summary"] == (
        "3 of 4 test cases failed against the package: "
        '\'greets by name\' (body.message: expected "Hello, Ada", got "Hello, Bob"); '
        "'rejects empty name' (statusCode: expected 400, got 200); "
        "'has everything' (body.greeting: missing; items.1.id: missing; statusCode: expected \"200\", got 200; ok: expected 1, got true)"
    )


def test_a_case_that_raises_fails_alone(platform: None, context: Any) -> None:
    cases = [case("raises", {"action": "raise", "name": "Ada"}, {"statusCode": 200}), GREETS]

    verdict = run(context, "package", app_zip(cases))

    assert differences(verdict) == {"raises": ["the handler raised ValueError: no greeting for Ada"], "greets by name": []}


def test_each_case_has_the_timeout_and_one_past_it_stops_the_rest(platform: None, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    registered_with(test_timeout_seconds=1)
    nap = {"action": "sleep", "seconds": 0.5}
    cases = [case("naps", nap, {"slept": True}), case("naps again", nap, {"slept": True}), case("sleeps", {"action": "sleep", "seconds": 30}, {"slept": True}), REJECTS]

    started = time.monotonic()
    verdict = run(context, "package", app_zip(cases))

    assert time.monotonic() - started < 6
    assert differences(verdict) == {
        "naps": [],
        "naps again": [],
        "sleeps": ["the test process timed out after 1 s during this case"],
        "rejects empty name": ["not run: the test process timed out after 1 s during 'sleeps'"],
    }
    assert verdict["failed"] == 2 and verdict["passed"] is False


def test_the_run_stops_before_run_tests_itself_times_out(platform: None, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context, "get_remaining_time_in_millis", lambda: 11_000)
    cases = [case("sleeps", {"action": "sleep", "seconds": 30}, {"slept": True}), REJECTS]

    verdict = run(context, "package", app_zip(cases))

    assert differences(verdict) == {
        "sleeps": ["the test process was stopped after 1 s to stay within run_tests' own timeout during this case"],
        "rejects empty name": ["not run: the test process was stopped after 1 s to stay within run_tests' own timeout during 'sleeps'"],
    }


def test_the_code_under_test_gets_the_region_and_no_credentials(platform: None, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "run-tests")
    monkeypatch.setenv("DATABASE_PASSWORD", "hunter2")
    assert os.environ["AWS_ACCESS_KEY_ID"] and os.environ["AWS_SESSION_TOKEN"]
    # The Region, so a client created at import works; the metadata service off, so a call without credentials fails at once.
    expect = {"aws": ["AWS_DEFAULT_REGION", "AWS_EC2_METADATA_DISABLED", "AWS_REGION"], "leaked": False, "in_package": True, "time_left": True}

    verdict = run(context, "package", app_zip([case("sees a clean environment", {"action": "environment"}, expect)]))

    assert verdict["passed"] is True, verdict["summary"]


# What the Lambda runtime sets besides the function's own variables (its documented runtime variables).
LAMBDA_RUNTIME = {
    "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "TZ": ":UTC",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "AWS_ACCESS_KEY": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SECURITY_TOKEN": "IQoJb3JpZ2luX2VjEXAMPLE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9001/2021-04-23/credentials",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "token-of-the-snapstart-credentials-endpoint",
}
CREDENTIAL_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SECURITY_TOKEN"}


def test_the_test_process_starts_on_the_lambda_runtime_without_credentials(platform: None, context: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Lambda's /var/lang/bin/python3.x loads libpython through LD_LIBRARY_PATH: this interpreter,
    like it, cannot start without it (exit 127), and writes down the names it was given."""
    for name, value in LAMBDA_RUNTIME.items():
        monkeypatch.setenv(name, value)
    seen = tmp_path / "environment.json"
    interpreter = tmp_path / "python3"
    interpreter.write_text(
        "#!/bin/sh\n"
        '[ -n "$LD_LIBRARY_PATH" ] || exit 127\n'
        f"{sys.executable} -c 'import json, os, sys; json.dump(sorted(os.environ), open(sys.argv[1], \"w\"))' {seen}\n"
        f'exec {sys.executable} "$@"\n'
    )
    interpreter.chmod(0o755)
    monkeypatch.setattr(load_handler("run_tests"), "INTERPRETER", str(interpreter))

    verdict = run(context, "package", app_zip([GREETS]))

    assert verdict["passed"] is True, verdict["summary"]
    names = set(json.loads(seen.read_text()))
    assert {"LD_LIBRARY_PATH", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ", "LANG", "PATH"} <= names
    leaked = {name for name in names if name in CREDENTIAL_VARIABLES or name.startswith("AWS_CONTAINER_") or name == "AWS_LAMBDA_RUNTIME_API"}
    assert leaked == set()


def test_a_crash_of_the_test_process_fails_the_remaining_cases(platform: None, context: Any) -> None:
    cases = [GREETS, case("exits", {"action": "exit"}, {"statusCode": 200}), REJECTS]

    verdict = run(context, "package", app_zip(cases))

    assert differences(verdict) == {
        "greets by name": [],
        "exits": ["the test process exited with code 3 during this case"],
        "rejects empty name": ["not run: the test process exited with code 3 during 'exits'"],
    }


def test_output_of_the_application_does_not_corrupt_the_results(platform: None, context: Any) -> None:
    verdict = run(context, "package", app_zip([case("prints", {"action": "print"}, {"printed": True}), GREETS]))

    assert verdict["passed"] is True, verdict["summary"]


def test_a_result_that_is_not_json_fails_the_case(platform: None, context: Any) -> None:
    verdict = run(context, "package", app_zip([case("returns a set", {"action": "set"}, {"value": [1, 2]})]))

    assert differences(verdict) == {"returns a set": ["the handler returned a value that is not JSON: TypeError: Object of type set is not JSON serializable"]}


@pytest.mark.parametrize(
    ("app", "app_handler", "expected"),
    [
        (APP, "app.main", "cannot load the handler 'app.main': AttributeError: module 'app' has no function 'main'"),
        ("raise RuntimeError('no config')\n", "app.handler", "cannot load the handler 'app.handler': RuntimeError: no config"),
        (APP, "missing.handler", "cannot load the handler 'missing.handler': ModuleNotFoundError: No module named 'missing'"),
    ],
    ids=["no-function", "import-fails", "no-module"],
)
def test_a_handler_that_cannot_be_loaded_fails_every_case(platform: None, context: Any, monkeypatch: pytest.MonkeyPatch, app: str, app_handler: str, expected: str) -> None:
    registered_with(app_handler=app_handler)

    verdict = run(context, "package", app_zip([GREETS, REJECTS], app=app))

    assert differences(verdict) == {"greets by name": [expected], "rejects empty name": [expected]}


def test_only_the_phase_s_cases_run(platform: None, context: Any) -> None:
    cases = [GREETS, case("smoke", {"action": "exit"}, {"statusCode": 200}, phases=["production"])]

    verdict = run(context, "package", app_zip(cases))

    assert verdict["passed"] is True and [result["name"] for result in verdict["cases"]] == ["greets by name"]


def test_a_phase_without_cases_fails(platform: None, context: Any) -> None:
    verdict = run(context, "package", app_zip([case("smoke", {}, {"ok": True}, phases=["production"])]))

    assert verdict == {
        "phase": "package",
        "passed": False,
        "total": 0,
        "failed": 0,
        "cases": [],
        "summary": "no test cases are declared for the package phase in test_cases.json; a deployment must be tested",
    }


@pytest.mark.parametrize(
    ("declaration", "summary"),
    [
        (None, "cannot run the tests: test_cases.json: missing from the artifact"),
        ("{not json", "cannot run the tests: test_cases.json: is not valid JSON: Expecting property name enclosed in double quotes (line 1 column 2)"),
        ('{"cases": [{"name": "x", "event": {}, "expect": {}}]}', "cannot run the tests: test_cases.json: test case 1 ('x') needs an \"expect\" object"),
    ],
    ids=["absent", "not-json", "empty-expect"],
)
def test_a_broken_declaration_fails_the_phase(platform: None, context: Any, declaration: str | None, summary: str) -> None:
    files = {"app.py": APP} | ({"test_cases.json": declaration} if declaration is not None else {})

    verdict = run(context, "staging", make_zip(files))

    assert verdict["passed"] is False and verdict["total"] == 0
    assert verdict["summary"].startswith(summary)


def test_the_sample_application_passes_its_declared_package_cases(platform: None, context: Any) -> None:
    data = make_zip({"app.py": (ROOT / "app/src/app.py").read_text(), "test_cases.json": (ROOT / "app/test_cases.json").read_text()})

    verdict = run(context, "package", data)

    assert verdict["passed"] is True, verdict["summary"]
    assert verdict["total"] >= 3


# --- phases staging and production ------------------------------------------------------------------


def lambda_response(payload: Any, function_error: str | None = None) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    return {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))} | ({"FunctionError": function_error} if function_error else {})


def invocation(function: str, event: Any) -> dict[str, Any]:
    return {"FunctionName": function, "InvocationType": "RequestResponse", "Payload": json.dumps(event).encode()}


@pytest.fixture
def lambda_stub(platform: None) -> Iterator[Stubber]:
    with Stubber(service_client("lambda", "run_tests", read_timeout=shared_aws.INVOKE_READ_TIMEOUT_SECONDS)) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_staging_invokes_the_live_alias_and_compares(lambda_stub: Stubber, context: Any) -> None:
    lambda_stub.add_response("invoke", lambda_response({"statusCode": 200, "body": json.dumps({"message": "Hi"})}), invocation("app-staging:live", GREETS["event"]))
    lambda_stub.add_response("invoke", lambda_response({"statusCode": 400, "body": "{}"}), invocation("app-staging:live", REJECTS["event"]))

    verdict = run(context, "staging", app_zip([GREETS, REJECTS]))

    assert (verdict["phase"], verdict["passed"], verdict["failed"]) == ("staging", False, 1)
    assert differences(verdict)["greets by name"] == ['body.message: expected "Hello, Ada", got "Hi"', "items.0.id: missing"]
    assert verdict["summary"] == '1 of 2 test cases failed in staging: \'greets by name\' (body.message: expected "Hello, Ada", got "Hi"; items.0.id: missing)'


def test_a_function_error_fails_the_case_with_its_message(lambda_stub: Stubber, context: Any) -> None:
    error = {"errorMessage": "'name'", "errorType": "KeyError", "stackTrace": ['  File "/var/task/app.py", line 3']}
    lambda_stub.add_response("invoke", lambda_response(error, "Unhandled"), invocation("app-staging:live", REJECTS["event"]))

    verdict = run(context, "staging", app_zip([REJECTS]))

    assert differences(verdict) == {"rejects empty name": ["the function failed (Unhandled): KeyError: 'name'"]}


def test_production_runs_only_its_cases_against_the_production_alias(lambda_stub: Stubber, context: Any) -> None:
    smoke = case("smoke", {"name": "smoke"}, {"statusCode": 200}, phases=["production"])
    lambda_stub.add_response("invoke", lambda_response({"statusCode": 200}), invocation("app-production:live", smoke["event"]))

    verdict = run(context, "production", app_zip([case("staging only", {}, {"ok": True}, phases=["staging"]), smoke]))

    assert verdict["passed"] is True and verdict["total"] == 1
    assert verdict["summary"] == "all 1 test case passed in production"


@pytest.mark.parametrize(
    ("code", "status", "error", "match"),
    [
        ("TooManyRequestsException", 429, errors.Throttled, "Invoke was throttled"),
        ("ResourceNotFoundException", 404, errors.AwsRequestFailed, "Invoke failed: ResourceNotFoundException"),
    ],
)
def test_an_invoke_that_fails_is_a_named_error(lambda_stub: Stubber, context: Any, code: str, status: int, error: type[Exception], match: str) -> None:
    lambda_stub.add_client_error("invoke", service_error_code=code, http_status_code=status)

    with pytest.raises(error, match=match):
        run(context, "staging", app_zip([GREETS]))


# --- comparing ---------------------------------------------------------------------------------------


def test_paths_walk_objects_lists_and_json_strings() -> None:
    run_tests = load_handler("run_tests")
    result = {"body": json.dumps({"items": [{"id": 1}, {"tags": json.dumps(["a", "b"])}]}), "n": 0}

    assert run_tests.lookup(result, "body.items.0.id") == 1
    assert run_tests.lookup(result, "body.items.1.tags.1") == "b"
    for path in ("body.items.2", "body.items.-1", "body.items.x", "n.value", "missing", "body.items.0.id.more"):
        assert run_tests.lookup(result, path) is run_tests.MISSING, path


def test_values_compare_as_json() -> None:
    json_equal = load_handler("run_tests").json_equal

    assert json_equal(1, 1.0) and json_equal({"a": [1, None]}, {"a": [1.0, None]})
    assert not json_equal(True, 1) and not json_equal(0, False) and not json_equal("1", 1) and not json_equal(None, "null")
    assert not json_equal({"a": 1}, {"a": 1, "b": 2}) and not json_equal([1], [1, 1])


# --- malformed events and configuration ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "error", "match"),
    [
        ({"phase": "deploy", "commit_id": "abc", "artifact": {"bucket": BUCKET, "key": KEY}}, errors.InvalidInput, "'phase' must be one of package, staging, production, got 'deploy'"),
        ({"commit_id": "abc", "artifact": {"bucket": BUCKET, "key": KEY}}, errors.InvalidInput, "the event has no 'phase'"),
        ({"phase": ["package"], "commit_id": "abc", "artifact": {"bucket": BUCKET, "key": KEY}}, errors.InvalidInput, "'phase' must be a string, got an array"),
        ({"phase": "package", "commit_id": 42, "artifact": {"bucket": BUCKET, "key": KEY}}, errors.InvalidInput, "'commit_id' must be a string, got a number"),
        ({"phase": "package", "commit_id": "abc"}, errors.InvalidInput, "the event has no 'artifact.bucket'"),
        ({"phase": "package", "commit_id": "abc", "artifact": {"bucket": BUCKET, "key": "gone.zip"}}, errors.ArtifactUnavailable, "s3://artifacts/gone.zip: 404"),
        ("package", errors.InvalidInput, "the event must be a JSON object, got a string"),
    ],
    ids=["unknown-phase", "no-phase", "phase-array", "commit-number", "no-artifact", "no-object", "string-event"],
)
def test_malformed_events_raise_named_errors(platform: None, context: Any, event: Any, error: type[Exception], match: str) -> None:
    if isinstance(event, dict):
        event = event | {"service": registered_document()}
    with pytest.raises(error, match=match):
        load_handler("run_tests").handler(event, context)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"PK\x03\x04 but not really a zip", "the artifact is not a zip archive"),
        (app_zip([GREETS], extra={"../../var/task/handler.py": "pwned = True\n"}), "unsafe entry '../../var/task/handler.py': path with '..'"),
        (app_zip([GREETS], extra={"/tmp/evil.py": "pwned = True\n"}), "unsafe entry '/tmp/evil.py': absolute path"),
    ],
    ids=["not-a-zip", "dot-dot", "absolute"],
)
def test_an_artifact_that_cannot_be_unpacked_safely_is_an_invalid_artifact(platform: None, context: Any, data: bytes, match: str) -> None:
    with pytest.raises(errors.InvalidArtifact, match=match):
        run(context, "package", data)


@pytest.mark.parametrize(
    ("phase", "changes", "match"),
    [
        ("package", {"test_timeout_seconds": "soon"}, "'test_timeout_seconds' must be an integer, got a string"),
        ("package", {"test_timeout_seconds": 0}, "'test_timeout_seconds' is 0; it must be at least 1"),
        ("package", {"app_handler": "app"}, "'app_handler' 'app' is not a handler like 'app.handler'"),
        ("staging", {"environments": {"staging": {"deployment_group": "staging", "deployment_config": "c"}}}, "it has no 'environments.staging.function_name'"),
        ("production", {"alias": "7"}, "'alias' '7' is not a Lambda alias name"),
    ],
)
def test_a_broken_registry_entry_is_a_configuration_error(platform: None, context: Any, phase: str, changes: dict[str, Any], match: str) -> None:
    registered_with(**changes)
    cases = [case("everywhere", {"name": "Ada"}, {"statusCode": 200})]

    with pytest.raises(errors.ConfigurationError, match=match):
        run(context, phase, app_zip(cases))


def test_a_missing_registry_prefix_is_a_configuration_error(platform: None, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVICES_PARAMETER_PREFIX")

    with pytest.raises(errors.ConfigurationError, match="environment variable SERVICES_PARAMETER_PREFIX is not set"):
        run(context, "package", app_zip([GREETS]))


# --- damaged and large artifacts ------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_an_entry_that_cannot_be_unpacked_is_an_invalid_artifact_naming_it(platform: None, context: Any, kind: str) -> None:
    data = damaged(app_zip([GREETS], extra={"lib/util.py": "WORDS = ['hello'] * 100\n"}), "lib/util.py", kind)

    with pytest.raises(errors.InvalidArtifact, match=re.escape("the artifact's entry 'lib/util.py' ") + ".*" + re.escape(DAMAGE[kind])):
        run(context, "package", data)


def test_a_package_over_50_mb_zipped_runs_its_cases(platform: None, context: Any) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    # Lambda's 50 MB limit is for zips uploaded directly; the deploy handlers update functions from S3.
    data = app_zip([GREETS], extra={"models/weights.bin": os.urandom(51 * 1024 * 1024)})  # type: ignore[dict-item]
    s3_backends[DEFAULT_ACCOUNT_ID]["global"].put_object(BUCKET, KEY, data)
    event = {"phase": "package", "commit_id": "9fceb02d0ae5", "artifact": {"bucket": BUCKET, "key": KEY}, "service": registered_document()}

    verdict = load_handler("run_tests").handler(event, context)

    assert verdict["passed"] is True, verdict["summary"]
