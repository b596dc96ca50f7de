"""A commit pushed through a pipeline shaped like main.tf's (S3 source, CodeBuild running
app/buildspec.yml, the waiter as a Lambda Invoke action), then through the state machine; and
pushes through small pipelines of test functions, for what CodePipeline does around the actions:
executions, variables, StopPipelineExecution and the events of each execution."""

import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from aws_fixtures import app_zip
from local_aws.codedeploy import restore
from local_aws.codepipeline import JobResults, PipelineRun, get_execution, in_progress_execution, push_commit, stop_execution
from local_aws.compat import LocalAws
from local_aws.platform import ARTIFACT_BUCKET, PIPELINE, ROLE, SERVICE, SERVICES_PREFIX, STEPS, LocalPlatform
from local_functions import ACCOUNT, allow_rule, create_function, create_role
from tools import package

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[LocalPlatform, JobResults]]:
    from moto import mock_aws

    from shared import aws as shared_aws

    shared_aws.reset()
    steps = {}
    for step in (*STEPS, "waiter"):
        package.write_zip(tmp_path / f"{step}.zip", package.handler_entries(step))
        steps[step] = (tmp_path / f"{step}.zip").read_bytes()
    patches, results = LocalAws(), JobResults()
    patches.install()
    job_patches = results.patch_moto()
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            platform = LocalPlatform(app_code=app_zip("1"), step_zips=steps).create()
            create_pipeline(platform, steps["waiter"])
            yield platform, results
    finally:
        restore(job_patches)
        patches.uninstall()
        shared_aws.reset()


def create_pipeline(platform: LocalPlatform, waiter_zip: bytes) -> None:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    pipeline_role = boto3.client("iam").create_role(RoleName="pipeline", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    waiter_environment = {"STATE_MACHINE_ARN": platform.state_machine_arn, "SERVICES_PARAMETER_PREFIX": SERVICES_PREFIX, "POWERTOOLS_SERVICE_NAME": "waiter"}
    platform._create_function("waiter", "handler.handler", waiter_zip, waiter_environment)
    boto3.client("codebuild").create_project(
        name="build",
        serviceRole=ROLE,
        environment={"type": "LINUX_CONTAINER", "image": "local", "computeType": "BUILD_GENERAL1_SMALL"},
        source={"type": "CODEPIPELINE", "location": "pipeline", "buildspec": "app/buildspec.yml"},
        artifacts={"type": "CODEPIPELINE", "location": "pipeline"},
    )
    boto3.client("s3").create_bucket(Bucket="source")
    user_parameters = json.dumps(
        {"service": SERVICE, "commit_id": "#{SourceVariables.VersionId}", "pipeline_execution_id": "#{codepipeline.PipelineExecutionId}", "pipeline_name": PIPELINE}
    )
    action = {"owner": "AWS", "version": "1"}
    boto3.client("codepipeline").create_pipeline(
        pipeline={
            "name": PIPELINE,
            "roleArn": pipeline_role,
            "artifactStore": {"type": "S3", "location": ARTIFACT_BUCKET},
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": action | {"category": "Source", "provider": "S3"},
                            "namespace": "SourceVariables",
                            "outputArtifacts": [{"name": "SourceOutput"}],
                            "configuration": {"S3Bucket": "source", "S3ObjectKey": "source.zip"},
                        }
                    ],
                },
                {
                    "name": "Build",
                    "actions": [
                        {
                            "name": "Build",
                            "actionTypeId": action | {"category": "Build", "provider": "CodeBuild"},
                            "inputArtifacts": [{"name": "SourceOutput"}],
                            "outputArtifacts": [{"name": "BuildOutput"}],
                            "configuration": {"ProjectName": "build"},
                        }
                    ],
                },
                {
                    "name": "Deploy",
                    "actions": [
                        {
                            "name": "DeploymentStateMachine",
                            "actionTypeId": action | {"category": "Invoke", "provider": "Lambda"},
                            "inputArtifacts": [{"name": "BuildOutput"}],
                            "configuration": {"FunctionName": "waiter", "UserParameters": user_parameters},
                        }
                    ],
                },
            ],
        }
    )


def repository_with(tmp_path: Path, version: str) -> Path:
    source = tmp_path / f"repository-{version}"
    shutil.copytree(ROOT / "app", source / "app", ignore=shutil.ignore_patterns("__pycache__"))
    app = source / "app" / "src" / "app.py"
    app.write_text(app.read_text().replace('VERSION = "1.0.0"', f'VERSION = "{version}"'))
    return source


def test_a_pushed_commit_is_built_and_deployed_to_production(pipeline: tuple[LocalPlatform, JobResults], tmp_path: Path) -> None:
    platform, results = pipeline
    run = push_commit(PIPELINE, repository_with(tmp_path, "1.1.0"), "c0ffee1", results, continuation_interval_seconds=0.05)

    assert run.status == "Succeeded", [(action.action, action.summary) for action in run.actions]
    deploy = run.actions[-1]
    assert deploy.output_variables["ProductionVersion"] == "2" and deploy.output_variables["Service"] == SERVICE and "succeeded" in deploy.summary
    assert platform.live_versions() == {"staging": "2", "production": "2"}
    answer = boto3.client("lambda").invoke(FunctionName="app-production:live", Payload=b"{}")
    assert json.loads(json.loads(answer["Payload"].read())["body"])["version"] == "1.1.0"


def test_a_failing_unit_test_stops_the_pipeline_in_build(pipeline: tuple[LocalPlatform, JobResults], tmp_path: Path) -> None:
    platform, results = pipeline
    source = repository_with(tmp_path, "1.1.0")
    (source / "app" / "tests" / "test_broken.py").write_text("import unittest\n\nclass Broken(unittest.TestCase):\n    def test_fails(self):\n        self.fail('broken on purpose')\n")
    run = push_commit(PIPELINE, source, "b0rken1", results)

    assert run.status == "Failed" and run.actions[-1].action == "Build"
    assert "broken on purpose" in run.actions[-1].summary
    assert platform.live_versions() == {"staging": "1", "production": "1"}


def test_a_failed_deployment_fails_the_deploy_action_with_the_error(pipeline: tuple[LocalPlatform, JobResults], tmp_path: Path) -> None:
    platform, results = pipeline
    source = repository_with(tmp_path, "1.1.0")
    (source / "app" / "src" / "settings.py").write_text("KEY = 'AKIAABCDEFGHIJKLMNOP'\n")
    run = push_commit(PIPELINE, source, "leaky01", results, continuation_interval_seconds=0.05)

    assert run.status == "Failed" and run.actions[-1].action == "DeploymentStateMachine"
    assert run.actions[-1].summary.startswith("ValidationFailed: ") and "settings.py" in run.actions[-1].summary
    assert platform.live_versions() == {"staging": "1", "production": "1"}


# --- executions, variables, stops and events, on pipelines of small functions -----------------

# Posts a job result: a failure for a commit starting "bad", else success with output variable
# Seen (its UserParameters) and Status (what GetPipelineExecution says of the execution whose id
# follows "execution=" in them, if they name one). Counts its invocations under invoked/.
ECHO = """
import boto3

def handler(event, context):
    job = event["CodePipeline.job"]
    parameters = job["data"]["actionConfiguration"]["configuration"].get("UserParameters", "")
    boto3.client("s3").put_object(Bucket="marks", Key=f"invoked/{job['id']}", Body=parameters.encode())
    pipelines = boto3.client("codepipeline")
    if parameters.startswith("bad"):
        pipelines.put_job_failure_result(jobId=job["id"], failureDetails={"type": "JobFailed", "message": "the commit is bad"})
        return
    outputs = {"Seen": parameters}
    if "execution=" in parameters:
        execution_id = parameters.split("execution=")[1].split()[0]
        outputs["Status"] = pipelines.get_pipeline_execution(pipelineName="small", pipelineExecutionId=execution_id)["pipelineExecution"]["status"]
    pipelines.put_job_success_result(jobId=job["id"], outputVariables=outputs)
"""
# A long action: its UserParameters name a commit whose plan (marks/<commit>/plan) says how many
# invocations the job takes and at which one it waits for marks/<commit>/go. Each invocation is
# marked <commit>/<n> when it starts and <commit>/<n>/done when it ends.
SLOW = """
import json
import time
import boto3

def handler(event, context):
    job = event["CodePipeline.job"]
    commit = job["data"]["actionConfiguration"]["configuration"]["UserParameters"]
    s3 = boto3.client("s3")
    plan = json.loads(s3.get_object(Bucket="marks", Key=f"{commit}/plan")["Body"].read())
    count = int(job["data"].get("continuationToken") or 0) + 1
    s3.put_object(Bucket="marks", Key=f"{commit}/{count}", Body=b"")
    if count == plan.get("hold_at"):
        for _ in range(200):
            if s3.list_objects_v2(Bucket="marks", Prefix=f"{commit}/go").get("KeyCount"):
                break
            time.sleep(0.05)
    s3.put_object(Bucket="marks", Key=f"{commit}/{count}/done", Body=b"")
    pipelines = boto3.client("codepipeline")
    if count < plan["invocations"]:
        pipelines.put_job_success_result(jobId=job["id"], continuationToken=str(count))
    else:
        pipelines.put_job_success_result(jobId=job["id"], outputVariables={"Invocations": str(count)})
"""
RECORDER = """
def handler(event, context):
    return event
"""


@pytest.fixture
def local(aws: None, tmp_path: Path) -> Iterator[tuple[LocalAws, JobResults, Path]]:
    """The local AWS in this process, with the functions above, and a commit's source folder."""
    patches, results = LocalAws(), JobResults()
    patches.install()
    job_patches = results.patch_moto()
    try:
        for bucket in (ARTIFACT_BUCKET, "marks", "source"):
            boto3.client("s3").create_bucket(Bucket=bucket)
        role = create_role("jobs", "lambda.amazonaws.com")
        for name, source in (("echo", ECHO), ("slow", SLOW), ("recorder", RECORDER)):
            create_function(name, source, role)
        (tmp_path / "app.py").write_text("VERSION = '1'\n")
        yield patches, results, tmp_path
    finally:
        patches.wait_for_deliveries()
        restore(job_patches)
        patches.uninstall()


def invoke(name: str, function: str, user_parameters: str, namespace: str | None = None) -> dict[str, Any]:
    action = {
        "name": name,
        "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
        "configuration": {"FunctionName": function, "UserParameters": user_parameters},
    }
    return action | ({"namespace": namespace} if namespace else {})


def small_pipeline(*stages: tuple[str, dict[str, Any]], queued: bool = False, variables: dict[str, str] | None = None) -> None:
    """A V2 pipeline named "small": an S3 source (namespace SourceVariables), then one stage per
    (name, action)."""
    source = {
        "name": "Source",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "namespace": "SourceVariables",
        "outputArtifacts": [{"name": "SourceOutput"}],
        "configuration": {"S3Bucket": "source", "S3ObjectKey": "source.zip"},
    }
    declaration: dict[str, Any] = {
        "name": "small",
        "pipelineType": "V2",
        "executionMode": "QUEUED" if queued else "PARALLEL",
        "roleArn": create_role("small-pipeline", "codepipeline.amazonaws.com"),
        "artifactStore": {"type": "S3", "location": ARTIFACT_BUCKET},
        "stages": [{"name": "Source", "actions": [source]}] + [{"name": name, "actions": [action]} for name, action in stages],
        "variables": [{"name": name, "defaultValue": value} for name, value in (variables or {}).items()],
    }
    boto3.client("codepipeline").create_pipeline(pipeline=declaration)


def marks(prefix: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket="marks", Prefix=prefix).get("Contents", [])
    return sorted(item["Key"] for item in listed)


def wait_for_mark(key: str, timeout_seconds: float = 30) -> None:
    deadline = time.monotonic() + timeout_seconds
    while key not in marks(key):
        assert time.monotonic() < deadline, f"{key} never appeared"
        time.sleep(0.02)


def plan(commit: str, invocations: int, hold_at: int | None = None) -> None:
    boto3.client("s3").put_object(Bucket="marks", Key=f"{commit}/plan", Body=json.dumps({"invocations": invocations, "hold_at": hold_at}).encode())


def push_in_background(results: JobResults, source: Path, commit: str) -> tuple[threading.Thread, dict[str, PipelineRun]]:
    runs: dict[str, PipelineRun] = {}
    thread = threading.Thread(target=lambda: runs.update(run=push_commit("small", source, commit, results, continuation_interval_seconds=0.02)))
    thread.start()
    return thread, runs


def execution_status(execution_id: str) -> str:
    return str(get_execution("small", execution_id)["status"])


def error_code(call: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def record_pipeline_events() -> None:
    """A rule sending this account's pipeline execution events to the recorder function."""
    events = boto3.client("events")
    pattern = {"source": ["aws.codepipeline"], "detail-type": ["CodePipeline Pipeline Execution State Change"]}
    rule = events.put_rule(Name="pipeline-executions", EventPattern=json.dumps(pattern))["RuleArn"]
    events.put_targets(Rule="pipeline-executions", Targets=[{"Id": "recorder", "Arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:recorder"}])
    allow_rule("recorder", rule)


def test_every_configuration_string_is_resolved_before_the_action_runs(local: tuple[LocalAws, JobResults, Path]) -> None:
    _, results, source = local
    small_pipeline(
        ("First", invoke("First", "echo", "first", namespace="FirstVariables")),
        ("Second", invoke("Second", "#{variables.Function}", "#{FirstVariables.Seen} #{SourceVariables.VersionId} #{codepipeline.PipelineExecutionId} #{variables.Greeting}")),
        variables={"Function": "echo", "Greeting": "hello"},
    )

    run = push_commit("small", source, "c0ffee1", results)

    assert run.status == "Succeeded", run.actions
    assert run.actions[-1].output_variables["Seen"] == f"first c0ffee1 {run.execution_id} hello"


@pytest.mark.parametrize(
    "reference",
    ["#{Nowhere.Seen}", "#{LaterVariables.Seen}", "#{FirstVariables.NotProduced}"],
    ids=["unknown namespace", "action not run yet", "variable not produced"],
)
def test_a_reference_that_cannot_be_resolved_fails_the_action_before_it_runs(local: tuple[LocalAws, JobResults, Path], reference: str) -> None:
    _, results, source = local
    small_pipeline(
        ("First", invoke("First", "echo", "first", namespace="FirstVariables")),
        ("Second", invoke("Second", "echo", f"uses {reference}")),
        ("Later", invoke("Later", "echo", "later", namespace="LaterVariables")),
    )

    run = push_commit("small", source, "c0ffee1", results)

    assert run.status == "Failed" and [action.action for action in run.actions] == ["Source", "First", "Second"]
    assert run.actions[-1].summary == "An action in this pipeline failed because one or more variables could not be resolved: Action name=Second"
    assert len(marks("invoked/")) == 1  # First's invocation only


def test_each_push_is_an_execution_of_the_pipeline_that_the_api_shows(local: tuple[LocalAws, JobResults, Path]) -> None:
    _, results, source = local
    small_pipeline(("Check", invoke("Check", "echo", "#{SourceVariables.VersionId} execution=#{codepipeline.PipelineExecutionId}", namespace="CheckVariables")))

    good = push_commit("small", source, "good001", results)
    bad = push_commit("small", source, "bad0001", results)

    assert good.actions[-1].output_variables["Status"] == "InProgress"  # as the action saw it, while it ran
    assert good.actions[-1].output_variables["Seen"] == f"good001 execution={good.execution_id}"
    summaries = boto3.client("codepipeline").list_pipeline_executions(pipelineName="small")["pipelineExecutionSummaries"]
    assert [(summary["pipelineExecutionId"], summary["status"]) for summary in summaries] == [(bad.execution_id, "Failed"), (good.execution_id, "Succeeded")]
    assert [revision["revisionId"] for revision in summaries[0]["sourceRevisions"]] == ["bad0001"]
    assert execution_status(good.execution_id) == "Succeeded" and bad.status == "Failed"


def test_stop_and_abandon_abandons_the_action_and_starts_nothing_later(local: tuple[LocalAws, JobResults, Path]) -> None:
    _, results, source = local
    small_pipeline(("Work", invoke("Work", "slow", "#{SourceVariables.VersionId}")), ("After", invoke("After", "echo", "after")))
    plan("c0ffee1", invocations=5, hold_at=2)
    thread, runs = push_in_background(results, source, "c0ffee1")
    wait_for_mark("c0ffee1/2")  # the second invocation is running

    execution_id = in_progress_execution("small")
    stop_execution("small", execution_id, abandon=True, reason="a newer commit supersedes it")
    status_while_stopping = execution_status(execution_id)
    boto3.client("s3").put_object(Bucket="marks", Key="c0ffee1/go", Body=b"")
    thread.join(timeout=30)

    run = runs["run"]
    assert status_while_stopping == "Stopping"
    assert run.status == "Stopped" and execution_status(execution_id) == "Stopped"
    assert [(action.action, action.status) for action in run.actions] == [("Source", "Succeeded"), ("Work", "Abandoned")]
    # The running invocation completed; the action was not invoked again, and After never started.
    assert marks("c0ffee1/") == ["c0ffee1/1", "c0ffee1/1/done", "c0ffee1/2", "c0ffee1/2/done", "c0ffee1/go", "c0ffee1/plan"]
    assert marks("invoked/") == []
    [summary] = boto3.client("codepipeline").list_pipeline_executions(pipelineName="small")["pipelineExecutionSummaries"]
    assert summary["stopTrigger"] == {"reason": "a newer commit supersedes it"}


def test_stop_and_wait_lets_the_action_finish_and_starts_nothing_later(local: tuple[LocalAws, JobResults, Path]) -> None:
    _, results, source = local
    small_pipeline(("Work", invoke("Work", "slow", "#{SourceVariables.VersionId}", namespace="WorkVariables")), ("After", invoke("After", "echo", "after")))
    plan("c0ffee1", invocations=3, hold_at=2)
    thread, runs = push_in_background(results, source, "c0ffee1")
    wait_for_mark("c0ffee1/2")

    execution_id = in_progress_execution("small")
    stop_execution("small", execution_id, abandon=False)
    boto3.client("s3").put_object(Bucket="marks", Key="c0ffee1/go", Body=b"")
    thread.join(timeout=30)

    run = runs["run"]
    assert run.status == "Stopped" and execution_status(execution_id) == "Stopped"
    work = run.action("Work")
    assert work is not None and work.status == "Succeeded" and work.output_variables == {"Invocations": "3"}
    assert run.action("After") is None and marks("invoked/") == []


def test_stop_requests_that_codepipeline_refuses(local: tuple[LocalAws, JobResults, Path]) -> None:
    _, results, source = local
    small_pipeline(("Work", invoke("Work", "slow", "#{SourceVariables.VersionId}")))
    plan("done0001", invocations=1)
    finished = push_commit("small", source, "done0001", results)
    plan("c0ffee1", invocations=2, hold_at=1)
    thread, _ = push_in_background(results, source, "c0ffee1")
    wait_for_mark("c0ffee1/1")
    execution_id = in_progress_execution("small")

    try:
        assert error_code(lambda: stop_execution("small", finished.execution_id, abandon=True)) == "PipelineExecutionNotStoppableException"
        assert error_code(lambda: boto3.client("codepipeline").stop_pipeline_execution(pipelineName="absent", pipelineExecutionId=execution_id)) == "PipelineNotFoundException"
        stop_execution("small", execution_id, abandon=False)
        assert error_code(lambda: stop_execution("small", execution_id, abandon=False)) == "DuplicatedStopRequestException"
        stop_execution("small", execution_id, abandon=True)  # a stop and wait may still become a stop and abandon
        assert error_code(lambda: stop_execution("small", execution_id, abandon=True)) == "DuplicatedStopRequestException"
    finally:
        boto3.client("s3").put_object(Bucket="marks", Key="c0ffee1/go", Body=b"")
        thread.join(timeout=30)
    assert execution_status(execution_id) == "Stopped"


def test_a_stopped_execution_releases_its_stage_to_the_next_in_a_queued_pipeline(local: tuple[LocalAws, JobResults, Path]) -> None:
    _, results, source = local
    small_pipeline(("Work", invoke("Work", "slow", "#{SourceVariables.VersionId}")), queued=True)
    plan("first01", invocations=1, hold_at=1)
    plan("second1", invocations=1)
    first_thread, first = push_in_background(results, source, "first01")
    wait_for_mark("first01/1")
    second_thread, second = push_in_background(results, source, "second1")
    time.sleep(0.3)
    assert marks("second1/") == ["second1/plan"]  # waiting for the Work stage

    stop_execution("small", in_progress_execution("small", commit_id="first01"), abandon=True)
    boto3.client("s3").put_object(Bucket="marks", Key="first01/go", Body=b"")
    first_thread.join(timeout=30)
    second_thread.join(timeout=30)

    assert second["run"].status == "Succeeded" and first["run"].status == "Stopped"
    assert execution_status(second["run"].execution_id) == "Succeeded"


def test_each_change_of_an_execution_state_is_an_event_on_the_default_bus(local: tuple[LocalAws, JobResults, Path]) -> None:
    patches, results, source = local
    record_pipeline_events()
    small_pipeline(("Check", invoke("Check", "echo", "fine")))

    run = push_commit("small", source, "c0ffee1", results)
    received = [delivery.result for delivery in patches.wait_for_deliveries()]

    pipeline_arn = f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:small"
    started, succeeded = received
    common = {
        "version": "0",
        "detail-type": "CodePipeline Pipeline Execution State Change",
        "source": "aws.codepipeline",
        "account": ACCOUNT,
        "region": "us-east-1",
        "resources": [pipeline_arn],
    }
    detail = {"pipeline": "small", "execution-id": run.execution_id, "start-time": started["detail"]["start-time"]}
    attempt = {"version": 1.0, "pipeline-execution-attempt": 1.0}
    trigger = {"trigger-type": "StartPipelineExecution", "trigger-detail": f"arn:aws:sts::{ACCOUNT}:user/moto"}
    assert started == common | {"id": started["id"], "time": started["time"], "detail": detail | {"execution-trigger": trigger, "state": "STARTED"} | attempt}
    assert succeeded == common | {"id": succeeded["id"], "time": succeeded["time"], "detail": detail | {"state": "SUCCEEDED"} | attempt}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", detail["start-time"])


def test_a_stopped_execution_puts_stopping_with_the_reason_then_stopped(local: tuple[LocalAws, JobResults, Path]) -> None:
    patches, results, source = local
    record_pipeline_events()
    small_pipeline(("Work", invoke("Work", "slow", "#{SourceVariables.VersionId}")))
    plan("c0ffee1", invocations=2, hold_at=1)
    thread, runs = push_in_background(results, source, "c0ffee1")
    wait_for_mark("c0ffee1/1")

    stop_execution("small", in_progress_execution("small"), abandon=True, reason="a newer commit supersedes it")
    boto3.client("s3").put_object(Bucket="marks", Key="c0ffee1/go", Body=b"")
    thread.join(timeout=30)
    details = [delivery.result["detail"] for delivery in patches.wait_for_deliveries()]

    assert [detail["state"] for detail in details] == ["STARTED", "STOPPING", "STOPPED"]
    assert details[1]["stop-execution-comments"] == "a newer commit supersedes it"
    assert {detail["execution-id"] for detail in details} == {runs["run"].execution_id}
