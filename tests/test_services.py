"""One platform, many services: every step handler acts only on what a service registers.

The execution input's `service` must be exactly the service's registry entry (an SSM parameter);
an input that names anything else (another function, alias, group, handler, time) is refused with
TargetNotAllowed naming the field, before anything is read, invoked or changed. An unknown service
is UnknownService, a broken registry entry a ConfigurationError saying what to fix, and a throttled
or failing registry read the transient error the state machine retries."""

import copy
import functools
import io
import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from aws_fixtures import ALIAS, APPLICATION, FUNCTIONS, RELEASE_BUCKET, ROLE, SERVICE, SERVICES_PREFIX, Platform, Refusals, app_zip, register_service, set_deployment_status
from conftest import ROOT, load_handler
from shared import aws as shared_aws, errors
from shared.observability import MAX_CAUSE
from shared.services import acting_for, registered

EXECUTION = {"arn": "arn:aws:states:us-east-1:123456789012:execution:deploy:run-1", "name": "run-1"}
FAILURE = {"error": "StagingTestsFailed", "cause": "1 of 1 test cases failed in staging"}
VICTIM = "victim-fn"
REFUSAL = "the platform deploys, tests and rolls back only what its services register"


@functools.cache
def warm_session() -> boto3.Session:
    """One boto3 session for the module: a fresh one loads every service model again."""
    return boto3.Session()


@pytest.fixture
def platform(aws: None, monkeypatch: pytest.MonkeyPatch) -> Platform:
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", warm_session())
    created = Platform().create()
    # Every variable of every step handler (the deploy handlers' are a superset).
    Platform.deploy_environment(monkeypatch, "staging")
    functions = boto3.client("lambda")
    functions.create_function(FunctionName=VICTIM, Runtime="python3.12", Role=ROLE, Handler="app.handler", Code={"ZipFile": app_zip("victim")}, Publish=True)
    functions.create_alias(FunctionName=VICTIM, Name=ALIAS, FunctionVersion="1")
    return created


class Invocations:
    """Records every Lambda Invoke run_tests' client makes for the service, as its access role (the
    session is kept for the handler), and answers it (moto runs no code)."""

    def __init__(self) -> None:
        self.functions: list[str] = []
        with acting_for(registered(SERVICE), "run_tests"):
            client = shared_aws.client("lambda", read_timeout=shared_aws.INVOKE_READ_TIMEOUT_SECONDS)
        client.meta.events.register("before-parameter-build.lambda.Invoke", lambda params, **_: self.functions.append(params["FunctionName"]))
        client.meta.events.register("before-call.lambda.Invoke", self._answer)

    @staticmethod
    def _answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("", 200, {}, None), {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(b"{}"), 2), "ResponseMetadata": {"HTTPStatusCode": 200}}


def state_of(function_name: str) -> dict[str, Any]:
    """What a deployment would change: the published versions, the alias and its weights, the code."""
    functions = boto3.client("lambda")
    alias = functions.get_alias(FunctionName=function_name, Name=ALIAS)
    return {
        "versions": [version["Version"] for version in functions.list_versions_by_function(FunctionName=function_name)["Versions"]],
        "alias": (alias["FunctionVersion"], alias.get("RoutingConfig", {}).get("AdditionalVersionWeights") or {}),
        "code": functions.get_function_configuration(FunctionName=function_name)["CodeSha256"],
    }


def everything() -> dict[str, Any]:
    codedeploy = boto3.client("codedeploy")
    return {
        "functions": {name: state_of(name) for name in (*FUNCTIONS.values(), VICTIM)},
        "deployments": sorted(codedeploy.list_deployments(applicationName=APPLICATION, deploymentGroupName=group)["deployments"] for group in FUNCTIONS),
        "releases": boto3.client("s3").list_objects_v2(Bucket=RELEASE_BUCKET).get("KeyCount"),
    }


def crafted(service: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`service` with the field at dotted `path` set to `value`."""
    document = copy.deepcopy(service)
    *parents, last = path.split(".")
    node = document
    for part in parents:
        node = node[part]
    node[last] = value
    return document


def deploy_event(platform: Platform, service: dict[str, Any]) -> dict[str, Any]:
    return {"action": "deploy", "commit_id": "c0ffee1", "artifact": platform.upload_artifact(app_zip("2")), "execution": EXECUTION, "service": service}


def event_for(handler: str, platform: Platform, service: dict[str, Any]) -> dict[str, Any]:
    artifact = platform.upload_artifact(app_zip("2"))
    return {
        "validate_code": {"commit_id": "c0ffee1", "artifact": artifact, "execution": EXECUTION, "service": service},
        "run_tests": {"phase": "staging", "commit_id": "c0ffee1", "artifact": artifact, "service": service},
        "staging": {"action": "deploy", "commit_id": "c0ffee1", "artifact": artifact, "execution": EXECUTION, "service": service},
        "production": {"action": "deploy", "commit_id": "c0ffee1", "artifact": artifact, "execution": EXECUTION, "service": service},
        "rollback": {"commit_id": "c0ffee1", "execution": EXECUTION, "failure": FAILURE, "service": service},
    }[handler]


HANDLERS = ("validate_code", "run_tests", "staging", "production", "rollback")


# --- a crafted input is refused and changes nothing -----------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "registered"),
    [
        ("environments.staging.function_name", VICTIM, "'app-staging'"),
        ("environments.staging.deployment_group", "production", "'staging'"),
        ("codedeploy_application", "someone-elses-app", "'app-deploy'"),
        ("alias", "canary", "'live'"),
    ],
)
def test_deploy_refuses_a_target_its_service_does_not_register_and_changes_nothing(platform: Platform, context: Any, path: str, value: Any, registered: str) -> None:
    before = everything()

    with pytest.raises(errors.TargetNotAllowed) as refused:
        load_handler("staging").handler(deploy_event(platform, crafted(platform.service, path, value)), context)

    assert (
        str(refused.value)
        == f"service app: '{path}' is {json.dumps(value) if isinstance(value, int) else repr(value)} in the execution input, but {registered} is registered; {REFUSAL}"
    )
    assert everything() == before
    assert platform.record("c0ffee1", "run-1") == {}


def test_the_refusal_names_the_field_and_both_values_as_a_person_reads_them(platform: Platform, context: Any) -> None:
    service = crafted(platform.service, "environments.production.function_name", VICTIM)

    with pytest.raises(errors.TargetNotAllowed) as refused:
        load_handler("production").handler(deploy_event(platform, service), context)

    assert str(refused.value) == (f"service app: 'environments.production.function_name' is 'victim-fn' in the execution input, but 'app-production' is registered; {REFUSAL}")
    assert state_of(VICTIM) == {"versions": ["$LATEST", "1"], "alias": ("1", {}), "code": state_of(VICTIM)["code"]}


def test_check_refuses_a_crafted_service_and_a_deployment_of_another_group(platform: Platform, context: Any) -> None:
    deployed = load_handler("staging").handler(deploy_event(platform, platform.service), context)
    before = everything()
    check = load_handler("staging").handler

    with pytest.raises(errors.TargetNotAllowed, match="'environments.staging.deployment_group' is 'production' in the execution input, but 'staging' is registered"):
        check({"action": "check", "deployment": deployed, "service": crafted(platform.service, "environments.staging.deployment_group", "production")}, context)
    # The production handler asked about staging's deployment: a deployment of what production does not deploy.
    with pytest.raises(errors.TargetNotAllowed, match=rf"CodeDeploy deployment {deployed['deployment_id']} is of app-deploy/staging, not of production's app-deploy/production"):
        load_handler("production").handler({"action": "check", "deployment": deployed, "service": platform.service}, context)
    assert everything() == before
    assert check({"action": "check", "deployment": deployed, "service": platform.service}, context) == {"done": False, "status": "Created"}


@pytest.mark.parametrize(
    ("phase", "path", "value"),
    [
        ("staging", "environments.staging.function_name", VICTIM),
        ("production", "environments.production.function_name", VICTIM),
        ("production", "alias", "$LATEST"),
        ("package", "access_roles.run_tests", "arn:aws:iam::123456789012:role/someone-elses"),
    ],
)
def test_run_tests_refuses_a_crafted_target_and_invokes_nothing(platform: Platform, context: Any, phase: str, path: str, value: Any) -> None:
    invocations = Invocations()
    event = event_for("run_tests", platform, crafted(platform.service, path, value)) | {"phase": phase}

    with pytest.raises(errors.TargetNotAllowed, match=f"^service app: '{path}' is "):
        load_handler("run_tests").handler(event, context)

    assert invocations.functions == []


def test_run_tests_invokes_the_registered_alias(platform: Platform, context: Any) -> None:
    invocations = Invocations()
    cases = {"cases": [{"name": "answers", "event": {}, "expect": {"version": "2"}, "phases": ["staging"]}]}
    artifact = platform.upload_artifact(app_zip("2", extra={"test_cases.json": json.dumps(cases)}))

    load_handler("run_tests").handler({"phase": "staging", "commit_id": "c0ffee1", "artifact": artifact, "service": platform.service}, context)

    assert invocations.functions == ["app-staging:live"]


def test_rollback_refuses_a_crafted_target_and_restores_nothing(platform: Platform, context: Any) -> None:
    deployed = load_handler("staging").handler(deploy_event(platform, platform.service), context)
    set_deployment_status(deployed["deployment_id"], "Succeeded")
    boto3.client("lambda").update_alias(FunctionName=FUNCTIONS["staging"], Name=ALIAS, FunctionVersion=deployed["new_version"])
    before = everything()
    rollback = load_handler("rollback").handler

    with pytest.raises(errors.TargetNotAllowed, match="'environments.staging.function_name' is 'victim-fn' in the execution input, but 'app-staging' is registered"):
        rollback(event_for("rollback", platform, crafted(platform.service, "environments.staging.function_name", VICTIM)), context)

    assert everything() == before
    restored = rollback(event_for("rollback", platform, platform.service), context)
    assert restored["environments"]["staging"]["action"] == "restored" and state_of(FUNCTIONS["staging"])["alias"] == ("1", {})
    assert state_of(VICTIM)["alias"] == ("1", {})


def test_rollback_refuses_the_record_of_another_service(platform: Platform, context: Any) -> None:
    """A rollback asked for one service restores nothing from a record another service's deployment wrote."""
    deployed = load_handler("staging").handler(deploy_event(platform, platform.service), context)
    boto3.client("lambda").update_alias(FunctionName=FUNCTIONS["staging"], Name=ALIAS, FunctionVersion=deployed["new_version"])
    other = register_service(
        platform.service
        | {
            "name": "billing",
            "environments": {
                "staging": {"function_name": VICTIM, "deployment_group": "staging", "deployment_config": "CodeDeployDefault.LambdaAllAtOnce"},
                "production": platform.service["environments"]["production"],
            },
        }
    )
    before = everything()

    with pytest.raises(errors.TargetNotAllowed, match=r"service billing: the deployment record of commit c0ffee1, execution run-1 is of service 'app'"):
        load_handler("rollback").handler(event_for("rollback", platform, other), context)

    assert everything() == before


def test_validate_code_refuses_a_crafted_service_before_reading_the_artifact(platform: Platform, context: Any) -> None:
    event = event_for("validate_code", platform, crafted(platform.service, "environments.production.function_name", VICTIM))
    event["artifact"] = {"bucket": event["artifact"]["bucket"], "key": "not/there.zip"}

    with pytest.raises(errors.TargetNotAllowed, match="'environments.production.function_name' is 'victim-fn' in the execution input, but 'app-production' is registered"):
        load_handler("validate_code").handler(event, context)


def test_run_tests_takes_its_settings_from_the_registry_not_the_input(platform: Platform, context: Any) -> None:
    """A crafted handler or test-case path is no target: run_tests runs the registered ones."""
    service = crafted(crafted(platform.service, "app_handler", "evil.handler"), "test_cases_path", "../../etc/cases.json")

    verdict = load_handler("run_tests").handler(event_for("run_tests", platform, service) | {"phase": "package"}, context)

    assert verdict["passed"] is True, verdict


OTHER_ROLE = "arn:aws:iam::123456789012:role/local/services/billing-staging-access"


@pytest.mark.parametrize("handler", HANDLERS)
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda service: {key: value for key, value in service.items() if key != "alias"}, "'alias' is missing from the execution input, but 'live' is registered"),
        (lambda service: service | {"alias": "canary"}, "'alias' is 'canary' in the execution input, but 'live' is registered"),
        (lambda service: service | {"codedeploy_application": "billing"}, "'codedeploy_application' is 'billing' in the execution input, but 'app-deploy' is registered"),
        (lambda service: service | {"environments": ["staging"]}, "'environments.staging.function_name' is missing from the execution input, but 'app-staging' is registered"),
        (
            lambda service: crafted(service, "environments.production.function_name", VICTIM),
            "'environments.production.function_name' is 'victim-fn' in the execution input, but 'app-production' is registered",
        ),
        (lambda service: crafted(service, "access_roles.rollback", OTHER_ROLE), f"'access_roles.rollback' is '{OTHER_ROLE}' in the execution input, but"),
    ],
    ids=["missing-alias", "other-alias", "other-application", "environments-array", "other-function", "other-access-role"],
)
def test_every_handler_refuses_a_target_that_differs_from_the_registry(platform: Platform, context: Any, handler: str, change: Any, message: str) -> None:
    before = everything()

    with pytest.raises(errors.TargetNotAllowed) as refused:
        load_handler(handler).handler(event_for(handler, platform, change(platform.service)), context)

    assert str(refused.value).startswith(f"service app: {message}"), str(refused.value)
    assert everything() == before


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_setting_changed_since_the_execution_started_blocks_no_step(platform: Platform, context: Any, handler: str) -> None:
    """Settings (handler, test cases, timeouts, configs) are read from the registry; an input that
    carries older ones is no crafted target: the step runs with the registered values."""
    started_with = json.loads(json.dumps(platform.service)) | {"test_timeout_seconds": 5, "poll_interval_seconds": 9, "extra": "ignored"}
    event = event_for(handler, platform, started_with) | ({"phase": "package"} if handler == "run_tests" else {})

    load_handler(handler).handler(event, context)


# --- the service is not registered, or its entry is broken ---------------------------------------


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_service_that_is_not_registered_is_unknown_service(platform: Platform, context: Any, handler: str) -> None:
    with pytest.raises(errors.UnknownService) as unknown:
        load_handler(handler).handler(event_for(handler, platform, platform.service | {"name": "billing"}), context)

    assert str(unknown.value) == (
        f"service 'billing' is not registered with the platform: there is no SSM parameter {SERVICES_PREFIX}billing; "
        "add the service to the platform's `services` map, or register it with modules/service, and apply"
    )


NO_SERVICE = [
    (None, "the event has no 'service'"),
    ("app", "'service' must be an object, got a string"),
    ({"environments": {}}, "the event has no 'service.name'"),
    ({"name": 7}, "'service.name' must be a string, got a number"),
    ({"name": "../app"}, "'service.name' '../app' is not a service name"),
    ({"name": "App"}, "'service.name' 'App' is not a service name"),
    ({"name": "a" * 100_000}, "'service.name' is 100000 characters long; the limit is 64"),
]


@pytest.mark.parametrize(
    ("handler", "service", "message"),
    [(handler, *NO_SERVICE[0]) for handler in HANDLERS] + [("staging", service, message) for service, message in NO_SERVICE[1:]] + [("rollback", *NO_SERVICE[4])],
)
def test_an_input_that_names_no_service_is_invalid_input_and_reads_no_registry(platform: Platform, context: Any, handler: str, service: Any, message: str) -> None:
    event = event_for(handler, platform, service)
    if service is None:
        del event["service"]
    read = Refusals(shared_aws.client("ssm"), "GetParameter", "ShouldNotBeCalled", times=1)

    with pytest.raises(errors.InvalidInput) as invalid:
        load_handler(handler).handler(event, context)

    assert str(invalid.value).startswith(message) and len(str(invalid.value)) <= MAX_CAUSE
    assert read.refused == 0


def test_a_huge_crafted_value_is_named_in_a_short_cause(platform: Platform, context: Any) -> None:
    with pytest.raises(errors.TargetNotAllowed) as refused:
        load_handler("staging").handler(deploy_event(platform, crafted(platform.service, "alias", "x" * 100_000)), context)

    assert str(refused.value).startswith("service app: 'alias' is 'xxxx") and len(str(refused.value)) <= 400


def put_entry(value: str, name: str = "app") -> None:
    boto3.client("ssm").put_parameter(Name=SERVICES_PREFIX + name, Value=value, Type="String", Overwrite=True)


ENTRY = f"the registry entry of service 'app' (SSM parameter {SERVICES_PREFIX}app)"
FIX = "apply the Terraform that registers 'app' again (the platform's `services` map or modules/service writes it), or correct the parameter"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (lambda service: "app-staging", "is not JSON (Expecting value at line 1 column 1)"),
        (lambda service: json.dumps([service]), "is not a service document: a service document must be a JSON object"),
        (lambda service: json.dumps(service | {"owner": "team"}), "is not a service document: the service document has the unknown field 'owner'"),
        (lambda service: json.dumps({key: value for key, value in service.items() if key != "pipeline_name"}), "is not a service document: it has no 'pipeline_name'"),
        (lambda service: json.dumps(service | {"test_timeout_seconds": 20.5}), "is not a service document: 'test_timeout_seconds' must be an integer, got a number"),
        (lambda service: json.dumps(service | {"deployment_timeout_seconds": 30}), "is not a service document: 'deployment_timeout_seconds' is 30; it must be at least 60"),
        (
            lambda service: json.dumps(crafted(service, "environments.staging.function_name", "arn:aws:lambda:x")),
            "is not a service document: 'environments.staging.function_name' 'arn:aws:lambda:x' is not a Lambda function name",
        ),
        (lambda service: json.dumps(service | {"environments": {"staging": service["environments"]["staging"]}}), "is not a service document: it has no 'environments.production'"),
        (lambda service: json.dumps(service | {"test_cases_path": "/etc/passwd"}), "is not a service document: 'test_cases_path' '/etc/passwd' is not a path inside the artifact"),
        (lambda service: json.dumps(service | {"name": "billing"}), "holds the document of service 'billing'"),
        (lambda service: json.dumps({key: value for key, value in service.items() if key != "access_roles"}), "is not a service document: it has no 'access_roles'"),
        (
            lambda service: json.dumps(crafted(service, "access_roles.staging", "app-staging-access")),
            "is not a service document: 'access_roles.staging' 'app-staging-access' is not an IAM role ARN",
        ),
    ],
    ids=["not-json", "array", "unknown-field", "missing-field", "float", "too-short", "function-arn", "no-production", "absolute-path", "other-name", "no-access-roles", "role-name"],
)
def test_a_broken_registry_entry_is_a_configuration_error_saying_what_to_fix(platform: Platform, context: Any, entry: Any, problem: str) -> None:
    service = platform.service
    put_entry(entry(service))
    before = everything()

    with pytest.raises(errors.ConfigurationError) as broken:
        load_handler("staging").handler(deploy_event(platform, service), context)

    assert str(broken.value).startswith(f"{ENTRY} {problem}"), str(broken.value)
    assert str(broken.value).endswith(FIX)
    assert everything() == before


@pytest.mark.parametrize(("value", "message"), [(None, "environment variable SERVICES_PARAMETER_PREFIX is not set"), ("/local/services", "must end with '/'")])
def test_a_missing_or_wrong_registry_prefix_is_a_configuration_error(platform: Platform, context: Any, monkeypatch: pytest.MonkeyPatch, value: str | None, message: str) -> None:
    if value is None:
        monkeypatch.delenv("SERVICES_PARAMETER_PREFIX")
    else:
        monkeypatch.setenv("SERVICES_PARAMETER_PREFIX", value)

    with pytest.raises(errors.ConfigurationError, match=message):
        load_handler("validate_code").handler(event_for("validate_code", platform, platform.service), context)


@pytest.mark.parametrize("handler", HANDLERS)
@pytest.mark.parametrize(
    ("code", "status", "error", "match"),
    [
        ("ThrottlingException", 400, errors.Throttled, r"GetParameter was throttled \(ThrottlingException\); retry with backoff"),
        ("InternalServerError", 500, errors.ServiceUnavailable, r"GetParameter failed: InternalServerError: .*; retry with backoff"),
    ],
)
def test_a_registry_read_that_fails_for_a_passing_reason_is_the_error_the_state_machine_retries(
    platform: Platform, context: Any, handler: str, code: str, status: int, error: type[Exception], match: str
) -> None:
    before = everything()
    Refusals(shared_aws.client("ssm"), "GetParameter", code, times=1, status=status)

    with pytest.raises(error, match=match):
        load_handler(handler).handler(event_for(handler, platform, platform.service), context)
    assert everything() == before


def test_the_state_machine_retries_the_transient_errors_on_every_task() -> None:
    states = json.loads((ROOT / "asl" / "deployment.asl.json").read_text())["States"]
    for name, state in states.items():
        if state["Type"] == "Task" and state["Resource"].startswith("${") and state["Resource"].endswith("_function_arn}"):
            assert any({"Throttled", "ServiceUnavailable"} <= set(rule["ErrorEquals"]) for rule in state["Retry"]), name


def test_a_step_handler_acts_for_the_service_as_the_access_role_it_registers(platform: Platform, context: Any) -> None:
    from moto.sts.models import sts_backends

    deployed = load_handler("staging").handler(deploy_event(platform, platform.service), context)

    assumed = [(role.role_arn, role.session_name) for role in sts_backends["123456789012"]["global"].assumed_roles]
    assert (platform.service["access_roles"]["staging"], "staging-app") in assumed
    assert deployed["new_version"] == "2"
    # The next invocation of the warm container reuses the credentials.
    load_handler("staging").handler({"action": "check", "deployment": deployed, "service": platform.service}, context)
    assert [entry for entry in ((role.role_arn, role.session_name) for role in sts_backends["123456789012"]["global"].assumed_roles) if entry[1] == "staging-app"] == [
        (platform.service["access_roles"]["staging"], "staging-app")
    ]
