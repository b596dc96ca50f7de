"""Deploying new code to one environment (staging or production) of a service through CodeDeploy.

`deploy` publishes the artifact as a new version of the environment's function and asks CodeDeploy
to shift the service's alias to it; `check` reports whether that deployment has finished. The
staging and production handlers are thin wrappers that name their environment. The function,
alias, CodeDeploy application and group and the times come from the service's registry entry
(shared/services.py), the release bucket and the deployment table from the environment variables.
"""

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from shared import aws
from shared.artifacts import Artifact, content_sha256, read_artifact, sha256_hex
from shared.config import env
from shared.deployment_status import FAILED_STATUSES
from shared.errors import CodeUpdateFailed, DeploymentFailed, DeploymentInProgress, DeploymentStopped, DeploymentTimedOut, InvalidInput, TargetNotAllowed
from shared.events import ArtifactLocation, Execution, artifact_location, commit_id, ensure_object, execution, field
from shared.function_updates import change
from shared.observability import logger
from shared.records import record_environment
from shared.services import Service, acting_for, service_of

PREDEFINED_SHIFT = re.compile(r"CodeDeployDefault\.Lambda(?:Canary(\d+)Percent(\d+)Minutes?|Linear(\d+)PercentEvery(\d+)Minutes?|AllAtOnce)", re.ASCII)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
CONTENT_IN_DESCRIPTION = re.compile(r"\bcontent ([0-9a-f]{64})\b")
COMMIT_IN_DESCRIPTION = re.compile(r"\bcommit (\S+)$")


@dataclass(frozen=True)
class Environment:
    service: str
    name: str
    function_name: str
    alias: str
    application: str
    deployment_group: str
    release_bucket: str
    deployments_table: str
    timeout_seconds: int
    poll_seconds: int

    @classmethod
    def of(cls, service: Service, name: str) -> "Environment":
        target = service.environment(name)
        return cls(
            service=service.name,
            name=name,
            function_name=target.function_name,
            alias=service.alias,
            application=service.codedeploy_application,
            deployment_group=target.deployment_group,
            release_bucket=env("RELEASE_BUCKET"),
            deployments_table=env("DEPLOYMENTS_TABLE"),
            timeout_seconds=service.deployment_timeout_seconds,
            poll_seconds=service.poll_interval_seconds,
        )


def handle(event: Any, environment_name: str) -> dict[str, Any]:
    """Entry point shared by the staging and production handlers."""
    ensure_object(event)
    action = field(event, "action", str)
    if action not in ("deploy", "check", "describe"):
        raise InvalidInput(f"'action' must be 'deploy', 'check' or 'describe', got {action[:40]!r}")
    service = service_of(event)
    environment = Environment.of(service, environment_name)
    with acting_for(service, environment_name):
        if action == "deploy":
            return deploy(environment, commit_id(event), artifact_location(event), execution(event))
        if action == "describe":
            return describe(environment)
        return check(environment, field(event, "deployment", dict))


def deploy(environment: Environment, commit: str, artifact: ArtifactLocation, run: Execution) -> dict[str, Any]:
    with read_artifact(artifact) as code:
        return deploy_code(environment, commit, code, run)


def deploy_code(environment: Environment, commit: str, code: Artifact, run: Execution) -> dict[str, Any]:
    code_sha256, content = code.code_sha256, content_sha256(code.file)
    previous_version = live_version(environment)
    result = {
        "environment": environment.name,
        "function_name": environment.function_name,
        "alias": environment.alias,
        "previous_version": previous_version,
        "code_sha256": code_sha256,
        "poll_seconds": environment.poll_seconds,
    }
    if runs_this_code(environment, previous_version, code_sha256, content):
        logger.info("live already runs this code; nothing to deploy", extra={"version": previous_version})
        record_environment(environment.deployments_table, commit, run, environment.name, no_op_record(previous_version, code_sha256), environment.service)
        return result | no_op_result(previous_version)

    release = store_release(environment, commit, code)
    new_version = publish(environment, release, code_sha256, version_description(content, commit))
    record = {
        "previous_version": previous_version,
        "new_version": new_version,
        "code_sha256": code_sha256,
        "release_key": release.key,
        "deployed_at": now().strftime(TIMESTAMP_FORMAT),
    }
    record_environment(environment.deployments_table, commit, run, environment.name, record, environment.service)
    if new_version == previous_version:
        # publish_version returned the version live already runs (e.g. a retried deploy).
        return result | no_op_result(previous_version)

    deployment_id = create_deployment(environment, previous_version, new_version, f"commit {commit} by {run.name}")
    try:
        record_environment(environment.deployments_table, commit, run, environment.name, record | {"deployment_id": deployment_id}, environment.service)
    except DeploymentStopped:
        # Stopped while the deployment was being created: the rollback could not know of it.
        stop_deployment(deployment_id)
        raise
    shift_seconds = traffic_shift_seconds(environment)
    deadline = now() + timedelta(seconds=shift_seconds + environment.timeout_seconds)
    logger.info("deployment created", extra={"deployment_id": deployment_id, "from": previous_version, "to": new_version})
    return result | {
        "new_version": new_version,
        "deployment_id": deployment_id,
        "no_op": False,
        "release": {"bucket": release.bucket, "key": release.key},
        "wait_seconds": shift_seconds,
        "deadline": deadline.strftime(TIMESTAMP_FORMAT),
    }


def describe(environment: Environment) -> dict[str, Any]:
    """What the environment runs: its live version, and the commit and release copy the platform
    deployed it from (the version's description names them; a version published otherwise has none)."""
    version = live_version(environment)
    description = str(aws.client("lambda").get_function_configuration(FunctionName=environment.function_name, Qualifier=version).get("Description", ""))
    content, commit = CONTENT_IN_DESCRIPTION.search(description), COMMIT_IN_DESCRIPTION.search(description)
    result: dict[str, Any] = {"environment": environment.name, "version": version, "commit_id": None, "content_sha256": None, "release": None, "note": None}
    if content is None or commit is None:
        return result | {
            "note": f"{environment.name} runs version {version} of {environment.function_name}, which the platform did not deploy: there is no release copy to compare with"
        }
    return result | {
        "commit_id": commit.group(1),
        "content_sha256": content.group(1),
        "release": {"bucket": environment.release_bucket, "key": release_key(environment, commit.group(1))},
    }


def no_op_result(version: str) -> dict[str, Any]:
    return {"new_version": version, "deployment_id": None, "no_op": True, "release": None, "wait_seconds": 0, "deadline": now().strftime(TIMESTAMP_FORMAT)}


def no_op_record(version: str, code_sha256: str) -> dict[str, Any]:
    return {"previous_version": version, "new_version": version, "code_sha256": code_sha256, "deployed_at": now().strftime(TIMESTAMP_FORMAT)}


def now() -> datetime:
    return datetime.now(UTC)


def live_version(environment: Environment) -> str:
    version: str = aws.client("lambda").get_alias(FunctionName=environment.function_name, Name=environment.alias)["FunctionVersion"]
    if version == "$LATEST":
        raise CodeUpdateFailed(f"alias {environment.alias} of {environment.function_name} points to $LATEST; point it at a published version so CodeDeploy can shift traffic")
    return version


def runs_this_code(environment: Environment, version: str, code_sha256: str, content: str) -> bool:
    """Whether `version` holds this code: the same zip, or a rebuild of the same files (the
    content digest this module writes into the description of every version it publishes)."""
    configuration = aws.client("lambda").get_function(FunctionName=environment.function_name, Qualifier=version)["Configuration"]
    published = CONTENT_IN_DESCRIPTION.search(str(configuration.get("Description", "")))
    return configuration["CodeSha256"] == code_sha256 or (published is not None and published.group(1) == content)


def version_description(content: str, commit: str) -> str:
    return f"content {content} commit {commit}"[:256]


def store_release(environment: Environment, commit: str, code: Artifact) -> ArtifactLocation:
    """Keep the exact code promoted to this environment, keyed by service, environment and commit,
    for audit and rollback."""
    key = release_key(environment, commit)
    code.file.seek(0)
    response = aws.client("s3").put_object(Bucket=environment.release_bucket, Key=key, Body=code.file, ContentType="application/zip", Metadata={"commit-id": commit})
    return ArtifactLocation(bucket=environment.release_bucket, key=key, version_id=response.get("VersionId"))


def release_key(environment: Environment, commit: str) -> str:
    return f"{environment.service}/{environment.name}/{commit.replace('/', '_')}.zip"


def publish(environment: Environment, release: ArtifactLocation, code_sha256: str, description: str) -> str:
    """Update the function's code from the release copy, wait for it, and publish a version."""
    client = aws.client("lambda")
    source = {"S3Bucket": release.bucket, "S3Key": release.key} | ({"S3ObjectVersion": release.version_id} if release.version_id else {})
    try:
        change(client, environment.function_name, "UpdateFunctionCode", lambda: client.update_function_code(FunctionName=environment.function_name, **source))
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Unknown")
        if code in {"CodeStorageExceededException", "InvalidParameterValueException", "CodeVerificationFailedException"}:
            raise CodeUpdateFailed(f"Lambda rejected the code for {environment.function_name}: {code}: {error.response['Error'].get('Message', '')}") from None
        raise
    try:
        client.get_waiter("function_updated_v2").wait(FunctionName=environment.function_name, WaiterConfig={"Delay": 2, "MaxAttempts": 90})
    except WaiterError:
        configuration = client.get_function_configuration(FunctionName=environment.function_name)
        raise CodeUpdateFailed(
            f"the code update of {environment.function_name} ended {configuration.get('LastUpdateStatus')}: {configuration.get('LastUpdateStatusReason', 'no reason given')}"
        ) from None
    configuration = client.get_function_configuration(FunctionName=environment.function_name)
    if configuration["CodeSha256"] != code_sha256:
        raise CodeUpdateFailed(f"{environment.function_name} was changed by someone else during the deployment; run the pipeline again")
    revision = {"RevisionId": configuration["RevisionId"]} if configuration.get("RevisionId") else {}
    try:
        published = change(
            client,
            environment.function_name,
            "PublishVersion",
            lambda: client.publish_version(FunctionName=environment.function_name, CodeSha256=code_sha256, Description=description, **revision),
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "PreconditionFailedException":
            raise CodeUpdateFailed(f"{environment.function_name} was changed by someone else during the deployment; run the pipeline again") from None
        raise
    return str(published["Version"])


def appspec(environment: Environment, current_version: str, target_version: str) -> str:
    return json.dumps(
        {
            "version": 0.0,
            "Resources": [
                {
                    environment.function_name: {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Name": environment.function_name,
                            "Alias": environment.alias,
                            "CurrentVersion": current_version,
                            "TargetVersion": target_version,
                        },
                    }
                }
            ],
        }
    )


def create_deployment(environment: Environment, current_version: str, target_version: str, description: str) -> str:
    content = appspec(environment, current_version, target_version)
    try:
        response = aws.client("codedeploy").create_deployment(
            applicationName=environment.application,
            deploymentGroupName=environment.deployment_group,
            revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": content, "sha256": sha256_hex(content.encode())}},
            description=description[:1000],
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "DeploymentLimitExceededException":
            raise DeploymentInProgress(f"deployment group {environment.deployment_group} already has a deployment in progress; retrying later") from None
        raise
    return str(response["deploymentId"])


def stop_deployment(deployment_id: str) -> None:
    """Stop the deployment, letting CodeDeploy move the alias back to the version it ran before."""
    try:
        aws.client("codedeploy").stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "DeploymentAlreadyCompletedException":
            raise
    logger.info("deployment stopped: the execution was stopped while it was created", extra={"deployment_id": deployment_id})


def traffic_shift_seconds(environment: Environment) -> int:
    """How long the group's deployment config takes to move all traffic to the new version."""
    group = aws.client("codedeploy").get_deployment_group(applicationName=environment.application, deploymentGroupName=environment.deployment_group)
    config_name = group["deploymentGroupInfo"].get("deploymentConfigName") or "CodeDeployDefault.LambdaAllAtOnce"
    predefined = PREDEFINED_SHIFT.fullmatch(config_name)
    if predefined:
        canary_minutes, linear_percent, linear_minutes = predefined.group(2), predefined.group(3), predefined.group(4)
        routing: dict[str, Any] = {"type": "AllAtOnce"}
        if canary_minutes:
            routing = {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryInterval": int(canary_minutes)}}
        elif linear_percent:
            routing = {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": int(linear_percent), "linearInterval": int(linear_minutes)}}
    else:
        config = aws.client("codedeploy").get_deployment_config(deploymentConfigName=config_name)
        routing = config["deploymentConfigInfo"].get("trafficRoutingConfig", {"type": "AllAtOnce"})
    return shift_seconds(routing)


def shift_seconds(routing: dict[str, Any]) -> int:
    if routing.get("type") == "TimeBasedCanary":
        return int(routing["timeBasedCanary"]["canaryInterval"]) * 60
    if routing.get("type") == "TimeBasedLinear":
        linear = routing["timeBasedLinear"]
        steps = math.ceil(100 / int(linear["linearPercentage"])) - 1
        return steps * int(linear["linearInterval"]) * 60
    return 0


def check(environment: Environment, deployment: dict[str, Any]) -> dict[str, Any]:
    """Whether the deployment has finished; raises when it failed or ran past its deadline."""
    deployment_id = field(deployment, "deployment_id", str, default=None)
    if deployment_id is None:
        return {"done": True, "status": "NoOp"}
    deadline = parse_deadline(field(deployment, "deadline", str))
    info = aws.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    of = (info.get("applicationName"), info.get("deploymentGroupName"))
    if of != (environment.application, environment.deployment_group):
        raise TargetNotAllowed(
            f"service {environment.service}: CodeDeploy deployment {deployment_id} is of {of[0]}/{of[1]}, not of {environment.name}'s "
            f"{environment.application}/{environment.deployment_group}; the platform checks only the deployments of what its services register"
        )
    status = str(info["status"])
    if status == "Succeeded":
        return {"done": True, "status": status}
    if status in FAILED_STATUSES:
        error = info.get("errorInformation", {})
        detail = f"{error.get('code', 'no error code')}: {error.get('message', 'no message')}"
        raise DeploymentFailed(f"CodeDeploy deployment {deployment_id} to {environment.name} {status.lower()}: {detail}")
    if now() > deadline:
        raise DeploymentTimedOut(
            f"CodeDeploy deployment {deployment_id} to {environment.name} is still {status} past its deadline "
            f"{deadline.strftime(TIMESTAMP_FORMAT)}; it is stopped and {environment.alias} rolled back"
        )
    return {"done": False, "status": status}


def parse_deadline(value: str) -> datetime:
    try:
        return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"'deployment.deadline' {value[:40]!r} is not a UTC timestamp like 2026-01-31T12:00:00Z") from None
