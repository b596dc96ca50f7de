"""The platform inside moto, in this process: one service, `app`, with its staging and production
functions, their `live` aliases and CodeDeploy groups, and its registry entry (an SSM parameter
under SERVICES_PREFIX); the buckets, the deployment table and topic, the five step handlers from
their zips, and the DeploymentStateMachine from asl/deployment.asl.json.

It mirrors what the Terraform creates (names below, environment variables as docs/design.md lists
them, the registry entry as the platform's `services` map writes it) so the real ASL runs the real
handlers. Call it inside `moto.mock_aws` with `local_aws.compat.LocalAws` installed.
"""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from local_aws import executions

ROOT = Path(__file__).resolve().parent.parent
ASL_PATH = ROOT / "asl" / "deployment.asl.json"
ACCOUNT = "123456789012"
ALIAS = "live"
TABLE = "deployments"
ARTIFACT_BUCKET = "artifacts"
RELEASE_BUCKET = "releases"
APPLICATION = "app-deploy"
FUNCTIONS = {"staging": "app-staging", "production": "app-production"}
# The service's registry entry: SSM parameter <SERVICES_PREFIX><SERVICE>.
SERVICES_PREFIX = "/local/services/"
SERVICE = "app"
PIPELINE = "app-pipeline"
STEPS = ("validate_code", "run_tests", "staging", "production", "rollback", "approval")
STATE_MACHINE_ARN = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:deployment"
TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:deployments"
# The roles the handlers assume to act for the service, as modules/service names them.
ACCESS_ROLES = {
    handler: f"arn:aws:iam::{ACCOUNT}:role/local/services/app-{handler.replace('_', '-')}-access" for handler in ("run_tests", "staging", "production", "rollback", "waiter")
}
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-role"
ALL_AT_ONCE = "CodeDeployDefault.LambdaAllAtOnce"
PRODUCTION_ALARM = "app-production-errors"


def step_environment(step: str) -> dict[str, str]:
    """The environment variables of a step handler, as lambda.tf sets them; the targets come from
    the service's registry entry."""
    common = {"POWERTOOLS_SERVICE_NAME": step, "SERVICES_PARAMETER_PREFIX": SERVICES_PREFIX}
    deploy = {"RELEASE_BUCKET": RELEASE_BUCKET, "DEPLOYMENTS_TABLE": TABLE}
    approval = {
        "DEPLOYMENTS_TABLE": TABLE,
        "STATE_MACHINE_ARN": STATE_MACHINE_ARN,
        "NOTIFICATION_TOPIC_ARN": TOPIC_ARN,
        "APPROVAL_API_URL": "https://api.execute-api.us-east-1.amazonaws.com/v1/approvals",
        "CONSOLE_URL": "https://console.aws.amazon.com",
    }
    return common | {"validate_code": {}, "run_tests": {}, "staging": deploy, "production": deploy, "rollback": {"DEPLOYMENTS_TABLE": TABLE}, "approval": approval}[step]


def service_document(deployment_configs: dict[str, str] | None = None, approval: dict[str, Any] | None = None) -> dict[str, Any]:
    """The registry entry of the local service, as the platform's `services` map writes it (by
    default without production approval)."""
    configs = deployment_configs or {"staging": ALL_AT_ONCE, "production": ALL_AT_ONCE}
    return {
        "name": SERVICE,
        "pipeline_name": PIPELINE,
        "alias": ALIAS,
        "codedeploy_application": APPLICATION,
        "app_handler": "app.handler",
        "test_cases_path": "test_cases.json",
        "test_timeout_seconds": 20,
        "deployment_timeout_seconds": 60,
        "poll_interval_seconds": 1,
        "environments": {
            environment: {"function_name": FUNCTIONS[environment], "deployment_group": environment, "deployment_config": configs[environment]}
            for environment in ("staging", "production")
        },
        "access_roles": ACCESS_ROLES,
        "approval": approval or {"required": False, "timeout_seconds": 3600, "approvers": []},
    }


def register_service(document: dict[str, Any]) -> dict[str, Any]:
    """Write `document` as its service's registry entry (replacing one there); returns it."""
    boto3.client("ssm").put_parameter(Name=SERVICES_PREFIX + str(document["name"]), Value=json.dumps(document), Type="String", Overwrite=True)
    return document


def rollback_settings(environment: str) -> dict[str, Any]:
    """As in main.tf: both groups roll back on failure; production also stops on its error alarm."""
    if environment == "production":
        return {
            "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
            "alarmConfiguration": {"enabled": True, "alarms": [{"name": PRODUCTION_ALARM}]},
        }
    return {"autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}}


def create_deployments_table() -> None:
    """The deployment table, keyed as in main.tf."""
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "commit_id", "KeyType": "HASH"}, {"AttributeName": "execution_name", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "commit_id", "AttributeType": "S"}, {"AttributeName": "execution_name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@dataclass
class LocalPlatform:
    app_code: bytes
    step_zips: dict[str, bytes]
    deployment_configs: dict[str, str] = field(default_factory=lambda: {"staging": ALL_AT_ONCE, "production": ALL_AT_ONCE})
    approval: dict[str, Any] | None = None
    state_machine_arn: str = ""

    def create(self) -> "LocalPlatform":
        return self.create_resources().create_steps()

    def create_resources(self) -> "LocalPlatform":
        """Everything but the step handlers and the state machine."""
        self._create_role()
        s3 = boto3.client("s3")
        for bucket in (ARTIFACT_BUCKET, RELEASE_BUCKET):
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        create_deployments_table()
        self._create_application()
        register_service(self.service)
        return self

    @property
    def service(self) -> dict[str, Any]:
        """The local service's registry entry: what the waiter puts into an execution's input."""
        return service_document(self.deployment_configs, self.approval)

    def create_steps(self) -> "LocalPlatform":
        topic = boto3.client("sns").create_topic(Name="deployments")["TopicArn"]
        arns = {step: self._create_function(f"step-{step}", "handler.handler", self.step_zips[step], step_environment(step)) for step in STEPS}
        placeholders = {f"{step}_function_arn": arn for step, arn in arns.items()} | {"deployments_table_name": TABLE, "notification_topic_arn": topic, "partition": "aws"}
        definition = ASL_PATH.read_text()
        for placeholder, value in placeholders.items():
            definition = definition.replace("${" + placeholder + "}", value)
        self.state_machine_arn = boto3.client("stepfunctions").create_state_machine(name="deployment", definition=definition, roleArn=ROLE)["stateMachineArn"]
        assert self.state_machine_arn == STATE_MACHINE_ARN and topic == TOPIC_ARN, "the approval handler's environment names them"
        return self

    @staticmethod
    def _create_role() -> None:
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        boto3.client("iam").create_role(RoleName="app-role", AssumeRolePolicyDocument=json.dumps(trust))

    @staticmethod
    def _create_function(name: str, handler: str, code: bytes, environment: dict[str, str], publish: bool = False) -> str:
        function = boto3.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=ROLE,
            Handler=handler,
            Code={"ZipFile": code},
            Timeout=300,
            Publish=publish,
            Environment={"Variables": environment},
        )
        return str(function["FunctionArn"])

    def _create_application(self) -> None:
        codedeploy = boto3.client("codedeploy")
        codedeploy.create_application(applicationName=APPLICATION, computePlatform="Lambda")
        boto3.client("cloudwatch").put_metric_alarm(
            AlarmName=PRODUCTION_ALARM,
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
            Dimensions=[{"Name": "FunctionName", "Value": FUNCTIONS["production"]}, {"Name": "Resource", "Value": f"{FUNCTIONS['production']}:{ALIAS}"}],
        )
        for environment, function_name in FUNCTIONS.items():
            self._create_function(function_name, "app.handler", self.app_code, {}, publish=True)
            boto3.client("lambda").create_alias(FunctionName=function_name, Name=ALIAS, FunctionVersion="1")
            codedeploy.create_deployment_group(
                applicationName=APPLICATION,
                deploymentGroupName=environment,
                serviceRoleArn=ROLE,
                deploymentConfigName=self.deployment_configs[environment],
                deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
                **rollback_settings(environment),
            )

    def start(self, code: bytes, commit: str, execution_name: str | None = None, extra_input: dict[str, Any] | None = None) -> str:
        """Upload `code` as the build artifact of `commit` and start an execution for it."""
        key = f"BuildOutput/{commit}.zip"
        boto3.client("s3").put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=code)
        document = {"commit_id": commit, "artifact": {"bucket": ARTIFACT_BUCKET, "key": key}, "service": self.service} | (extra_input or {})
        return self.start_raw(document, execution_name or f"{commit}-run")

    def start_raw(self, document: Any, execution_name: str) -> str:
        execution = boto3.client("stepfunctions").start_execution(stateMachineArn=self.state_machine_arn, name=execution_name, input=json.dumps(document))
        return str(execution["executionArn"])

    @staticmethod
    def wait(execution_arn: str, timeout_seconds: float = 120) -> dict[str, Any]:
        client = boto3.client("stepfunctions")
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            described = client.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described  # type: ignore[no-any-return]
            time.sleep(0.1)
        raise TimeoutError(f"{execution_arn} still running after {timeout_seconds} s")

    @staticmethod
    def live_versions() -> dict[str, str]:
        client = boto3.client("lambda")
        return {environment: client.get_alias(FunctionName=name, Name=ALIAS)["FunctionVersion"] for environment, name in FUNCTIONS.items()}

    history = staticmethod(executions.history)
    states_entered = staticmethod(executions.states_entered)

    @staticmethod
    def record(commit: str, execution_name: str) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeDeserializer

        key = {"commit_id": {"S": commit}, "execution_name": {"S": execution_name}}
        item = boto3.client("dynamodb").get_item(TableName=TABLE, Key=key).get("Item", {})
        return {name: TypeDeserializer().deserialize(value) for name, value in item.items()}
