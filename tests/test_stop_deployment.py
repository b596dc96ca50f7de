"""stop_deployment against moto: which executions a pipeline run's end stops, what it records and
tells, and how it runs the rollback (moto runs no function code: the rollback function is answered
at the handler's Lambda client, which records each request)."""

import io
import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from aws_fixtures import TABLE, service_document
from conftest import REGION, load_handler
from local_aws.platform import create_deployments_table
from shared import aws as shared_aws, errors

stop = load_handler("stop_deployment")

ACCOUNT = "123456789012"
PIPELINE = "sls-cd-pipeline"
RUN = "3d6f1c4e-0b1a-4c55-9d2e-5f0a8b7c6d5e"
OTHER_RUN = "7a1e2b3c-0b1a-4c55-9d2e-5f0a8b7c6d5e"
ROLLBACK_FUNCTION = "sls-cd-rollback"
# The execution input's service, as the waiter puts it there (the rollback function checks it).
SERVICE = service_document() | {"name": "orders", "pipeline_name": PIPELINE}


class RollbackFunction:
    """Answers the handler's invocations of the rollback function with `answers`, in turn."""

    def __init__(self, client: Any, answers: list[dict[str, Any]]) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers = answers
        client.meta.events.register("before-parameter-build.lambda.Invoke", self._record)
        client.meta.events.register("before-call.lambda.Invoke", self._answer)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        assert params["FunctionName"] == ROLLBACK_FUNCTION
        self.requests.append(json.loads(params["Payload"]))

    def _answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        body = json.dumps(answer).encode()
        parsed: dict[str, Any] = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body)), "ResponseMetadata": {"HTTPStatusCode": 200}}
        if "errorType" in answer:
            parsed["FunctionError"] = "Unhandled"
        return AWSResponse("", 200, {}, None), parsed


RESTORED = {"environments": {}, "summary": "production untouched; staging on version 1 (restored)"}


@pytest.fixture
def platform(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    create_deployments_table()
    topic = shared_aws.client("sns").create_topic(Name="deployments")["TopicArn"]
    state_machine = shared_aws.client("stepfunctions").create_state_machine(
        name="sls-cd-deployment",
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/states",
    )["stateMachineArn"]
    for name, value in {"STATE_MACHINE_ARN": state_machine, "ROLLBACK_FUNCTION_NAME": ROLLBACK_FUNCTION, "DEPLOYMENTS_TABLE": TABLE, "NOTIFICATION_TOPIC_ARN": topic}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(stop, "ROLLBACK_PAUSES_SECONDS", (0, 0, 0))
    return {"state_machine": state_machine, "topic": topic}


@pytest.fixture
def rollback(platform: dict[str, str]) -> RollbackFunction:
    return RollbackFunction(shared_aws.client("lambda", read_timeout=shared_aws.INVOKE_READ_TIMEOUT_SECONDS), [RESTORED])


def start(platform: dict[str, str], commit: str, run: str, name: str, service: Any = SERVICE) -> str:
    document = {"commit_id": commit, "artifact": {"bucket": "artifacts", "key": "a.zip"}, "pipeline": {"name": PIPELINE, "execution_id": run, "job_id": "j"}}
    if service is not None:
        document["service"] = service
    return str(shared_aws.client("stepfunctions").start_execution(stateMachineArn=platform["state_machine"], name=name, input=json.dumps(document))["executionArn"])


def pipeline_event(state: str, run: str = RUN, **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "5b7c3e2a-1111-2222-3333-444455556666",
        "detail-type": "CodePipeline Pipeline Execution State Change",
        "source": "aws.codepipeline",
        "account": ACCOUNT,
        "time": "2026-12-01T10:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{PIPELINE}"],
        "detail": {"pipeline": PIPELINE, "execution-id": run, "state": state, "version": 1} | detail,
    }


def status(arn: str) -> str:
    return str(shared_aws.client("stepfunctions").describe_execution(executionArn=arn)["status"])


def record(commit: str, name: str) -> dict[str, Any]:
    from shared.records import read_record

    return read_record(TABLE, commit, name) or {}


def notifications(topic: str) -> list[tuple[str, str]]:
    """Each notification published: its subject and the text e-mail subscribers get."""
    from moto.sns.models import sns_backends

    sent = sns_backends[ACCOUNT][REGION].topics[topic].sent_notifications
    return [(subject, json.loads(message)["email"]) for _, message, subject, *_ in sent]


def notes(topic: str) -> list[dict[str, Any]]:
    """Each notification published, as the notifier gets it."""
    from moto.sns.models import sns_backends

    return [json.loads(json.loads(message)["lambda"]) for _, message, *_ in sns_backends[ACCOUNT][REGION].topics[topic].sent_notifications]


def test_a_stopped_pipeline_run_stops_its_deployment_and_rolls_it_back(platform: dict[str, str], rollback: RollbackFunction, context: Any) -> None:
    deployment = start(platform, "c0ffee1", RUN, "c0ffee1-job1")
    other = start(platform, "c0ffee2", OTHER_RUN, "c0ffee2-job2")

    result = stop.handler(pipeline_event("STOPPING", **{"stop-execution-comments": "wrong branch"}), context)

    assert status(deployment) == "ABORTED" and status(other) == "RUNNING"
    reason = f"pipeline {PIPELINE} execution {RUN} is being stopped (wrong branch)"
    assert rollback.requests == [
        {"commit_id": "c0ffee1", "execution": {"arn": deployment, "name": "c0ffee1-job1"}, "failure": {"error": "DeploymentStopped", "cause": reason}, "service": SERVICE}
    ]
    stopped = record("c0ffee1", "c0ffee1-job1")
    assert stopped["status"] == "STOPPED" and stopped["stopped_by"] == reason and stopped["execution_arn"] == deployment and stopped["service"] == "orders"
    assert stopped["failure_error"] == "DeploymentStopped" and stopped["finished_at"]
    assert notifications(platform["topic"]) == [
        ("orders: deployment stopped", f"Service orders: deployment c0ffee1-job1 of commit c0ffee1 was stopped: {reason}. Rolled back: {RESTORED['summary']}")
    ]
    (note,) = notes(platform["topic"])
    assert note["kind"] == "deployment" and note["status"] == "stopped" and note["service"] == "orders" and note["commit_id"] == "c0ffee1"
    assert note["execution_arn"] == deployment and note["error"] == "DeploymentStopped" and reason in note["cause"]
    assert result["summary"] == f"stopped c0ffee1-job1: {RESTORED['summary']}"


@pytest.mark.parametrize("state", ["STOPPED", "SUPERSEDED", "CANCELED", "FAILED"])
def test_every_state_that_ends_a_run_stops_its_deployment(state: str, platform: dict[str, str], rollback: RollbackFunction, context: Any) -> None:
    deployment = start(platform, "c0ffee1", RUN, "c0ffee1-job1")

    stop.handler(pipeline_event(state), context)

    assert status(deployment) == "ABORTED" and len(rollback.requests) == 1


@pytest.mark.parametrize("state", ["STARTED", "SUCCEEDED", "RESUMED"])
def test_a_run_that_goes_on_leaves_its_deployment_alone(state: str, platform: dict[str, str], rollback: RollbackFunction, context: Any) -> None:
    deployment = start(platform, "c0ffee1", RUN, "c0ffee1-job1")

    result = stop.handler(pipeline_event(state), context)

    assert status(deployment) == "RUNNING" and rollback.requests == [] and result["executions"] == []


def test_the_same_event_twice_rolls_back_once_and_changes_nothing_more(platform: dict[str, str], rollback: RollbackFunction, context: Any) -> None:
    start(platform, "c0ffee1", RUN, "c0ffee1-job1")

    stop.handler(pipeline_event("STOPPED"), context)
    again = stop.handler(pipeline_event("STOPPED"), context)

    assert len(rollback.requests) == 1 and again["executions"] == []


@pytest.mark.parametrize("service", [None, "orders", {"name": 7}])
def test_an_execution_whose_input_names_no_service_is_stopped_and_its_rollback_told_as_much(service: Any, platform: dict[str, str], rollback: RollbackFunction, context: Any) -> None:
    deployment = start(platform, "c0ffee1", RUN, "c0ffee1-job1", service=service)

    stop.handler(pipeline_event("STOPPED"), context)

    assert status(deployment) == "ABORTED"
    assert [request.get("service") for request in rollback.requests] == [service]
    assert "service" not in record("c0ffee1", "c0ffee1-job1")
    ((_, message),) = notifications(platform["topic"])
    assert message.startswith("Deployment c0ffee1-job1 of commit c0ffee1 was stopped")


def test_the_waiter_s_request_stops_that_execution(platform: dict[str, str], rollback: RollbackFunction, context: Any) -> None:
    deployment = start(platform, "c0ffee1", RUN, "c0ffee1-job1")

    result = stop.handler({"execution_arn": deployment, "reason": "the pipeline job j failed: ExecutionUnobservable"}, context)

    assert status(deployment) == "ABORTED"
    assert rollback.requests[0]["failure"]["cause"] == "the pipeline job j failed: ExecutionUnobservable"
    assert result["executions"][0]["action"] == "stopped"


def test_an_execution_that_ended_by_itself_is_left_as_it_ended(platform: dict[str, str], rollback: RollbackFunction, context: Any) -> None:
    from moto.stepfunctions.models import stepfunctions_backends

    deployment = start(platform, "c0ffee1", RUN, "c0ffee1-job1")
    stepfunctions_backends[ACCOUNT][REGION].describe_execution(deployment).status = "SUCCEEDED"

    result = stop.handler({"execution_arn": deployment, "reason": "late"}, context)

    assert rollback.requests == [] and result["executions"][0]["action"] == "already_ended"
    assert record("c0ffee1", "c0ffee1-job1") == {}


def test_a_busy_rollback_is_tried_again(platform: dict[str, str], context: Any) -> None:
    busy = {"errorType": "FunctionBusy", "errorMessage": "app-staging still has an update in progress after 45 s; retrying later"}
    rollback = RollbackFunction(shared_aws.client("lambda", read_timeout=shared_aws.INVOKE_READ_TIMEOUT_SECONDS), [busy, RESTORED])
    start(platform, "c0ffee1", RUN, "c0ffee1-job1")

    result = stop.handler(pipeline_event("STOPPED"), context)

    assert len(rollback.requests) == 2 and result["executions"][0]["action"] == "stopped"


def test_a_failed_rollback_is_said_in_the_record_and_the_notification(platform: dict[str, str], context: Any) -> None:
    failed = {"errorType": "RollbackFailed", "errorMessage": "staging: UpdateAlias failed: AccessDeniedException (alias live of app-staging is on version 2)"}
    RollbackFunction(shared_aws.client("lambda", read_timeout=shared_aws.INVOKE_READ_TIMEOUT_SECONDS), [failed])
    start(platform, "c0ffee1", RUN, "c0ffee1-job1")

    result = stop.handler(pipeline_event("STOPPED"), context)

    assert result["executions"][0]["action"] == "stopped_rollback_failed"
    assert "alias live of app-staging is on version 2" in result["summary"]
    ((subject, message),) = notifications(platform["topic"])
    assert subject == "orders: deployment stopped" and "The rollback failed: RollbackFailed: staging: UpdateAlias failed" in message
    assert notes(platform["topic"])[0]["error"] == "RollbackFailed"


def test_a_record_that_ended_keeps_its_status(platform: dict[str, str], rollback: RollbackFunction, context: Any) -> None:
    deployment = start(platform, "c0ffee1", RUN, "c0ffee1-job1")
    key = {"commit_id": {"S": "c0ffee1"}, "execution_name": {"S": "c0ffee1-job1"}}
    boto3.client("dynamodb").put_item(TableName=TABLE, Item=key | {"status": {"S": "FAILED"}})

    stop.handler({"execution_arn": deployment, "reason": "late"}, context)

    assert record("c0ffee1", "c0ffee1-job1")["status"] == "FAILED"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"execution_arn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:someone-elses:run", "reason": "x"}, "is not an execution of"),
        ({"execution_arn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:sls-cd-deployment:a:b", "reason": "x"}, "is not an execution of"),
        ({"execution_arn": "x" * 300, "reason": "x"}, "'execution_arn' is 300 characters long"),
        ({"reason": "x"}, "no 'execution_arn'"),
        (pipeline_event("STOPPED") | {"detail-type": "CodePipeline Stage Execution State Change"}, "is not a 'CodePipeline Pipeline Execution State Change' event"),
        (pipeline_event("STOPPED", run="\ud800"), "'detail.execution-id' is not valid Unicode text"),
    ],
)
def test_a_request_for_anything_else_is_refused(event: dict[str, Any], message: str, platform: dict[str, str], rollback: RollbackFunction, context: Any) -> None:
    deployment = start(platform, "c0ffee1", RUN, "c0ffee1-job1")

    with pytest.raises(errors.InvalidInput, match=message):
        stop.handler(event, context)
    assert status(deployment) == "RUNNING" and rollback.requests == []
