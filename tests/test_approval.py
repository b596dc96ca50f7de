"""Production approvals, run as a user meets them: the real DeploymentStateMachine (moto's
interpreter) invokes the real handlers from their zips; a deployment of a service that registers
`approval.required` waits after staging's tests for a decision sent, as API Gateway's proxy
integration of POST /approvals sends it, to the approval function; then it reaches production, or
staging is rolled back and the execution fails with ProductionRejected."""

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from aws_fixtures import app_zip
from local_aws.compat import LocalAws
from local_aws.platform import FUNCTIONS, RELEASE_BUCKET, SERVICES_PREFIX, STATE_MACHINE_ARN, LocalPlatform, register_service

ACCOUNT = "123456789012"
APPROVER = f"arn:aws:iam::{ACCOUNT}:role/release-managers"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/release-managers/ada"
APPROVAL = {"required": True, "timeout_seconds": 3600, "approvers": [APPROVER]}
NOT_REQUIRED = {"required": False, "timeout_seconds": 3600, "approvers": [APPROVER]}
APPROVAL_FUNCTION = "step-approval"
WAITING_SECONDS = 30


@pytest.fixture
def patches() -> Iterator[LocalAws]:
    """moto with the local patches; executions still running at the end (waiting for a decision,
    or for a stuck deployment) are stopped before moto goes."""
    from moto import mock_aws

    from shared import aws as shared_aws

    shared_aws.reset()
    installed = LocalAws()
    installed.install()
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            try:
                yield installed
            finally:
                stop_running_executions()
    finally:
        installed.uninstall()
        shared_aws.reset()


@pytest.fixture
def make(patches: LocalAws, step_zips: dict[str, bytes]) -> Callable[..., LocalPlatform]:
    """Creates the platform, its service registering `approval` (production approval by default)."""

    def create(approval: dict[str, Any] | None = APPROVAL) -> LocalPlatform:
        return LocalPlatform(app_code=app_zip("1"), step_zips=step_zips, approval=approval).create()

    return create


@pytest.fixture
def local(make: Callable[..., LocalPlatform]) -> LocalPlatform:
    return make()


def stop_running_executions() -> None:
    client = boto3.client("stepfunctions")
    try:
        running = client.list_executions(stateMachineArn=STATE_MACHINE_ARN, statusFilter="RUNNING")["executions"]
    except client.exceptions.StateMachineDoesNotExist:
        return
    for execution in running:
        client.stop_execution(executionArn=execution["executionArn"], error="TestOver", cause="the test ended")


# --- helpers ---------------------------------------------------------------------------------------


def status_of(execution_arn: str) -> str:
    return str(boto3.client("stepfunctions").describe_execution(executionArn=execution_arn)["status"])


def wait_for_approval(platform: LocalPlatform, execution_arn: str, commit: str) -> dict[str, Any]:
    """The deployment record once the deployment waits for a decision."""
    name = execution_arn.rsplit(":", 1)[1]
    deadline = time.monotonic() + WAITING_SECONDS
    while time.monotonic() < deadline:
        record = platform.record(commit, name)
        if record.get("approval", {}).get("status") == "waiting":
            return record
        status = status_of(execution_arn)
        assert status == "RUNNING", f"{name} ended {status} without waiting for a decision: {boto3.client('stepfunctions').describe_execution(executionArn=execution_arn).get('cause')}"
        time.sleep(0.05)
    raise TimeoutError(f"{name} did not wait for a decision within {WAITING_SECONDS} s")


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAITING_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.05)


def start_waiting(platform: LocalPlatform, code: bytes, commit: str) -> tuple[str, dict[str, Any]]:
    arn = platform.start(code, commit)
    return arn, wait_for_approval(platform, arn, commit)


def post(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Invokes the approval function with an API Gateway proxy event: (status code, answer)."""
    response = boto3.client("lambda").invoke(FunctionName=APPROVAL_FUNCTION, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    assert payload["headers"] == {"Content-Type": "application/json"}
    return payload["statusCode"], json.loads(payload["body"])


def request(caller: str | None, body: Any) -> dict[str, Any]:
    identity = {"userArn": caller} if caller else {}
    return {"httpMethod": "POST", "path": "/approvals", "requestContext": {"identity": identity}, "body": body if isinstance(body, str) else json.dumps(body)}


def decide(execution: str, decision: str, reason: str | None = None, caller: str = SESSION) -> tuple[int, dict[str, Any]]:
    body = {"execution": execution, "decision": decision} | ({"reason": reason} if reason is not None else {})
    return post(request(caller, body))


def notifications() -> list[dict[str, Any]]:
    """Each notification published to the topic (as a Lambda subscriber receives it)."""
    from moto.sns.models import sns_backends

    (topic,) = sns_backends[ACCOUNT]["us-east-1"].topics.values()
    return [json.loads(json.loads(message)["lambda"]) for _, message, *_ in topic.sent_notifications]


def production_versions() -> list[str]:
    return [version["Version"] for version in boto3.client("lambda").list_versions_by_function(FunctionName=FUNCTIONS["production"])["Versions"]]


# --- an approved deployment ---------------------------------------------------------------------------


@pytest.mark.parametrize("approver", [APPROVER, f"arn:aws:iam::{ACCOUNT}:role/teams/release-managers"], ids=["role", "role-with-path"])
def test_an_approved_deployment_reaches_production(make: Callable[..., LocalPlatform], approver: str) -> None:
    platform = make(APPROVAL | {"approvers": [approver]})
    arn, _ = start_waiting(platform, app_zip("2"), "c2")

    status, answer = decide("c2-run", "approve", "looks fine")

    assert status == 200, answer
    assert answer["decision"] == "approve" and answer["decided_by"] == SESSION and answer["execution_arn"] == arn
    assert answer["message"].startswith(f"deployment c2-run approved by {SESSION} at ") and answer["message"].endswith(": looks fine")
    execution = platform.wait(arn)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert platform.live_versions() == {"staging": "2", "production": "2"}
    approval = json.loads(execution["output"])["approval"]
    assert approval["approved"] is True and approval["decided_by"] == SESSION and approval["reason"] == "looks fine"
    assert approval["decided_at"] == answer["decided_at"]
    record = platform.record("c2", "c2-run")
    assert record["status"] == "SUCCEEDED" and "approval_token" not in record
    assert record["approval"]["status"] == "approved" and record["approval"]["decided_by"] == SESSION
    assert record["approval"]["reason"] == "looks fine" and record["approval"]["decided_at"] == answer["decided_at"]


def test_an_iam_user_approver_decides_as_itself(make: Callable[..., LocalPlatform]) -> None:
    user = f"arn:aws:iam::{ACCOUNT}:user/grace"
    platform = make(APPROVAL | {"approvers": [user]})
    arn, _ = start_waiting(platform, app_zip("2"), "c2")

    assert decide("c2-run", "approve", caller=user)[0] == 200
    execution = platform.wait(arn)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert platform.live_versions() == {"staging": "2", "production": "2"}
    assert json.loads(execution["output"])["approval"]["decided_by"] == user
    assert platform.record("c2", "c2-run")["approval"]["decided_by"] == user


# --- waiting ----------------------------------------------------------------------------------------


def test_a_waiting_deployment_says_what_it_waits_for(local: LocalPlatform) -> None:
    arn, record = start_waiting(local, app_zip("2"), "c2")

    assert status_of(arn) == "RUNNING"
    assert local.live_versions() == {"staging": "2", "production": "1"}
    approval = record["approval"]
    assert record["status"] == "IN_PROGRESS" and record["approval_token"]
    assert approval["status"] == "waiting" and approval["approvers"] == [APPROVER] and approval["timeout_seconds"] == 3600
    summary = approval["summary"]
    assert summary.startswith("Commit c2 -> production: runs version 1, staging runs version 2\n")
    assert "Tests: package 1/1 passed; staging 1/1 passed" in summary and "Validation: no findings" in summary
    assert "Package: not compared: production runs version 1 of app-production, which the platform did not deploy" in summary

    # The handler records the request, then publishes it.
    wait_until(lambda: any(note["status"] == "waiting_for_approval" for note in notifications()))
    (waiting,) = [note for note in notifications() if note["status"] == "waiting_for_approval"]
    assert waiting["title"] == "app: waiting for approval to deploy production"
    assert waiting["execution_arn"] == arn and waiting["execution_name"] == "c2-run" and waiting["commit_id"] == "c2" and waiting["service"] == "app"
    rows = {row["label"]: row["value"] for row in waiting["details"]}
    assert rows["Production now"] == "version 1" and rows["Staging runs"] == "version 2"
    assert rows["Tests"] == "package 1/1 passed; staging 1/1 passed"
    assert rows["Package"].startswith("not compared: ")
    assert rows["Decide with"].startswith("python -m tools.approve c2-run approve|reject --reason")
    assert rows["Decide by"] == f"{approval['expires_at']} (then staging is rolled back)"
    assert summary in waiting["text"] and "python -m tools.approve c2-run" in waiting["text"]


# --- a rejected deployment ----------------------------------------------------------------------------


def test_a_rejected_deployment_rolls_staging_back_and_leaves_production(local: LocalPlatform) -> None:
    arn, _ = start_waiting(local, app_zip("2"), "c2")

    status, answer = decide("c2-run", "reject", "the migration is not ready")

    assert status == 200 and answer["decision"] == "reject", answer
    execution = local.wait(arn)
    assert execution["status"] == "FAILED" and execution["error"] == "ProductionRejected"
    assert SESSION in execution["cause"] and "the migration is not ready" in execution["cause"] and execution["cause"].startswith("rejected by ")
    assert local.live_versions() == {"staging": "1", "production": "1"}
    assert production_versions() == ["$LATEST", "1"]
    assert "DeployProduction" not in local.states_entered(arn)
    record = local.record("c2", "c2-run")
    assert record["status"] == "FAILED" and record["failure_error"] == "ProductionRejected"
    assert record["approval"]["status"] == "rejected" and record["approval"]["decided_by"] == SESSION and record["approval"]["reason"] == "the migration is not ready"
    assert "approval_token" not in record


# --- who may decide ----------------------------------------------------------------------------------


NOT_APPROVERS = (
    f"arn:aws:sts::{ACCOUNT}:assumed-role/developers/bob",
    # The approver role's name, in another account; an IAM user of that name; a role whose name starts with it.
    "arn:aws:sts::999999999999:assumed-role/release-managers/eve",
    f"arn:aws:iam::{ACCOUNT}:user/release-managers",
    f"arn:aws:iam::{ACCOUNT}:role/release-managers-2",
)


def test_someone_who_is_not_an_approver_cannot_decide(local: LocalPlatform) -> None:
    arn, before = start_waiting(local, app_zip("2"), "c2")

    for caller in NOT_APPROVERS:
        for decision, reason in (("approve", None), ("reject", "no")):
            status, answer = decide("c2-run", decision, reason, caller=caller)
            assert status == 403, (caller, answer)
            assert answer["message"] == f"{caller} is not an approver of service app: its approvers are {APPROVER}"

    assert local.record("c2", "c2-run") == before
    assert before["approval"]["status"] == "waiting" and before["approval_token"]
    assert status_of(arn) == "RUNNING"
    assert decide("c2-run", "approve")[0] == 200
    assert local.wait(arn)["status"] == "SUCCEEDED"
    assert local.live_versions() == {"staging": "2", "production": "2"}


def test_a_decision_step_functions_does_not_take_leaves_the_deployment_waiting_to_be_decided_again(local: LocalPlatform, patches: LocalAws) -> None:
    arn, before = start_waiting(local, app_zip("2"), "c2")
    patches.faults.fail("step-approval", "states:SendTaskSuccess", "ThrottlingException", "Rate exceeded", status=400)

    status, answer = decide("c2-run", "approve", "first try")

    assert status == 503 and "ThrottlingException" in answer["message"] and "decide again" in answer["message"], answer
    after = local.record("c2", "c2-run")
    assert after["approval"] == before["approval"] and after["approval_token"] == before["approval_token"], "the record waits again, with its token"
    assert status_of(arn) == "RUNNING"
    assert decide("c2-run", "approve", "second try")[0] == 200
    assert local.wait(arn)["status"] == "SUCCEEDED"


# --- decisions that change nothing ------------------------------------------------------------------


def test_a_second_decision_is_refused(local: LocalPlatform, patches: LocalAws) -> None:
    # Production's deployment does not finish: the deployment is still running after the decision.
    patches.deployments.stuck_groups.add("production")
    arn, _ = start_waiting(local, app_zip("2"), "c2")
    assert decide("c2-run", "approve", "first")[0] == 200
    decided = local.record("c2", "c2-run")

    for decision, reason in (("approve", "again"), ("reject", "changed my mind")):
        status, answer = decide("c2-run", decision, reason)
        assert status == 409, answer
        assert answer["message"] == f"deployment c2-run was approved by {SESSION} at {decided['approval']['decided_at']} already"

    assert status_of(arn) == "RUNNING"
    # (DeployProduction goes on writing the record; the decision stays the first one.)
    assert local.record("c2", "c2-run")["approval"] == decided["approval"] and decided["approval"]["reason"] == "first"


def test_a_decision_before_the_deployment_waits_is_refused(local: LocalPlatform, patches: LocalAws) -> None:
    patches.deployments.stuck_groups.add("staging")
    arn = local.start(app_zip("2"), "c2")
    wait_until(lambda: "staging" in local.record("c2", "c2-run"))

    status, answer = decide("c2-run", "approve")

    assert status == 409 and "does not wait for a decision (yet)" in answer["message"], answer
    assert status_of(arn) == "RUNNING" and "approval" not in local.record("c2", "c2-run")


@pytest.mark.parametrize(
    "approval",
    [
        pytest.param(None, id="no-approvers"),
        pytest.param(NOT_REQUIRED, id="approvers-but-not-required"),
    ],
)
def test_a_decision_on_a_deployment_of_a_service_without_approval_is_refused(make: Callable[..., LocalPlatform], patches: LocalAws, approval: dict[str, Any] | None) -> None:
    platform = make(approval)
    patches.deployments.stuck_groups.add("staging")
    arn = platform.start(app_zip("2"), "c2")
    wait_until(lambda: "staging" in platform.record("c2", "c2-run"))

    status, answer = decide("c2-run", "approve")

    assert status == 409 and answer["message"].startswith("deployment c2-run does not wait for a decision"), answer
    assert status_of(arn) == "RUNNING" and "approval" not in platform.record("c2", "c2-run")


def test_a_decision_on_an_ended_deployment_is_refused(local: LocalPlatform) -> None:
    skipping = local.service | {"approval": NOT_REQUIRED}
    execution = local.wait(local.start(app_zip("2"), "c2", execution_name="ended", extra_input={"service": skipping}))
    assert execution["status"] == "FAILED"

    status, answer = decide(execution["executionArn"], "approve")

    assert status == 409 and answer["message"] == "deployment ended is failed: only a running deployment waits for a decision", answer


def test_a_decision_on_an_unknown_deployment_is_not_found(local: LocalPlatform) -> None:
    status, answer = decide("nobody-started-this", "approve")

    assert status == 404 and answer["message"] == "there is no deployment nobody-started-this", answer


BAD_BODIES = (
    ("approve it", "the request body must be JSON"),
    ("[]", "the request body must be a JSON object"),
    ({"execution": "c2-run", "decision": "approve", "by": "me"}, "the request body has the unknown field 'by'"),
    ({"execution": "c2-run", "decision": "yes"}, "'decision' must be 'approve' or 'reject', got 'yes'"),
    ({"execution": "c2-run", "decision": "reject"}, "a rejection needs a 'reason'"),
    ({"execution": "c2-run", "decision": "reject", "reason": "x" * 501}, "'reason'"),
    ({"decision": "approve"}, "'execution'"),
    ({"execution": "../c2-run", "decision": "approve"}, "is neither the name nor the ARN of an execution"),
    ({"execution": f"arn:aws:states:us-east-1:{ACCOUNT}:execution:other:c2-run", "decision": "approve"}, "is neither the name nor the ARN of an execution"),
)


def test_bad_requests_are_refused_and_change_nothing(local: LocalPlatform) -> None:
    arn, before = start_waiting(local, app_zip("2"), "c2")

    for body, message in BAD_BODIES:
        status, answer = post(request(SESSION, body))
        assert status == 400 and message in answer["message"], (body, answer)
    status, answer = post(request(None, {"execution": "c2-run", "decision": "approve"}))
    assert status == 403 and "no caller identity" in answer["message"], answer

    assert local.record("c2", "c2-run") == before and status_of(arn) == "RUNNING"
    assert [note["status"] for note in notifications()] == ["started", "waiting_for_approval"]


# --- the change summary ----------------------------------------------------------------------------


def deploy_approved(platform: LocalPlatform, code: bytes, commit: str) -> None:
    arn, _ = start_waiting(platform, code, commit)
    assert decide(f"{commit}-run", "approve")[0] == 200
    assert platform.wait(arn)["status"] == "SUCCEEDED"


def app_source(version: str) -> str:
    return f"VERSION = {version!r}\n\ndef handler(event, context):\n    return {{'version': VERSION}}\n"


def test_the_summary_compares_the_package_with_productions_release_copy(local: LocalPlatform) -> None:
    deploy_approved(local, app_zip("2"), "c2")
    helpers = "def helper():\n    return 42\n"

    _, record = start_waiting(local, app_zip("3.0", extra={"helpers.py": helpers}), "c3")

    summary = record["approval"]["summary"]
    assert summary.startswith("Commit c3 -> production: runs version 2 (commit c2), staging runs version 3\n")
    before, after = len(app_source("2")), len(app_source("3.0"))
    assert f"~ app.py {before} B -> {after} B (+{after - before} B)" in summary
    assert f"+ helpers.py {len(helpers)} B" in summary
    assert "Package: 2 changed, 1 added, 0 removed, 0 unchanged" in summary


def test_the_summary_says_when_the_release_copy_is_not_productions_code(local: LocalPlatform) -> None:
    deploy_approved(local, app_zip("2"), "c2")
    boto3.client("s3").put_object(Bucket=RELEASE_BUCKET, Key="app/production/c2.zip", Body=app_zip("tampered"))

    _, record = start_waiting(local, app_zip("3"), "c3")

    summary = record["approval"]["summary"]
    assert f"the release copy s3://{RELEASE_BUCKET}/app/production/c2.zip holds other code than production's version 2: nothing to compare with" in summary
    assert "~ app.py" not in summary


# --- an input that skips the approval ------------------------------------------------------------


@pytest.mark.parametrize(
    ("approval", "in_input", "said"),
    [
        (APPROVAL, {"required": False, "timeout_seconds": 3600, "approvers": [APPROVER]}, "'approval.required' is false in the execution input, but true is registered"),
        (APPROVAL, None, "'approval.required' is missing in the execution input, but true is registered"),
        (NOT_REQUIRED, APPROVAL, "'approval.required' is true in the execution input, but false is registered"),
    ],
    ids=["false", "missing", "required-but-not-registered"],
)
def test_an_input_that_changes_whether_approval_is_required_is_refused_before_anything_is_deployed(
    make: Callable[..., LocalPlatform], approval: dict[str, Any], in_input: dict[str, Any] | None, said: str
) -> None:
    platform = make(approval)
    crafted = json.loads(json.dumps(platform.service))
    if in_input is None:
        del crafted["approval"]
    else:
        crafted["approval"] = in_input

    execution = platform.wait(platform.start(app_zip("2"), "crafted", extra_input={"service": crafted}))

    assert execution["status"] == "FAILED" and execution["error"] == "TargetNotAllowed", execution.get("cause")
    assert f"service app: {said}" in execution["cause"]
    assert platform.live_versions() == {"staging": "1", "production": "1"}
    entered = platform.states_entered(execution["executionArn"])
    assert "DeployStaging" not in entered and "RequestApproval" not in entered
    record = platform.record("crafted", "crafted-run")
    assert record["status"] == "FAILED" and record["failure_error"] == "TargetNotAllowed"
    assert boto3.client("s3").list_objects_v2(Bucket=RELEASE_BUCKET).get("KeyCount") == 0


# --- a registry entry whose approval is broken -------------------------------------------------------


BROKEN_APPROVALS = (
    ({"required": True, "timeout_seconds": 3600, "approvers": []}, "'approval.required' is true but 'approval.approvers' is empty"),
    (
        {"required": True, "timeout_seconds": 3600, "approvers": ["release-managers"]},
        "'approval.approvers[0]' 'release-managers' is not the ARN of an IAM user, an IAM role or a role session",
    ),
    ({"required": True, "timeout_seconds": 3600, "approvers": [APPROVER, f"arn:aws:iam::{ACCOUNT}:group/ops"]}, "'approval.approvers[1]'"),
    ({"required": True, "timeout_seconds": 59, "approvers": [APPROVER]}, "'approval.timeout_seconds' is 59; it must be at least 60"),
    ({"required": True, "timeout_seconds": 3600, "approvers": [APPROVER], "approver": APPROVER}, "'approval' has the unknown field 'approver'"),
    ({"required": "yes", "timeout_seconds": 3600, "approvers": [APPROVER]}, "'approval.required' must be"),
)


def handler_error(function_name: str, event: dict[str, Any]) -> dict[str, Any]:
    response = boto3.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
    assert response.get("FunctionError"), response
    return json.loads(response["Payload"].read())  # type: ignore[no-any-return]


def test_a_registry_entry_with_a_broken_approval_is_a_configuration_error_naming_the_field(local: LocalPlatform) -> None:
    entry = f"the registry entry of service 'app' (SSM parameter {SERVICES_PREFIX}app) is not a service document: "
    artifact = {"bucket": "artifacts", "key": "BuildOutput/c2.zip"}
    boto3.client("s3").put_object(Bucket=artifact["bucket"], Key=artifact["key"], Body=app_zip("2"))
    execution = {"arn": f"arn:aws:states:us-east-1:{ACCOUNT}:execution:deployment:c2-run", "name": "c2-run"}
    for approval, problem in BROKEN_APPROVALS:
        register_service(local.service | {"approval": approval})
        events = {
            "step-validate_code": {"commit_id": "c2", "artifact": artifact, "execution": execution, "service": local.service},
            "step-production": {"action": "describe", "service": local.service},
            "step-approval": {"action": "request", "token": "t", "commit_id": "c2", "artifact": artifact, "execution": execution, "service": local.service, "production": {}},
        }
        for function_name, event in events.items():
            error = handler_error(function_name, event)
            assert error["errorType"] == "ConfigurationError", (function_name, approval, error)
            assert error["errorMessage"].startswith(entry + problem), (function_name, error["errorMessage"])

    # The user sees it as the deployment's failure, before anything is deployed.
    run = local.wait(local.start(app_zip("2"), "c2"))
    assert run["status"] == "FAILED" and '"errorType":"ConfigurationError"' in run["cause"] and BROKEN_APPROVALS[-1][1] in run["cause"]
    assert local.live_versions() == {"staging": "1", "production": "1"}
