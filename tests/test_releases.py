"""Releases (docs/releases.md) against moto: release_intake accepting a manifest once, release_steps
running the ReleaseStateMachine's steps, release_events hearing the pipelines' events and sweeping
quiet waits, and the records and the one answer of a wait (shared/releases.py).

moto holds the releases table (keyed and indexed as releases.tf makes it), the release bucket, the
topic and the state machine (which it does not run: each step is called here as the state machine
would call it). moto answers SendTaskSuccess without looking at the token: what the handlers send
is recorded at their own client. CodePipeline is scripted with botocore's Stubber on the handlers'
client (moto has no ListActionExecutions or StopPipelineExecution and starts executions Succeeded),
which also checks each request's parameters and that nothing else is asked of it.
"""

import base64
import copy
import functools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.awsrequest import AWSResponse
from botocore.stub import ANY, Stubber

from aws_fixtures import Refusals
from conftest import REGION, FakeLambdaContext, load_handler
from shared import aws as shared_aws, errors, releases
from shared.manifest import MAX_MANIFEST_BYTES

intake = load_handler("release_intake")
steps = load_handler("release_steps")
events = load_handler("release_events")

CONTEXT = FakeLambdaContext()
ACCOUNT = "123456789012"
TABLE = "sls-cd-releases"
BUCKET = "sls-cd-releases-123456789012"
STATE_MACHINE = "sls-cd-release"
API, WEB, DOCS = "sls-cd-pipeline", "sls-cd-web-pipeline", "sls-cd-docs-pipeline"
ROLE = "arn:aws:iam::111111111111:role/pipeline-release-access"
CONSOLE = "https://console.aws.amazon.com"
CALLER = f"arn:aws:iam::{ACCOUNT}:user/release-manager"
OTHER_CALLER = f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci"
QUIET_SECONDS = 300
EVENT_TIME = "2030-01-02T03:04:05Z"
FAILED_ACTIONS: list[dict[str, Any]] = [
    {"stageName": "Source", "actionName": "Source", "status": "Succeeded"},
    {
        "stageName": "Build",
        "actionName": "IntegrationTests",
        "status": "Failed",
        "output": {"executionResult": {"externalExecutionId": "b-1", "externalExecutionSummary": "3 of 120 tests failed"}},
    },
]
DESERIALIZER = TypeDeserializer()
FAILED_SUMMARY = "Failed: Build failed. Failed: stage Build action IntegrationTests: 3 of 120 tests failed"


# --- the platform in moto -----------------------------------------------------------------------


class Requests:
    """Each request of `operation` the handlers send on their `service` client, as sent; moto (or a
    Refusals hook) still answers it."""

    def __init__(self, service: str, operation: str) -> None:
        client = shared_aws.client(service)
        self.requests: list[dict[str, Any]] = []
        client.meta.events.register(f"before-parameter-build.{client.meta.service_model.service_id.hyphenize()}.{operation}", self._record)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.requests.append(copy.deepcopy(params))


def create_releases_table() -> None:
    """The releases table as releases.tf makes it."""
    shared_aws.client("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "release_id", "KeyType": "HASH"}, {"AttributeName": "record", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("release_id", "record", "execution_id", "watching", "last_heard")],
        GlobalSecondaryIndexes=[
            {"IndexName": "execution", "KeySchema": [{"AttributeName": "execution_id", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}},
            {
                "IndexName": "watching",
                "KeySchema": [{"AttributeName": "watching", "KeyType": "HASH"}, {"AttributeName": "last_heard", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    )


@functools.cache
def warm_session() -> boto3.Session:
    """One boto3 session for the module: moto resets boto3's default session for every test, and a
    fresh session loads every service model again (a tenth of a second per client)."""
    return boto3.Session()


@pytest.fixture
def platform(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", warm_session())
    create_releases_table()
    s3 = shared_aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    topic = shared_aws.client("sns").create_topic(Name="sls-cd-notifications")["TopicArn"]
    state_machine = shared_aws.client("stepfunctions").create_state_machine(
        name=STATE_MACHINE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sls-cd-release-states",
    )["stateMachineArn"]
    settings = {
        "RELEASES_TABLE": TABLE,
        "RELEASE_BUCKET": BUCKET,
        "RELEASE_STATE_MACHINE_ARN": state_machine,
        "RELEASE_PIPELINES": json.dumps([API, WEB, DOCS]),
        "RELEASE_ROLE_ARNS": json.dumps([ROLE]),
        "NOTIFICATION_TOPIC_ARN": topic,
        "CONSOLE_URL": CONSOLE,
        "RELEASE_SESSION_NAME": "pipeline-release",
        "RELEASE_QUIET_SECONDS": str(QUIET_SECONDS),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return {"state_machine": state_machine, "topic": topic}


@pytest.fixture
def pipelines(platform: dict[str, str]) -> Iterator[Stubber]:
    """CodePipeline as the handlers' client sees it: each answer scripted, in order."""
    with Stubber(shared_aws.client("codepipeline")) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def answers(platform: dict[str, str]) -> Requests:
    """The answers the handlers send to the waits (SendTaskSuccess)."""
    return Requests("stepfunctions", "SendTaskSuccess")


@pytest.fixture
def notices(platform: dict[str, str]) -> Requests:
    return Requests("sns", "Publish")


# --- CodePipeline's answers -----------------------------------------------------------------------


def will_start(stub: Stubber, release_id: str, name: str, execution_id: str, **more: Any) -> None:
    expected = {"name": name, "clientRequestToken": releases.client_request_token(release_id, name)} | more
    stub.add_response("start_pipeline_execution", {"pipelineExecutionId": execution_id}, expected)


def will_describe(stub: Stubber, name: str, execution_id: str, status: str, summary: str | None = None) -> None:
    execution = {"pipelineName": name, "pipelineExecutionId": execution_id, "status": status} | ({"statusSummary": summary} if summary else {})
    stub.add_response("get_pipeline_execution", {"pipelineExecution": execution}, {"pipelineName": name, "pipelineExecutionId": execution_id})


def will_list_actions(stub: Stubber, name: str, execution_id: str, details: list[dict[str, Any]]) -> None:
    stub.add_response("list_action_executions", {"actionExecutionDetails": details}, {"pipelineName": name, "filter": {"pipelineExecutionId": execution_id}, "maxResults": 100})


def will_fail(stub: Stubber, name: str, execution_id: str) -> None:
    """The check of a failed run: GetPipelineExecution, then its failed actions."""
    will_describe(stub, name, execution_id, "Failed", "Build failed")
    will_list_actions(stub, name, execution_id, FAILED_ACTIONS)


# --- what a user sends, and what the handlers are given ----------------------------------------


def manifest(release_id: str = "5.16", **fields: Any) -> dict[str, Any]:
    """A release of two waves: API, then WEB after it."""
    return {"release_id": release_id, "pipelines": [API, {"name": WEB, "after": [API]}], **fields}


def api_event(document: Any, caller: str | None = CALLER, request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef") -> dict[str, Any]:
    """API Gateway's REST proxy event of POST /releases with AWS_IAM authorization."""
    identity = {"userArn": caller, "caller": "AIDAEXAMPLE", "accountId": ACCOUNT} if caller else {}
    return {
        "resource": "/releases",
        "path": "/releases",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": document if isinstance(document, str) else json.dumps(document),
        "isBase64Encoded": False,
        "requestContext": {"requestId": request_id, "stage": "v1", "identity": identity},
    }


def upload_event(key: str, version: str | None, size: int, bucket: str = BUCKET, request_id: str = "C3D13FE58DE4C810") -> dict[str, Any]:
    """S3's "Object Created" event, as EventBridge delivers it."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2030-01-02T03:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "etag": "b1946ac92492d2347c6235b4d2611184", "sequencer": "00617F08299329D189"} | ({"version-id": version} if version else {}),
            "request-id": request_id,
            "requester": ACCOUNT,
            "source-ip-address": "203.0.113.15",
            "reason": "PutObject",
        },
    }


def uploaded(document: Any, key: str = "releases/5.16.json") -> dict[str, Any]:
    """`document` put in the release bucket under `key`; the event of it."""
    body = (document if isinstance(document, str) else json.dumps(document)).encode()
    version = shared_aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]
    return upload_event(key, version, len(body))


def pipeline_event(name: str, execution_id: str, state: str, time: str = EVENT_TIME) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "01234567-0123-0123-0123-012345678901",
        "detail-type": "CodePipeline Pipeline Execution State Change",
        "source": "aws.codepipeline",
        "account": ACCOUNT,
        "time": time,
        "region": REGION,
        "resources": [f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{name}"],
        "detail": {"pipeline": name, "execution-id": execution_id, "state": state, "version": 1.0, "pipeline-execution-attempt": 1.0},
    }


SCHEDULED = {"version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41", "detail-type": "Scheduled Event", "source": "aws.events", "account": ACCOUNT, "detail": {}}


def submit(document: Any, caller: str = CALLER, request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef") -> tuple[int, dict[str, Any]]:
    answer = intake.handler(api_event(document, caller, request_id), CONTEXT)
    assert answer["headers"] == {"Content-Type": "application/json"}
    return answer["statusCode"], json.loads(answer["body"])


def step(action: str, **fields: Any) -> dict[str, Any]:
    return steps.handler({"action": action, **fields}, CONTEXT)  # type: ignore[no-any-return]


def heard(event: dict[str, Any]) -> dict[str, Any]:
    return events.handler(event, CONTEXT)  # type: ignore[no-any-return]


# --- what the records and the state machine hold ------------------------------------------------


def stored(release_id: str) -> dict[str, dict[str, Any]]:
    """The release's records in the table, by record key."""
    found = shared_aws.client("dynamodb").query(TableName=TABLE, KeyConditionExpression="release_id = :id", ExpressionAttributeValues={":id": {"S": release_id}}, ConsistentRead=True)
    items = [{name: DESERIALIZER.deserialize(value) for name, value in item.items()} for item in found["Items"]]
    return {item["record"]: item for item in items}


def submissions(release_id: str) -> list[dict[str, Any]]:
    return [item for record, item in sorted(stored(release_id).items()) if record.startswith("submission#")]


def run_of(release_id: str, name: str) -> dict[str, Any]:
    return stored(release_id)[f"pipeline#{name}"]


def set_last_heard(release_id: str, name: str, at: str) -> None:
    shared_aws.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"release_id": {"S": release_id}, "record": {"S": f"pipeline#{name}"}},
        UpdateExpression="SET last_heard = :at",
        ExpressionAttributeValues={":at": {"S": at}},
    )


def executions() -> list[dict[str, Any]]:
    """The state machine's executions: their name and input."""
    sfn = shared_aws.client("stepfunctions")
    arn = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    listed = sfn.list_executions(stateMachineArn=arn)["executions"]
    return [{"arn": item["executionArn"], "name": item["name"], "input": json.loads(sfn.describe_execution(executionArn=item["executionArn"])["input"])} for item in listed]


def pipeline_input(release_id: str, name: str) -> dict[str, Any]:
    """The pipeline as the execution's input gives it to the start step."""
    (execution,) = [execution for execution in executions() if execution["input"]["release_id"] == release_id]
    return next(pipeline for wave in execution["input"]["waves"] for pipeline in wave if pipeline["name"] == name)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def between(text: str, before: datetime, after: datetime) -> bool:
    """Whether the second-precision time `text` lies between `before` and `after`."""
    return before.replace(microsecond=0) <= parse(text) <= after


def outputs(answers: Requests) -> list[dict[str, Any]]:
    return [{"token": request["taskToken"]} | json.loads(request["output"]) for request in answers.requests]


# --- a release on its way -----------------------------------------------------------------------


def running(release_id: str = "5.16", **fields: Any) -> str:
    """The release accepted and begun; its deadline."""
    status, _ = submit(manifest(release_id, **fields))
    assert status == 202
    return str(step("begin", release_id=release_id, timeout_minutes=fields.get("timeout_minutes", 120))["deadline"])


def start(stub: Stubber, release_id: str, name: str, execution_id: str, deadline: str, on_failure: str = "stop") -> dict[str, Any]:
    will_start(stub, release_id, name, execution_id)
    return step("start", release_id=release_id, on_failure=on_failure, deadline=deadline, pipeline=pipeline_input(release_id, name))


def watch(stub: Stubber, release_id: str, name: str, execution_id: str, status: str = "InProgress") -> dict[str, Any]:
    will_describe(stub, name, execution_id, status)
    return step("watch", token=f"token-{name}", release_id=release_id, pipeline=name, execution_id=execution_id)


def watched(stub: Stubber, release_id: str, name: str, execution_id: str, deadline: str) -> None:
    """The run started, and the release waiting for it."""
    assert start(stub, release_id, name, execution_id, deadline)["started"] is True
    assert watch(stub, release_id, name, execution_id) == {"watching": True, "status": "InProgress"}


# --- intake: an upload ------------------------------------------------------------------------


def test_an_uploaded_manifest_is_recorded_once_and_starts_the_release_in_waves(platform: dict[str, str], notices: Requests) -> None:
    event = uploaded(manifest())
    before = datetime.now(UTC)
    answer = intake.handler(event, CONTEXT)
    version = event["detail"]["object"]["version-id"]

    name = releases.execution_name("5.16")
    execution_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STATE_MACHINE}:{name}"
    assert answer["status"] == "ACCEPTED" and answer["execution_arn"] == execution_arn and answer["execution_name"] == name
    records = stored("5.16")
    release = records["release"]
    assert release["status"] == "ACCEPTED"
    assert release["submitted_via"] == "upload"
    assert release["submitted_by"] == ACCOUNT
    assert release["submitted_from"] == f"s3://{BUCKET}/releases/5.16.json?versionId={version}"
    assert json.loads(release["manifest"]) == manifest()
    assert release["pipelines"] == [API, WEB]
    assert release["execution_arn"] == execution_arn
    assert [change["status"] for change in release["changes"]] == ["ACCEPTED"]
    assert between(release["submitted_at"], before, datetime.now(UTC))
    (submission,) = submissions("5.16")
    assert submission["outcome"] == "ACCEPTED" and submission["submitted_from"] == release["submitted_from"] and "error" not in submission

    (execution,) = executions()
    assert execution["name"] == name and execution["arn"] == execution_arn
    assert execution["input"] == {
        "release_id": "5.16",
        "description": None,
        "on_failure": "stop",
        "timeout_minutes": 120,
        "max_concurrency": 5,
        "waves": [
            [{"name": API, "wave": 1, "source_revisions": [], "variables": [], "role_arn": None, "after": []}],
            [{"name": WEB, "wave": 2, "source_revisions": [], "variables": [], "role_arn": None, "after": [API]}],
        ],
        "submitted_by": ACCOUNT,
        "submitted_via": "upload",
    }
    assert notices.requests == []


def test_the_manifests_settings_and_a_pipeline_of_another_account_reach_the_execution(platform: dict[str, str]) -> None:
    document = {
        "release_id": "2026-12-01_1",
        "description": "API and front end",
        "on_failure": "continue",
        "timeout_minutes": 45,
        "max_concurrency": 2,
        "pipelines": [
            {"name": API, "variables": {"release": "5.16"}, "source_revisions": [{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "9fceb02d"}]},
            {"name": "partner-pipeline", "role_arn": ROLE, "after": [API]},
        ],
    }
    intake.handler(uploaded(document, "releases/partner.json"), CONTEXT)

    (execution,) = executions()
    assert execution["name"] == "2026-12-01_1"
    assert {key: execution["input"][key] for key in ("description", "on_failure", "timeout_minutes", "max_concurrency")} == {
        "description": "API and front end",
        "on_failure": "continue",
        "timeout_minutes": 45,
        "max_concurrency": 2,
    }
    assert execution["input"]["waves"] == [
        [
            {
                "name": API,
                "wave": 1,
                "source_revisions": [{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "9fceb02d"}],
                "variables": [{"name": "release", "value": "5.16"}],
                "role_arn": None,
                "after": [],
            }
        ],
        [{"name": "partner-pipeline", "wave": 2, "source_revisions": [], "variables": [], "role_arn": ROLE, "after": [API]}],
    ]


# --- intake: the API ------------------------------------------------------------------------------


def test_the_api_answers_202_with_the_execution_and_records_the_caller(platform: dict[str, str], notices: Requests) -> None:
    status, body = submit(manifest(), request_id="req-1")

    (execution,) = executions()
    assert status == 202
    assert body["release_id"] == "5.16" and body["status"] == "ACCEPTED"
    assert body["execution_arn"] == execution["arn"]
    assert body["console_url"] == f"{CONSOLE}/states/home?region={REGION}#/v2/executions/details/{execution['arn']}"
    release = stored("5.16")["release"]
    assert (release["submitted_by"], release["submitted_via"], release["submitted_from"]) == (CALLER, "api", "api request req-1")
    assert execution["input"]["submitted_by"] == CALLER and execution["input"]["submitted_via"] == "api"
    (submission,) = submissions("5.16")
    assert submission["outcome"] == "ACCEPTED" and submission["record"].endswith("#req-1")
    assert notices.requests == []  # the caller has the answer


def test_the_api_without_a_console_gives_no_console_url(platform: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSOLE_URL")
    status, body = submit(manifest())
    assert status == 202 and body["console_url"] is None and body["execution_arn"]


def test_the_api_refuses_a_request_without_a_caller_identity(platform: dict[str, str]) -> None:
    status, body = submit(manifest(), caller="")
    assert status == 403 and "AWS_IAM" in body["message"]
    assert stored("5.16") == {} and executions() == []


def test_a_base64_body_is_read(platform: dict[str, str]) -> None:
    event = api_event(base64.b64encode(json.dumps(manifest()).encode()).decode()) | {"isBase64Encoded": True}
    answer = intake.handler(event, CONTEXT)
    assert answer["statusCode"] == 202 and len(executions()) == 1


# --- intake: once -----------------------------------------------------------------------------


def test_an_id_uploaded_then_posted_is_refused_409_naming_the_first_execution(platform: dict[str, str], notices: Requests) -> None:
    first = intake.handler(uploaded(manifest()), CONTEXT)

    status, body = submit(manifest(description="again"), caller=OTHER_CALLER, request_id="req-2")

    assert status == 409
    assert body["status"] == "REJECTED" and body["error"] == "DuplicateRelease"
    assert body["execution_arn"] == first["execution_arn"]
    assert body["console_url"] == f"{CONSOLE}/states/home?region={REGION}#/v2/executions/details/{first['execution_arn']}"
    assert "submitted before" in body["message"] and f"upload by {ACCOUNT}" in body["message"] and first["execution_arn"] in body["message"]
    assert len(executions()) == 1
    release = stored("5.16")["release"]
    assert release["submitted_via"] == "upload" and "description" not in release
    outcomes = sorted((item["outcome"], item.get("error"), item["submitted_via"]) for item in submissions("5.16"))
    assert outcomes == [("ACCEPTED", None, "upload"), ("REJECTED", "DuplicateRelease", "api")]
    assert notices.requests == []


def test_of_two_posts_of_one_id_the_first_is_the_release(platform: dict[str, str]) -> None:
    first_status, first = submit(manifest(), caller=CALLER, request_id="req-1")
    second_status, second = submit(manifest(), caller=OTHER_CALLER, request_id="req-2")

    assert (first_status, second_status) == (202, 409)
    assert second["execution_arn"] == first["execution_arn"]
    assert [execution["arn"] for execution in executions()] == [first["execution_arn"]]
    release = stored("5.16")["release"]
    assert release["submitted_by"] == CALLER and release["submitted_from"] == "api request req-1"
    by_request = {item["record"].rsplit("#", 1)[1]: item for item in submissions("5.16")}
    assert by_request["req-1"]["outcome"] == "ACCEPTED"
    assert (by_request["req-2"]["outcome"], by_request["req-2"]["error"], by_request["req-2"]["submitted_by"]) == ("REJECTED", "DuplicateRelease", OTHER_CALLER)


def test_a_post_arriving_while_the_first_starts_its_execution_is_refused(platform: dict[str, str]) -> None:
    """The race: the second submission comes between the first's conditional write and its StartExecution."""
    answers: list[tuple[int, dict[str, Any]]] = []

    def second_submission(**_: Any) -> None:
        if not answers:
            answers.append(submit(manifest(), caller=OTHER_CALLER, request_id="req-2"))

    shared_aws.client("stepfunctions").meta.events.register("before-call.sfn.StartExecution", second_submission)

    status, first = submit(manifest(), caller=CALLER, request_id="req-1")

    ((second_status, second),) = answers
    assert (status, second_status) == (202, 409)
    assert second["execution_arn"] == first["execution_arn"] and second["error"] == "DuplicateRelease"
    assert len(executions()) == 1
    assert stored("5.16")["release"]["submitted_by"] == CALLER


def test_a_duplicate_upload_is_notified(platform: dict[str, str], notices: Requests) -> None:
    submit(manifest())

    answer = intake.handler(uploaded(manifest(), "releases/again.json"), CONTEXT)

    assert answer["error"] == "DuplicateRelease" and len(executions()) == 1
    (notice,) = notices.requests
    assert notice["Subject"] == "Release 5.16 rejected" and "releases/again.json" in notice["Message"] and "submitted before" in notice["Message"]


def test_an_upload_event_delivered_again_is_the_release_accepted_already(platform: dict[str, str], notices: Requests) -> None:
    event = uploaded(manifest())
    first = intake.handler(event, CONTEXT)

    again = intake.handler(event, CONTEXT)  # EventBridge delivers at least once

    assert again["status"] == "ACCEPTED" and again["execution_arn"] == first["execution_arn"]
    assert len(executions()) == 1 and notices.requests == []
    assert [item["outcome"] for item in submissions("5.16")] == ["ACCEPTED"]


def test_ids_that_differ_only_in_a_dot_are_two_releases(platform: dict[str, str]) -> None:
    assert submit(manifest("5.16"), request_id="a")[0] == 202
    assert submit(manifest("5_16"), request_id="b")[0] == 202
    assert sorted(execution["input"]["release_id"] for execution in executions()) == ["5.16", "5_16"]


# --- intake: bad manifests --------------------------------------------------------------------

BAD_MANIFESTS = [
    pytest.param("{not json", None, ["is not JSON"], id="not-json"),
    pytest.param({"pipelines": [API]}, None, ["release_id is missing"], id="no-release-id"),
    pytest.param(
        {"release_id": "5.16", "pipelines": ["unknown-pipeline"]}, "5.16", ["pipelines[0].name", "unknown-pipeline", "is not a pipeline this platform may start"], id="unknown-pipeline"
    ),
    pytest.param({"release_id": "5.16", "pipelines": [{"name": API, "after": [WEB]}, {"name": WEB, "after": [API]}]}, "5.16", ["pipelines[0].after", "form a cycle"], id="cycle"),
    pytest.param({"release_id": "5.16", "pipelines": [API, {"name": API}]}, "5.16", ["pipelines[1].name", "is also pipelines[0]"], id="duplicate-name"),
    pytest.param({"release_id": "5.16", "pipelines": []}, "5.16", ["pipelines must be 1-50 pipelines"], id="no-pipelines"),
    pytest.param({"release_id": "5.16", "pipelines": [API], "timeout_minutes": "60"}, "5.16", ["timeout_minutes must be a whole number", 'the string "60"'], id="wrong-type"),
    pytest.param({"release_id": "5 16", "pipelines": [API]}, None, ["release_id must be"], id="unusable-release-id"),
]


@pytest.mark.parametrize(("document", "release_id", "words"), BAD_MANIFESTS)
def test_a_bad_manifest_is_refused_naming_what_is_wrong_and_starts_nothing(platform: dict[str, str], notices: Requests, document: Any, release_id: str | None, words: list[str]) -> None:
    recorded_under = release_id or releases.UNIDENTIFIED

    # POSTed: 400, with the message.
    status, body = submit(document)

    assert status == 400
    assert body["status"] == "REJECTED" and body["error"] == "BadManifest" and body["release_id"] == release_id
    for word in words:
        assert word in body["message"]
    (posted,) = submissions(recorded_under)
    assert (posted["outcome"], posted["error"], posted["message"], posted["submitted_via"]) == ("REJECTED", "BadManifest", body["message"], "api")
    assert notices.requests == []  # the caller has the answer

    # Uploaded: recorded, and told to the topic, since nobody waits for an answer.
    event = uploaded(document, "releases/bad.json")
    answer = intake.handler(event, CONTEXT)

    assert answer["status"] == "REJECTED" and answer["error"] == "BadManifest" and answer["release_id"] == release_id
    (upload,) = [item for item in submissions(recorded_under) if item["submitted_via"] == "upload"]
    assert upload["outcome"] == "REJECTED" and upload["message"] == body["message"]
    assert upload["submitted_from"] == f"s3://{BUCKET}/releases/bad.json?versionId={event['detail']['object']['version-id']}"
    (notice,) = notices.requests
    assert notice["TopicArn"] == platform["topic"]
    assert notice["Subject"] == f"Release {release_id or '(no release id)'} rejected"
    assert notice["MessageStructure"] == "json"
    text, note = json.loads(notice["Message"])["email"], json.loads(json.loads(notice["Message"])["lambda"])
    assert text.startswith(f"{upload['submitted_from']} was not released.") and words[0] in text
    assert (note["kind"], note["status"], note["error"]) == ("release", "failed", "BadManifest") and note.get("release_id") == release_id

    assert executions() == [] and "release" not in stored(recorded_under)


# --- intake: failures -------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "named"), [("ThrottlingException", errors.Throttled), ("AccessDeniedException", errors.AwsRequestFailed)])
def test_a_release_not_started_frees_its_id_for_the_retry(platform: dict[str, str], code: str, named: type[Exception]) -> None:
    event = uploaded(manifest())
    refusal = Refusals(shared_aws.client("stepfunctions"), "StartExecution", code, times=1, status=400)

    with pytest.raises(named) as caught:
        intake.handler(event, CONTEXT)

    assert refusal.refused == 1 and code in str(caught.value)
    assert "release" not in stored("5.16") and executions() == []
    # Lambda retries the event: the release is accepted then.
    answer = intake.handler(event, CONTEXT)
    assert answer["status"] == "ACCEPTED" and len(executions()) == 1
    assert stored("5.16")["release"]["status"] == "ACCEPTED"


def test_an_upload_event_of_another_bucket_or_folder_is_invalid_input(platform: dict[str, str]) -> None:
    with pytest.raises(errors.InvalidInput, match="releases are uploaded to"):
        intake.handler(upload_event("releases/5.16.json", "v1", 100, bucket="someone-elses"), CONTEXT)
    with pytest.raises(errors.InvalidInput, match="releases are uploaded to"):
        intake.handler(upload_event("builds/5.16.json", "v1", 100), CONTEXT)
    with pytest.raises(errors.InvalidInput):
        intake.handler({"source": "aws.codecommit"}, CONTEXT)
    assert executions() == []


def test_an_oversized_upload_is_refused_unread(platform: dict[str, str], notices: Requests) -> None:
    reads = Requests("s3", "GetObject")

    answer = intake.handler(upload_event("releases/huge.json", "v1", MAX_MANIFEST_BYTES + 1), CONTEXT)

    assert answer["status"] == "REJECTED" and "at most" in answer["message"]
    assert reads.requests == []
    (submission,) = submissions(releases.UNIDENTIFIED)
    assert submission["outcome"] == "REJECTED" and submission["submitted_from"] == f"s3://{BUCKET}/releases/huge.json?versionId=v1"
    (notice,) = notices.requests
    assert notice["Subject"] == "Release (no release id) rejected"
    assert executions() == []


# --- steps: begin -------------------------------------------------------------------------------


def test_begin_runs_the_release_until_its_deadline(platform: dict[str, str]) -> None:
    submit(manifest(timeout_minutes=30, description="API and front end"))
    before = datetime.now(UTC)

    begun = step("begin", release_id="5.16", timeout_minutes=30)

    release = stored("5.16")["release"]
    assert release["status"] == "RUNNING"
    assert [change["status"] for change in release["changes"]] == ["ACCEPTED", "RUNNING"]
    assert release["deadline"] == begun["deadline"]
    assert parse(release["deadline"]) - parse(release["started_at"]) == timedelta(minutes=30)
    assert between(release["started_at"], before, datetime.now(UTC))
    assert begun["subject"] == "Release 5.16 started"
    assert f"{API}, {WEB}" in begun["message"] and CALLER in begun["message"] and "API and front end" in begun["message"]
    assert f"{CONSOLE}/states/home?region={REGION}" in begun["message"]


# --- steps: start -------------------------------------------------------------------------------


def test_start_starts_the_run_with_the_releases_token(pipelines: Stubber) -> None:
    status, _ = submit(
        {
            "release_id": "5.16",
            "pipelines": [{"name": API, "variables": {"release": "5.16"}, "source_revisions": [{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "9fceb02d"}]}],
        }
    )
    assert status == 202
    deadline = step("begin", release_id="5.16", timeout_minutes=120)["deadline"]
    token = releases.client_request_token("5.16", API)
    for _ in range(2):  # the second a retried start: the same token, so CodePipeline starts nothing new
        will_start(
            pipelines,
            "5.16",
            API,
            "e-1",
            variables=[{"name": "release", "value": "5.16"}],
            sourceRevisions=[{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "9fceb02d"}],
        )

    first = step("start", release_id="5.16", on_failure="stop", deadline=deadline, pipeline=pipeline_input("5.16", API))
    again = step("start", release_id="5.16", on_failure="stop", deadline=deadline, pipeline=pipeline_input("5.16", API))

    assert first["started"] is True and first["failed"] is False and first["execution_id"] == "e-1"
    expected_wait = (parse(deadline) - datetime.now(UTC)).total_seconds()
    assert abs(first["wait_seconds"] - expected_wait) <= 3
    assert again["execution_id"] == "e-1"
    run = run_of("5.16", API)
    assert (run["execution_id"], run["status"], run["client_request_token"], run["pipeline"]) == ("e-1", "InProgress", token, API)
    assert [change["status"] for change in run["changes"]] == ["Starting", "InProgress"]


def test_start_starts_nothing_once_the_release_stopped(pipelines: Stubber) -> None:
    deadline = running()
    step("stop_release", release_id="5.16", reason=f"{DOCS} did not succeed")

    result = start_without_pipelines(deadline, API)

    assert result["started"] is False and result["failed"] is False and result["status"] == "NotStarted"
    assert f"the release stopped ({DOCS} did not succeed)" in result["summary"]
    run = run_of("5.16", API)
    assert run["status"] == "NotStarted" and run["summary"] == result["summary"] and "execution_id" not in run


def start_without_pipelines(deadline: str, name: str, on_failure: str = "stop") -> dict[str, Any]:
    """A start of the answers the test scripted, if any (the Stubber refuses anything else)."""
    return step("start", release_id="5.16", on_failure=on_failure, deadline=deadline, pipeline=pipeline_input("5.16", name))


def test_start_starts_nothing_after_the_deadline(pipelines: Stubber) -> None:
    running()
    past = releases.iso(datetime.now(UTC) - timedelta(seconds=1))

    result = start_without_pipelines(past, API)

    assert (result["started"], result["failed"], result["status"]) == (False, False, "NotStarted")
    assert f"deadline {past} passed" in result["summary"]
    assert run_of("5.16", API)["status"] == "NotStarted"


@pytest.mark.parametrize(("earlier", "starts"), [(None, False), ("STARTED", False), ("FAILED", False), ("SUCCEEDED", True)])
def test_on_failure_continue_starts_a_pipeline_only_after_those_it_comes_after_succeeded(pipelines: Stubber, earlier: str | None, starts: bool) -> None:
    deadline = running(on_failure="continue")
    if earlier is not None:
        start(pipelines, "5.16", API, "e-1", deadline, "continue")
        if earlier == "FAILED":
            will_fail(pipelines, API, "e-1")
        heard(pipeline_event(API, "e-1", earlier))
    if starts:
        will_start(pipelines, "5.16", WEB, "e-2")

    result = start_without_pipelines(deadline, WEB, "continue")

    assert result["started"] is starts
    if starts:
        assert run_of("5.16", WEB)["status"] == "InProgress"
    else:
        status = {None: "unknown", "STARTED": "InProgress", "FAILED": "Failed"}[earlier]
        assert result["summary"] == f"not started: it comes after {API}, which did not succeed ({status})"
        assert (result["failed"], run_of("5.16", WEB)["status"]) == (False, "NotStarted")


def test_on_failure_stop_starts_a_pipeline_without_looking_at_those_before(pipelines: Stubber) -> None:
    # A pipeline before it that failed stopped the release (stop_release): that is what stops it.
    deadline = running()
    will_start(pipelines, "5.16", WEB, "e-2")
    assert start_without_pipelines(deadline, WEB)["started"] is True


def test_on_failure_continue_does_not_start_after_a_pipeline_that_failed_to_start(pipelines: Stubber) -> None:
    deadline = running(on_failure="continue")
    pipelines.add_client_error("start_pipeline_execution", "PipelineNotFoundException", "pipeline not found", 400)
    assert start_without_pipelines(deadline, API, "continue")["failed"] is True

    result = start_without_pipelines(deadline, WEB, "continue")

    assert result["status"] == "NotStarted" and "which did not succeed (FailedToStart)" in result["summary"]


@pytest.mark.parametrize("code", ["PipelineNotFoundException", "ValidationException"])
def test_a_start_codepipeline_refuses_fails_the_run(pipelines: Stubber, code: str) -> None:
    deadline = running()
    pipelines.add_client_error("start_pipeline_execution", code, "no such pipeline or bad variables", 400)

    result = start_without_pipelines(deadline, API)

    assert (result["started"], result["failed"], result["status"]) == (False, True, "FailedToStart")
    assert f"CodePipeline refused to start {API}: {code}: no such pipeline or bad variables" in result["summary"]
    run = run_of("5.16", API)
    assert run["status"] == "FailedToStart" and run["summary"] == result["summary"]


def test_a_throttled_start_is_retried_by_the_state_machine(pipelines: Stubber) -> None:
    deadline = running()
    pipelines.add_client_error("start_pipeline_execution", "ThrottlingException", "Rate exceeded", 400)

    with pytest.raises(errors.Throttled):
        start_without_pipelines(deadline, API)

    assert run_of("5.16", API)["status"] == "Starting"
    # The retry starts it, with the same token.
    assert start(pipelines, "5.16", API, "e-1", deadline)["execution_id"] == "e-1"
    assert run_of("5.16", API)["status"] == "InProgress"


def running_three() -> str:
    """A release of API, WEB and DOCS in one wave, begun; its deadline."""
    status, _ = submit({"release_id": "5.16", "pipelines": [API, WEB, DOCS]})
    assert status == 202
    return str(step("begin", release_id="5.16", timeout_minutes=120)["deadline"])


# --- steps: watch -------------------------------------------------------------------------------


def test_a_run_that_ended_before_its_wait_began_is_answered_at_once(pipelines: Stubber, answers: Requests) -> None:
    deadline = running()
    start(pipelines, "5.16", API, "e-1", deadline)
    before = datetime.now(UTC)

    result = watch(pipelines, "5.16", API, "e-1", status="Succeeded")

    assert result == {"watching": False, "status": "Succeeded"}
    assert outputs(answers) == [{"token": f"token-{API}", "pipeline": API, "execution_id": "e-1", "status": "Succeeded", "summary": ""}]
    run = run_of("5.16", API)
    assert run["status"] == "Succeeded" and "task_token" not in run and "watching" not in run and "last_heard" not in run
    change = run["changes"][-1]
    assert (change["status"], change["seen"]) == ("Succeeded", "check")
    # GetPipelineExecution gives no lastUpdateTime (its PipelineExecution has none): the check's own time.
    assert between(change["at"], before, datetime.now(UTC)) and run["final_at"] == change["at"]


def test_a_run_in_progress_is_left_to_its_events(pipelines: Stubber, answers: Requests) -> None:
    deadline = running()
    start(pipelines, "5.16", API, "e-1", deadline)

    assert watch(pipelines, "5.16", API, "e-1") == {"watching": True, "status": "InProgress"}

    assert answers.requests == []
    run = run_of("5.16", API)
    assert (run["task_token"], run["watching"]) == (f"token-{API}", "yes") and run["status"] == "InProgress"
    assert [change["status"] for change in run["changes"]] == ["Starting", "InProgress"]


def test_a_run_whose_end_was_heard_before_its_wait_began_is_answered_by_the_wait(pipelines: Stubber, answers: Requests) -> None:
    deadline = running()
    start(pipelines, "5.16", API, "e-1", deadline)
    will_fail(pipelines, API, "e-1")  # the event's check for the summary: nobody waits yet
    assert heard(pipeline_event(API, "e-1", "FAILED")) == {"recorded": 1, "settled": 0}
    will_fail(pipelines, API, "e-1")  # the wait's check, for the summary

    result = step("watch", token="token-late", release_id="5.16", pipeline=API, execution_id="e-1")

    assert result == {"watching": False, "status": "Failed"}
    assert outputs(answers) == [{"token": "token-late", "pipeline": API, "execution_id": "e-1", "status": "Failed", "summary": FAILED_SUMMARY}]


# --- steps: stop_release ------------------------------------------------------------------------


def test_stop_release_stops_only_the_runs_in_progress_once(pipelines: Stubber) -> None:
    deadline = running_three()
    # API running, WEB succeeded, DOCS not started.
    start(pipelines, "5.16", API, "e-1", deadline)
    start(pipelines, "5.16", WEB, "e-2", deadline)
    heard(pipeline_event(WEB, "e-2", "SUCCEEDED"))
    start_without_pipelines(releases.iso(datetime.now(UTC) - timedelta(seconds=1)), DOCS)
    pipelines.add_response(
        "stop_pipeline_execution",
        {"pipelineExecutionId": "e-1"},
        {"pipelineName": API, "pipelineExecutionId": "e-1", "abandon": False, "reason": f"release 5.16 stopped: {WEB} did not succeed"},
    )

    assert step("stop_release", release_id="5.16", reason=f"{WEB} did not succeed") == {"stopped": [API]}

    records = stored("5.16")
    assert records["release"]["stop_reason"] == f"{WEB} did not succeed"
    assert records[f"pipeline#{API}"]["stopped_by_release"] is True
    assert "stopped_by_release" not in records[f"pipeline#{WEB}"]
    # Stopped again (another branch's failure): the first reason stays; a run that can no longer be stopped is left to its status.
    pipelines.add_client_error("stop_pipeline_execution", "PipelineExecutionNotStoppableException", "the execution is stopping", 400)
    assert step("stop_release", release_id="5.16", reason=f"{DOCS} did not succeed") == {"stopped": []}
    assert stored("5.16")["release"]["stop_reason"] == f"{WEB} did not succeed"


def test_stop_release_passes_on_other_errors(pipelines: Stubber) -> None:
    deadline = running()
    start(pipelines, "5.16", API, "e-1", deadline)
    pipelines.add_client_error("stop_pipeline_execution", "ThrottlingException", "Rate exceeded", 400)

    with pytest.raises(errors.Throttled):
        step("stop_release", release_id="5.16", reason="stopped")

    assert "stopped_by_release" not in run_of("5.16", API)


# --- steps: summarize ---------------------------------------------------------------------------


def test_a_release_whose_pipelines_all_succeeded_succeeded(pipelines: Stubber, answers: Requests) -> None:
    deadline = running()
    for name, execution_id in ((API, "e-1"), (WEB, "e-2")):
        start(pipelines, "5.16", name, execution_id, deadline)
        watch(pipelines, "5.16", name, execution_id, status="Succeeded")
    before = datetime.now(UTC)

    result = step("summarize", release_id="5.16")

    assert result["status"] == "SUCCEEDED" and result["failed"] == [] and result["stopped"] == [] and result["not_started"] == []
    assert result["cause"] == f"every pipeline succeeded: {API}, {WEB}"
    assert result["subject"] == "Release 5.16 succeeded"
    assert f"- {API}: Succeeded (e-1)" in result["message"] and f"- {WEB}: Succeeded (e-2)" in result["message"]
    release = stored("5.16")["release"]
    assert release["status"] == "SUCCEEDED" and between(release["ended_at"], before, datetime.now(UTC))
    assert [change["status"] for change in release["changes"]] == ["ACCEPTED", "RUNNING", "SUCCEEDED"]
    assert len(answers.requests) == 2


def test_a_release_with_a_failed_pipeline_failed_naming_it_and_the_others(pipelines: Stubber, answers: Requests) -> None:
    status, _ = submit({"release_id": "5.16", "pipelines": [API, WEB, {"name": DOCS, "after": [API]}]})
    assert status == 202
    deadline = step("begin", release_id="5.16", timeout_minutes=120)["deadline"]
    watched(pipelines, "5.16", API, "e-1", deadline)
    watched(pipelines, "5.16", WEB, "e-2", deadline)
    will_fail(pipelines, API, "e-1")
    heard(pipeline_event(API, "e-1", "FAILED"))
    pipelines.add_response("stop_pipeline_execution", {"pipelineExecutionId": "e-2"}, {"pipelineName": WEB, "pipelineExecutionId": "e-2", "abandon": False, "reason": ANY})
    step("stop_release", release_id="5.16", reason=f"{API} did not succeed")
    start_without_pipelines(deadline, DOCS)

    result = step("summarize", release_id="5.16")

    assert result["status"] == "FAILED"
    assert (result["failed"], result["stopped"], result["not_started"]) == ([API], [WEB], [DOCS])
    assert f"{API} failed (execution e-1): {FAILED_SUMMARY}" in result["cause"]
    assert f"{WEB} was stopped by the release (execution e-2)" in result["cause"]
    assert f"{DOCS} not started: the release stopped ({API} did not succeed)" in result["cause"]
    assert result["subject"] == "Release 5.16 failed" and f"- {DOCS}: NotStarted (not started)" in result["message"]
    release = stored("5.16")["release"]
    assert release["status"] == "FAILED" and release["ended_at"] and release["changes"][-1]["status"] == "FAILED"
    assert f"{API} failed (execution e-1): {FAILED_SUMMARY}" in release["outcome"]


def test_a_release_still_waiting_at_its_deadline_timed_out(pipelines: Stubber) -> None:
    deadline = running()
    watched(pipelines, "5.16", API, "e-1", deadline)

    assert step("timed_out", release_id="5.16", pipeline=API) == {"pipeline": API, "timed_out": True}
    run = run_of("5.16", API)
    assert run["timed_out_at"] and "task_token" not in run and "watching" not in run

    result = step("summarize", release_id="5.16")

    assert result["status"] == "TIMED_OUT" and result["subject"] == "Release 5.16 timed out"
    assert f"{API} was still running at the deadline {deadline} (execution e-1)" in result["cause"]
    assert f"{WEB} not started" in result["cause"] and result["not_started"] == [WEB]
    assert stored("5.16")["release"]["status"] == "TIMED_OUT"


def test_a_release_that_failed_in_its_own_steps_failed(pipelines: Stubber) -> None:
    status, _ = submit({"release_id": "5.16", "pipelines": [API]})
    assert status == 202
    deadline = step("begin", release_id="5.16", timeout_minutes=120)["deadline"]
    start(pipelines, "5.16", API, "e-1", deadline)
    watch(pipelines, "5.16", API, "e-1", status="Succeeded")  # every pipeline succeeded, all the same

    result = step("summarize", release_id="5.16", error={"Error": "States.Runtime", "Cause": "the state Waves failed"})

    assert result["status"] == "FAILED"
    assert result["cause"].startswith("The release failed in its own steps: States.Runtime: the state Waves failed")
    assert stored("5.16")["release"]["status"] == "FAILED"


# --- events -------------------------------------------------------------------------------------


def test_a_failed_run_is_recorded_at_the_events_time_and_its_wait_answered_once(pipelines: Stubber, answers: Requests) -> None:
    deadline = running()
    watched(pipelines, "5.16", API, "e-1", deadline)
    will_fail(pipelines, API, "e-1")
    will_fail(pipelines, API, "e-1")  # the second delivery checks again: nothing says the first one answered

    first = heard(pipeline_event(API, "e-1", "FAILED"))
    again = heard(pipeline_event(API, "e-1", "FAILED"))

    assert first == {"recorded": 1, "settled": 1} and again == {"recorded": 0, "settled": 0}
    assert outputs(answers) == [{"token": f"token-{API}", "pipeline": API, "execution_id": "e-1", "status": "Failed", "summary": FAILED_SUMMARY}]
    run = run_of("5.16", API)
    assert run["status"] == "Failed" and run["final_at"] == EVENT_TIME and run["summary"] == FAILED_SUMMARY
    assert [(change["status"], change["at"], change["seen"]) for change in run["changes"] if change["status"] == "Failed"] == [("Failed", EVENT_TIME, "event")]
    assert "task_token" not in run and "watching" not in run


def test_a_succeeded_run_needs_no_check(pipelines: Stubber, answers: Requests) -> None:
    deadline = running()
    watched(pipelines, "5.16", API, "e-1", deadline)

    assert heard(pipeline_event(API, "e-1", "SUCCEEDED")) == {"recorded": 1, "settled": 1}

    assert outputs(answers) == [{"token": f"token-{API}", "pipeline": API, "execution_id": "e-1", "status": "Succeeded", "summary": ""}]


def test_a_late_event_of_an_earlier_status_does_not_undo_the_end(pipelines: Stubber, answers: Requests) -> None:
    deadline = running()
    watched(pipelines, "5.16", API, "e-1", deadline)
    heard(pipeline_event(API, "e-1", "SUCCEEDED", time="2030-01-02T03:10:00Z"))

    assert heard(pipeline_event(API, "e-1", "RESUMED", time="2030-01-02T03:05:00Z")) == {"recorded": 0, "settled": 0}
    heard(pipeline_event(API, "e-1", "STOPPING", time="2030-01-02T03:06:00Z"))

    run = run_of("5.16", API)
    assert run["status"] == "Succeeded" and run["final_at"] == "2030-01-02T03:10:00Z"
    assert [change["status"] for change in run["changes"]] == ["Starting", "InProgress", "Succeeded", "Stopping"]
    assert len(answers.requests) == 1


def test_an_event_of_no_releases_run_changes_nothing(pipelines: Stubber, answers: Requests) -> None:
    deadline = running()
    watched(pipelines, "5.16", API, "e-1", deadline)
    before = run_of("5.16", API)

    assert heard(pipeline_event(API, "someone-elses-run", "FAILED")) == {"recorded": 0, "settled": 0}
    assert heard(pipeline_event(WEB, "e-1", "FAILED")) == {"recorded": 0, "settled": 0}

    assert run_of("5.16", API) == before and answers.requests == []


def test_an_event_that_is_neither_is_invalid_input(platform: dict[str, str]) -> None:
    with pytest.raises(errors.InvalidInput):
        heard({"detail-type": "CodePipeline Stage Execution State Change", "detail": {}})
    with pytest.raises(errors.InvalidInput):
        heard(pipeline_event(API, "e-1", "PAUSED"))


# --- events: the sweep --------------------------------------------------------------------------


def test_the_sweep_checks_quiet_waits_only_and_one_failed_check_keeps_no_other_from_its_answer(pipelines: Stubber, answers: Requests) -> None:
    deadline = running_three()
    for name, execution_id in ((API, "e-1"), (WEB, "e-2"), (DOCS, "e-3")):
        watched(pipelines, "5.16", name, execution_id, deadline)
    quiet = datetime.now(UTC) - timedelta(seconds=QUIET_SECONDS + 60)
    set_last_heard("5.16", API, releases.iso(quiet - timedelta(seconds=1)))  # checked first
    set_last_heard("5.16", WEB, releases.iso(quiet))
    # DOCS was heard just now: not checked (the Stubber would refuse its GetPipelineExecution).
    pipelines.add_client_error("get_pipeline_execution", "AccessDeniedException", "not authorized", 400, expected_params={"pipelineName": API, "pipelineExecutionId": "e-1"})
    will_describe(pipelines, WEB, "e-2", "Succeeded")

    assert heard(SCHEDULED) == {"checked": 2, "settled": 1}

    assert outputs(answers) == [{"token": f"token-{WEB}", "pipeline": WEB, "execution_id": "e-2", "status": "Succeeded", "summary": ""}]
    web = run_of("5.16", WEB)
    assert web["status"] == "Succeeded" and web["changes"][-1]["seen"] == "check" and "watching" not in web
    api = run_of("5.16", API)
    assert api["task_token"] == f"token-{API}" and api["watching"] == "yes" and api["status"] == "InProgress"  # the next sweep tries again
    assert run_of("5.16", DOCS)["task_token"] == f"token-{DOCS}"


def test_a_quiet_run_still_in_progress_is_left_for_another_quiet_time(pipelines: Stubber, answers: Requests) -> None:
    deadline = running()
    watched(pipelines, "5.16", API, "e-1", deadline)
    set_last_heard("5.16", API, "2020-01-01T00:00:00Z")
    will_describe(pipelines, API, "e-1", "InProgress")

    assert heard(SCHEDULED) == {"checked": 1, "settled": 0}
    assert heard(SCHEDULED) == {"checked": 0, "settled": 0}

    assert answers.requests == []
    assert parse(run_of("5.16", API)["last_heard"]) > datetime.now(UTC) - timedelta(seconds=QUIET_SECONDS)


def test_a_quiet_run_that_failed_is_answered_with_its_summary(pipelines: Stubber, answers: Requests) -> None:
    deadline = running()
    watched(pipelines, "5.16", API, "e-1", deadline)
    set_last_heard("5.16", API, "2020-01-01T00:00:00Z")
    will_fail(pipelines, API, "e-1")

    assert heard(SCHEDULED) == {"checked": 1, "settled": 1}

    assert outputs(answers)[0]["status"] == "Failed" and outputs(answers)[0]["summary"] == FAILED_SUMMARY
    assert run_of("5.16", API)["status"] == "Failed"


# --- shared.releases ----------------------------------------------------------------------------

EXECUTION_NAME = re.compile(r"^[0-9A-Za-z_-]{1,80}$")


@pytest.mark.parametrize("release_id", ["5_16", "2026-12-01_1", "a", "A" * 80])
def test_an_id_of_execution_name_characters_is_its_own_execution_name(release_id: str) -> None:
    assert releases.execution_name(release_id) == release_id


def test_other_ids_get_distinct_execution_names_aws_takes() -> None:
    names = {release_id: releases.execution_name(release_id) for release_id in ["5.16", "5_16", "5-16", "5.16.1", "5_16.1", "a." + "b" * 78, "a_" + "b" * 78, "a." + "b" * 77 + "c"]}
    assert len(set(names.values())) == len(names)
    for name in names.values():
        assert EXECUTION_NAME.match(name), name
    assert names["5.16"] != "5_16" and names["5.16"].startswith("5_16-")
    assert releases.execution_name("5.16") == names["5.16"]


def test_the_client_request_token_is_stable_per_release_and_pipeline() -> None:
    tokens = {(release_id, pipeline): releases.client_request_token(release_id, pipeline) for release_id in ("5.16", "5.17", "5.1") for pipeline in (API, WEB, "6" + API)}
    assert len(set(tokens.values())) == len(tokens)
    for token in tokens.values():
        assert re.fullmatch(r"[a-zA-Z0-9-]{1,128}", token)
    assert releases.client_request_token("5.16", API) == tokens[("5.16", API)]
    # The pair is not simply joined: ("5.1", "6x") and ("5.16", "x") differ.
    assert releases.client_request_token("5.1", "6" + API) != releases.client_request_token("5.16", API)


def test_settle_answers_a_wait_once(pipelines: Stubber, answers: Requests) -> None:
    deadline = running()
    watched(pipelines, "5.16", API, "e-1", deadline)
    run = releases.get("5.16", f"pipeline#{API}")
    assert run is not None

    assert releases.settle(run, "Succeeded", "done") is True
    assert releases.settle(run, "Succeeded", "done") is False

    assert outputs(answers) == [{"token": f"token-{API}", "pipeline": API, "execution_id": "e-1", "status": "Succeeded", "summary": "done"}]
    assert run_of("5.16", API)["summary"] == "done"
    assert releases.settle({"release_id": "5.16", "record": f"pipeline#{WEB}", "pipeline": WEB}, "Succeeded", "") is False  # no token: nothing to answer


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_settle_of_a_wait_that_ended_already_is_no_error(pipelines: Stubber, answers: Requests, code: str) -> None:
    deadline = running()
    watched(pipelines, "5.16", API, "e-1", deadline)
    run = releases.get("5.16", f"pipeline#{API}")
    assert run is not None
    refusal = Refusals(shared_aws.client("stepfunctions"), "SendTaskSuccess", code, times=1, status=400)

    assert releases.settle(run, "Succeeded", "") is True

    assert refusal.refused == 1 and len(answers.requests) == 1
    assert "task_token" not in run_of("5.16", API)


def test_a_wait_whose_answer_failed_is_answered_by_the_events_retry(pipelines: Stubber, answers: Requests) -> None:
    deadline = running()
    watched(pipelines, "5.16", API, "e-1", deadline)
    refusal = Refusals(shared_aws.client("stepfunctions"), "SendTaskSuccess", "ThrottlingException", times=1, status=400)

    with pytest.raises(errors.Throttled):
        heard(pipeline_event(API, "e-1", "SUCCEEDED"))

    assert refusal.refused == 1
    run = run_of("5.16", API)
    assert (run["status"], run["task_token"], run["watching"]) == ("Succeeded", f"token-{API}", "yes")  # still waiting: the sweep would find it too
    # Lambda delivers the event again: the wait is answered now.
    assert heard(pipeline_event(API, "e-1", "SUCCEEDED")) == {"recorded": 0, "settled": 1}
    assert [output["status"] for output in outputs(answers)] == ["Succeeded", "Succeeded"]  # the refused answer, then the one sent
    assert "task_token" not in run_of("5.16", API)


def test_a_wait_that_timed_out_while_its_answer_failed_is_not_waited_for_again(pipelines: Stubber) -> None:
    deadline = running()
    watched(pipelines, "5.16", API, "e-1", deadline)

    def time_out_and_fail(**_: Any) -> Any:
        """The wait's deadline passes while the answer is on its way, and the answer fails."""
        step("timed_out", release_id="5.16", pipeline=API)
        return AWSResponse("", 503, {}, None), {"Error": {"Code": "ServiceUnavailable", "Message": "try again"}, "ResponseMetadata": {"HTTPStatusCode": 503}}

    shared_aws.client("stepfunctions").meta.events.register("before-call.sfn.SendTaskSuccess", time_out_and_fail)

    with pytest.raises(errors.ServiceUnavailable):
        heard(pipeline_event(API, "e-1", "SUCCEEDED"))

    run = run_of("5.16", API)
    assert run["timed_out_at"] and "task_token" not in run and "watching" not in run
