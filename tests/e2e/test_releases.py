"""Releases on the applied platform (docs/releases.md): manifests uploaded to the release bucket or
POSTed to the release API (the local API Gateway checks the signature and the schema), the
ReleaseStateMachine, real pipeline runs (local_aws/releases.py) and their CodePipeline events, the
releases table and the topic.

Two releases take a minute of wall clock (a timeout, and a pipeline of the target account whose
events never reach the platform, found by the sweep of quiet waits): they start with the first test
here and are checked by the tests marked `late`, while the rest of the suite runs.
"""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from local_aws import releases
from local_aws.releases import PARTNER_PIPELINE, Releaser, records, statuses, upload, wait_for_release, wait_for_submissions
from local_aws.stack import RELEASE_TARGET_ROLE_ARNS, LocalStack

pytestmark = pytest.mark.usefixtures("stack")

QUIET_RELEASE = "quiet-partner"
TIMED_OUT_RELEASE = "timed-out"


@pytest.fixture(scope="package")
def pipelines(stack: LocalStack) -> None:
    releases.create_pipelines()


@pytest.fixture(scope="package")
def releaser(stack: LocalStack, pipelines: None) -> Releaser:
    return releases.create_releaser(stack, "release-manager")


@pytest.fixture(scope="package")
def slow_releases(stack: LocalStack, pipelines: None) -> Iterator[dict[str, "Future[dict[str, Any]]"]]:
    """The two releases checked late: one past its one-minute timeout, one following a pipeline of
    the target account by the sweep alone."""
    upload(stack, {"release_id": TIMED_OUT_RELEASE, "timeout_minutes": 1, "pipelines": [{"name": "search", "variables": {"sleep_seconds": "70"}}, {"name": "web", "after": ["search"]}]})
    upload(stack, {"release_id": QUIET_RELEASE, "pipelines": [{"name": PARTNER_PIPELINE, "role_arn": RELEASE_TARGET_ROLE_ARNS[0], "variables": {"sleep_seconds": "1"}}]})
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield {
            TIMED_OUT_RELEASE: pool.submit(wait_for_release, stack, TIMED_OUT_RELEASE, 180),
            QUIET_RELEASE: pool.submit(sweep_until_ended, stack, QUIET_RELEASE),
        }


def sweep_until_ended(stack: LocalStack, release_id: str) -> dict[str, Any]:
    """What EventBridge's schedule does every minute: run the sweep, until the release has ended."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        stack.run_schedule(stack.outputs["releases"]["sweep_rule_name"])
        try:
            return wait_for_release(stack, release_id, timeout_seconds=10)
        except TimeoutError:
            continue
    raise TimeoutError(f"release {release_id} has not ended")


def notifications_about(stack: LocalStack, release_id: str) -> list[str]:
    return [str(sent["subject"]) for sent in stack.notifications() if f"Release {release_id} " in str(sent["subject"])]


def test_a_release_runs_its_pipelines_in_two_waves_and_records_when_each_changed(stack: LocalStack, slow_releases: Any) -> None:
    # Each run takes a few seconds, so the release is waiting when it ends (the local AWS runs one
    # function at a time: a wait can take a second or two to begin).
    sleep = {"sleep_seconds": "5"}
    manifest = {
        "release_id": "5.16",
        "description": "web and search, then worker",
        "pipelines": [{"name": "web", "variables": sleep}, {"name": "worker", "after": ["web"], "variables": sleep}, {"name": "search", "variables": sleep}],
    }
    version = upload(stack, manifest)

    execution = wait_for_release(stack, "5.16")

    assert execution["status"] == "SUCCEEDED"
    found = records(stack, "5.16")
    release = found["release"]
    assert release["status"] == "SUCCEEDED"
    assert [change["status"] for change in release["changes"]] == ["ACCEPTED", "RUNNING", "SUCCEEDED"]
    assert release["submitted_via"] == "upload" and release["submitted_from"].endswith(f"releases/5.16.json?versionId={version}")
    runs = {name: found[f"pipeline#{name}"] for name in ("web", "worker", "search")}
    assert {name: run["status"] for name, run in runs.items()} == {"web": "Succeeded", "worker": "Succeeded", "search": "Succeeded"}
    # Each end was heard from its CodePipeline event, at the time the event carries.
    assert all(statuses(run)[-1] == ("Succeeded", "event") for run in runs.values())
    # worker waited for web: it started after web's run had ended.
    assert runs["worker"]["started_at"] >= runs["web"]["final_at"]
    for name, run in runs.items():
        assert stack_pipeline_status(name, run["execution_id"]) == "Succeeded"
    assert notifications_about(stack, "5.16") == ["Release 5.16 started", "Release 5.16 succeeded"]
    # The chat destinations got both, the outcome with each pipeline's run.
    stack.wait_for_deliveries()
    posted = [request.json for request in stack.chat.delivered("webhook") if request.json.get("release_id") == "5.16"]
    assert [(note["kind"], note["status"]) for note in posted] == [("release", "started"), ("release", "succeeded")]
    assert {row["label"]: row["value"] for row in posted[1]["details"]} == {name: f"Succeeded ({run['execution_id']})" for name, run in runs.items()}
    assert posted[1]["links"]["execution"].endswith(execution["executionArn"])


def stack_pipeline_status(name: str, execution_id: str) -> str:
    from local_aws.codepipeline import get_execution

    return str(get_execution(name, execution_id)["status"])


def test_a_failed_pipeline_stops_the_others_and_starts_no_more(stack: LocalStack, pipelines: None) -> None:
    upload(
        stack,
        {
            "release_id": "5.17",
            "pipelines": [
                {"name": "web", "variables": {"outcome": "fail"}},
                {"name": "search", "variables": {"sleep_seconds": "5"}},
                {"name": "worker", "after": ["web"]},
            ],
        },
    )

    execution = wait_for_release(stack, "5.17")

    assert execution["status"] == "FAILED" and execution["error"] == "ReleaseFailed"
    web = records(stack, "5.17")["pipeline#web"]
    assert f"web failed (execution {web['execution_id']}): Failed" in execution["cause"]
    assert "stage Build action IntegrationTests" in execution["cause"]
    assert "search was stopped by the release" in execution["cause"]
    found = records(stack, "5.17")
    assert found["pipeline#search"]["status"] == "Stopped" and found["pipeline#search"]["stopped_by_release"] is True
    assert stack_pipeline_status("search", found["pipeline#search"]["execution_id"]) == "Stopped"
    assert found["pipeline#worker"]["status"] == "NotStarted" and "execution_id" not in found["pipeline#worker"]
    assert found["release"]["status"] == "FAILED"
    assert notifications_about(stack, "5.17") == ["Release 5.17 started", "Release 5.17 failed"]


def test_with_continue_the_others_finish_and_only_what_comes_after_the_failure_is_skipped(stack: LocalStack, pipelines: None) -> None:
    upload(
        stack,
        {
            "release_id": "5.18",
            "on_failure": "continue",
            "pipelines": [{"name": "web", "variables": {"outcome": "fail"}}, {"name": "search", "variables": {"sleep_seconds": "2"}}, {"name": "worker", "after": ["web"]}],
        },
    )

    execution = wait_for_release(stack, "5.18")

    assert execution["status"] == "FAILED"
    found = records(stack, "5.18")
    assert found["pipeline#search"]["status"] == "Succeeded" and "stopped_by_release" not in found["pipeline#search"]
    assert found["pipeline#web"]["status"] == "Failed"
    assert found["pipeline#worker"]["status"] == "NotStarted" and "comes after web" in found["pipeline#worker"]["summary"]


def test_a_run_that_ends_before_its_wait_begins_is_not_lost(stack: LocalStack, pipelines: None) -> None:
    # release_steps gets StartPipelineExecution's answer three seconds late: the run (about a second
    # long) has ended, and its event has been heard with no wait to answer, before the release waits.
    stack.patches.faults.delay(stack.handler_functions["release_steps"], "codepipeline:StartPipelineExecution", seconds=3)
    upload(stack, {"release_id": "5.19", "pipelines": ["web"]})

    execution = wait_for_release(stack, "5.19")

    assert execution["status"] == "SUCCEEDED"
    web = records(stack, "5.19")["pipeline#web"]
    assert web["status"] == "Succeeded" and web["final_at"] < web["watch_started_at"]


def test_each_event_delivered_twice_is_recorded_once_and_ends_the_wait_once(stack: LocalStack, pipelines: None) -> None:
    stack.patches.event_deliveries.deliver_twice = True
    sleep = {"sleep_seconds": "5"}
    upload(stack, {"release_id": "5.20", "pipelines": [{"name": "web", "variables": sleep}, {"name": "search", "variables": sleep}]})

    execution = wait_for_release(stack, "5.20")
    deliveries = [delivery for delivery in stack.wait_for_deliveries() if delivery.target_arn.endswith(":function:" + stack.handler_functions["release_events"])]

    assert execution["status"] == "SUCCEEDED"
    for name in ("web", "search"):
        run = records(stack, "5.20")[f"pipeline#{name}"]
        assert [status for status, _ in statuses(run)] == ["Starting", "InProgress", "Succeeded"]
        answers = [delivery for delivery in deliveries if delivery.event["detail"].get("execution-id") == run["execution_id"] and delivery.event["detail"]["state"] == "SUCCEEDED"]
        assert len(answers) == 2 and sorted(delivery.result["settled"] for delivery in answers) == [0, 1]


def test_two_submissions_of_one_release_at_once_start_it_once(stack: LocalStack, releaser: Releaser) -> None:
    manifest = {"release_id": "5.21", "pipelines": ["web"]}
    barrier = threading.Barrier(2)

    def by_upload() -> str:
        barrier.wait()
        return upload(stack, manifest)

    def by_api() -> tuple[int, dict[str, Any]]:
        barrier.wait()
        return releases.post(stack, manifest, releaser.credentials)

    with ThreadPoolExecutor(max_workers=2) as pool:
        uploaded, posted = pool.submit(by_upload), pool.submit(by_api)
        uploaded.result()
        status, answer = posted.result()

    submissions = wait_for_submissions(stack, "5.21", 2)
    execution = wait_for_release(stack, "5.21")

    assert execution["status"] == "SUCCEEDED"
    assert sorted(item["outcome"] for item in submissions) == ["ACCEPTED", "REJECTED"]
    rejected = next(item for item in submissions if item["outcome"] == "REJECTED")
    assert rejected["error"] == "DuplicateRelease" and execution["executionArn"] in rejected["message"]
    assert status in (202, 409) and answer["execution_arn"] == execution["executionArn"]
    assert len([item for item in boto3_executions(stack) if item["name"] == execution["name"]]) == 1


def boto3_executions(stack: LocalStack) -> list[dict[str, Any]]:
    import boto3

    return list(boto3.client("stepfunctions").list_executions(stateMachineArn=stack.outputs["releases"]["state_machine_arn"])["executions"])


def test_the_api_starts_a_release_for_an_allowed_caller_and_answers_a_second_time_with_409(stack: LocalStack, releaser: Releaser) -> None:
    status, answer = releases.post(stack, {"release_id": "5.22", "pipelines": ["search"]}, releaser.credentials)

    assert status == 202, answer
    assert answer["release_id"] == "5.22" and answer["execution_arn"].endswith(":5_22-" + answer["execution_name"].rsplit("-", 1)[1])
    assert answer["console_url"].startswith("https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/")
    assert wait_for_release(stack, "5.22")["status"] == "SUCCEEDED"
    assert records(stack, "5.22")["release"]["submitted_by"] == releaser.arn

    again, duplicate = releases.post(stack, {"release_id": "5.22", "pipelines": ["web"]}, releaser.credentials)
    assert again == 409 and duplicate["execution_arn"] == answer["execution_arn"]


def test_unsigned_and_unauthorized_calls_are_refused_with_403_and_start_nothing(stack: LocalStack, pipelines: None) -> None:
    outsider = releases.create_releaser(stack, "outsider", allowed=False)
    before = len(boto3_executions(stack))

    unsigned, unsigned_answer = releases.post(stack, {"release_id": "5.23", "pipelines": ["web"]}, None)
    refused, refused_answer = releases.post(stack, {"release_id": "5.23", "pipelines": ["web"]}, outsider.credentials)

    assert unsigned == 403 and unsigned_answer["message"] == "Missing Authentication Token"
    assert refused == 403 and outsider.arn in refused_answer["Message"] and "execute-api:Invoke" in refused_answer["Message"]
    assert len(boto3_executions(stack)) == before and "release" not in records(stack, "5.23")


BAD_MANIFESTS = {
    "a cycle": ({"release_id": "bad-cycle", "pipelines": [{"name": "web", "after": ["worker"]}, {"name": "worker", "after": ["web"]}]}, "web -> worker -> web"),
    "an unknown name in after": ({"release_id": "bad-after", "pipelines": [{"name": "web", "after": ["wbe"]}]}, '"wbe" is not a pipeline of this release'),
    "a duplicate": ({"release_id": "bad-duplicate", "pipelines": ["web", "web"]}, "web"),
    "an empty list": ({"release_id": "bad-empty", "pipelines": []}, "pipelines"),
    "a pipeline not allowed": ({"release_id": "bad-not-allowed", "pipelines": ["payroll"]}, "payroll"),
    "a missing field": ({"pipelines": ["web"]}, "release_id"),
    "a wrong type": ({"release_id": "bad-type", "pipelines": ["web"], "timeout_minutes": "soon"}, "timeout_minutes"),
}


@pytest.mark.parametrize("case", list(BAD_MANIFESTS))
def test_a_bad_manifest_is_refused_by_both_entry_points_and_recorded_against_its_release_id(stack: LocalStack, releaser: Releaser, case: str) -> None:
    manifest, named = BAD_MANIFESTS[case]
    release_id = str(manifest.get("release_id", "#unidentified"))
    key = f"releases/{case.replace(' ', '-')}.json"
    before = len(boto3_executions(stack))

    status, answer = releases.post(stack, manifest, releaser.credentials)
    version = upload(stack, manifest, key=key)
    uploaded = wait_for_upload_submission(stack, release_id, version)

    assert status == 400 and named in (answer.get("message") or ""), answer
    assert uploaded["outcome"] == "REJECTED" and uploaded["error"] == "BadManifest"
    assert named in uploaded["message"]
    assert len(boto3_executions(stack)) == before and "release" not in records(stack, release_id)
    assert any(subject.endswith(" rejected") for subject in (str(sent["subject"]) for sent in stack.notifications()))


def wait_for_upload_submission(stack: LocalStack, release_id: str, version: str, timeout_seconds: float = 30.0) -> dict[str, Any]:
    """The submission record of the upload of that object version."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        for record, item in records(stack, release_id).items():
            if record.startswith("submission#") and str(item.get("submitted_from", "")).endswith(f"?versionId={version}"):
                return item
        time.sleep(0.1)
    raise TimeoutError(f"no submission of {release_id} from the upload of version {version}")


@pytest.mark.late
def test_a_release_past_its_timeout_ends_timed_out_and_stops_what_still_runs(stack: LocalStack, slow_releases: dict[str, "Future[dict[str, Any]]"]) -> None:
    execution = slow_releases[TIMED_OUT_RELEASE].result()

    assert execution["status"] == "FAILED" and execution["error"] == "ReleaseTimedOut"
    found = records(stack, TIMED_OUT_RELEASE)
    assert found["release"]["status"] == "TIMED_OUT"
    assert "search was still running at the deadline" in execution["cause"]
    assert found["pipeline#web"]["status"] == "NotStarted"


@pytest.mark.late
def test_a_pipeline_of_another_account_whose_events_never_arrive_is_found_by_the_sweep(stack: LocalStack, slow_releases: dict[str, "Future[dict[str, Any]]"]) -> None:
    execution = slow_releases[QUIET_RELEASE].result()

    assert execution["status"] == "SUCCEEDED"
    partner = records(stack, QUIET_RELEASE)[f"pipeline#{PARTNER_PIPELINE}"]
    assert partner["role_arn"] == RELEASE_TARGET_ROLE_ARNS[0]
    assert statuses(partner)[-1] == ("Succeeded", "check")
