"""Commits pushed through the Terraform-applied pipeline while something goes wrong, and what a
user sees afterwards: the `live` aliases, the execution's status and error, the pipeline job's
result and message, the deployment record and the notification. Production never ends on a
version that did not pass every test.

Deployments use Terraform's defaults (staging all at once, production a 10% canary for 5 minutes)
on a clock 60 times faster; the deadline is the 60 s minimum, on the wall clock.
"""

import threading
import time
from pathlib import Path

import boto3

from e2e.deployments import Outcome, failing_case, new_version, push
from local_aws.stack import DEFAULT_SERVICE, LocalStack


def assert_succeeded(outcome: Outcome, alone: bool = True) -> None:
    """The execution succeeded; the job, record and (for a push `alone`) notification say so."""
    assert outcome.execution["status"] == "SUCCEEDED", f"{outcome.execution.get('error')}: {outcome.execution.get('cause')}"
    assert outcome.run.status == "Succeeded" and "succeeded" in outcome.job_message
    assert outcome.record["status"] == "SUCCEEDED"
    if alone:
        assert [sent["subject"] for sent in outcome.notifications] == ["default: deployment started", "default: deployment succeeded"]
        assert outcome.run.commit_id in outcome.notifications[-1]["message"] and outcome.notifications[-1]["notification"]["status"] == "succeeded"


def assert_failed(outcome: Outcome, error: str, cause: str) -> None:
    """The execution ended in the Fail state `error`; the job, record and notification say so."""
    assert outcome.execution["status"] == "FAILED"
    assert outcome.execution["error"] == error, outcome.execution.get("cause")
    assert cause in outcome.execution["cause"], outcome.execution["cause"]
    assert outcome.entered[-1] == error
    assert outcome.run.status == "Failed" and outcome.job_message.startswith(f"{error}: "), outcome.job_message
    assert outcome.record["status"] == "FAILED" and outcome.record["failure_error"] == error
    assert [sent["subject"] for sent in outcome.notifications] == ["default: deployment started", "default: deployment failed"]
    assert f"failed with {error}: " in outcome.notifications[-1]["message"] and outcome.notifications[-1]["notification"]["error"] == error


def assert_nothing_changed(stack: LocalStack, outcome: Outcome) -> None:
    """Both aliases are on their versions from before the push, with no traffic left elsewhere."""
    assert outcome.live_after == outcome.live_before
    assert stack.alias_routing("staging") == {} and stack.alias_routing("production") == {}


# --- promoted --------------------------------------------------------------------------------


def test_a_good_commit_reaches_production(stack: LocalStack, tmp_path: Path) -> None:
    outcome = push(stack, tmp_path, "good0001", new_version("1.1.0"))

    assert_succeeded(outcome)
    staging, production = outcome.live_after["staging"], outcome.live_after["production"]
    assert int(staging) > int(outcome.live_before["staging"]) and int(production) > int(outcome.live_before["production"])
    assert f"staging version {staging}, production version {production}" in outcome.job_message
    assert outcome.record["production"]["previous_version"] == outcome.live_before["production"]
    assert outcome.record["production"]["new_version"] == production
    assert "Rollback" not in outcome.entered


def test_a_throttled_task_is_retried_then_succeeds(stack: LocalStack, tmp_path: Path) -> None:
    stack.patches.throttle(stack.handler_functions["validate_code"], times=2)
    outcome = push(stack, tmp_path, "throttle1", new_version("1.1.1"))

    assert_succeeded(outcome)
    failures = [event["lambdaFunctionFailedEventDetails"]["error"] for event in stack.history(outcome.execution["executionArn"]) if event["type"] == "LambdaFunctionFailed"]
    assert failures == ["Lambda.TooManyRequestsException"] * 2
    assert outcome.live_after["production"] != outcome.live_before["production"]


def test_the_same_commit_twice_deploys_nothing_the_second_time(stack: LocalStack, tmp_path: Path) -> None:
    first = push(stack, tmp_path, "twice001", new_version("1.2.0"))
    again = push(stack, tmp_path, "twice001", new_version("1.2.0"))

    assert_succeeded(first)
    assert_succeeded(again)
    assert again.live_after == again.live_before == first.live_after
    for environment in ("staging", "production"):
        assert again.record[environment]["new_version"] == again.record[environment]["previous_version"], environment


def test_a_second_commit_waits_for_the_first_and_is_never_interleaved(stack: LocalStack, tmp_path: Path) -> None:
    outcomes: dict[str, Outcome] = {}
    first = threading.Thread(target=lambda: outcomes.update(first=push(stack, tmp_path, "queue001", new_version("1.3.0"))))
    first.start()
    deadline = time.monotonic() + 30
    while not running_executions(stack) and time.monotonic() < deadline:
        time.sleep(0.05)
    outcomes["second"] = push(stack, tmp_path, "queue002", new_version("1.3.1"))
    first.join(timeout=120)

    assert_succeeded(outcomes["first"], alone=False)
    assert_succeeded(outcomes["second"], alone=False)
    last_two = [sent["message"] for sent in stack.notifications() if sent["subject"] == "default: deployment succeeded"][-2:]
    assert "Service default: commit queue001 is live" in last_two[0] and "Service default: commit queue002 is live" in last_two[1]
    # QUEUED: the second execution starts only after the first one ended.
    assert outcomes["second"].execution["startDate"] >= outcomes["first"].execution["stopDate"]
    assert outcomes["second"].record["production"]["previous_version"] == outcomes["first"].record["production"]["new_version"]
    assert stack.live_versions() == outcomes["second"].live_after


def running_executions(stack: LocalStack, service: str = DEFAULT_SERVICE) -> list[str]:
    """The service's running executions (another service's deployment may be waiting meanwhile)."""
    states = boto3.client("stepfunctions")
    listed = states.list_executions(stateMachineArn=stack.outputs["state_machine_arn"], statusFilter="RUNNING")["executions"]
    return [execution["executionArn"] for execution in listed if execution["name"].startswith(f"{service}-")]


def test_a_function_still_being_updated_is_waited_for_then_deployed(stack: LocalStack, tmp_path: Path) -> None:
    conflict = "The operation cannot be performed at this time. An update is in progress for resource: the staging function"
    stack.patches.faults.fail(stack.handler_functions["staging"], "lambda:UpdateFunctionCode", "ResourceConflictException", conflict, times=2, status=409)
    outcome = push(stack, tmp_path, "conflict1", new_version("1.1.2"))

    assert_succeeded(outcome)
    assert [fault for fault in stack.patches.faults.raised if fault[2] == "ResourceConflictException"] == [
        (stack.handler_functions["staging"], "lambda:UpdateFunctionCode", "ResourceConflictException")
    ] * 2
    assert outcome.live_after["staging"] != outcome.live_before["staging"]


def test_a_deployment_that_cannot_be_checked_for_a_while_keeps_the_pipeline_waiting(stack: LocalStack, tmp_path: Path) -> None:
    stack.patches.faults.fail(stack.handler_functions["waiter"], "states:DescribeExecution", "ThrottlingException", "Rate exceeded", times=3, status=400)
    outcome = push(stack, tmp_path, "throttle2", new_version("1.1.3"))

    assert_succeeded(outcome)
    assert len([fault for fault in stack.patches.faults.raised if fault[1] == "states:DescribeExecution"]) == 3


# --- stopped before staging --------------------------------------------------------------------


def test_a_commit_with_a_secret_fails_validation(stack: LocalStack, tmp_path: Path) -> None:
    outcome = push(stack, tmp_path, "secret01", new_version("1.4.0") | {"src/settings.py": lambda _: "AWS_KEY = 'AKIAABCDEFGHIJKLMNOP'\n"})

    assert_failed(outcome, "ValidationFailed", "settings.py")
    assert "AKIAABCDEFGHIJKLMNOP" not in outcome.execution["cause"] + outcome.job_message
    assert_nothing_changed(stack, outcome)


def test_failing_package_tests_deploy_nothing(stack: LocalStack, tmp_path: Path) -> None:
    outcome = push(stack, tmp_path, "pkgtest1", failing_case("package", "1.4.1"))

    assert_failed(outcome, "TestsFailed", "greets in French (package)")
    assert_nothing_changed(stack, outcome)


# --- staging -----------------------------------------------------------------------------------


def test_a_rejected_code_update_fails_staging(stack: LocalStack, tmp_path: Path) -> None:
    stack.patches.faults.fail(stack.handler_functions["staging"], "lambda:UpdateFunctionCode", "CodeStorageExceededException", "Code storage limit exceeded.")
    outcome = push(stack, tmp_path, "codeupd1", new_version("1.5.0"))

    assert_failed(outcome, "StagingDeploymentFailed", "CodeStorageExceededException")
    assert_nothing_changed(stack, outcome)


def test_a_failed_staging_deployment_is_rolled_back(stack: LocalStack, tmp_path: Path) -> None:
    stack.patches.failing_deployment_groups.add("staging")
    outcome = push(stack, tmp_path, "stagefail", new_version("1.5.1"))

    assert_failed(outcome, "StagingDeploymentFailed", "SCRIPT_FAILED")
    assert "Rollback" in outcome.entered
    assert_nothing_changed(stack, outcome)


def test_a_staging_deployment_past_its_deadline_is_stopped_and_rolled_back(stack: LocalStack, tmp_path: Path) -> None:
    stack.patches.deployments.stuck_groups.add("staging")
    outcome = push(stack, tmp_path, "stuck001", new_version("1.5.2"))

    assert_failed(outcome, "DeploymentTimedOut", "past its deadline")
    deployment_id = outcome.record["staging"]["deployment_id"]
    assert boto3.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"] == "Stopped"
    assert_nothing_changed(stack, outcome)


def test_failing_staging_tests_roll_staging_back(stack: LocalStack, tmp_path: Path) -> None:
    outcome = push(stack, tmp_path, "stgtest1", failing_case("staging", "1.6.0"))

    assert_failed(outcome, "StagingTestsFailed", "greets in French (staging)")
    assert outcome.record["staging"]["rolled_back_to"] == outcome.live_before["staging"]
    assert "production" not in outcome.record
    assert_nothing_changed(stack, outcome)


def test_a_failed_rollback_ends_rollback_failed_and_says_where_production_is(stack: LocalStack, tmp_path: Path) -> None:
    stack.patches.faults.fail(stack.handler_functions["rollback"], "lambda:UpdateAlias", "ServiceException", "Lambda is unavailable.", times=50)
    outcome = push(stack, tmp_path, "rbfail01", failing_case("staging", "1.6.1"))

    production = outcome.live_before["production"]
    assert_failed(outcome, "RollbackFailed", f"production untouched (alias live of {stack.outputs['production_function_name']} is on version {production})")
    assert outcome.live_after["production"] == production
    # Staging is left on the version that failed its tests, and the cause says so.
    assert outcome.live_after["staging"] != outcome.live_before["staging"]
    assert f"is on version {outcome.live_after['staging']}" in outcome.execution["cause"]


# --- production --------------------------------------------------------------------------------


def test_a_failed_production_deployment_rolls_both_environments_back(stack: LocalStack, tmp_path: Path) -> None:
    stack.patches.failing_deployment_groups.add("production")
    outcome = push(stack, tmp_path, "prodfail", new_version("1.7.0"))

    assert_failed(outcome, "ProductionDeploymentFailed", "SCRIPT_FAILED")
    assert outcome.record["staging"]["rolled_back_to"] == outcome.live_before["staging"]
    assert_nothing_changed(stack, outcome)


def test_the_production_alarm_mid_canary_rolls_back(stack: LocalStack, tmp_path: Path) -> None:
    alarm = stack.production_alarm()
    cloudwatch = boto3.client("cloudwatch")
    raised = threading.Event()

    def raise_alarm_during_the_canary() -> None:
        deadline = time.monotonic() + 60
        while not stack.alias_routing("production") and time.monotonic() < deadline:
            time.sleep(0.05)
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="Errors >= 1 on the canary")
        raised.set()

    watcher = threading.Thread(target=raise_alarm_during_the_canary)
    watcher.start()
    try:
        outcome = push(stack, tmp_path, "alarm001", new_version("1.7.1"))
    finally:
        watcher.join(timeout=70)
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="reset by the test")

    assert raised.is_set()
    assert_failed(outcome, "ProductionDeploymentFailed", "ALARM_ACTIVE")
    assert_nothing_changed(stack, outcome)


def test_stopping_the_pipeline_run_mid_canary_stops_its_deployment_and_rolls_it_back(stack: LocalStack, tmp_path: Path) -> None:
    outcomes: dict[str, Outcome] = {}
    pushed = threading.Thread(target=lambda: outcomes.update(stopped=push(stack, tmp_path, "stopme01", new_version("1.7.2"))))
    pushed.start()
    deadline = time.monotonic() + 90
    while not stack.alias_routing("production") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.alias_routing("production"), "production never started its canary"
    stack.patches.event_deliveries.clear()
    stopped_at = time.monotonic()
    stack.stop_pipeline_execution(stack.in_progress_execution("stopme01"), abandon=True, reason="held by the on-call engineer")
    pushed.join(timeout=120)
    deliveries = stack.wait_for_deliveries()
    restored_within = time.monotonic() - stopped_at
    outcome = outcomes["stopped"]

    assert outcome.run.status == "Stopped" and outcome.run.action("Deploy").status == "Abandoned"  # type: ignore[union-attr]
    execution = boto3.client("stepfunctions").describe_execution(executionArn=outcome.execution["executionArn"])
    assert execution["status"] == "ABORTED" and restored_within < 60
    # Back where they were before the push, the canary's weights gone.
    assert stack.live_versions() == outcome.live_before
    assert stack.alias_routing("staging") == {} and stack.alias_routing("production") == {}
    record = stack.record("stopme01", execution["name"])
    reason = f"pipeline {stack.outputs['pipeline_name']} execution {outcome.run.execution_id} is being stopped (held by the on-call engineer)"
    assert record["status"] == "STOPPED" and record["stopped_by"] == reason
    assert record["production"]["rolled_back_to"] == outcome.live_before["production"]
    assert record["staging"]["rolled_back_to"] == outcome.live_before["staging"]
    deployment_id = record["production"]["deployment_id"]
    assert boto3.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"] == "Stopped"
    stopped = [sent for sent in stack.notifications() if sent["subject"] == "default: deployment stopped"]
    assert stopped and reason in str(stopped[-1]["message"])
    assert {delivery.event["detail"]["state"] for delivery in deliveries} >= {"STOPPING", "STOPPED"}
    assert all(delivery.status == "Delivered" for delivery in deliveries)


def test_a_failed_production_verification_rolls_both_environments_back(stack: LocalStack, tmp_path: Path) -> None:
    outcome = push(stack, tmp_path, "verify01", failing_case("production", "1.8.0"))

    assert_failed(outcome, "ProductionVerificationFailed", "greets in French (production)")
    assert outcome.record["production"]["rolled_back_to"] == outcome.live_before["production"]
    assert outcome.record["staging"]["rolled_back_to"] == outcome.live_before["staging"]
    assert_nothing_changed(stack, outcome)
