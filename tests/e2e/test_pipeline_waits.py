"""The waiter's pipeline mode, end to end: examples/parent-pipeline applied next to the platform
(its pipeline in the platform's account, modules/pipeline-access in a second account through the
example's target_account provider), waiting on target pipelines whose executions the local pipeline
runner really runs: their Source and Build actions run, a build can fail, a run can be superseded.

Every wait is a pipeline run: the parent, or a pipeline like it with one waiter action
(`ParentPipeline.waiting_pipeline`), pushed through the local pipeline runner, which invokes the
waiter with job events and continuation tokens as CodePipeline does. The waiter runs as its role,
every call checked against the policies Terraform attached (local_aws/iam.py).
"""

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

from local_aws import codepipeline
from local_aws.codepipeline import PipelineRun
from local_aws.parent_pipeline import API_PIPELINE, NIGHTLY_PIPELINE, SHARED_PIPELINE, ParentPipeline
from local_aws.stack import LocalStack
from local_aws.target_pipelines import TARGET_ACCOUNT, start, wait_for_action

pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture(scope="package")
def chain(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> ParentPipeline:
    return ParentPipeline.apply(stack, tmp_path_factory.mktemp("parent-pipeline"))


@pytest.fixture(scope="package")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("parent-source")
    (folder / "release.json").write_text(json.dumps({"release": "5.16"}))
    return folder


@pytest.fixture(scope="package")
def timed_out_wait(chain: ParentPipeline, source: Path) -> Iterator["Future[tuple[PipelineRun, str, str]]"]:
    """A wait with a one-minute timeout (the shortest there is) on a target run that takes longer.
    It starts with the first test of this file and is checked after the other tests of the
    folder (test_a_wait_past_its_timeout_fails_naming_the_target_still_running)."""
    default = boto3.session.Session()
    pipeline = chain.waiting_pipeline("wait-for-nightly", {"pipeline": NIGHTLY_PIPELINE, "timeout_minutes": 1})

    def wait() -> tuple[PipelineRun, str, str]:
        nightly = start(default, NIGHTLY_PIPELINE, {"sleep_seconds": "75"})
        wait_for_action(default, NIGHTLY_PIPELINE, nightly, "Build", "InProgress")
        run = chain.push(source, "nightly-wait", pipeline=pipeline, interval_seconds=1.0)
        return run, nightly, codepipeline.get_execution(NIGHTLY_PIPELINE, nightly)["status"]

    with ThreadPoolExecutor(max_workers=1) as background:
        yield background.submit(wait)


def executions_of(pipeline: str, session: boto3.session.Session | None = None) -> list[str]:
    pipelines = (session or boto3.session.Session()).client("codepipeline")
    return [summary["pipelineExecutionId"] for summary in pipelines.list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]]


def test_the_parent_starts_its_api_pipeline_and_follows_the_other_accounts_run(chain: ParentPipeline, source: Path, timed_out_wait: "Future[tuple[PipelineRun, str, str]]") -> None:
    shared = start(chain.target_session, SHARED_PIPELINE)
    assert codepipeline.wait_for_execution(SHARED_PIPELINE, shared, session=chain.target_session)["status"] == "Succeeded"
    api_before = executions_of(API_PIPELINE)

    run = chain.push(source, "r5-16")

    assert run.status == "Succeeded", [(action.action, action.summary) for action in run.actions]
    api, shared_wait = run.action_named("Api"), run.action_named("SharedServices")
    started = [execution for execution in executions_of(API_PIPELINE) if execution not in api_before]
    assert started == [api.output_variables["PipelineExecutionId"]]
    api_run = codepipeline.get_execution(API_PIPELINE, started[0])
    assert api_run["status"] == "Succeeded"
    assert {"name": "release", "resolvedValue": "r5-16"} in api_run["variables"]
    ran = [{"name": item["name"], "revisionId": item["revisionId"]} for item in api_run["artifactRevisions"]]
    assert [item["name"] for item in ran] == ["SourceOutput"]
    assert api.output_variables == {"PipelineName": API_PIPELINE, "PipelineExecutionId": started[0], "Status": "Succeeded", "SourceRevisions": json.dumps(ran, separators=(",", ":"))}
    assert shared_wait.output_variables["PipelineExecutionId"] == shared
    assert shared_wait.output_variables["Status"] == "Succeeded"
    assert executions_of(SHARED_PIPELINE, chain.target_session) == [shared], "following a run starts none"


def test_a_failed_target_fails_the_job_naming_its_failed_stage_and_action(chain: ParentPipeline, source: Path) -> None:
    pipeline = chain.waiting_pipeline("wait-for-failing-api", {"pipeline": API_PIPELINE, "trigger": True, "variables": {"outcome": "broken"}})

    run = chain.push(source, "c-fail", pipeline=pipeline)

    assert run.status == "Failed"
    message = run.action_named("Wait").summary
    failed = executions_of(API_PIPELINE)[0]
    assert codepipeline.get_execution(API_PIPELINE, failed)["status"] == "Failed"
    assert "TargetPipelineFailed" in message and failed in message, message
    assert "Build" in message and "IntegrationTests" in message and "integration tests failed (outcome broken)" in message, message


def test_a_superseded_target_run_is_reported_as_superseded_not_as_the_newer_runs_result(chain: ParentPipeline, source: Path) -> None:
    default = boto3.session.Session()
    holding = start(default, API_PIPELINE, {"sleep_seconds": "3"})
    wait_for_action(default, API_PIPELINE, holding, "Build", "InProgress")
    pipeline = chain.waiting_pipeline("wait-superseded", {"pipeline": API_PIPELINE, "trigger": True})
    before = set(executions_of(API_PIPELINE))
    result: dict[str, PipelineRun] = {}
    waiting = threading.Thread(target=lambda: result.setdefault("run", chain.push(source, "c-superseded", pipeline=pipeline)))
    waiting.start()
    followed = wait_for_new_execution(API_PIPELINE, before)
    wait_for_action(default, API_PIPELINE, followed, "Source", "Succeeded")

    newer = start(default, API_PIPELINE)
    waiting.join(timeout=60)

    message = result["run"].action_named("Wait").summary
    assert "TargetPipelineSuperseded" in message and followed in message and newer not in message, message
    assert codepipeline.get_execution(API_PIPELINE, followed)["status"] == "Superseded"
    assert codepipeline.wait_for_execution(API_PIPELINE, newer)["status"] == "Succeeded"


def wait_for_new_execution(pipeline: str, before: set[str]) -> str:
    for _ in range(600):
        new = [execution for execution in executions_of(pipeline) if execution not in before]
        if new:
            return new[0]
        time.sleep(0.02)
    raise TimeoutError(f"no new execution of {pipeline}")


@pytest.mark.parametrize(
    ("case", "user_parameters", "named"),
    [
        ("not-json", '{"pipeline": "api", trigger: true}', "not valid JSON"),
        ("unknown-key", {"pipeline": API_PIPELINE, "trigger": True, "timeout": 5}, "'timeout'"),
        ("wrong-type", {"pipeline": API_PIPELINE, "trigger": "yes"}, "'trigger'"),
    ],
)
def test_bad_user_parameters_fail_the_job_at_once_saying_what_is_expected(chain: ParentPipeline, source: Path, case: str, user_parameters: object, named: str) -> None:
    pipeline = chain.waiting_pipeline(f"wait-bad-{case}", user_parameters)
    api_before, jobs_before = executions_of(API_PIPELINE), set(chain.stack.server.job_results.by_job)

    run = chain.push(source, f"c-{case}", pipeline=pipeline)

    message = run.action_named("Wait").summary
    assert run.status == "Failed"
    assert named in message and '{"pipeline": ' in message, message
    # The timed-out wait on the nightly pipeline posts results in the background meanwhile.
    posted = [result for job, result in list(chain.stack.server.job_results.by_job.items()) if job not in jobs_before and NIGHTLY_PIPELINE not in json.dumps(result)]
    assert [result["result"] for result in posted] == ["failure"], "one invocation, no continuation"
    assert executions_of(API_PIPELINE) == api_before


def test_a_role_the_platform_does_not_list_is_not_assumed(chain: ParentPipeline, source: Path) -> None:
    role = f"arn:aws:iam::{TARGET_ACCOUNT}:role/another-teams-role"
    pipeline = chain.waiting_pipeline("wait-unlisted-role", {"pipeline": SHARED_PIPELINE, "role_arn": role})

    run = chain.push(source, "c-unlisted", pipeline=pipeline)

    message = run.action_named("Wait").summary
    assert run.status == "Failed"
    assert role in message and "waiter_target_role_arns" in message and chain.stack.outputs["pipeline_waiter"]["role_arn"] in message, message


def test_two_invocations_of_one_job_start_one_target_run(chain: ParentPipeline) -> None:
    parent = boto3.client("codepipeline").get_pipeline(name=chain.name)["pipeline"]
    action = parent["stages"][1]["actions"][0]
    configuration = action["configuration"] | {"UserParameters": json.dumps({"pipeline": API_PIPELINE, "trigger": True})}
    event = json.dumps(codepipeline.job_event(str(uuid.uuid4()), action | {"inputArtifacts": []}, configuration, {}, None))
    before = executions_of(API_PIPELINE)
    results = chain.stack.server.job_results

    reported = []
    for _ in range(2):
        boto3.client("lambda").invoke(FunctionName=configuration["FunctionName"], Payload=event)
        reported.append(results.by_job[json.loads(event)["CodePipeline.job"]["id"]]["executionDetails"]["externalExecutionId"])

    started = [execution for execution in executions_of(API_PIPELINE) if execution not in before]
    assert len(started) == 1 and reported == [started[0], started[0]]
    codepipeline.wait_for_execution(API_PIPELINE, started[0])


@pytest.mark.late
def test_a_wait_past_its_timeout_fails_naming_the_target_still_running(timed_out_wait: "Future[tuple[PipelineRun, str, str]]") -> None:
    run, nightly, status_then = timed_out_wait.result(timeout=180)

    message = run.action_named("Wait").summary
    assert run.status == "Failed"
    assert "TargetPipelineTimedOut" in message and nightly in message and "1 minute" in message, message
    assert status_then == "InProgress", "the target is left running"
