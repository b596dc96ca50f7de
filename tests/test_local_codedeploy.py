"""The local CodeDeploy for Lambda: what AWS does to the alias during and after a deployment, and
the deployment configurations (predefined and custom) that say how it shifts traffic."""

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from aws_fixtures import ALIAS, APPLICATION, FUNCTIONS, Platform, app_zip
from local_aws import deployment_configs
from local_aws.codedeploy import LambdaDeployments, Shift, patch_moto, restore, shift_plan
from local_aws.compat import LocalAws
from local_aws.deployment_configs import PREDEFINED
from local_aws.platform import PRODUCTION_ALARM

# One AWS minute passes in 0.1 s: a 5-minute canary takes half a second.
SPEEDUP = 600.0
CUSTOM = {
    "app-canary-25-15": {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 25, "canaryInterval": 15}},
    "app-linear-30-2": {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 30, "linearInterval": 2}},
}


def run_emulator(group_configs: dict[str, str] | None = None, speedup: float = SPEEDUP) -> Iterator[LambdaDeployments]:
    """The platform with both functions on versions 1 and 2, its groups on `group_configs` (the
    custom ones among them created first, from CUSTOM) or on the defaults, its clock `speedup`
    times faster than the wall clock."""
    deployments = LambdaDeployments(speedup=speedup)
    patches = patch_moto(deployments) + deployment_configs.patch_moto()
    for name in (group_configs or {}).values():
        if name in CUSTOM:
            boto3.client("codedeploy").create_deployment_config(deploymentConfigName=name, computePlatform="Lambda", trafficRoutingConfig=CUSTOM[name])
    Platform(group_configs).create()
    lambda_client = boto3.client("lambda")
    for function_name in FUNCTIONS.values():
        lambda_client.update_function_code(FunctionName=function_name, ZipFile=app_zip("2"))
        lambda_client.publish_version(FunctionName=function_name)
    try:
        yield deployments
    finally:
        restore(patches)


@pytest.fixture
def emulator(aws: None) -> Iterator[LambdaDeployments]:
    yield from run_emulator()


@pytest.fixture
def on_custom_configs(aws: None) -> Iterator[LambdaDeployments]:
    # The linear config's steps one second apart, so that a busy machine still sees each of them.
    yield from run_emulator({"staging": "app-linear-30-2", "production": "app-canary-25-15"}, speedup=120.0)


@pytest.fixture
def local_aws(aws: None) -> Iterator[LocalAws]:
    """Every gap of local_aws.compat closed, over the platform's groups on the default configs."""
    patches = LocalAws(speedup=SPEEDUP)
    patches.install()
    try:
        Platform().create()
        yield patches
    finally:
        patches.uninstall()


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
    assert shift_plan(PREDEFINED["CodeDeployDefault.LambdaAllAtOnce"]) == [Shift(0, 1.0)]
    assert shift_plan(PREDEFINED["CodeDeployDefault.LambdaCanary10Percent5Minutes"]) == [Shift(0, 0.1), Shift(300, 1.0)]
    linear = shift_plan(PREDEFINED["CodeDeployDefault.LambdaLinear10PercentEvery1Minute"])
    assert len(linear) == 10 and linear[1] == Shift(60, 0.2) and linear[-1] == Shift(540, 1.0)
    assert len(PREDEFINED) == 9 and all(name.startswith("CodeDeployDefault.Lambda") for name in PREDEFINED)


def test_custom_canary_and_linear_configs_shift_their_own_shape() -> None:
    assert shift_plan(CUSTOM["app-canary-25-15"]) == [Shift(0, 0.25), Shift(900, 1.0)]
    # 30 % a step: 30, 60, 90, then the last 10 %.
    assert shift_plan(CUSTOM["app-linear-30-2"]) == [Shift(0, 0.3), Shift(120, 0.6), Shift(240, 0.9), Shift(360, 1.0)]


def test_a_custom_config_is_created_read_and_deleted_as_the_api_reference_describes(emulator: LambdaDeployments) -> None:
    codedeploy = boto3.client("codedeploy")
    routing = {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 20, "linearInterval": 3}}

    config_id = codedeploy.create_deployment_config(deploymentConfigName="app-linear-20-3", computePlatform="Lambda", trafficRoutingConfig=routing)["deploymentConfigId"]
    info = codedeploy.get_deployment_config(deploymentConfigName="app-linear-20-3")["deploymentConfigInfo"]

    assert info["deploymentConfigId"] == config_id and info["deploymentConfigName"] == "app-linear-20-3"
    assert info["computePlatform"] == "Lambda" and info["trafficRoutingConfig"] == routing and "minimumHealthyHosts" not in info
    assert abs(info["createTime"].timestamp() - time.time()) < 60
    with pytest.raises(codedeploy.exceptions.DeploymentConfigAlreadyExistsException):
        codedeploy.create_deployment_config(deploymentConfigName="app-linear-20-3", computePlatform="Lambda", trafficRoutingConfig=routing)
    codedeploy.delete_deployment_config(deploymentConfigName="app-linear-20-3")
    with pytest.raises(codedeploy.exceptions.DeploymentConfigDoesNotExistException):
        codedeploy.get_deployment_config(deploymentConfigName="app-linear-20-3")
    codedeploy.delete_deployment_config(deploymentConfigName="app-linear-20-3")  # gone already: not an error


def test_a_config_is_refused_when_its_name_or_routing_is_invalid(emulator: LambdaDeployments) -> None:
    codedeploy = boto3.client("codedeploy")
    canary = {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 1}}

    with pytest.raises(codedeploy.exceptions.InvalidDeploymentConfigNameException):
        codedeploy.create_deployment_config(deploymentConfigName="no spaces", computePlatform="Lambda", trafficRoutingConfig=canary)
    for routing in (
        {"type": "TimeBasedCanary", "timeBasedLinear": {"linearPercentage": 10, "linearInterval": 1}},
        {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 0, "linearInterval": 1}},
        {"type": "AllAtOnce", "timeBasedCanary": canary["timeBasedCanary"]},
    ):
        with pytest.raises(codedeploy.exceptions.InvalidTrafficRoutingConfigurationException):
            codedeploy.create_deployment_config(deploymentConfigName="app-bad", computePlatform="Lambda", trafficRoutingConfig=routing)
    with pytest.raises(codedeploy.exceptions.DeploymentConfigAlreadyExistsException):
        codedeploy.create_deployment_config(deploymentConfigName="CodeDeployDefault.LambdaAllAtOnce", computePlatform="Lambda", trafficRoutingConfig=canary)


def test_a_predefined_config_is_read_and_never_deleted(emulator: LambdaDeployments) -> None:
    codedeploy = boto3.client("codedeploy")

    info = codedeploy.get_deployment_config(deploymentConfigName="CodeDeployDefault.LambdaCanary10Percent5Minutes")["deploymentConfigInfo"]

    assert info["computePlatform"] == "Lambda"
    assert info["trafficRoutingConfig"] == {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 5}}
    with pytest.raises(codedeploy.exceptions.InvalidOperationException):
        codedeploy.delete_deployment_config(deploymentConfigName="CodeDeployDefault.LambdaCanary10Percent5Minutes")


def test_a_config_a_deployment_group_uses_cannot_be_deleted(on_custom_configs: LambdaDeployments) -> None:
    codedeploy = boto3.client("codedeploy")

    with pytest.raises(codedeploy.exceptions.DeploymentConfigInUseException):
        codedeploy.delete_deployment_config(deploymentConfigName="app-canary-25-15")
    assert codedeploy.get_deployment_config(deploymentConfigName="app-canary-25-15")["deploymentConfigInfo"]["trafficRoutingConfig"] == CUSTOM["app-canary-25-15"]


def test_groups_on_custom_configs_shift_the_alias_in_their_shape(on_custom_configs: LambdaDeployments) -> None:
    linear, canary = start("staging"), start("production")

    assert deployment(linear)["status"] == "InProgress" and alias("staging") == ("1", {"2": 0.3})
    assert deployment(canary)["status"] == "InProgress" and alias("production") == ("1", {"2": 0.25})
    while alias("staging") == ("1", {"2": 0.3}):  # the linear shift's second step, 2 AWS minutes in
        deployment(linear)
        time.sleep(0.01)
    deployment(canary)
    assert alias("staging") == ("1", {"2": 0.6}) and alias("production") == ("1", {"2": 0.25})
    wait_for(linear, "Succeeded")
    assert alias("staging") == ("2", {}) and deployment(canary)["status"] == "InProgress" and alias("production") == ("1", {"2": 0.25})


def test_update_deployment_group_changes_what_it_names_and_refuses_a_config_that_does_not_exist(local_aws: LocalAws) -> None:
    codedeploy = boto3.client("codedeploy")
    codedeploy.create_deployment_config(deploymentConfigName="app-linear-30-2", computePlatform="Lambda", trafficRoutingConfig=CUSTOM["app-linear-30-2"])
    alarms = {"enabled": True, "ignorePollAlarmFailure": False, "alarms": [{"name": PRODUCTION_ALARM}, {"name": "app-latency"}]}

    assert codedeploy.update_deployment_group(applicationName=APPLICATION, currentDeploymentGroupName="production", deploymentConfigName="app-linear-30-2")["hooksNotCleanedUp"] == []
    codedeploy.update_deployment_group(applicationName=APPLICATION, currentDeploymentGroupName="production", alarmConfiguration=alarms)
    with pytest.raises(codedeploy.exceptions.DeploymentConfigDoesNotExistException):
        codedeploy.update_deployment_group(applicationName=APPLICATION, currentDeploymentGroupName="production", deploymentConfigName="app-missing")

    group = codedeploy.get_deployment_group(applicationName=APPLICATION, deploymentGroupName="production")["deploymentGroupInfo"]
    assert group["deploymentConfigName"] == "app-linear-30-2" and group["alarmConfiguration"] == alarms
    assert group["autoRollbackConfiguration"] == {"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]}
    with pytest.raises(codedeploy.exceptions.DeploymentConfigInUseException):
        codedeploy.delete_deployment_config(deploymentConfigName="app-linear-30-2")


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
