"""A deployment config of the platform's own, used by one service (examples/clock deploys production
with custom_deployment_configs' linear-50-1, local_aws/stack.py): the provider creates and reads
aws_codedeploy_deployment_config (local_aws/deployment_configs.py), the clock's production alias
carries half the traffic on the new version mid-shift while the sample application's groups keep
their predefined configs; then the config in use changes the way custom_deployment_configs
describes (a new key, the group pointed at it, the old key removed, in one apply), with an alarm of
the user's added to the production group. The stack keeps the changed configuration afterwards."""

import json
import threading
import time
from pathlib import Path

import boto3
import pytest

from e2e.deployments import PREFIX, push
from local_aws.stack import CUSTOM_DEPLOYMENT_CONFIGS, LOCAL_SERVICES, LocalStack

SERVICE = "clock"
LATENCY_ALARM = f"{PREFIX}-clock-latency"


def clock_version(version: str) -> dict:
    return {"src/app.py": lambda text: text.replace('VERSION = "1.0.0"', f'VERSION = "{version}"')}


def test_a_custom_config_shifts_one_service_and_changes_in_one_apply(stack: LocalStack, tmp_path: Path) -> None:
    codedeploy, cloudwatch = boto3.client("codedeploy"), boto3.client("cloudwatch")
    configs = stack.deployment_configs(SERVICE)
    assert configs["production"]["deploymentConfigName"] == f"{PREFIX}-linear-50-1"
    assert configs["production"]["trafficRoutingConfig"] == {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 50, "linearInterval": 1}}
    assert configs["staging"]["deploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"
    assert {environment: config["deploymentConfigName"] for environment, config in stack.deployment_configs().items()} == {
        "staging": "CodeDeployDefault.LambdaAllAtOnce",
        "production": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
    }

    # The shares the clock's aliases carry while their deployments shift, as a user polling GetAlias sees them.
    seen: dict[str, set[float]] = {"staging": set(), "production": set()}
    pushed = threading.Event()

    def watch_the_aliases() -> None:
        while not pushed.is_set():
            for environment, shares in seen.items():
                shares.update(stack.alias_routing(environment, SERVICE).values())
            time.sleep(0.02)

    watcher = threading.Thread(target=watch_the_aliases)
    watcher.start()
    try:
        outcome = push(stack, tmp_path, "clock-custom01", clock_version("1.1.0"), service=SERVICE)
    finally:
        pushed.set()
        watcher.join(timeout=10)
    assert outcome.execution["status"] == "SUCCEEDED", f"{outcome.execution.get('error')}: {outcome.execution.get('cause')}"
    assert seen == {"staging": set(), "production": {0.5}}
    assert all(int(outcome.live_after[environment]) > int(outcome.live_before[environment]) for environment in seen)

    cloudwatch.put_metric_alarm(
        AlarmName=LATENCY_ALARM,
        Namespace="AWS/Lambda",
        MetricName="Duration",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1000,
        ComparisonOperator="GreaterThanThreshold",
    )
    services = json.loads(json.dumps(LOCAL_SERVICES))
    services[SERVICE]["deployment"]["production_config"] = "linear-25-1"
    services[SERVICE]["production_rollback_alarms"] = [LATENCY_ALARM]
    custom = {"linear-25-1": {"type": "TimeBasedLinear", "percentage": 25, "interval_minutes": 1}}
    assert set(custom).isdisjoint(CUSTOM_DEPLOYMENT_CONFIGS)
    stack.terraform.variables |= {"services": json.dumps(services), "custom_deployment_configs": json.dumps(custom)}
    stack.terraform.apply()

    application = stack.service(SERVICE)["codedeploy_application_name"]
    production = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName="production")["deploymentGroupInfo"]
    assert production["deploymentConfigName"] == f"{PREFIX}-linear-25-1"
    assert sorted(alarm["name"] for alarm in production["alarmConfiguration"]["alarms"]) == sorted([f"{PREFIX}-clock-production-errors", LATENCY_ALARM])
    with pytest.raises(codedeploy.exceptions.DeploymentConfigDoesNotExistException):
        codedeploy.get_deployment_config(deploymentConfigName=f"{PREFIX}-linear-50-1")
    registered = json.loads(boto3.client("ssm").get_parameter(Name=stack.service(SERVICE)["registration_parameter_name"])["Parameter"]["Value"])
    assert registered["environments"]["production"]["deployment_config"] == f"{PREFIX}-linear-25-1"
