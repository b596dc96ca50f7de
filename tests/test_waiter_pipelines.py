"""The waiter's pipeline mode: CodePipeline job events whose UserParameters name another pipeline, and
one job result per call.

Target pipelines are moto's, in this account or another (moto's assumed-role credentials act in the
role's account), and their executions' statuses are set on moto's backend. moto starts executions
`Succeeded` and ignores clientRequestToken, has no ListActionExecutions and no artifactRevisions:
small hooks on the handler's own clients play those parts (AWS deduplicating a start by its token,
the failed actions an execution lists, the revisions it ran). Job results are answered and recorded
as in test_waiter.py.
"""

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto.codepipeline.models import codepipeline_backends

from aws_fixtures import Refusals
from conftest import REGION, load_handler
from shared import aws as shared_aws, services
from test_waiter import ACCESS_KEY, ACCOUNT, JOB_ID, NEXT_JOB_ID, SECRET_KEY, SESSION_TOKEN, Pipeline, StopFunction, job_event

waiter = load_handler("waiter")
pipelines = waiter.pipelines

TARGET = "api-pipeline"
OTHER_ACCOUNT = "111111111111"
ACCESS_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/pipeline-waiter-access"
WAITER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sls-cd-waiter"
SESSION_NAME = "pipeline-waiter"
EXAMPLE = '{"pipeline": "api-pipeline", "trigger": true, "timeout_minutes": 60}'
TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"


def pipeline_event(parameters: Any, *, job_id: str = JOB_ID, token: str | None = None) -> dict[str, Any]:
    user_parameters = parameters if isinstance(parameters, str) else json.dumps(parameters)
    return job_event(job_id=job_id, user_parameters=user_parameters, token=token)


def follow(**more: Any) -> dict[str, Any]:
    return {"pipeline": TARGET, **more}


def trigger(**more: Any) -> dict[str, Any]:
    return {"pipeline": TARGET, "trigger": True, **more}


# --- the target pipelines in moto ------------------------------------------------------------


def account_session(account: str = ACCOUNT, region: str = REGION) -> Any:
    """A session acting in `account` (moto: an assumed role's credentials act in the role's account)."""
    if account == ACCOUNT:
        return boto3.session.Session(region_name=region)
    credentials = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/admin", RoleSessionName="test-admin")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def create_target(name: str = TARGET, account: str = ACCOUNT, region: str = REGION) -> Any:
    """The pipeline `name` (Source, Build) in `account` and `region`; returns a client of it."""
    session = account_session(account, region)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = session.client("iam").create_role(RoleName=f"{name}-{region}-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    client = session.client("codepipeline")
    source = {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}
    build = {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}
    client.create_pipeline(
        pipeline={
            "name": name,
            "roleArn": role,
            "artifactStore": {"type": "S3", "location": "artifacts"},
            "stages": [
                {"name": "Source", "actions": [{"name": "Source", "actionTypeId": source, "outputArtifacts": [{"name": "SourceOutput"}], "configuration": {"S3Bucket": "src"}}]},
                {"name": "Build", "actions": [{"name": "Build", "actionTypeId": build, "inputArtifacts": [{"name": "SourceOutput"}], "configuration": {"ProjectName": "p"}}]},
            ],
        }
    )
    return client


def run(status: str, name: str = TARGET, account: str = ACCOUNT, region: str = REGION, summary: str | None = None) -> str:
    """A new execution of the target with `status`; its id."""
    execution_id: str = account_session(account, region).client("codepipeline").start_pipeline_execution(name=name)["pipelineExecutionId"]
    set_status(execution_id, status, name, account, region, summary)
    return execution_id


def set_status(execution_id: str, status: str, name: str = TARGET, account: str = ACCOUNT, region: str = REGION, summary: str | None = None) -> None:
    execution = codepipeline_backends[account][region].pipelines[name].executions[execution_id]
    execution.status, execution.status_summary = status, summary


def executions(name: str = TARGET, account: str = ACCOUNT, region: str = REGION) -> list[Any]:
    return list(codepipeline_backends[account][region].pipelines[name].executions.values())


class Starts:
    """StartPipelineExecution on `client` as AWS answers it: a token it has seen gives the execution it
    started then. Records each request; `status` is what a new execution is set to."""

    def __init__(self, client: Any, status: str = "InProgress", account: str = ACCOUNT, region: str = REGION) -> None:
        self.requests: list[dict[str, Any]] = []
        self.by_token: dict[str, str] = {}
        self.status, self.account, self.region = status, account, region
        client.meta.events.register("before-parameter-build.codepipeline.StartPipelineExecution", self._record)
        client.meta.events.register("before-call.codepipeline.StartPipelineExecution", self._deduplicate)
        client.meta.events.register("after-call.codepipeline.StartPipelineExecution", self._started)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.requests.append(copy.deepcopy(params))

    def _deduplicate(self, **_: Any) -> Any:
        seen = self.by_token.get(self.requests[-1].get("clientRequestToken", ""))
        return None if seen is None else (AWSResponse("", 200, {}, None), {"pipelineExecutionId": seen, "ResponseMetadata": {"HTTPStatusCode": 200}})

    def _started(self, parsed: dict[str, Any], **_: Any) -> None:
        execution_id = parsed.get("pipelineExecutionId")
        if execution_id and execution_id not in self.by_token.values():
            self.by_token[self.requests[-1].get("clientRequestToken", "")] = execution_id
            set_status(execution_id, self.status, self.requests[-1]["name"], self.account, self.region)


class Answers:
    """`operation` on `client` answered with `response` (what moto lacks); records each request."""

    def __init__(self, client: Any, operation: str, response: dict[str, Any]) -> None:
        self.requests: list[dict[str, Any]] = []
        self.response = response
        client.meta.events.register(f"before-parameter-build.codepipeline.{operation}", lambda params, **_: self.requests.append(copy.deepcopy(params)))
        client.meta.events.register(f"before-call.codepipeline.{operation}", lambda **_: (AWSResponse("", 200, {}, None), self.response | {"ResponseMetadata": {"HTTPStatusCode": 200}}))


class Calls:
    """Every operation the handler's `client` sends, by name."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-parameter-build", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)


def target_client(role_arn: str | None = None, region: str | None = None) -> Any:
    """The client the handler uses for the target: the same object (its session is assumed here
    first, as the handler would, and kept)."""
    session = services.assumed_session(role_arn, SESSION_NAME, pipelines.SESSION_SECONDS) if role_arn else None
    return shared_aws.session_client(session, "codepipeline", region=region)


def with_revisions(client: Any, revisions: list[dict[str, str]]) -> None:
    """GetPipelineExecution answers the artifact revisions the execution ran (moto's are always empty)."""

    def add(parsed: dict[str, Any], **_: Any) -> None:
        parsed["pipelineExecution"]["artifactRevisions"] = revisions

    client.meta.events.register("after-call.codepipeline.GetPipelineExecution", add)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_SESSION_NAME", SESSION_NAME)
    monkeypatch.setenv("WAITER_ROLE_ARN", WAITER_ROLE)
    monkeypatch.setattr(services, "ASSUME_PAUSE_SECONDS", 0)


@pytest.fixture
def results(aws: None) -> Pipeline:
    """The job results the handler posts (PutJobSuccessResult / PutJobFailureResult)."""
    return Pipeline(shared_aws.client("codepipeline"))


@pytest.fixture
def target(aws: None) -> Any:
    """The target pipeline in this account and Region, with no executions yet; the handler's client for it."""
    create_target()
    return target_client()


@pytest.fixture
def stop_function(aws: None, monkeypatch: pytest.MonkeyPatch) -> StopFunction:
    monkeypatch.setenv("STOP_FUNCTION_NAME", "sls-cd-stop-deployment")
    return StopFunction(shared_aws.client("lambda", read_timeout=shared_aws.INVOKE_READ_TIMEOUT_SECONDS))


def token_of(params: dict[str, Any]) -> dict[str, Any]:
    return json.loads(params["continuationToken"])  # type: ignore[no-any-return]


def later(token: dict[str, Any], **changes: Any) -> str:
    """The token with `changes` (None removes a key), as the next invocation gets it."""
    changed = {key: value for key, value in (token | changes).items() if value is not None}
    return json.dumps(changed)


def ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime(TIMESTAMP)


def failure_message(results: Pipeline) -> str:
    return str(results.failure()["failureDetails"]["message"])


# --- the parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "message", "example"),
    [
        ('{"pipeline": api-pipeline}', "InvalidInput: UserParameters is not valid JSON (Expecting value", EXAMPLE),
        ('["api-pipeline"]', "InvalidInput: UserParameters must be a JSON object, got an array", EXAMPLE),
        (trigger(timeout=5), "InvalidInput: UserParameters has the unknown key 'timeout'; waiting for a pipeline takes pipeline, role_arn, region, trigger,", EXAMPLE),
        ({"trigger": True}, "InvalidInput: UserParameters has no 'pipeline': name the pipeline to wait for", EXAMPLE),
        ({"pipeline": 7}, "InvalidInput: UserParameters: 'pipeline' must be a CodePipeline pipeline name (1-100 letters, digits or . @ - _), got the number 7", EXAMPLE),
        ({"pipeline": "api pipeline"}, "InvalidInput: UserParameters: 'pipeline' must be a CodePipeline pipeline name (1-100 letters, digits or . @ - _), got 'api pipeline'", EXAMPLE),
        ({"pipeline": "p" * 101}, "InvalidInput: UserParameters: 'pipeline' must be a CodePipeline pipeline name", EXAMPLE),
        (follow(role_arn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/*"), "InvalidInput: UserParameters: 'role_arn' must be an IAM role ARN", "role_arn"),
        (
            follow(role_arn=f"arn:aws:iam::{OTHER_ACCOUNT}:user/waiter"),
            "InvalidInput: UserParameters: 'role_arn' must be an IAM role ARN, arn:<partition>:iam::<12-digit account>:role/",
            "role_arn",
        ),
        (follow(role_arn="arn:aws:iam::11111111111:role/access"), "InvalidInput: UserParameters: 'role_arn' must be an IAM role ARN", "role_arn"),
        (follow(role_arn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/" + "p/" * 257 + "access"), "InvalidInput: UserParameters: 'role_arn' must be an IAM role ARN", "role_arn"),
        (follow(region="EU-WEST-1"), "InvalidInput: UserParameters: 'region' must be an AWS Region such as 'eu-west-1', got 'EU-WEST-1'", "region"),
        (follow(trigger="true"), "InvalidInput: UserParameters: 'trigger' must be true or false (a JSON boolean, not a string), got the string 'true'", EXAMPLE),
        (follow(timeout_minutes=0), "InvalidInput: UserParameters: 'timeout_minutes' must be a whole number of minutes from 1 to 1440, got the number 0", EXAMPLE),
        (follow(timeout_minutes=1441), "InvalidInput: UserParameters: 'timeout_minutes' must be a whole number of minutes from 1 to 1440, got the number 1441", EXAMPLE),
        (follow(timeout_minutes=1.5), "InvalidInput: UserParameters: 'timeout_minutes' must be a whole number of minutes from 1 to 1440, got the number 1.5", EXAMPLE),
        (follow(timeout_minutes=True), "InvalidInput: UserParameters: 'timeout_minutes' must be a whole number of minutes from 1 to 1440, got the boolean true", EXAMPLE),
        (follow(timeout_minutes="60"), "InvalidInput: UserParameters: 'timeout_minutes' must be a whole number of minutes from 1 to 1440, got the string '60'", EXAMPLE),
        (
            follow(source_revisions=[{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "9fceb02d"}]),
            "InvalidInput: UserParameters: 'source_revisions' needs \"trigger\": true",
            "source_revisions",
        ),
        (follow(trigger=False, variables={"release": "1.4.2"}), "InvalidInput: UserParameters: 'variables' needs \"trigger\": true", "variables"),
        (trigger(source_revisions={"Source": "9fceb02d"}), "InvalidInput: UserParameters: 'source_revisions' must be a list of up to 50 objects", "source_revisions"),
        (
            trigger(source_revisions=[{"actionName": "Source", "revisionType": "COMMIT_ID"}]),
            'InvalidInput: UserParameters: \'source_revisions[0]\' must be an object with exactly "actionName", "revisionType" and "revisionValue", got an object with the fields ["actionName", "revisionType"]',
            "source_revisions",
        ),
        (
            trigger(source_revisions=[{"actionName": "Source", "revisionType": "BRANCH", "revisionValue": "main"}]),
            "InvalidInput: UserParameters: 'source_revisions[0].revisionType' must be COMMIT_ID | IMAGE_DIGEST | S3_OBJECT_VERSION_ID | S3_OBJECT_KEY, got the string 'BRANCH'",
            "source_revisions",
        ),
        (
            trigger(variables=[{"name": "release", "value": "1"}]),
            "InvalidInput: UserParameters: 'variables' must be an object of up to 50 pipeline variables {name: value}, got an array",
            "variables",
        ),
        (
            trigger(variables={f"v{n}": "x" for n in range(51)}),
            "InvalidInput: UserParameters: 'variables' must be an object of up to 50 pipeline variables {name: value}, got 51 of them",
            "variables",
        ),
        (trigger(variables={"re lease": "1"}), "InvalidInput: UserParameters: 'variables' must be an object of up to 50 pipeline variables {name: value}, each name", "variables"),
        (trigger(variables={"release": ""}), "InvalidInput: UserParameters: 'variables.release' must be a string of 1-1000 characters, got the string ''", "variables"),
        (trigger(variables={"release": 2}), "InvalidInput: UserParameters: 'variables.release' must be a string of 1-1000 characters, got the number 2", "variables"),
        (
            {"pipeline": TARGET, "service": "orders"},
            "InvalidInput: UserParameters mix a deployment's keys (service) with those of waiting for a pipeline (pipeline)",
            EXAMPLE,
        ),
    ],
)
def test_bad_parameters_fail_the_job_at_once_naming_the_key_with_an_example(parameters: Any, message: str, example: str, target: Any, results: Pipeline, context: Any) -> None:
    calls = Calls(target)

    result = waiter.handler(pipeline_event(parameters), context)

    failed = failure_message(results)
    assert failed.startswith(message), failed
    assert (pipelines.EXAMPLES[example] if example in pipelines.EXAMPLES else example) in failed, failed
    assert [name for name in calls.names if not name.startswith("PutJob")] == [] and executions() == []
    assert result["result"] == "failed"


def test_the_limits_themselves_are_accepted(target: Any, results: Pipeline, context: Any) -> None:
    starts = Starts(target)
    parameters = trigger(
        timeout_minutes=1440,
        source_revisions=[{"actionName": "Source", "revisionType": "S3_OBJECT_KEY", "revisionValue": "k"}] * 2,
        variables={f"v{n}": "x" for n in range(50)},
    )

    waiter.handler(pipeline_event(parameters), context)

    (request,) = starts.requests
    assert len(request["variables"]) == 50 and request["variables"][0] == {"name": "v0", "value": "x"}
    assert results.success()["continuationToken"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "ConfigurationError: environment variable PIPELINE_SESSION_NAME is not set on this function"),
        ("pipeline waiter", "ConfigurationError: environment variable PIPELINE_SESSION_NAME='pipeline waiter' is not an IAM role session name"),
    ],
)
def test_a_role_arn_needs_a_session_name_from_terraform(value: str | None, message: str, aws: None, results: Pipeline, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv("PIPELINE_SESSION_NAME")
    else:
        monkeypatch.setenv("PIPELINE_SESSION_NAME", value)

    waiter.handler(pipeline_event(follow(role_arn=ACCESS_ROLE)), context)

    assert failure_message(results).startswith(message)


# --- the two modes' tokens -------------------------------------------------------------------


def test_a_deployment_token_is_refused_in_pipeline_mode(target: Any, results: Pipeline, context: Any) -> None:
    execution_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:DeploymentStateMachine:orders-abc-{JOB_ID}"

    waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=json.dumps({"execution_arn": execution_arn})), context)

    assert failure_message(results).startswith('InvalidInput: the continuation token \'{"execution_arn": ')
    assert "is a deployment's, but this action's UserParameters wait for pipeline api-pipeline" in failure_message(results)


def test_a_pipeline_token_is_refused_in_deployment_mode(target: Any, results: Pipeline, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_MACHINE_ARN", f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:DeploymentStateMachine")
    run("InProgress")
    waiter.handler(pipeline_event(follow()), context)
    token = results.success()["continuationToken"]
    results.calls.clear()

    waiter.handler(job_event(job_id=NEXT_JOB_ID, token=token), context)

    assert failure_message(results).startswith('InvalidInput: the continuation token \'{"pipeline":"api-pipeline"')
    assert 'is not {"execution_arn": <an execution of DeploymentStateMachine>}' in failure_message(results)


def test_a_token_for_another_target_is_refused(target: Any, results: Pipeline, context: Any) -> None:
    create_target("web-pipeline")
    run("InProgress", "web-pipeline")
    waiter.handler(pipeline_event({"pipeline": "web-pipeline"}), context)
    token = results.success()["continuationToken"]
    results.calls.clear()

    waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=token), context)

    assert "is for another target than this action's UserParameters name (pipeline api-pipeline)" in failure_message(results)


# --- starting the target ---------------------------------------------------------------------


def test_trigger_starts_one_execution_with_the_job_token_and_follows_it(target: Any, results: Pipeline, context: Any) -> None:
    starts = Starts(target)
    revisions = [{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "9fceb02d0ae598e95dc970b74767f19372d61af8"}]

    result = waiter.handler(pipeline_event(trigger(source_revisions=revisions, variables={"release": "1.4.2"})), context)

    assert starts.requests == [{"name": TARGET, "clientRequestToken": f"waiter-{JOB_ID}", "sourceRevisions": revisions, "variables": [{"name": "release", "value": "1.4.2"}]}]
    (execution,) = executions()
    params = results.success()
    assert token_of(params) | {"deadline": "-"} == {"pipeline": TARGET, "deadline": "-", "selected": "started", "execution_id": execution.pipeline_execution_id}
    assert params["executionDetails"]["externalExecutionId"] == execution.pipeline_execution_id
    assert params["executionDetails"]["summary"].startswith(f"pipeline {TARGET} execution {execution.pipeline_execution_id} (started by this action) is InProgress; waiting until")
    assert result["result"] == "started" and result["target_execution_id"] == execution.pipeline_execution_id and result["execution_arn"] is None


def test_a_repeated_invocation_of_the_job_sends_the_same_token_and_gets_the_same_run(target: Any, results: Pipeline, context: Any) -> None:
    starts = Starts(target)

    waiter.handler(pipeline_event(trigger()), context)
    waiter.handler(pipeline_event(trigger()), context)

    assert [request["clientRequestToken"] for request in starts.requests] == [f"waiter-{JOB_ID}", f"waiter-{JOB_ID}"]
    assert len(executions()) == 1
    first, second = (token_of(params)["execution_id"] for _, params in results.calls)
    assert first == second == executions()[0].pipeline_execution_id


def test_another_job_starts_another_run(target: Any, results: Pipeline, context: Any) -> None:
    starts = Starts(target)

    waiter.handler(pipeline_event(trigger()), context)
    waiter.handler(pipeline_event(trigger(), job_id=NEXT_JOB_ID), context)

    assert [request["clientRequestToken"] for request in starts.requests] == [f"waiter-{JOB_ID}", f"waiter-{NEXT_JOB_ID}"]
    assert len(executions()) == 2


def test_a_run_that_succeeds_at_once_ends_the_job_at_once(target: Any, results: Pipeline, context: Any) -> None:
    Starts(target, status="Succeeded")

    waiter.handler(pipeline_event(trigger()), context)

    params = results.success()
    assert "continuationToken" not in params and params["outputVariables"]["Status"] == "Succeeded"


def test_a_throttled_start_is_retried_with_the_same_token_by_the_next_invocation(target: Any, results: Pipeline, context: Any) -> None:
    starts = Starts(target)
    Refusals(target, "StartPipelineExecution", "ThrottlingException", times=1, status=400)

    first = waiter.handler(pipeline_event(trigger(variables={"release": "2"})), context)

    token = token_of(results.success())
    assert "execution_id" not in token and token["client_request_token"] == f"waiter-{JOB_ID}" and token["unavailable_since"]
    assert "cannot be started right now (StartPipelineExecution was throttled (ThrottlingException)" in results.success()["executionDetails"]["summary"]
    assert first["result"] == "started" and executions() == []
    results.calls.clear()

    waiter.handler(pipeline_event(trigger(variables={"release": "2"}), job_id=NEXT_JOB_ID, token=json.dumps(token)), context)

    assert [request["clientRequestToken"] for request in starts.requests] == [f"waiter-{JOB_ID}", f"waiter-{JOB_ID}"]
    assert starts.requests[1]["variables"] == [{"name": "release", "value": "2"}]
    (execution,) = executions()
    assert token_of(results.success()) == {key: value for key, value in token.items() if key not in ("client_request_token", "unavailable_since")} | {
        "execution_id": execution.pipeline_execution_id
    }


@pytest.mark.parametrize("code", ["ConflictException", "ConcurrentPipelineExecutionsLimitExceededException"])
def test_a_busy_pipeline_keeps_the_job_in_progress(code: str, target: Any, results: Pipeline, context: Any) -> None:
    Refusals(target, "StartPipelineExecution", code, times=1, status=400)

    waiter.handler(pipeline_event(trigger()), context)

    assert token_of(results.success())["client_request_token"] == f"waiter-{JOB_ID}"


def test_a_start_that_cannot_be_made_for_15_minutes_fails_saying_a_run_may_exist(target: Any, results: Pipeline, context: Any) -> None:
    Refusals(target, "StartPipelineExecution", "ServiceUnavailableException", times=1, status=503)
    deadline = (datetime.now(UTC) + timedelta(minutes=30)).strftime(TIMESTAMP)
    token = {"pipeline": TARGET, "deadline": deadline, "selected": "started", "client_request_token": f"waiter-{JOB_ID}", "unavailable_since": ago(16)}

    waiter.handler(pipeline_event(trigger(), job_id=NEXT_JOB_ID, token=json.dumps(token)), context)

    message = failure_message(results)
    assert message.startswith(f"TargetPipelineUnreachable: pipeline {TARGET} could not be started for 15 minutes, since {token['unavailable_since']}: StartPipelineExecution failed")
    assert message.endswith(f"a run may have started with clientRequestToken waiter-{JOB_ID}")


def test_a_start_aws_refuses_fails_with_its_message(target: Any, results: Pipeline, context: Any) -> None:
    Refusals(target, "StartPipelineExecution", "ValidationException", times=1, status=400, message="Variable 'relase' is not defined in the pipeline")

    waiter.handler(pipeline_event(trigger(variables={"relase": "2"})), context)

    assert failure_message(results).startswith(
        f"TargetPipelineNotStarted: StartPipelineExecution of pipeline {TARGET} was refused: Variable 'relase' is not defined in the pipeline (check that each source_revisions"
    )


# --- following the target --------------------------------------------------------------------


def test_without_trigger_the_newest_execution_in_progress_is_followed(target: Any, results: Pipeline, context: Any) -> None:
    run("Succeeded")
    run("InProgress")
    newest_in_progress = run("InProgress")
    run("Failed")

    waiter.handler(pipeline_event(follow()), context)

    params = results.success()
    assert token_of(params)["execution_id"] == newest_in_progress and token_of(params)["selected"] == "in-progress"
    assert params["executionDetails"]["summary"].startswith(f"pipeline {TARGET} execution {newest_in_progress} (in progress when this action began) is InProgress")
    assert len(executions()) == 4


def test_without_one_in_progress_the_most_recent_execution_answers_at_once(target: Any, results: Pipeline, context: Any) -> None:
    run("Failed")
    latest = run("Succeeded")

    waiter.handler(pipeline_event(follow()), context)

    params = results.success()
    assert params["outputVariables"]["PipelineExecutionId"] == latest
    assert params["executionDetails"]["summary"] == f"pipeline {TARGET} execution {latest} (its most recent run) succeeded"


def test_a_most_recent_execution_that_failed_fails_the_job_at_once(target: Any, results: Pipeline, context: Any) -> None:
    run("Succeeded")
    latest = run("Failed", summary="Build failed")
    Answers(target, "ListActionExecutions", {"actionExecutionDetails": []})

    waiter.handler(pipeline_event(follow()), context)

    assert failure_message(results).startswith(f"TargetPipelineFailed: pipeline {TARGET} execution {latest} (its most recent run) is Failed: Build failed")


def test_a_pipeline_that_never_ran_fails_the_job_suggesting_trigger(target: Any, results: Pipeline, context: Any) -> None:
    waiter.handler(pipeline_event(follow()), context)

    assert failure_message(results) == (
        f'TargetPipelineNeverRan: pipeline {TARGET} (account {ACCOUNT}, Region {REGION}) has no executions to wait for; set "trigger": true in the UserParameters to start one'
    )


@pytest.fixture
def followed(target: Any, results: Pipeline, context: Any) -> tuple[str, dict[str, Any]]:
    """An execution in progress the first call chose, and the token it issued; the recorded calls are cleared."""
    execution_id = run("InProgress")
    waiter.handler(pipeline_event(follow()), context)
    token = token_of(results.success())
    results.calls.clear()
    return execution_id, token


def test_each_later_call_checks_only_the_followed_execution(followed: tuple[str, dict[str, Any]], target: Any, results: Pipeline, context: Any) -> None:
    execution_id, token = followed
    calls = Calls(target)
    run("InProgress")  # a newer run is not followed

    result = waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=json.dumps(token)), context)

    assert calls.names == ["GetPipelineExecution", "PutJobSuccessResult"]
    assert token_of(results.success()) == token and result["result"] == "running"


def test_stopping_is_not_success(followed: tuple[str, dict[str, Any]], results: Pipeline, context: Any) -> None:
    execution_id, token = followed
    set_status(execution_id, "Stopping")

    waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=json.dumps(token)), context)

    params = results.success()
    assert token_of(params) == token and " is Stopping; waiting until " in params["executionDetails"]["summary"]


def test_success_gives_the_output_variables(followed: tuple[str, dict[str, Any]], target: Any, results: Pipeline, context: Any) -> None:
    execution_id, token = followed
    set_status(execution_id, "Succeeded")
    with_revisions(target, [{"name": "SourceOutput", "revisionId": "9fceb02d0ae598e95dc970b74767f19372d61af8", "revisionSummary": "Fix the greeting"}])

    result = waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=json.dumps(token)), context)

    assert results.success() == {
        "jobId": NEXT_JOB_ID,
        "executionDetails": {
            "summary": f"pipeline {TARGET} execution {execution_id} (in progress when this action began) succeeded: SourceOutput 9fceb02d0ae5",
            "externalExecutionId": execution_id,
        },
        "outputVariables": {
            "PipelineName": TARGET,
            "PipelineExecutionId": execution_id,
            "Status": "Succeeded",
            "SourceRevisions": '[{"name":"SourceOutput","revisionId":"9fceb02d0ae598e95dc970b74767f19372d61af8"}]',
        },
    }
    assert result["result"] == "succeeded"


FAILED_ACTIONS = {
    "actionExecutionDetails": [
        {"stageName": "Source", "actionName": "Source", "status": "Succeeded", "output": {"executionResult": {"externalExecutionSummary": "fetched"}}},
        {"stageName": "Build", "actionName": "UnitTests", "status": "Failed", "output": {"executionResult": {"externalExecutionSummary": "3 of 120 tests failed"}}},
        {"stageName": "Build", "actionName": "Lint", "status": "Failed", "output": {"executionResult": {"errorDetails": {"code": "JobFailed", "message": "ruff found 2 errors"}}}},
    ]
}


@pytest.mark.parametrize(("status", "error"), [("Failed", "TargetPipelineFailed"), ("Stopped", "TargetPipelineStopped"), ("Cancelled", "TargetPipelineCancelled")])
def test_an_execution_that_ended_otherwise_fails_the_job_naming_its_failed_actions(
    status: str, error: str, followed: tuple[str, dict[str, Any]], target: Any, results: Pipeline, stop_function: StopFunction, context: Any
) -> None:
    execution_id, token = followed
    set_status(execution_id, status, summary="Stopped by alice")
    listed = Answers(target, "ListActionExecutions", FAILED_ACTIONS)

    result = waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=json.dumps(token)), context)

    assert results.failure() == {
        "jobId": NEXT_JOB_ID,
        "failureDetails": {
            "type": "JobFailed",
            "message": f"{error}: pipeline {TARGET} execution {execution_id} (in progress when this action began) is {status}: Stopped by alice. "
            "Failed: stage Build action UnitTests: 3 of 120 tests failed; stage Build action Lint: ruff found 2 errors",
            "externalExecutionId": execution_id,
        },
    }
    assert listed.requests[0]["pipelineName"] == TARGET and listed.requests[0]["filter"] == {"pipelineExecutionId": execution_id}
    assert stop_function.requests == [] and result["result"] == "failed"


def test_a_superseded_execution_fails_the_job_though_a_newer_one_succeeded(followed: tuple[str, dict[str, Any]], target: Any, results: Pipeline, context: Any) -> None:
    execution_id, token = followed
    set_status(execution_id, "Superseded")
    run("Succeeded")
    Answers(target, "ListActionExecutions", {"actionExecutionDetails": []})

    waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=json.dumps(token)), context)

    assert failure_message(results) == (
        f"TargetPipelineSuperseded: pipeline {TARGET} execution {execution_id} (in progress when this action began) is Superseded "
        f"(a newer execution of {TARGET} took its place; this action followed {execution_id} and fails with it)"
    )
    assert results.failure()["failureDetails"]["externalExecutionId"] == execution_id


def test_failed_actions_that_cannot_be_read_are_said_and_the_job_still_fails(followed: tuple[str, dict[str, Any]], target: Any, results: Pipeline, context: Any) -> None:
    execution_id, token = followed
    set_status(execution_id, "Failed")
    Refusals(target, "ListActionExecutions", "AccessDeniedException", times=1, status=400, message="not authorized to perform codepipeline:ListActionExecutions")

    waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=json.dumps(token)), context)

    assert failure_message(results) == (
        f"TargetPipelineFailed: pipeline {TARGET} execution {execution_id} (in progress when this action began) is Failed. Its failed action could not be read "
        "(AwsRequestFailed: ListActionExecutions failed: AccessDeniedException: not authorized to perform codepipeline:ListActionExecutions)"
    )


def test_an_unknown_status_fails_the_job(followed: tuple[str, dict[str, Any]], results: Pipeline, context: Any) -> None:
    execution_id, token = followed
    set_status(execution_id, "Paused")

    waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=json.dumps(token)), context)

    assert failure_message(results).startswith(f"TargetPipelineStatusUnknown: pipeline {TARGET} execution {execution_id} (in progress when this action began) has the status 'Paused'")


def test_past_the_deadline_the_job_fails_and_the_execution_is_left_running(followed: tuple[str, dict[str, Any]], target: Any, results: Pipeline, context: Any) -> None:
    execution_id, token = followed
    calls = Calls(target)

    waiter.handler(pipeline_event(follow(timeout_minutes=60), job_id=NEXT_JOB_ID, token=later(token, deadline=ago(1))), context)

    assert failure_message(results) == f"TargetPipelineTimedOut: the target execution {execution_id} of {TARGET} is still InProgress after 60 minutes and was left running"
    assert calls.names == ["GetPipelineExecution", "PutJobFailureResult"] and executions()[0].status == "InProgress"


def test_the_deadline_is_fixed_at_the_first_call(target: Any, results: Pipeline, context: Any) -> None:
    run("InProgress")
    before = datetime.now(UTC).replace(microsecond=0)

    waiter.handler(pipeline_event(follow(timeout_minutes=90)), context)

    deadline = datetime.strptime(token_of(results.success())["deadline"], TIMESTAMP).replace(tzinfo=UTC)
    assert before + timedelta(minutes=90) <= deadline <= before + timedelta(minutes=90, seconds=5)


def test_an_execution_that_finished_by_the_deadline_gives_its_outcome(followed: tuple[str, dict[str, Any]], results: Pipeline, context: Any) -> None:
    execution_id, token = followed
    set_status(execution_id, "Succeeded")

    waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=later(token, deadline=ago(1))), context)

    assert results.success()["outputVariables"]["Status"] == "Succeeded"


# --- passing failures ------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "status"), [("ThrottlingException", 400), ("InternalError", 500), ("ServiceUnavailableException", 503)])
def test_a_check_that_fails_for_a_passing_reason_keeps_the_job_in_progress(
    code: str, status: int, followed: tuple[str, dict[str, Any]], target: Any, results: Pipeline, context: Any
) -> None:
    execution_id, token = followed
    Refusals(target, "GetPipelineExecution", code, times=1, status=status)

    result = waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=json.dumps(token)), context)

    params = results.success()
    assert token_of(params) == token | {"unavailable_since": token_of(params)["unavailable_since"]}
    assert params["executionDetails"]["summary"].startswith(f"pipeline {TARGET} execution {execution_id} (in progress when this action began) cannot be checked right now (")
    assert result["result"] == "running"


def test_once_the_target_answers_again_the_outage_is_forgotten(followed: tuple[str, dict[str, Any]], results: Pipeline, context: Any) -> None:
    execution_id, token = followed

    waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=later(token, unavailable_since=ago(10))), context)

    assert token_of(results.success()) == token


def test_a_first_call_whose_listing_fails_for_a_passing_reason_chooses_on_the_next(target: Any, results: Pipeline, context: Any) -> None:
    Refusals(target, "ListPipelineExecutions", "ThrottlingException", times=1, status=400)
    execution_id = run("InProgress")

    waiter.handler(pipeline_event(follow()), context)
    token = token_of(results.success())
    assert "execution_id" not in token and token["unavailable_since"]
    results.calls.clear()
    waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=json.dumps(token)), context)

    assert token_of(results.success())["execution_id"] == execution_id


def test_a_check_impossible_for_15_minutes_fails_the_job(followed: tuple[str, dict[str, Any]], target: Any, results: Pipeline, stop_function: StopFunction, context: Any) -> None:
    execution_id, token = followed
    Refusals(target, "GetPipelineExecution", "ThrottlingException", times=1, status=400)
    since = ago(16)

    waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=later(token, unavailable_since=since)), context)

    assert failure_message(results) == (
        f"TargetPipelineUnreachable: pipeline {TARGET} execution {execution_id} (in progress when this action began) could not be checked for 15 minutes, since {since}: "
        "GetPipelineExecution was throttled (ThrottlingException); retry with backoff"
    )
    assert results.failure()["failureDetails"]["externalExecutionId"] == execution_id and stop_function.requests == []


def test_a_check_impossible_past_the_deadline_fails_the_job(followed: tuple[str, dict[str, Any]], target: Any, results: Pipeline, context: Any) -> None:
    execution_id, token = followed
    Refusals(target, "GetPipelineExecution", "ThrottlingException", times=1, status=400)

    waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=later(token, deadline=ago(1), unavailable_since=ago(2))), context)

    assert failure_message(results).startswith(f"TargetPipelineTimedOut: pipeline {TARGET} execution {execution_id} (in progress when this action began) could not be checked before")


# --- another account and Region --------------------------------------------------------------


class AssumeRoleRequests:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        shared_aws.client("sts").meta.events.register("before-parameter-build.sts.AssumeRole", lambda params, **_: self.requests.append(dict(params)))


def test_a_role_arn_is_assumed_with_the_session_name_for_900_seconds_and_kept(aws: None, results: Pipeline, context: Any) -> None:
    create_target(account=OTHER_ACCOUNT)
    execution_id = run("InProgress", account=OTHER_ACCOUNT)
    assumed = AssumeRoleRequests()

    waiter.handler(pipeline_event(follow(role_arn=ACCESS_ROLE)), context)
    token = token_of(results.success())
    waiter.handler(pipeline_event(follow(role_arn=ACCESS_ROLE), job_id=NEXT_JOB_ID, token=json.dumps(token)), context)

    assert assumed.requests == [{"RoleArn": ACCESS_ROLE, "RoleSessionName": SESSION_NAME, "DurationSeconds": 900}]
    assert token["execution_id"] == execution_id and token["role_arn"] == ACCESS_ROLE
    assert [token_of(params) for _, params in results.calls] == [token, token]


def test_a_role_is_assumed_again_shortly_before_its_credentials_expire(aws: None, results: Pipeline, context: Any) -> None:
    create_target(account=OTHER_ACCOUNT)
    run("InProgress", account=OTHER_ACCOUNT)
    assumed = AssumeRoleRequests()
    waiter.handler(pipeline_event(follow(role_arn=ACCESS_ROLE)), context)
    key = (ACCESS_ROLE, SESSION_NAME)
    shared_aws.sessions[key] = (shared_aws.sessions[key][0], datetime.now(UTC) + timedelta(minutes=4))

    waiter.handler(pipeline_event(follow(role_arn=ACCESS_ROLE)), context)

    assert len(assumed.requests) == 2


def test_the_target_is_looked_for_in_its_region(aws: None, results: Pipeline, context: Any) -> None:
    create_target(region="eu-west-1")
    execution_id = run("Succeeded", region="eu-west-1")

    waiter.handler(pipeline_event(follow(region="eu-west-1")), context)
    waiter.handler(pipeline_event(follow()), context)

    assert results.calls[0][1]["outputVariables"]["PipelineExecutionId"] == execution_id
    assert results.calls[1][1]["failureDetails"]["message"].startswith(f"TargetPipelineNotFound: pipeline {TARGET} was not found in account {ACCOUNT}, Region {REGION}")


def test_a_role_that_cannot_be_assumed_says_both_fixes(aws: None, results: Pipeline, context: Any) -> None:
    denied = Refusals(shared_aws.client("sts"), "AssumeRole", "AccessDenied", times=3, status=403, message=f"User: {WAITER_ROLE} is not authorized to perform: sts:AssumeRole")

    waiter.handler(pipeline_event(follow(role_arn=ACCESS_ROLE)), context)

    assert denied.refused == 3
    assert failure_message(results) == (
        f"TargetRoleNotAssumable: {WAITER_ROLE} cannot assume {ACCESS_ROLE} to reach pipeline {TARGET} "
        f"(sts:AssumeRole: AccessDenied: User: {WAITER_ROLE} is not authorized to perform: sts:AssumeRole). Either the waiter's role {WAITER_ROLE} may assume only "
        f"the roles listed in the platform's Terraform variable waiter_target_role_arns: add {ACCESS_ROLE} there and apply; or the trust policy of {ACCESS_ROLE} does not "
        f"trust {WAITER_ROLE} with the session name {SESSION_NAME}: modules/pipeline-access creates a role that does, applied in the target's account"
    )


def test_access_denied_in_this_account_names_waiter_pipelines(target: Any, results: Pipeline, context: Any) -> None:
    Refusals(target, "StartPipelineExecution", "AccessDeniedException", times=1, status=400, message="not authorized")

    waiter.handler(pipeline_event(trigger()), context)

    assert failure_message(results) == (
        f"TargetAccessDenied: the waiter's role {WAITER_ROLE} may not call codepipeline:StartPipelineExecution on pipeline {TARGET} in account {ACCOUNT}, Region {REGION} "
        f"(AccessDeniedException: not authorized); list {TARGET} in the platform's Terraform variable waiter_pipelines with start = true (this action triggers it) and apply"
    )


def test_access_denied_in_another_account_names_the_pipeline_access_module(aws: None, results: Pipeline, context: Any) -> None:
    create_target(account=OTHER_ACCOUNT)
    Refusals(target_client(ACCESS_ROLE), "ListPipelineExecutions", "AccessDeniedException", times=1, status=400, message="not authorized")

    waiter.handler(pipeline_event(follow(role_arn=ACCESS_ROLE)), context)

    assert failure_message(results) == (
        f"TargetAccessDenied: the role {ACCESS_ROLE} (assumed by {WAITER_ROLE}) may not call codepipeline:ListPipelineExecutions on pipeline {TARGET} "
        f"in account {OTHER_ACCOUNT}, Region {REGION} (AccessDeniedException: not authorized); add {TARGET} to the pipelines map of the modules/pipeline-access "
        f"that created {ACCESS_ROLE}, for the pipeline's Region, and apply it in account {OTHER_ACCOUNT}"
    )


def test_a_pipeline_of_another_account_is_not_found_as_the_role_sees_it(aws: None, results: Pipeline, context: Any) -> None:
    create_target()  # in this account, not the role's

    waiter.handler(pipeline_event(follow(role_arn=ACCESS_ROLE)), context)

    assert failure_message(results).startswith(
        f"TargetPipelineNotFound: pipeline {TARGET} was not found in account {OTHER_ACCOUNT}, Region {REGION} as seen by the role {ACCESS_ROLE} (assumed by {WAITER_ROLE})"
    )


def test_an_execution_that_is_gone_fails_the_job(target: Any, results: Pipeline, context: Any) -> None:
    gone = "0badc0de-0000-4000-8000-000000000000"
    token = {"pipeline": TARGET, "deadline": (datetime.now(UTC) + timedelta(minutes=5)).strftime(TIMESTAMP), "selected": "in-progress", "execution_id": gone}

    waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=json.dumps(token)), context)

    assert failure_message(results).startswith(f"TargetExecutionNotFound: execution {gone} of pipeline {TARGET} was not found in account {ACCOUNT}, Region {REGION}")
    assert results.failure()["failureDetails"]["externalExecutionId"] == gone


def test_a_progress_report_codepipeline_rejects_fails_the_job_and_stops_nothing(
    followed: tuple[str, dict[str, Any]], results: Pipeline, stop_function: StopFunction, context: Any
) -> None:
    execution_id, token = followed
    results.reject("PutJobSuccessResult", "ValidationException", times=1)

    waiter.handler(pipeline_event(follow(), job_id=NEXT_JOB_ID, token=json.dumps(token)), context)

    assert [operation for operation, _ in results.calls] == ["PutJobSuccessResult", "PutJobFailureResult"]
    details = results.calls[1][1]["failureDetails"]
    assert details["message"].startswith("AwsRequestFailed: PutJobSuccessResult failed: ValidationException") and details["externalExecutionId"] == execution_id
    assert stop_function.requests == [] and executions()[0].status == "InProgress"


def test_optional_keys_set_to_null_count_as_absent(target: Any, results: Pipeline, context: Any) -> None:
    execution_id = run("InProgress")

    waiter.handler(pipeline_event(follow(role_arn=None, region=None, trigger=None, timeout_minutes=None)), context)

    token = token_of(results.success())
    assert token["execution_id"] == execution_id and "role_arn" not in token and "region" not in token


# --- limits and secrets ----------------------------------------------------------------------

LONGEST_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/" + ("p" * 50 + "/") * 9 + "q" * 51 + "/" + "r" * 64
LONGEST_REGION = "ap-southeast-abcdefghijklmno-9"


@pytest.mark.parametrize("refused", ["StartPipelineExecution", "GetPipelineExecution"])
def test_the_token_stays_within_codepipeline_limit_for_the_longest_inputs(refused: str, aws: None, results: Pipeline, context: Any) -> None:
    name = "p" * 100
    parameters = {"pipeline": name, "role_arn": LONGEST_ROLE, "region": LONGEST_REGION, "trigger": True, "timeout_minutes": 1440}
    assert len(LONGEST_REGION) == 30 and len(LONGEST_ROLE.split(":role", 1)[1]) == 512 + 64 and len(json.dumps(parameters)) <= 1000
    client = target_client(LONGEST_ROLE, LONGEST_REGION)
    Refusals(client, refused, "ThrottlingException", times=1, status=400)
    Answers(client, "StartPipelineExecution", {"pipelineExecutionId": "0badc0de-0000-4000-8000-000000000000"})

    waiter.handler(pipeline_event(parameters), context)

    token = results.success()["continuationToken"]
    assert len(token) <= 2048 and json.loads(token)["role_arn"] == LONGEST_ROLE and json.loads(token)["unavailable_since"]


@pytest.mark.parametrize("outcome", ["Succeeded", "Failed"])
def test_no_credential_reaches_the_logs(outcome: str, aws: None, results: Pipeline, context: Any, captured_logs: pytest.CaptureFixture[str]) -> None:
    create_target(account=OTHER_ACCOUNT)
    Starts(target_client(ACCESS_ROLE), account=OTHER_ACCOUNT)
    Answers(target_client(ACCESS_ROLE), "ListActionExecutions", FAILED_ACTIONS)

    waiter.handler(pipeline_event(trigger(role_arn=ACCESS_ROLE)), context)
    token = results.success()["continuationToken"]
    set_status(json.loads(token)["execution_id"], outcome, account=OTHER_ACCOUNT)
    waiter.handler(pipeline_event(trigger(role_arn=ACCESS_ROLE), job_id=NEXT_JOB_ID, token=token), context)

    credentials = shared_aws.sessions[(ACCESS_ROLE, SESSION_NAME)][0].get_credentials()
    secrets = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, credentials.access_key, credentials.secret_key, credentials.token)
    logs = captured_logs.readouterr()
    assert '"message":"target execution status"' in logs.out and ACCESS_ROLE in logs.out
    assert not any(secret in logs.out + logs.err for secret in secrets)
    assert "artifactCredentials" not in logs.out
    assert not any(secret in json.dumps(params) for _, params in results.calls for secret in secrets)


# --- notifications -----------------------------------------------------------------------------


def topic_with_queue(monkeypatch: pytest.MonkeyPatch) -> str:
    """The platform topic (NOTIFICATION_TOPIC_ARN) with a queue subscribed; the queue's URL."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="sls-cd-deployments")["TopicArn"]
    queue = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    monkeypatch.setenv("NOTIFICATION_TOPIC_ARN", topic)
    return queue


def queued(queue: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_a_wait_that_ends_tells_the_topic_what_it_followed(target: Any, results: Pipeline, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = topic_with_queue(monkeypatch)
    run("Succeeded")
    latest = run("Failed", summary="Build failed")
    Answers(target, "ListActionExecutions", {"actionExecutionDetails": []})

    waiter.handler(pipeline_event(follow()), context)

    (note,) = queued(queue)
    assert (note["kind"], note["status"], note["error"]) == ("pipeline_wait", "failed", "TargetPipelineFailed")
    assert note["pipeline"] == {"name": TARGET, "execution_id": latest} and note["cause"] == failure_message(results)
    assert {"label": "Waiting job", "value": JOB_ID} in note["details"]


def test_a_wait_in_progress_tells_nothing_and_a_topic_that_fails_changes_no_result(target: Any, results: Pipeline, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = topic_with_queue(monkeypatch)
    Starts(target)
    waiter.handler(pipeline_event(trigger()), context)
    assert "continuationToken" in results.success() and queued(queue) == []

    monkeypatch.setenv("NOTIFICATION_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:no-such-topic")
    Starts(target, status="Succeeded")
    waiter.handler(pipeline_event(trigger(), job_id=NEXT_JOB_ID), context)
    operation, params = results.calls[-1]
    assert operation == "PutJobSuccessResult" and params["outputVariables"]["Status"] == "Succeeded" and queued(queue) == []
