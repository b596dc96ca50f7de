"""The waiter: CodePipeline job events in, one Step Functions execution and one job result per call out.

Step Functions is moto's; execution outcomes are set on moto's backend. moto has no
PutJobSuccessResult/PutJobFailureResult, so the real codepipeline client answers them from a
`before-call` hook that also records the parameters and checks them against the API's limits.
"""

import copy
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.model import OperationModel, Shape
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto.stepfunctions.models import stepfunctions_backends

from aws_fixtures import SERVICES_PREFIX, Refusals, register_service, service_client, service_document
from conftest import REGION, load_handler
from shared import aws as shared_aws, errors
from shared.errors import InvalidInput

waiter = load_handler("waiter")

ACCOUNT = "123456789012"
JOB_ID = "11111111-abcd-1111-abcd-111111abcdef"
NEXT_JOB_ID = "22222222-abcd-2222-abcd-222222abcdef"
COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8"
PIPELINE = "sls-cd-pipeline"
PIPELINE_EXECUTION = "3d6f1c4e-0b1a-4c55-9d2e-5f0a8b7c6d5e"
BUCKET = "my-artifacts"
KEY = "sls-cd-pipeline/BuildOutpu/AbCdEfG"
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKENvalue0123456789"
SERVICE = "orders"
# The service's registry entry, registered for the pipeline the jobs come from.
SERVICE_DOCUMENT = service_document() | {"name": SERVICE, "pipeline_name": PIPELINE}
EXECUTION_NAME = f"{SERVICE}-{COMMIT[:12]}-{JOB_ID}"


def job_event(
    *,
    job_id: Any = JOB_ID,
    token: Any = None,
    user_parameters: Any = None,
    artifacts: Any = None,
) -> dict[str, Any]:
    parameters = {"service": SERVICE, "commit_id": COMMIT, "pipeline_execution_id": PIPELINE_EXECUTION, "pipeline_name": PIPELINE}
    data: dict[str, Any] = {
        "actionConfiguration": {
            "configuration": {
                "FunctionName": "sls-cd-waiter",
                "UserParameters": json.dumps(parameters) if user_parameters is None else user_parameters,
            }
        },
        "inputArtifacts": (
            [{"name": "BuildOutput", "revision": None, "location": {"type": "S3", "s3Location": {"bucketName": BUCKET, "objectKey": KEY}}}] if artifacts is None else artifacts
        ),
        "outputArtifacts": [],
        "artifactCredentials": {"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY, "sessionToken": SESSION_TOKEN, "expirationTime": 1},
    }
    if token is not None:
        data["continuationToken"] = token
    return {"CodePipeline.job": {"id": job_id, "accountId": ACCOUNT, "data": data}}


def continuation_event(execution_arn: str) -> dict[str, Any]:
    return job_event(job_id=NEXT_JOB_ID, token=json.dumps({"execution_arn": execution_arn}))


class Pipeline:
    """Answers PutJobSuccessResult/PutJobFailureResult on the real client and records their parameters."""

    OPERATIONS = ("PutJobSuccessResult", "PutJobFailureResult")

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.rejections: dict[str, tuple[str, int, int]] = {}
        self.model = client.meta.service_model
        for operation in self.OPERATIONS:
            client.meta.events.register(f"before-parameter-build.codepipeline.{operation}", self._record)
            client.meta.events.register(f"before-call.codepipeline.{operation}", self._answer)

    def _record(self, params: dict[str, Any], model: OperationModel, **_: Any) -> None:
        self.calls.append((model.name, copy.deepcopy(params)))
        assert_within_limits(model.input_shape, params, model.name)

    def reject(self, operation: str, code: str, times: int = 1000, status: int = 400) -> None:
        self.rejections[operation] = (code, times, status)

    def _answer(self, model: OperationModel, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        code, times, status = self.rejections.get(model.name, ("", 0, 200))
        if times > 0:
            self.rejections[model.name] = (code, times - 1, status)
            return AWSResponse("", status, {}, None), {
                "Error": {"Code": code, "Message": f"{model.name} rejected"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }
        return AWSResponse("", 200, {}, None), {"ResponseMetadata": {"HTTPStatusCode": 200}}

    def only(self) -> tuple[str, dict[str, Any]]:
        assert len(self.calls) == 1, self.calls
        return self.calls[0]

    def failure(self) -> dict[str, Any]:
        operation, params = self.only()
        assert operation == "PutJobFailureResult", params
        assert params["failureDetails"]["type"] == "JobFailed"
        return params

    def success(self) -> dict[str, Any]:
        operation, params = self.only()
        assert operation == "PutJobSuccessResult", params
        return params


class StopFunction:
    """The stop_deployment function as the waiter's Lambda client reaches it (moto runs no code):
    records each request and answers what stop_deployment returns."""

    def __init__(self, client: Any, summary: str = "stopped the deployment: staging on version 3 (restored); production untouched", error: dict[str, str] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.summary, self.error = summary, error
        client.meta.events.register("before-parameter-build.lambda.Invoke", self._record)
        client.meta.events.register("before-call.lambda.Invoke", self._answer)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.requests.append({"function": params["FunctionName"], **json.loads(params["Payload"])})

    def _answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        body = json.dumps(self.error if self.error else {"executions": [], "summary": self.summary}).encode()
        parsed: dict[str, Any] = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body)), "ResponseMetadata": {"HTTPStatusCode": 200}}
        if self.error:
            parsed["FunctionError"] = "Unhandled"
        return AWSResponse("", 200, {}, None), parsed


def assert_within_limits(shape: Shape, value: Any, where: str) -> None:
    """The length, range and pattern constraints of the service model, which botocore does not check."""
    metadata = shape.metadata
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            if name in value:
                assert_within_limits(member, value[name], f"{where}.{name}")
    elif shape.type_name == "map":
        for key, item in value.items():
            assert_within_limits(shape.key, key, f"{where} key")
            assert_within_limits(shape.value, item, f"{where}.{key}")
    elif shape.type_name == "string":
        assert metadata.get("min", 0) <= len(value) <= metadata.get("max", len(value)), f"{where} has length {len(value)}"
        if "pattern" in metadata:
            assert re.fullmatch(metadata["pattern"], value), f"{where}={value!r} does not match {metadata['pattern']}"
    elif shape.type_name == "integer":
        assert metadata.get("min", value) <= value <= metadata.get("max", value), f"{where}={value}"


@pytest.fixture
def pipeline(aws: None) -> Pipeline:
    return Pipeline(shared_aws.client("codepipeline"))


@pytest.fixture
def stop_function(aws: None, monkeypatch: pytest.MonkeyPatch) -> StopFunction:
    monkeypatch.setenv("STOP_FUNCTION_NAME", "sls-cd-stop-deployment")
    return StopFunction(shared_aws.client("lambda", read_timeout=shared_aws.INVOKE_READ_TIMEOUT_SECONDS))


@pytest.fixture
def states(aws: None) -> Any:
    """The handler's own Step Functions client (one client per service keeps the tests fast)."""
    return shared_aws.client("stepfunctions")


@pytest.fixture
def registry(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The platform's registry, with the service the jobs name."""
    monkeypatch.setenv("SERVICES_PARAMETER_PREFIX", SERVICES_PREFIX)
    return register_service(SERVICE_DOCUMENT)


@pytest.fixture
def state_machine(states: Any, registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    arn: str = states.create_state_machine(
        name="DeploymentStateMachine",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/states",
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    return arn


@pytest.fixture
def started(state_machine: str, pipeline: Pipeline, context: Any) -> str:
    """The ARN of an execution started by a first call; the recorded calls are cleared."""
    waiter.handler(job_event(), context)
    arn: str = json.loads(pipeline.success()["continuationToken"])["execution_arn"]
    pipeline.calls.clear()
    return arn


def executions(states: Any, state_machine: str) -> list[dict[str, Any]]:
    return states.list_executions(stateMachineArn=state_machine)["executions"]  # type: ignore[no-any-return]


def finish(execution_arn: str, status: str, **attributes: Any) -> None:
    execution = stepfunctions_backends[ACCOUNT][REGION].describe_execution(execution_arn)
    execution.status = status
    execution.stop_date = datetime.now(UTC)
    for name, value in attributes.items():
        setattr(execution, name, value)


# --- first call ------------------------------------------------------------------------------


def test_first_call_starts_one_execution_and_reports_it_in_progress(states: Any, state_machine: str, pipeline: Pipeline, context: Any) -> None:
    result = waiter.handler(job_event(), context)

    (execution,) = executions(states, state_machine)
    assert execution["name"] == EXECUTION_NAME
    arn = execution["executionArn"]
    assert json.loads(states.describe_execution(executionArn=arn)["input"]) == {
        "commit_id": COMMIT,
        "artifact": {"bucket": BUCKET, "key": KEY, "version_id": None},
        "pipeline": {"name": PIPELINE, "execution_id": PIPELINE_EXECUTION, "job_id": JOB_ID},
        "service": SERVICE_DOCUMENT,
    }
    assert pipeline.success() == {
        "jobId": JOB_ID,
        "continuationToken": json.dumps({"execution_arn": arn}),
        "executionDetails": {"summary": f"Deployment {EXECUTION_NAME} started", "externalExecutionId": arn},
    }
    assert result == {"job_id": JOB_ID, "result": "started", "execution_arn": arn, "message": f"Deployment {EXECUTION_NAME} started"}


def test_repeated_first_call_of_a_job_reuses_its_running_execution(states: Any, state_machine: str, pipeline: Pipeline, context: Any) -> None:
    first = waiter.handler(job_event(), context)
    second = waiter.handler(job_event(), context)

    assert len(executions(states, state_machine)) == 1
    assert first == second
    assert pipeline.calls[0] == pipeline.calls[1]


def test_repeated_first_call_after_the_execution_closed_continues_with_it(states: Any, state_machine: str, started: str, pipeline: Pipeline, context: Any) -> None:
    states.stop_execution(executionArn=started)

    result = waiter.handler(job_event(), context)

    assert len(executions(states, state_machine)) == 1
    assert result["execution_arn"] == started
    assert pipeline.success()["continuationToken"] == json.dumps({"execution_arn": started})


@pytest.mark.parametrize("status", ["Stopping", "Stopped", "Superseded", "Cancelled", "Failed"])
def test_a_run_that_ended_while_its_deployment_started_stops_that_deployment(
    status: str, states: Any, state_machine: str, pipeline: Pipeline, stop_function: StopFunction, context: Any
) -> None:
    run = {"pipelineExecution": {"pipelineName": PIPELINE, "pipelineExecutionId": PIPELINE_EXECUTION, "status": status}, "ResponseMetadata": {"HTTPStatusCode": 200}}
    service_client("codepipeline", "waiter", SERVICE).meta.events.register("before-call.codepipeline.GetPipelineExecution", lambda **_: (AWSResponse("", 200, {}, None), run))

    waiter.handler(job_event(), context)

    (execution,) = executions(states, state_machine)
    assert [request["execution_arn"] for request in stop_function.requests] == [execution["executionArn"]]
    message = pipeline.failure()["failureDetails"]["message"]
    assert message.startswith(
        f"PipelineRunEnded: pipeline {PIPELINE} execution {PIPELINE_EXECUTION} is {status} (it ended while its deployment was being started). Stopped the deployment"
    )


def test_long_commit_id_is_cut_to_12_characters_in_the_execution_name(states: Any, state_machine: str, pipeline: Pipeline, context: Any) -> None:
    commit = "a" * 128
    parameters = {"service": SERVICE, "commit_id": commit, "pipeline_execution_id": PIPELINE_EXECUTION, "pipeline_name": PIPELINE}

    waiter.handler(job_event(user_parameters=json.dumps(parameters)), context)

    (execution,) = executions(states, state_machine)
    assert execution["name"] == f"orders-{'a' * 12}-{JOB_ID}"
    assert json.loads(states.describe_execution(executionArn=execution["executionArn"])["input"])["commit_id"] == commit


def test_commit_id_characters_outside_the_name_alphabet_become_dashes(states: Any, state_machine: str, pipeline: Pipeline, context: Any) -> None:
    parameters = {"service": SERVICE, "commit_id": "release/v1.2.3+build", "pipeline_execution_id": PIPELINE_EXECUTION, "pipeline_name": PIPELINE}

    waiter.handler(job_event(user_parameters=json.dumps(parameters)), context)

    (execution,) = executions(states, state_machine)
    assert execution["name"] == f"orders-release-v1-2-{JOB_ID}"


def test_the_longest_service_name_and_commit_make_a_name_within_step_functions_limit(states: Any, state_machine: str, pipeline: Pipeline, context: Any) -> None:
    service = "s" + "-9" * 11
    register_service(SERVICE_DOCUMENT | {"name": service})
    parameters = {"service": service, "commit_id": "c" * 40, "pipeline_execution_id": PIPELINE_EXECUTION, "pipeline_name": PIPELINE}

    waiter.handler(job_event(user_parameters=json.dumps(parameters)), context)

    (execution,) = executions(states, state_machine)
    assert execution["name"] == f"{service}-{'c' * 12}-{JOB_ID}" and len(execution["name"]) <= 80
    assert json.loads(states.describe_execution(executionArn=execution["executionArn"])["input"])["service"]["name"] == service


def test_a_service_that_is_not_registered_fails_the_job_and_starts_nothing(states: Any, state_machine: str, pipeline: Pipeline, context: Any) -> None:
    parameters = {"service": "billing", "commit_id": COMMIT, "pipeline_execution_id": PIPELINE_EXECUTION, "pipeline_name": PIPELINE}

    waiter.handler(job_event(user_parameters=json.dumps(parameters)), context)

    assert pipeline.failure()["failureDetails"]["message"] == (
        f"UnknownService: service 'billing' is not registered with the platform: there is no SSM parameter {SERVICES_PREFIX}billing; "
        "add the service to the platform's `services` map, or register it with modules/service, and apply"
    )
    assert executions(states, state_machine) == []


def test_a_job_of_another_pipeline_is_not_allowed_to_deploy_the_service(states: Any, state_machine: str, pipeline: Pipeline, context: Any) -> None:
    parameters = {"service": SERVICE, "commit_id": COMMIT, "pipeline_execution_id": PIPELINE_EXECUTION, "pipeline_name": "sls-cd-billing-pipeline"}

    waiter.handler(job_event(user_parameters=json.dumps(parameters)), context)

    message = pipeline.failure()["failureDetails"]["message"]
    assert message.startswith("TargetNotAllowed: service orders is registered for pipeline 'sls-cd-pipeline', but this job's UserParameters name pipeline 'sls-cd-billing-pipeline'")
    assert executions(states, state_machine) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "ConfigurationError: the registry entry of service 'orders' (SSM parameter /local/services/orders) is not JSON (Expecting property name"),
        (
            json.dumps(SERVICE_DOCUMENT | {"alias": ""}),
            "ConfigurationError: the registry entry of service 'orders' (SSM parameter /local/services/orders) is not a service document: 'alias' must not be empty",
        ),
        (
            json.dumps(SERVICE_DOCUMENT | {"name": "billing"}),
            "ConfigurationError: the registry entry of service 'orders' (SSM parameter /local/services/orders) holds the document of service 'billing'",
        ),
    ],
)
def test_a_broken_registry_entry_fails_the_job_saying_what_to_fix(value: str, message: str, states: Any, state_machine: str, pipeline: Pipeline, context: Any) -> None:
    shared_aws.client("ssm").put_parameter(Name=SERVICES_PREFIX + SERVICE, Value=value, Type="String", Overwrite=True)

    waiter.handler(job_event(), context)

    failed = pipeline.failure()["failureDetails"]["message"]
    assert failed.startswith(message) and "apply the Terraform that registers 'orders' again" in failed, failed
    assert executions(states, state_machine) == []


def test_a_throttled_registry_read_fails_the_job_as_a_throttled_start_execution_does(states: Any, state_machine: str, pipeline: Pipeline, context: Any) -> None:
    Refusals(shared_aws.client("ssm"), "GetParameter", "ThrottlingException", times=1, status=400)

    waiter.handler(job_event(), context)

    assert pipeline.failure()["failureDetails"]["message"].startswith("Throttled: GetParameter was throttled (ThrottlingException)")
    assert executions(states, state_machine) == []


def test_access_denied_on_start_execution_fails_the_job(state_machine: str, pipeline: Pipeline, context: Any) -> None:
    with Stubber(shared_aws.client("stepfunctions")) as stub:
        stub.add_client_error(
            "start_execution",
            service_error_code="AccessDeniedException",
            service_message="User is not authorized to perform: states:StartExecution",
        )
        result = waiter.handler(job_event(), context)

    assert pipeline.failure() == {
        "jobId": JOB_ID,
        "failureDetails": {
            "type": "JobFailed",
            "message": "AwsRequestFailed: StartExecution failed: AccessDeniedException: User is not authorized to perform: states:StartExecution",
        },
    }
    assert result["result"] == "failed"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "ConfigurationError: environment variable STATE_MACHINE_ARN is not set on this function"),
        ("arn:aws:lambda:us-east-1:123456789012:function:x", "ConfigurationError: environment variable STATE_MACHINE_ARN="),
    ],
)
def test_state_machine_arn_missing_or_wrong_fails_the_job(value: str | None, message: str, aws: None, pipeline: Pipeline, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv("STATE_MACHINE_ARN", raising=False)
    else:
        monkeypatch.setenv("STATE_MACHINE_ARN", value)

    waiter.handler(job_event(), context)

    assert pipeline.failure()["failureDetails"]["message"].startswith(message)


# --- later calls -----------------------------------------------------------------------------


def test_running_execution_keeps_the_job_in_progress_with_the_same_token(started: str, pipeline: Pipeline, context: Any) -> None:
    event = continuation_event(started)

    result = waiter.handler(event, context)

    params = pipeline.success()
    assert params["jobId"] == NEXT_JOB_ID
    assert params["continuationToken"] == event["CodePipeline.job"]["data"]["continuationToken"]
    assert params["executionDetails"]["externalExecutionId"] == started
    assert re.fullmatch(rf"Deployment {EXECUTION_NAME} running for \d+m\d\ds", params["executionDetails"]["summary"])
    assert "outputVariables" not in params
    assert result["result"] == "running"


def test_succeeded_execution_ends_the_job_with_output_variables(started: str, pipeline: Pipeline, context: Any) -> None:
    output = {"commit_id": COMMIT, "staging": {"new_version": "4", "previous_version": "3"}, "production": {"new_version": 7}}
    finish(started, "SUCCEEDED", output=json.dumps(output))

    result = waiter.handler(continuation_event(started), context)

    assert pipeline.success() == {
        "jobId": NEXT_JOB_ID,
        "executionDetails": {
            "summary": f"Deployment {EXECUTION_NAME} succeeded: staging version 4, production version 7",
            "externalExecutionId": started,
        },
        "outputVariables": {
            "ExecutionArn": started,
            "ExecutionName": EXECUTION_NAME,
            "Service": SERVICE,
            "StagingVersion": "4",
            "ProductionVersion": "7",
        },
    }
    assert result["result"] == "succeeded"


@pytest.mark.parametrize("output", [None, "not json", json.dumps(["a"]), json.dumps({"staging": "4", "production": {"new_version": True}})])
def test_succeeded_execution_without_versions_reports_the_execution_only(output: str | None, started: str, pipeline: Pipeline, context: Any) -> None:
    finish(started, "SUCCEEDED", output=output)

    waiter.handler(continuation_event(started), context)

    params = pipeline.success()
    assert params["outputVariables"] == {"ExecutionArn": started, "ExecutionName": EXECUTION_NAME, "Service": SERVICE}
    assert params["executionDetails"]["summary"] == f"Deployment {EXECUTION_NAME} succeeded"


LAMBDA_CAUSE = json.dumps(
    {
        "errorMessage": "deployment d-ABCDEFGHI of sls-cd-production failed: alarm tripped",
        "errorType": "DeploymentFailed",
        "requestId": "c0ffee00-0000-0000-0000-000000000000",
        "stackTrace": ['  File "/var/task/handler.py", line 12, in handler\n'],
    }
)


@pytest.mark.parametrize(
    ("status", "attributes", "expected"),
    [
        ("FAILED", {"error": "DeploymentFailed", "cause": LAMBDA_CAUSE}, "DeploymentFailed: deployment d-ABCDEFGHI of sls-cd-production failed: alarm tripped"),
        ("FAILED", {"error": "TestsFailed", "cause": "2 of 5 staging test cases failed"}, "TestsFailed: 2 of 5 staging test cases failed"),
        ("FAILED", {"error": "States.Runtime", "cause": json.dumps({"errorMessage": ""})}, 'States.Runtime: {"errorMessage": ""}'),
        ("FAILED", {}, "ExecutionFailed: the execution failed without a cause"),
        ("TIMED_OUT", {}, "ExecutionTimedOut: the execution ran past its timeout"),
        ("TIMED_OUT", {"error": "States.Timeout", "cause": "Execution timed out after 3600 seconds"}, "States.Timeout: Execution timed out after 3600 seconds"),
    ],
)
def test_failed_execution_fails_the_job_with_a_readable_cause(status: str, attributes: dict[str, str], expected: str, started: str, pipeline: Pipeline, context: Any) -> None:
    finish(started, status, **attributes)

    result = waiter.handler(continuation_event(started), context)

    assert pipeline.failure() == {
        "jobId": NEXT_JOB_ID,
        "failureDetails": {"type": "JobFailed", "message": f"{expected} (execution {started})", "externalExecutionId": started},
    }
    assert result == {"job_id": NEXT_JOB_ID, "result": "failed", "execution_arn": started, "message": f"{expected} (execution {started})"}


def test_aborted_execution_fails_the_job(states: Any, started: str, pipeline: Pipeline, context: Any) -> None:
    states.stop_execution(executionArn=started)

    waiter.handler(continuation_event(started), context)

    assert pipeline.failure()["failureDetails"]["message"] == f"ExecutionAborted: the execution was stopped (execution {started})"


def test_long_cause_is_cut_to_the_failure_message_limit_keeping_the_execution(started: str, pipeline: Pipeline, context: Any) -> None:
    finish(started, "FAILED", error="DeploymentFailed", cause=json.dumps({"errorMessage": "x" * 30000}))

    waiter.handler(continuation_event(started), context)

    message = pipeline.failure()["failureDetails"]["message"]
    assert len(message) == 5000
    assert message.startswith("DeploymentFailed: xxx")
    assert message.endswith(f"… (execution {started})")


def test_unknown_status_stops_the_execution_then_fails_the_job(started: str, pipeline: Pipeline, stop_function: StopFunction, context: Any) -> None:
    finish(started, "PAUSED")

    waiter.handler(continuation_event(started), context)

    assert [request["execution_arn"] for request in stop_function.requests] == [started]
    assert pipeline.failure()["failureDetails"]["message"] == (
        f"UnexpectedError: the execution has the unknown status 'PAUSED'. Stopped the deployment: staging on version 3 (restored); production untouched (execution {started})"
    )


def test_execution_that_does_not_exist_fails_the_job(state_machine: str, pipeline: Pipeline, context: Any) -> None:
    missing = state_machine.replace(":stateMachine:", ":execution:") + ":gone"

    waiter.handler(continuation_event(missing), context)

    details = pipeline.failure()["failureDetails"]
    assert details["message"].startswith("AwsRequestFailed: DescribeExecution failed: ExecutionDoesNotExist")
    assert details["externalExecutionId"] == missing


# --- bad events ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        [],
        {},
        {"CodePipeline.job": "job"},
        {"CodePipeline.job": {"data": {}}},
        {"CodePipeline.job": {"id": "", "data": {}}},
        {"CodePipeline.job": {"id": "not-a-job-id", "data": {}}},
        {"CodePipeline.job": {"id": 42, "data": {}}},
    ],
)
def test_event_without_a_job_id_raises_invalid_input(event: Any, pipeline: Pipeline, context: Any) -> None:
    with pytest.raises(InvalidInput):
        waiter.handler(event, context)
    assert pipeline.calls == []


def without(path: str) -> dict[str, Any]:
    event = job_event()
    *parents, last = path.split(".")
    node = event["CodePipeline.job"]
    for part in parents:
        node = node[part]
    del node[last]
    return event


def parameters(**changes: Any) -> str:
    values = {"service": SERVICE, "commit_id": COMMIT, "pipeline_execution_id": PIPELINE_EXECUTION, "pipeline_name": PIPELINE, **changes}
    return json.dumps({name: value for name, value in values.items() if value is not None})


def artifact(**s3_location: Any) -> list[dict[str, Any]]:
    return [{"name": "BuildOutput", "location": {"type": "S3", "s3Location": s3_location}}]


EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:DeploymentStateMachine:{EXECUTION_NAME}"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (without("data"), "InvalidInput: the event has no 'data.actionConfiguration.configuration'"),
        (without("data.actionConfiguration"), "InvalidInput: the event has no 'data.actionConfiguration.configuration'"),
        (without("data.actionConfiguration.configuration.UserParameters"), "InvalidInput: the action has no UserParameters; set them to {"),
        (job_event(user_parameters="commit_id=abc"), "InvalidInput: UserParameters is not valid JSON (Expecting value"),
        (job_event(user_parameters='["abc"]'), "InvalidInput: UserParameters must be a JSON object, got an array"),
        (job_event(user_parameters=parameters(service=None)), "InvalidInput: UserParameters has no 'service' string"),
        (job_event(user_parameters=parameters(service=["orders"])), "InvalidInput: UserParameters has no 'service' string"),
        (job_event(user_parameters=parameters(service="Orders")), "InvalidInput: UserParameters: 'service' 'Orders' is not a service name"),
        (job_event(user_parameters=parameters(service="../orders")), "InvalidInput: UserParameters: 'service' '../orders' is not a service name"),
        (job_event(user_parameters=parameters(service="o" * 24)), "InvalidInput: UserParameters: 'service' 'oooooooooooooooooooooooo' is not a service name"),
        (job_event(user_parameters=parameters(commit_id=None)), "InvalidInput: UserParameters has no 'commit_id' string"),
        (job_event(user_parameters=parameters(commit_id=7)), "InvalidInput: UserParameters has no 'commit_id' string"),
        (job_event(user_parameters=parameters(commit_id="abc def")), "InvalidInput: UserParameters: 'commit_id' 'abc def' is not a commit id"),
        (job_event(user_parameters=parameters(commit_id="a" * 129)), "InvalidInput: UserParameters: 'commit_id' 'aaaa"),
        (job_event(user_parameters=parameters(pipeline_execution_id=None)), "InvalidInput: UserParameters has no 'pipeline_execution_id' string"),
        (job_event(user_parameters=parameters(pipeline_name="")), "InvalidInput: UserParameters has no 'pipeline_name' string"),
        (without("data.inputArtifacts"), "InvalidInput: the event has no 'data.inputArtifacts'"),
        (job_event(artifacts=[]), "InvalidInput: the action has no input artifact: give the Deploy action the build output artifact"),
        (job_event(artifacts=["BuildOutput"]), "InvalidInput: the first input artifact must be a JSON object, got a string"),
        (job_event(artifacts=[{"name": "BuildOutput"}]), "InvalidInput: the first input artifact: the event has no 'location.s3Location.bucketName'"),
        (job_event(artifacts=artifact(bucketName=BUCKET)), "InvalidInput: the first input artifact: the event has no 'location.s3Location.objectKey'"),
        (job_event(artifacts=artifact(bucketName=BUCKET, objectKey="")), "InvalidInput: the first input artifact: 'location.s3Location.objectKey' must not be empty"),
        (job_event(token="not json"), "InvalidInput: the continuation token 'not json' is not {\"execution_arn\": <an execution of DeploymentStateMachine>}"),
        (job_event(token=json.dumps({"arn": EXECUTION})), 'InvalidInput: the continuation token \'{"arn": '),
        (job_event(token=json.dumps({"execution_arn": "d-ABCDEFGHI"})), 'InvalidInput: the continuation token \'{"execution_arn": "d-ABCDEFGHI"}\' is not'),
        (job_event(token=json.dumps({"execution_arn": EXECUTION.replace(":execution:", ":stateMachine:")})), "InvalidInput: the continuation token"),
        (job_event(token=""), "InvalidInput: the continuation token is empty"),
        (job_event(token=12), "InvalidInput: the continuation token must be a string, got a number"),
    ],
)
def test_bad_event_fails_the_job_with_a_clear_message(event: dict[str, Any], message: str, states: Any, state_machine: str, pipeline: Pipeline, context: Any) -> None:
    result = waiter.handler(event, context)

    params = pipeline.failure()
    assert params["jobId"] == JOB_ID
    assert params["failureDetails"]["message"].startswith(message), params["failureDetails"]["message"]
    assert "externalExecutionId" not in params["failureDetails"]
    assert executions(states, state_machine) == []
    assert result["result"] == "failed"


# --- reporting -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["InvalidJobStateException", "JobNotFoundException"])
def test_a_failure_refused_because_the_job_has_a_result_ends_the_invocation(code: str, aws: None, pipeline: Pipeline, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_MACHINE_ARN", raising=False)
    pipeline.reject("PutJobFailureResult", code)

    result = waiter.handler(job_event(), context)

    assert result["result"] == "failed" and [operation for operation, _ in pipeline.calls] == ["PutJobFailureResult"]


@pytest.mark.parametrize(("code", "status", "error"), [("ThrottlingException", 400, errors.Throttled), ("InternalServiceError", 500, errors.ServiceUnavailable)])
def test_a_failure_refused_for_a_passing_reason_raises_so_lambda_invokes_again(
    code: str, status: int, error: type[Exception], aws: None, pipeline: Pipeline, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATE_MACHINE_ARN", raising=False)
    pipeline.reject("PutJobFailureResult", code, status=status)

    with pytest.raises(error, match=rf"PutJobFailureResult (was throttled \({code}\)|failed: {code})"):
        waiter.handler(job_event(), context)


def test_a_success_over_the_output_variables_limit_is_posted_without_them(started: str, pipeline: Pipeline, context: Any) -> None:
    finish(started, "SUCCEEDED", output=json.dumps({"staging": {"new_version": "4"}}))
    pipeline.reject("PutJobSuccessResult", "OutputVariablesSizeExceededException", times=1)

    result = waiter.handler(continuation_event(started), context)

    assert [operation for operation, _ in pipeline.calls] == ["PutJobSuccessResult", "PutJobSuccessResult"]
    posted = pipeline.calls[1][1]
    assert "outputVariables" not in posted and "output variables left out" in posted["executionDetails"]["summary"]
    assert result["result"] == "succeeded"


def test_a_progress_report_codepipeline_rejects_stops_the_execution_and_fails_the_job(started: str, pipeline: Pipeline, stop_function: StopFunction, context: Any) -> None:
    pipeline.reject("PutJobSuccessResult", "ValidationException", times=1)

    result = waiter.handler(continuation_event(started), context)

    assert [operation for operation, _ in pipeline.calls] == ["PutJobSuccessResult", "PutJobFailureResult"]
    assert [request["execution_arn"] for request in stop_function.requests] == [started]
    details = pipeline.calls[1][1]["failureDetails"]
    assert details["message"].startswith("AwsRequestFailed: PutJobSuccessResult failed: ValidationException")
    assert "Stopped the deployment: staging on version 3 (restored)" in details["message"]
    assert result["result"] == "failed"


# --- the execution cannot be checked ---------------------------------------------------------


@pytest.mark.parametrize(("code", "status"), [("ThrottlingException", 400), ("ServiceUnavailable", 503)])
def test_an_execution_that_cannot_be_checked_now_keeps_the_job_in_progress(code: str, status: int, started: str, pipeline: Pipeline, stop_function: StopFunction, context: Any) -> None:
    Refusals(shared_aws.client("stepfunctions"), "DescribeExecution", code, times=1, status=status)

    result = waiter.handler(continuation_event(started), context)

    params = pipeline.success()
    token = json.loads(params["continuationToken"])
    assert token["execution_arn"] == started and datetime.strptime(token["unavailable_since"], "%Y-%m-%dT%H:%M:%SZ")
    assert "cannot be checked right now" in params["executionDetails"]["summary"]
    assert result["result"] == "running" and stop_function.requests == []


def test_once_the_execution_can_be_checked_again_the_outage_is_forgotten(started: str, pipeline: Pipeline, context: Any) -> None:
    token = json.dumps({"execution_arn": started, "unavailable_since": "2026-01-01T00:00:00Z"})

    waiter.handler(job_event(job_id=NEXT_JOB_ID, token=token), context)

    assert pipeline.success()["continuationToken"] == json.dumps({"execution_arn": started})


def test_an_execution_that_cannot_be_checked_for_15_minutes_is_stopped_and_the_job_fails(started: str, pipeline: Pipeline, stop_function: StopFunction, context: Any) -> None:
    Refusals(shared_aws.client("stepfunctions"), "DescribeExecution", "ThrottlingException", times=1, status=400)
    since = (datetime.now(UTC) - timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%SZ")

    waiter.handler(job_event(job_id=NEXT_JOB_ID, token=json.dumps({"execution_arn": started, "unavailable_since": since})), context)

    assert [request["execution_arn"] for request in stop_function.requests] == [started]
    assert stop_function.requests[0]["function"] == "sls-cd-stop-deployment"
    message = pipeline.failure()["failureDetails"]["message"]
    assert message.startswith(f"ExecutionUnobservable: the execution could not be checked for 15 minutes, since {since}: DescribeExecution was throttled")
    assert "Stopped the deployment" in message and message.endswith(f"(execution {started})")


def test_a_stop_that_fails_is_said_in_the_failure(started: str, pipeline: Pipeline, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOP_FUNCTION_NAME", "sls-cd-stop-deployment")
    StopFunction(
        shared_aws.client("lambda", read_timeout=shared_aws.INVOKE_READ_TIMEOUT_SECONDS),
        error={"errorType": "AwsRequestFailed", "errorMessage": "StopExecution failed: AccessDeniedException"},
    )
    finish(started, "PAUSED")

    waiter.handler(continuation_event(started), context)

    message = pipeline.failure()["failureDetails"]["message"]
    assert "The deployment could not be stopped (AwsRequestFailed: StopExecution failed: AccessDeniedException); stop it and check its aliases by hand" in message


# --- hostile input ---------------------------------------------------------------------------


def test_a_job_id_with_a_trailing_newline_is_no_job(states: Any, state_machine: str, pipeline: Pipeline, context: Any) -> None:
    with pytest.raises(InvalidInput, match="is not a CodePipeline job id"):
        waiter.handler(job_event(job_id=JOB_ID + "\n"), context)
    assert pipeline.calls == [] and executions(states, state_machine) == []


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (job_event(user_parameters='{"commit_id": ' + nested(100_000) + "}"), "UserParameters is "),
        (
            job_event(
                user_parameters=json.dumps(
                    {"service": SERVICE, "commit_id": COMMIT, "pipeline_execution_id": PIPELINE_EXECUTION, "pipeline_name": PIPELINE, "x": json.loads(nested(900))}
                )
            ),
            "UserParameters is ",
        ),
        (job_event(token='{"execution_arn": ' + nested(100_000) + "}"), "the continuation token is "),
        (job_event(token=json.dumps({"execution_arn": EXECUTION + "x" * 3000})), "the continuation token is "),
        (job_event(token=json.dumps({"execution_arn": EXECUTION + "x" * 1500})), "the continuation token '"),
        (job_event(token=json.dumps({"execution_arn": EXECUTION.replace("DeploymentStateMachine", "SomeoneElsesMachine")})), "the continuation token '"),
        (job_event(token=json.dumps({"execution_arn": EXECUTION + ":extra"})), "the continuation token '"),
    ],
)
def test_hostile_input_fails_the_job_with_a_short_message_and_touches_nothing(
    event: dict[str, Any], message: str, states: Any, state_machine: str, pipeline: Pipeline, context: Any
) -> None:
    described = Refusals(shared_aws.client("stepfunctions"), "DescribeExecution", "ShouldNotBeCalled", times=1)

    waiter.handler(event, context)

    details = pipeline.failure()["failureDetails"]
    assert details["message"].startswith(f"InvalidInput: {message}") and len(details["message"]) <= 2000, details["message"][:300]
    assert "externalExecutionId" not in details
    assert described.refused == 0 and executions(states, state_machine) == []


# --- secrets ---------------------------------------------------------------------------------


SECRETS = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)


@pytest.mark.parametrize("user_parameters", [None, "not json"])
def test_artifact_credentials_never_reach_logs_or_the_execution_input(
    user_parameters: str | None,
    states: Any,
    state_machine: str,
    pipeline: Pipeline,
    context: Any,
    captured_logs: pytest.CaptureFixture[str],
) -> None:
    waiter.handler(job_event(user_parameters=user_parameters), context)
    for execution in executions(states, state_machine):
        waiter.handler(continuation_event(execution["executionArn"]), context)
        document = states.describe_execution(executionArn=execution["executionArn"])["input"]
        assert not any(secret in document for secret in SECRETS)
    with pytest.raises(InvalidInput):
        waiter.handler({"CodePipeline.job": {"data": job_event()["CodePipeline.job"]["data"]}}, context)

    logs = captured_logs.readouterr()
    assert '"message":"job result posted"' in logs.out
    assert not any(secret in logs.out + logs.err for secret in SECRETS)
    assert not any(secret in json.dumps(params) for _, params in pipeline.calls for secret in SECRETS)
