"""Executions that StartPipelineExecution starts in the local AWS run for real, as CodePipeline runs
them: the Source action fetches the S3 object (at the version sourceRevisions names), the build gets
the pipeline variables through the action's EnvironmentVariables and can fail, ListActionExecutions
and GetPipelineExecution show what ran, a clientRequestToken starts one execution only, a newer
execution supersedes one waiting for a stage (SUPERSEDED) but not in a QUEUED pipeline, and a
pipeline of a second account runs in that account."""

import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local_aws.codedeploy import restore
from local_aws.codepipeline import JobResults, action_executions, get_execution, push_commit, started_run, wait_for_execution, wait_for_started_runs, waiting_execution
from local_aws.compat import LocalAws
from local_aws.server import start_local_aws
from local_functions import ACCOUNT, REGION, allow_rule, create_function, create_role

OTHER_ACCOUNT = "111111111111"
# The build: waits for the file $GATE names (unless "none"), writes built.txt from the source's
# source.txt and $RELEASE, and fails unless $OUTCOME is "succeed". The buildspec's own RELEASE is
# what the action's EnvironmentVariables override.
BUILDSPEC = """\
version: 0.2
env:
  variables:
    RELEASE: from-the-buildspec
phases:
  build:
    commands:
      - if [ "$GATE" != none ]; then touch "$GATE.entered"; while [ ! -f "$GATE" ]; do sleep 0.01; done; fi
      - cp source.txt built.txt && echo "release=$RELEASE" >> built.txt
      - if [ "$OUTCOME" != succeed ]; then echo "the integration tests failed ($OUTCOME)"; exit 1; fi
artifacts:
  files: ["**/*"]
"""
VARIABLES = {"gate": "none", "outcome": "succeed", "release": "default"}
RECORDER = """
def handler(event, context):
    return event
"""


@pytest.fixture
def local(aws: None) -> Iterator[LocalAws]:
    """The local AWS in this process; every execution started has ended before it stops."""
    patches, results = LocalAws(), JobResults()
    patches.install()
    job_patches = results.patch_moto()
    try:
        yield patches
    finally:
        try:
            wait_for_started_runs(timeout_seconds=20)
            patches.wait_for_deliveries()
        finally:
            restore(job_patches)
            patches.uninstall()


def source_zip(text: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("source.txt", text + "\n")
    return out.getvalue()


def role(session: Any, name: str, service: str) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
    return str(session.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def create_target(session: Any, name: str = "target", mode: str | None = None, source_provider: str = "S3") -> dict[str, str]:
    """A V2 pipeline: Source (an S3 object of a versioned bucket, holding source.txt "v1"), then
    Build (the BUILDSPEC above, the pipeline variables in its EnvironmentVariables)."""
    account = session.client("sts").get_caller_identity()["Account"]
    buckets = {"artifacts": f"{name}-artifacts-{account}", "source": f"{name}-source-{account}"}
    s3 = session.client("s3")
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=buckets["source"], VersioningConfiguration={"Status": "Enabled"})
    buckets["v1"] = s3.put_object(Bucket=buckets["source"], Key="source.zip", Body=source_zip("v1"))["VersionId"]
    session.client("codebuild").create_project(
        name=f"{name}-build",
        source={"type": "CODEPIPELINE", "buildspec": BUILDSPEC},
        artifacts={"type": "CODEPIPELINE"},
        environment={"type": "LINUX_CONTAINER", "image": "local", "computeType": "BUILD_GENERAL1_SMALL"},
        serviceRole=role(session, f"{name}-build", "codebuild.amazonaws.com"),
    )
    environment = [{"name": variable.upper(), "value": f"#{{variables.{variable}}}", "type": "PLAINTEXT"} for variable in VARIABLES]
    source_configuration = (
        {"S3Bucket": buckets["source"], "S3ObjectKey": "source.zip"}
        if source_provider == "S3"
        else {"ConnectionArn": "arn:aws:x", "FullRepositoryId": "team/repo", "BranchName": "main"}
    )
    source = {"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": source_provider, "version": "1"}, "configuration": source_configuration}
    build = {
        "name": "IntegrationTests",
        "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
        "configuration": {"ProjectName": f"{name}-build", "EnvironmentVariables": json.dumps(environment)},
        "inputArtifacts": [{"name": "SourceOutput"}],
        "outputArtifacts": [{"name": "BuildOutput"}],
    }
    declaration: dict[str, Any] = {
        "name": name,
        "pipelineType": "V2",
        "roleArn": role(session, f"{name}-pipeline", "codepipeline.amazonaws.com"),
        "artifactStore": {"type": "S3", "location": buckets["artifacts"]},
        "stages": [
            {"name": "Source", "actions": [source | {"namespace": "SourceVariables", "outputArtifacts": [{"name": "SourceOutput"}]}]},
            {"name": "Build", "actions": [build]},
        ],
        "variables": [{"name": variable, "defaultValue": value} for variable, value in VARIABLES.items()],
    }
    if mode is not None:
        declaration["executionMode"] = mode
    session.client("codepipeline").create_pipeline(pipeline=declaration)
    return buckets


def start(name: str = "target", session: Any = None, **arguments: Any) -> str:
    variables = arguments.pop("variables", None)
    if variables:
        arguments["variables"] = [{"name": key, "value": value} for key, value in variables.items()]
    return str((session or boto3).client("codepipeline").start_pipeline_execution(name=name, **arguments)["pipelineExecutionId"])


def built(detail: dict[str, Any], session: Any = None) -> str:
    """built.txt of the build output artifact that ListActionExecutions names for a build action."""
    [artifact] = detail["output"]["outputArtifacts"]
    body = (session or boto3).client("s3").get_object(Bucket=artifact["s3location"]["bucket"], Key=artifact["s3location"]["key"])["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return archive.read("built.txt").decode()


def error_code(call: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def wait_for(condition: Any, what: str, timeout_seconds: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not after {timeout_seconds} s"
        time.sleep(0.01)


def record_pipeline_events() -> None:
    """A rule sending this account's pipeline execution events to a function that returns them."""
    create_function("recorder", RECORDER, create_role("recorder", "lambda.amazonaws.com"))
    events = boto3.client("events")
    pattern = {"source": ["aws.codepipeline"], "detail-type": ["CodePipeline Pipeline Execution State Change"]}
    rule = events.put_rule(Name="pipeline-executions", EventPattern=json.dumps(pattern))["RuleArn"]
    events.put_targets(Rule="pipeline-executions", Targets=[{"Id": "recorder", "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:recorder"}])
    allow_rule("recorder", rule)


def states(patches: LocalAws) -> list[tuple[str, str]]:
    """(execution id, state) of every pipeline execution event delivered so far, in order."""
    return [(delivery.result["detail"]["execution-id"], delivery.result["detail"]["state"]) for delivery in patches.wait_for_deliveries()]


def test_the_same_client_request_token_starts_one_execution(local: LocalAws) -> None:
    record_pipeline_events()
    create_target(boto3)

    first = start(clientRequestToken="parent-job-1")
    again = start(clientRequestToken="parent-job-1")
    other = start(clientRequestToken="parent-job-2")
    for execution_id in (first, other):
        wait_for_execution("target", execution_id)

    assert again == first and other != first
    summaries = boto3.client("codepipeline").list_pipeline_executions(pipelineName="target")["pipelineExecutionSummaries"]
    assert [summary["pipelineExecutionId"] for summary in summaries] == [other, first]
    assert sorted(states(local)) == sorted([(first, "STARTED"), (first, "SUCCEEDED"), (other, "STARTED"), (other, "SUCCEEDED")])
    assert error_code(lambda: start(clientRequestToken="not a token!")) == "ValidationException"


def test_a_started_pipeline_fetches_its_source_runs_its_build_and_succeeds(local: LocalAws) -> None:
    buckets = create_target(boto3)

    execution_id = start()
    described = wait_for_execution("target", execution_id)

    assert described["status"] == "Succeeded"
    [revision] = described["artifactRevisions"]
    assert revision["name"] == "SourceOutput" and revision["revisionId"] == buckets["v1"] and revision["created"].year >= 2024
    assert {item["name"]: item["resolvedValue"] for item in described["variables"]} == VARIABLES
    build, source = action_executions("target", execution_id)  # newest first
    assert [(detail["stageName"], detail["actionName"], detail["status"]) for detail in (build, source)] == [
        ("Build", "IntegrationTests", "Succeeded"),
        ("Source", "Source", "Succeeded"),
    ]
    assert source["output"]["outputVariables"]["VersionId"] == buckets["v1"] and source["output"]["executionResult"]["externalExecutionId"] == buckets["v1"]
    assert build["input"]["actionTypeId"] == {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}
    assert build["input"]["inputArtifacts"][0]["name"] == "SourceOutput" and build["pipelineExecutionId"] == execution_id and build["pipelineVersion"] == 1
    assert built(build) == "v1\nrelease=default\n"  # the action's RELEASE, not the buildspec's
    run = started_run(execution_id)
    assert run is not None and run.status == "Succeeded" and [action.action for action in run.actions] == ["Source", "IntegrationTests"]
    summary = boto3.client("codepipeline").list_pipeline_executions(pipelineName="target")["pipelineExecutionSummaries"][0]
    assert summary["sourceRevisions"] == [{"actionName": "Source", "revisionId": buckets["v1"]}]


def test_a_failing_build_fails_the_execution_and_list_action_executions_names_it(local: LocalAws) -> None:
    create_target(boto3)

    execution_id = start(variables={"outcome": "broken"})
    described = wait_for_execution("target", execution_id)

    assert described["status"] == "Failed"
    failed = action_executions("target", execution_id)[0]
    assert (failed["stageName"], failed["actionName"], failed["status"]) == ("Build", "IntegrationTests", "Failed")
    result = failed["output"]["executionResult"]
    assert "the integration tests failed (broken)" in result["externalExecutionSummary"]
    assert result["errorDetails"] == {"code": "JobFailed", "message": result["externalExecutionSummary"]}


def test_start_variables_reach_the_build_through_its_environment_variables(local: LocalAws) -> None:
    create_target(boto3)

    execution_id = start(variables={"release": "1.2.3"})
    described = wait_for_execution("target", execution_id)

    assert described["status"] == "Succeeded"
    assert {item["name"]: item["resolvedValue"] for item in described["variables"]} == VARIABLES | {"release": "1.2.3"}
    build = action_executions("target", execution_id)[0]
    assert built(build) == "v1\nrelease=1.2.3\n"
    assert json.loads(build["input"]["resolvedConfiguration"]["EnvironmentVariables"])[2] == {"name": "RELEASE", "value": "1.2.3", "type": "PLAINTEXT"}
    assert error_code(lambda: start(variables={"undeclared": "x"})) == "ValidationException"
    assert error_code(lambda: start("absent")) == "PipelineNotFoundException"


def test_source_revisions_pick_the_s3_object_version_the_source_action_fetches(local: LocalAws) -> None:
    buckets = create_target(boto3)
    v2 = boto3.client("s3").put_object(Bucket=buckets["source"], Key="source.zip", Body=source_zip("v2"))["VersionId"]

    pinned = start(sourceRevisions=[{"actionName": "Source", "revisionType": "S3_OBJECT_VERSION_ID", "revisionValue": buckets["v1"]}])
    latest = start()
    for execution_id in (pinned, latest):
        assert wait_for_execution("target", execution_id)["status"] == "Succeeded"

    assert built(action_executions("target", pinned)[0]) == "v1\nrelease=default\n"
    assert built(action_executions("target", latest)[0]) == "v2\nrelease=default\n"
    assert [revision["revisionId"] for revision in get_execution("target", pinned)["artifactRevisions"]] == [buckets["v1"]]
    assert [revision["revisionId"] for revision in get_execution("target", latest)["artifactRevisions"]] == [v2]
    not_a_source = [{"actionName": "IntegrationTests", "revisionType": "S3_OBJECT_VERSION_ID", "revisionValue": v2}]
    wrong_type = [{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "c0ffee1"}]
    for revisions in (not_a_source, wrong_type):
        assert error_code(lambda revisions=revisions: start(sourceRevisions=revisions)) == "ValidationException"


def test_a_source_the_local_runner_cannot_fetch_fails_its_action_and_records_the_commit(local: LocalAws) -> None:
    create_target(boto3, "repository", source_provider="CodeStarSourceConnection")

    execution_id = start("repository", sourceRevisions=[{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "c0ffee1"}])

    assert wait_for_execution("repository", execution_id)["status"] == "Failed"
    [source] = action_executions("repository", execution_id)
    assert source["status"] == "Failed" and "fetches only S3 sources on StartPipelineExecution" in source["output"]["executionResult"]["externalExecutionSummary"]
    [summary] = boto3.client("codepipeline").list_pipeline_executions(pipelineName="repository")["pipelineExecutionSummaries"]
    assert summary["sourceRevisions"] == [{"actionName": "Source", "revisionId": "c0ffee1"}]


def test_list_action_executions_errors_and_paging(local: LocalAws) -> None:
    create_target(boto3)
    execution_id = start()
    wait_for_execution("target", execution_id)
    pipelines = boto3.client("codepipeline")

    assert error_code(lambda: pipelines.list_action_executions(pipelineName="absent")) == "PipelineNotFoundException"
    assert error_code(lambda: pipelines.list_action_executions(pipelineName="target", filter={"pipelineExecutionId": "0" * 36})) == "PipelineExecutionNotFoundException"
    page = pipelines.list_action_executions(pipelineName="target", maxResults=1)
    assert [detail["actionName"] for detail in page["actionExecutionDetails"]] == ["IntegrationTests"]
    rest = pipelines.list_action_executions(pipelineName="target", maxResults=1, nextToken=page["nextToken"])
    assert [detail["actionName"] for detail in rest["actionExecutionDetails"]] == ["Source"] and "nextToken" not in rest


def gated(tmp_path: Path, name: str) -> dict[str, str]:
    return {"gate": str(tmp_path / name)}


def test_a_newer_execution_supersedes_one_waiting_for_the_stage(local: LocalAws, tmp_path: Path) -> None:
    record_pipeline_events()
    create_target(boto3)  # no executionMode: SUPERSEDED
    gate = tmp_path / "first"
    first = start(variables=gated(tmp_path, "first"))
    try:
        wait_for(lambda: (tmp_path / "first.entered").exists(), "the first execution's build started")
        second = start()
        wait_for(lambda: waiting_execution(ACCOUNT, REGION, "target", "Build") == second, "the second execution waits for Build")
        in_build = {detail["actionName"]: detail["status"] for detail in action_executions("target", first)}
        third = start()
        assert wait_for_execution("target", second)["status"] == "Superseded"
        wait_for(lambda: waiting_execution(ACCOUNT, REGION, "target", "Build") == third, "the third execution waits for Build")
    finally:
        gate.touch()

    assert in_build == {"IntegrationTests": "InProgress", "Source": "Succeeded"}
    assert [wait_for_execution("target", execution_id)["status"] for execution_id in (first, second, third)] == ["Succeeded", "Superseded", "Succeeded"]
    assert [(detail["stageName"], detail["status"]) for detail in action_executions("target", second)] == [("Source", "Succeeded")]
    assert [run.status for run in (started_run(first), started_run(second), started_run(third)) if run is not None] == ["Succeeded", "Superseded", "Succeeded"]
    delivered = states(local)
    assert [state for execution_id, state in delivered if execution_id == second] == ["STARTED", "SUPERSEDED"]
    assert [state for execution_id, state in delivered if execution_id == third] == ["STARTED", "SUCCEEDED"]


def test_waiting_executions_of_a_queued_pipeline_are_not_superseded(local: LocalAws, tmp_path: Path) -> None:
    create_target(boto3, mode="QUEUED")
    gate = tmp_path / "first"
    first = start(variables=gated(tmp_path, "first"))
    try:
        wait_for(lambda: (tmp_path / "first.entered").exists(), "the first execution's build started")
        waiting = [start(), start()]
        for execution_id in waiting:
            wait_for(lambda execution_id=execution_id: [d["status"] for d in action_executions("target", execution_id)] == ["Succeeded"], "its Source action ran")
        time.sleep(0.1)
        assert all(len(action_executions("target", execution_id)) == 1 for execution_id in waiting)  # none entered Build
    finally:
        gate.touch()

    assert [wait_for_execution("target", execution_id)["status"] for execution_id in [first, *waiting]] == ["Succeeded"] * 3


def test_a_pipeline_of_a_second_account_runs_in_that_account(local: LocalAws, tmp_path: Path) -> None:
    credentials = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/admin", RoleSessionName="tests")["Credentials"]
    other = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"], aws_session_token=credentials["SessionToken"], region_name=REGION
    )
    buckets = create_target(other)
    queue = other.client("sqs").create_queue(QueueName="pipeline-events")["QueueUrl"]
    queue_arn = other.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    other.client("events").put_rule(Name="executions", EventPattern=json.dumps({"source": ["aws.codepipeline"]}))
    other.client("events").put_targets(Rule="executions", Targets=[{"Id": "queue", "Arn": queue_arn}])

    execution_id = start(session=other, variables={"release": "other"})
    described = wait_for_execution("target", execution_id, session=other)
    (tmp_path / "source.txt").write_text("pushed\n")
    pushed = push_commit("target", tmp_path, "c0ffee1", JobResults(), session=other)

    assert described["status"] == "Succeeded" and pushed.status == "Succeeded", pushed.actions
    assert built(action_executions("target", execution_id, session=other)[0], session=other) == "v1\nrelease=other\n"
    assert built(action_executions("target", pushed.execution_id, session=other)[0], session=other) == "pushed\nrelease=default\n"
    keys = [item["Key"] for item in other.client("s3").list_objects_v2(Bucket=buckets["artifacts"])["Contents"]]
    assert sorted(key.split("/")[1] for key in keys) == ["BuildOutpu", "BuildOutpu", "SourceOutp", "SourceOutp"]  # CodePipeline keeps 10 characters
    assert [revision["revisionId"] for revision in get_execution("target", pushed.execution_id, session=other)["artifactRevisions"]] == ["c0ffee1"]
    # Nothing of it is in the default account: the runner found the project and the pipeline in the other one.
    assert boto3.client("codebuild").batch_get_projects(names=["target-build"])["projects"] == []
    assert error_code(lambda: boto3.client("codepipeline").get_pipeline(name="target")) == "PipelineNotFoundException"
    messages = other.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    details = [json.loads(message["Body"])["detail"] for message in messages]
    assert [(detail["execution-id"], detail["state"]) for detail in details][:2] == [(execution_id, "STARTED"), (execution_id, "SUCCEEDED")]
    assert details[0]["execution-trigger"]["trigger-detail"] == f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/admin/tests"


def test_a_stopped_execution_abandons_its_build_in_list_action_executions(local: LocalAws, tmp_path: Path) -> None:
    create_target(boto3)
    execution_id = start(variables=gated(tmp_path, "first"))
    try:
        wait_for(lambda: (tmp_path / "first.entered").exists(), "the build started")
        boto3.client("codepipeline").stop_pipeline_execution(pipelineName="target", pipelineExecutionId=execution_id, abandon=True, reason="superseded by hand")
        assert get_execution("target", execution_id)["status"] == "Stopping"
    finally:
        (tmp_path / "first").touch()

    assert wait_for_execution("target", execution_id)["status"] == "Stopped"
    build = action_executions("target", execution_id)[0]
    assert build["status"] == "Abandoned" and "superseded by hand" in build["output"]["executionResult"]["externalExecutionSummary"]


class OverHttp:
    """A boto3 session whose clients talk to the local AWS over HTTP."""

    def __init__(self, url: str, **credentials: str) -> None:
        self.url, self.session = url, boto3.session.Session(region_name=REGION, **credentials)

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.url)


def test_over_http_a_pipeline_of_a_second_account_is_started_and_runs_there() -> None:
    patches, results = LocalAws(), JobResults()
    url, stop = start_local_aws(patches=patches)
    job_patches = results.patch_moto()
    try:
        home = OverHttp(url, aws_access_key_id="local", aws_secret_access_key="local")
        credentials = home.client("sts").assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/admin", RoleSessionName="http")["Credentials"]
        other = OverHttp(url, aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"], aws_session_token=credentials["SessionToken"])
        create_target(other)
        execution_id = start(session=other, clientRequestToken="parent-job-1", variables={"release": "http"})
        again = start(session=other, clientRequestToken="parent-job-1")
        described = wait_for_execution("target", execution_id, session=other)
        build = action_executions("target", execution_id, session=other)[0]
        wait_for_started_runs(timeout_seconds=20)
    finally:
        restore(job_patches)
        stop()

    assert again == execution_id and described["status"] == "Succeeded"
    assert build["status"] == "Succeeded" and build["pipelineExecutionId"] == execution_id


# A parent pipeline's action, in short: starts the target pipeline of the account its event names,
# through a role of that account, and returns the new execution's id.
STARTER = """
import boto3

def handler(event, context):
    credentials = boto3.client("sts").assume_role(RoleArn=event["role"], RoleSessionName="parent")["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"], aws_session_token=credentials["SessionToken"]
    )
    started = session.client("codepipeline").start_pipeline_execution(name="target", clientRequestToken=event["token"])
    return started["pipelineExecutionId"]
"""


def test_a_function_checked_against_its_role_starts_a_pipeline_of_another_account(aws: None) -> None:
    patches, results = LocalAws(check_iam=True), JobResults()
    patches.install()
    job_patches = results.patch_moto()
    try:
        credentials = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/admin", RoleSessionName="tests")["Credentials"]
        keys = {"aws_access_key_id": credentials["AccessKeyId"], "aws_secret_access_key": credentials["SecretAccessKey"], "aws_session_token": credentials["SessionToken"]}
        other = boto3.session.Session(region_name=REGION, **keys)
        create_target(other)
        starter_role = create_role("starter", "lambda.amazonaws.com", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": starter_role}, "Action": "sts:AssumeRole"}]}
        access = other.client("iam").create_role(RoleName="parent-access", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "codepipeline:StartPipelineExecution", "Resource": "*"}]}
        other.client("iam").put_role_policy(RoleName="parent-access", PolicyName="start", PolicyDocument=json.dumps(allow))
        create_function("starter", STARTER, starter_role)

        answers = [boto3.client("lambda").invoke(FunctionName="starter", Payload=json.dumps({"role": access, "token": "job-1"}))["Payload"].read() for _ in range(2)]
        execution_id = json.loads(answers[0])
        described = wait_for_execution("target", execution_id, session=other)
        wait_for_started_runs(timeout_seconds=20)
    finally:
        restore(job_patches)
        patches.uninstall()

    assert json.loads(answers[1]) == execution_id and described["status"] == "Succeeded"
