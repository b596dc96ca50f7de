"""The stack of tests/e2e/conftest.py applied again with deployment configs of its own and an alarm
of the user's, then back to its defaults: the provider creates, reads and deletes
aws_codedeploy_deployment_config (local_aws/deployment_configs.py); a commit reaches production
with staging shifted 50 % at a time and production on a 20 % canary, the deploy handlers reading
their group's config under their own role's policy; a plan afterwards has no changes; a config in
use changes the way custom_deployment_configs describes. Applying in place takes a fraction of a
second stack's apply and destroy."""

import threading
import time
from pathlib import Path

import boto3
import pytest

from e2e.deployments import PREFIX, new_version, push
from local_aws.stack import LocalStack

LATENCY_ALARM = f"{PREFIX}-latency"
CANARY_20 = 'canary-20-1 = { type = "TimeBasedCanary", percentage = 20, interval_minutes = 1 }'
LINEAR_50 = 'linear-50-1 = { type = "TimeBasedLinear", percentage = 50, interval_minutes = 1 }'
LINEAR_25 = 'linear-25-1 = { type = "TimeBasedLinear", percentage = 25, interval_minutes = 1 }'
VARIABLES = {
    "custom_deployment_configs": f"{{ {CANARY_20}, {LINEAR_50} }}",
    "staging_deployment_config": "linear-50-1",
    "production_deployment_config": "canary-20-1",
    "production_rollback_alarms": f'["{LATENCY_ALARM}"]',
}
CONFIGS = {
    "staging": (f"{PREFIX}-linear-50-1", {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 50, "linearInterval": 1}}),
    "production": (f"{PREFIX}-canary-20-1", {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 20, "canaryInterval": 1}}),
}


def test_custom_configs_are_applied_deployed_with_planned_clean_changed_and_deleted(stack: LocalStack, tmp_path: Path) -> None:
    codedeploy, cloudwatch = boto3.client("codedeploy"), boto3.client("cloudwatch")
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
    defaults = dict(stack.terraform.variables)
    stack.terraform.variables |= VARIABLES
    application = stack.outputs["codedeploy_application_name"]
    created = {environment: name for environment, (name, _) in CONFIGS.items()}
    try:
        stack.terraform.apply()
        for environment, (name, routing) in CONFIGS.items():
            info = codedeploy.get_deployment_config(deploymentConfigName=name)["deploymentConfigInfo"]
            assert info["computePlatform"] == "Lambda" and info["trafficRoutingConfig"] == routing, environment
            group = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=environment)["deploymentGroupInfo"]
            assert group["deploymentConfigName"] == name, environment
        production = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName="production")["deploymentGroupInfo"]
        assert sorted(alarm["name"] for alarm in production["alarmConfiguration"]["alarms"]) == sorted([f"{PREFIX}-production-errors", LATENCY_ALARM])

        # The shares the aliases carry while their deployments shift, as a user polling GetAlias sees them.
        seen: dict[str, set[float]] = {"staging": set(), "production": set()}
        pushed = threading.Event()

        def watch_the_aliases() -> None:
            while not pushed.is_set():
                for environment, shares in seen.items():
                    shares.update(stack.alias_routing(environment).values())
                time.sleep(0.02)

        watcher = threading.Thread(target=watch_the_aliases)
        watcher.start()
        try:
            outcome = push(stack, tmp_path, "custom01", new_version("1.2.0"))
        finally:
            pushed.set()
            watcher.join(timeout=10)

        assert outcome.execution["status"] == "SUCCEEDED", f"{outcome.execution.get('error')}: {outcome.execution.get('cause')}"
        assert seen == {"staging": {0.5}, "production": {0.2}}
        assert all(int(outcome.live_after[environment]) > int(outcome.live_before[environment]) for environment in CONFIGS)
        plan = stack.terraform.plan()
        assert plan.returncode == 0, f"terraform plan -detailed-exitcode exited with {plan.returncode}:\n{plan.stdout}\n{plan.stderr}"

        stack.terraform.variables |= {"custom_deployment_configs": f"{{ {CANARY_20}, {LINEAR_25} }}", "staging_deployment_config": "linear-25-1"}
        stack.terraform.apply()
        created["staging"] = f"{PREFIX}-linear-25-1"
        group = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName="staging")["deploymentGroupInfo"]
        assert group["deploymentConfigName"] == created["staging"]
        with pytest.raises(codedeploy.exceptions.DeploymentConfigDoesNotExistException):
            codedeploy.get_deployment_config(deploymentConfigName=CONFIGS["staging"][0])
    finally:
        stack.terraform.variables = defaults
        stack.terraform.apply()
        cloudwatch.delete_alarms(AlarmNames=[LATENCY_ALARM])

    for environment in CONFIGS:
        group = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=environment)["deploymentGroupInfo"]
        assert group["deploymentConfigName"].startswith("CodeDeployDefault."), environment

    for name in created.values():
        with pytest.raises(codedeploy.exceptions.DeploymentConfigDoesNotExistException):
            codedeploy.get_deployment_config(deploymentConfigName=name)
