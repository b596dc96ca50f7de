"""Builds, in moto, the AWS resources Terraform provisions for the deploy and rollback handlers."""

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

import boto3

ALIAS = "live"
TABLE = "deployments"
ARTIFACT_BUCKET = "artifacts"
RELEASE_BUCKET = "releases"
APPLICATION = "app-deploy"
FUNCTIONS = {"staging": "app-staging", "production": "app-production"}


def app_zip(version: str, extra: dict[str, str] | None = None) -> bytes:
    """A deployable application zip whose handler reports `version`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", f"VERSION = {version!r}\n\ndef handler(event, context):\n    return {{'version': VERSION}}\n")
        archive.writestr("test_cases.json", json.dumps({"cases": [{"name": "reports its version", "event": {}, "expect": {"version": version}}]}))
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
    return buffer.getvalue()


@dataclass
class Platform:
    """The staging/production functions, their CodeDeploy groups, the buckets and the record table."""

    region: str = "us-east-1"
    group_configs: dict[str, str] = field(
        default_factory=lambda: {"staging": "CodeDeployDefault.LambdaAllAtOnce", "production": "CodeDeployDefault.LambdaCanary10Percent5Minutes"}
    )

    def create(self) -> "Platform":
        iam = boto3.client("iam", region_name=self.region)
        role = iam.create_role(
            RoleName="app-role",
            AssumeRolePolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
            ),
        )["Role"]["Arn"]
        s3 = boto3.client("s3", region_name=self.region)
        for bucket in (ARTIFACT_BUCKET, RELEASE_BUCKET):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=RELEASE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        boto3.client("dynamodb", region_name=self.region).create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "commit_id", "KeyType": "HASH"}, {"AttributeName": "execution_name", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "commit_id", "AttributeType": "S"}, {"AttributeName": "execution_name", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        lambda_client = boto3.client("lambda", region_name=self.region)
        codedeploy = boto3.client("codedeploy", region_name=self.region)
        codedeploy.create_application(applicationName=APPLICATION, computePlatform="Lambda")
        for environment, function_name in FUNCTIONS.items():
            lambda_client.create_function(
                FunctionName=function_name,
                Runtime="python3.12",
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": app_zip("1")},
                Publish=True,
            )
            lambda_client.create_alias(FunctionName=function_name, Name=ALIAS, FunctionVersion="1")
            codedeploy.create_deployment_group(
                applicationName=APPLICATION,
                deploymentGroupName=environment,
                serviceRoleArn=role,
                deploymentConfigName=self.group_configs[environment],
                deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            )
        return self

    @staticmethod
    def upload_artifact(data: bytes, key: str = "pipeline/BuildOutput/artifact.zip") -> dict[str, Any]:
        boto3.client("s3").put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=data)
        return {"bucket": ARTIFACT_BUCKET, "key": key}

    @staticmethod
    def deploy_environment(monkeypatch: Any, environment: str) -> None:
        for name, value in {
            "FUNCTION_NAME": FUNCTIONS[environment],
            "ALIAS_NAME": ALIAS,
            "CODEDEPLOY_APPLICATION": APPLICATION,
            "DEPLOYMENT_GROUP": environment,
            "RELEASE_BUCKET": RELEASE_BUCKET,
            "DEPLOYMENTS_TABLE": TABLE,
            "DEPLOYMENT_TIMEOUT_SECONDS": "600",
            "POLL_INTERVAL_SECONDS": "10",
        }.items():
            monkeypatch.setenv(name, value)

    @staticmethod
    def rollback_environment(monkeypatch: Any) -> None:
        monkeypatch.setenv("DEPLOYMENTS_TABLE", TABLE)
        monkeypatch.setenv("ALIAS_NAME", ALIAS)
        monkeypatch.setenv("STAGING_FUNCTION_NAME", FUNCTIONS["staging"])
        monkeypatch.setenv("PRODUCTION_FUNCTION_NAME", FUNCTIONS["production"])

    @staticmethod
    def alias(environment: str) -> dict[str, Any]:
        return boto3.client("lambda").get_alias(FunctionName=FUNCTIONS[environment], Name=ALIAS)  # type: ignore[no-any-return]

    @staticmethod
    def record(commit_id: str, execution_name: str) -> dict[str, Any] | None:
        from shared.records import read_record

        return read_record(TABLE, commit_id, execution_name)


def set_deployment_status(deployment_id: str, status: str) -> None:
    """moto leaves deployments `Created`; this plays CodeDeploy's part of moving them on."""
    from moto.codedeploy.models import codedeploy_backends

    for backend in codedeploy_backends.values():
        for regional in backend.values():
            deployment = regional.deployments.get(deployment_id)
            if deployment is not None:
                deployment.status = status
                return
    raise AssertionError(f"no deployment {deployment_id} in moto")
