"""Pipelines that other pipelines wait for, in any account of the local AWS: the stand-ins for a
team's own pipelines (an API's, a shared-services account's) in the e2e tests and the demo.

    session = account_session(TARGET_ACCOUNT)         # credentials that act in that account
    create_target_pipeline(session, "shared-services")
    execution_id = start(session, "shared-services", {"sleep_seconds": "2"})
    wait_for_execution("shared-services", execution_id, session=session)["status"]  # Succeeded

Each is a V2 pipeline with an S3 source and one CodeBuild action, in the account `session` acts in.
Its pipeline variables decide what its build does: `sleep_seconds` (how long it runs), `outcome`
("succeed", or anything else to fail the build) and `release` (printed). The local pipeline runner
runs its executions for real: StartPipelineExecution starts one, its Source action reads the source
object, and its build runs the buildspec below (local_aws/codepipeline.py).
"""

import io
import json
import time
import zipfile
from typing import Any

import boto3

from local_aws.codepipeline import action_executions
from local_aws.server import REGION

# The second account of the local AWS (moto keeps each account's resources apart by the
# credentials: an assumed role's credentials act in the role's account).
TARGET_ACCOUNT = "111111111111"
ADMIN_ROLE = "local-admin"

BUILDSPEC = """\
version: 0.2
phases:
  build:
    commands:
      - echo "release ${RELEASE}"
      - sleep "${SLEEP_SECONDS}"
      - if [ "${OUTCOME}" != "succeed" ]; then echo "integration tests failed (outcome ${OUTCOME})"; exit 1; fi
artifacts:
  files: ["**/*"]
"""
VARIABLES = {"outcome": "succeed", "sleep_seconds": "0", "release": "none"}
CODEPIPELINE_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
CODEBUILD_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def account_session(account: str, role_name: str = ADMIN_ROLE) -> boto3.session.Session:
    """A session whose calls act in `account`: credentials of an assumed role there (the local AWS
    does not check that the role exists or trusts the caller when no function is calling)."""
    credentials = boto3.client("sts", region_name=REGION).assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role_name}", RoleSessionName="local-admin")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


def source_zip(text: str = "a commit of the target pipeline\n") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("README.md", text)
    return out.getvalue()


def create_target_pipeline(session: boto3.session.Session, name: str, execution_mode: str = "SUPERSEDED") -> dict[str, Any]:
    """The pipeline `name` (Source from S3, then Build) with its buckets, roles and build project,
    and a source object in place. Returns the pipeline as GetPipeline describes it."""
    account = session.client("sts").get_caller_identity()["Account"]
    s3, iam = session.client("s3"), session.client("iam")
    artifacts, source = f"{name}-artifacts-{account}", f"{name}-source-{account}"
    for bucket in (artifacts, source):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=source, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=source, Key="source.zip", Body=source_zip())
    pipeline_role = iam.create_role(RoleName=f"{name}-pipeline", AssumeRolePolicyDocument=json.dumps(CODEPIPELINE_TRUST))["Role"]["Arn"]
    build_role = iam.create_role(RoleName=f"{name}-build", AssumeRolePolicyDocument=json.dumps(CODEBUILD_TRUST))["Role"]["Arn"]
    session.client("codebuild").create_project(
        name=f"{name}-build",
        source={"type": "CODEPIPELINE", "buildspec": BUILDSPEC},
        artifacts={"type": "CODEPIPELINE"},
        environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0", "computeType": "BUILD_GENERAL1_SMALL"},
        serviceRole=build_role,
    )
    environment = [{"name": variable.upper(), "value": f"#{{variables.{variable}}}", "type": "PLAINTEXT"} for variable in VARIABLES]
    stages = [
        {
            "name": "Source",
            "actions": [
                {
                    "name": "Source",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                    "configuration": {"S3Bucket": source, "S3ObjectKey": "source.zip", "PollForSourceChanges": "false"},
                    "outputArtifacts": [{"name": "SourceOutput"}],
                    "namespace": "SourceVariables",
                }
            ],
        },
        {
            "name": "Build",
            "actions": [
                {
                    "name": "IntegrationTests",
                    "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                    "configuration": {"ProjectName": f"{name}-build", "EnvironmentVariables": json.dumps(environment)},
                    "inputArtifacts": [{"name": "SourceOutput"}],
                    "outputArtifacts": [{"name": "BuildOutput"}],
                }
            ],
        },
    ]
    pipeline = {
        "name": name,
        "roleArn": pipeline_role,
        "artifactStore": {"type": "S3", "location": artifacts},
        "stages": stages,
        "pipelineType": "V2",
        "executionMode": execution_mode,
        "variables": [{"name": variable, "defaultValue": value} for variable, value in VARIABLES.items()],
    }
    return session.client("codepipeline").create_pipeline(pipeline=pipeline)["pipeline"]  # type: ignore[no-any-return]


def start(session: boto3.session.Session, name: str, variables: dict[str, str] | None = None) -> str:
    """StartPipelineExecution of `name` with `variables`; the new execution's id."""
    arguments: dict[str, Any] = {"name": name}
    if variables:
        arguments["variables"] = [{"name": key, "value": value} for key, value in variables.items()]
    return str(session.client("codepipeline").start_pipeline_execution(**arguments)["pipelineExecutionId"])


def wait_for_action(session: boto3.session.Session, name: str, execution_id: str, stage: str, status: str, timeout_seconds: float = 30.0) -> None:
    """Wait until ListActionExecutions shows an action of `stage` of the execution with `status`."""
    deadline = time.monotonic() + timeout_seconds
    while not any(detail["stageName"] == stage and detail["status"] == status for detail in action_executions(name, execution_id, session)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} execution {execution_id} has no {status} action in stage {stage} after {timeout_seconds} s")
        time.sleep(0.02)
