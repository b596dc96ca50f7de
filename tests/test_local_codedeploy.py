"""The local CodeDeploy for Lambda: what AWS does to the alias during and after a deployment."""

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from aws_fixtures import ALIAS, APPLICATION, FUNCTIONS, Platform, app_zip
from local_aws.codedeploy import LambdaDeployments, Shift, patch_moto, restore, shift_plan
from local_aws.platform import PRODUCTION_ALARM

# One AWS minute passes in 0.1 s: a 5-minute canary takes half a second.
SPEEDUP = 600.0


@pytest.fixture
def emulator(aws: None) -> Iterator[LambdaDeployments]:
    deployments = LambdaDeployments(speedup=SPEEDUP)
    patches = patch_moto(deployments)
    Platform().create()
    lambda_client = boto3.client("lambda")
    for function_name in FUNCTIONS.values():
        lambda_client.update_function_code(FunctionName=function_name, ZipFile=app_zip("2"))
        lambda_client.publish_version(FunctionName=function_name)
    try:
        yield deployments
    finally:
        restore(patches)


def start(environment: str, current: str = "1", target: str = "2") -> str:
    appspec = {
        "version": 0.0,
        "Resources": [{"app": {"Type": "AWS::Lambda::Function", "Properties": {"Name": FUNCTIONS[environment], "Alias": ALIAS, "CurrentVersion": current, "TargetVersion": target}}}],
    }
    return str(
        boto3.client("codedeploy").create_deployment(
            applicationName=APPLICATION,
            deploymentGroupName=environment,
            revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(appspec)}},
        )["deploymentId"]
    )


def deployment(deployment_id: str) -> dict[str, Any]:
    return boto3.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]  # type: ignore[no-any-return]


def alias(environment: str) -> tuple[str, dict[str, float]]:
    found = boto3.client("lambda").get_alias(FunctionName=FUNCTIONS[environment], Name=ALIAS)
    return found["FunctionVersion"], (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def wait_for(deployment_id: str, status: str, seconds: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        info = deployment(deployment_id)
        if info["status"] == status:
            return info
        time.sleep(0.02)
    raise AssertionError(f"{deployment_id} is {deployment(deployment_id)['status']}, not {status}")


def test_the_predefined_configs_shift_as_documented() -> None:
    assert shift_plan("CodeDeployDefault.LambdaAllAtOnce") == [Shift(0, 1.0)]
    assert shift_plan("CodeDeployDefault.LambdaCanary10Percent5Minutes") == [Shift(0, 0.1), Shift(300, 1.0)]
    linear = shift_plan("CodeDeployDefault.LambdaLinear10PercentEvery1Minute")
    assert len(linear) == 10 and linear[1] == Shift(60, 0.2) and linear[-1] == Shift(540, 1.0)


def test_all_at_once_moves_the_alias_and_succeeds(emulator: LambdaDeployments) -> None:
    deployment_id = start("staging")

    assert deployment(deployment_id)["status"] == "Succeeded"
    assert alias("staging") == ("2", {})


def test_a_canary_routes_its_share_then_completes(emulator: LambdaDeployments) -> None:
    deployment_id = start("production")

    assert deployment(deployment_id)["status"] == "InProgress"
    assert alias("production") == ("1", {"2": 0.1})
    wait_for(deployment_id, "Succeeded")
    assert alias("production") == ("2", {})


def test_an_alarm_mid_canary_fails_the_deployment_and_restores_the_alias(emulator: LambdaDeployments) -> None:
    cloudwatch = boto3.client("cloudwatch")
    deployment_id = start("production")
    assert alias("production") == ("1", {"2": 0.1})

    cloudwatch.set_alarm_state(AlarmName=PRODUCTION_ALARM, StateValue="ALARM", StateReason="errors in the canary")
    info = wait_for(deployment_id, "Failed")

    assert info["errorInformation"]["code"] == "ALARM_ACTIVE" and PRODUCTION_ALARM in info["errorInformation"]["message"]
    assert alias("production") == ("1", {})


def test_stop_with_rollback_restores_the_alias(emulator: LambdaDeployments) -> None:
    deployment_id = start("production")
    boto3.client("codedeploy").stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)

    assert deployment(deployment_id)["status"] == "Stopped"
    assert alias("production") == ("1", {})
    with pytest.raises(boto3.client("codedeploy").exceptions.DeploymentAlreadyCompletedException):
        boto3.client("codedeploy").stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)


def test_one_active_deployment_per_group(emulator: LambdaDeployments) -> None:
    start("production")
    with pytest.raises(boto3.client("codedeploy").exceptions.DeploymentLimitExceededException):
        start("production")


def test_an_injected_failure_fails_and_leaves_the_alias(emulator: LambdaDeployments) -> None:
    emulator.failing_groups.add("staging")
    info = deployment(start("staging"))

    assert info["status"] == "Failed" and info["errorInformation"]["code"] == "SCRIPT_FAILED"
    assert alias("staging") == ("1", {})


def test_a_target_equal_to_the_current_version_fails(emulator: LambdaDeployments) -> None:
    info = deployment(start("staging", current="1", target="1"))

    assert info["status"] == "Failed" and info["errorInformation"]["code"] == "INVALID_REVISION"


def test_a_stuck_deployment_stays_in_progress_with_the_alias_untouched(emulator: LambdaDeployments) -> None:
    emulator.stuck_groups.add("staging")
    deployment_id = start("staging")
    time.sleep(0.1)

    assert deployment(deployment_id)["status"] == "InProgress"
    assert alias("staging") == ("1", {})
    boto3.client("codedeploy").stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    assert deployment(deployment_id)["status"] == "Stopped"


def test_success_comes_the_completion_lag_after_the_last_shift(emulator: LambdaDeployments) -> None:
    emulator.completion_lag_seconds = 60  # 0.1 s here
    deployment_id = start("staging")

    assert deployment(deployment_id)["status"] == "InProgress"
    assert alias("staging") == ("2", {})
    wait_for(deployment_id, "Succeeded")
    succeeded_at = emulator.succeeded_at(deployment_id)
    assert succeeded_at is not None and succeeded_at <= time.monotonic()
