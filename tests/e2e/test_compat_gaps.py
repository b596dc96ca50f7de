"""Each moto gap local_aws.compat closes, checked through boto3 over HTTP against the local AWS
that Terraform is applied to (no Terraform needed for these)."""

import io
import json
import time
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

from e2e.deployments import AwsClient

ROLE = "arn:aws:iam::123456789012:role/compat"
PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": {"ok": True}, "End": True}}})
CODEBUILD_ENVIRONMENT = {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL"}


def _role(aws: AwsClient, name: str, service: str) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
    return str(aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def test_the_server_runs_state_machine_executions(aws: AwsClient) -> None:
    states = aws("stepfunctions")
    machine = states.create_state_machine(name="server-pass", definition=PASS_MACHINE, roleArn="arn:aws:iam::123456789012:role/server-pass")
    execution = states.start_execution(stateMachineArn=machine["stateMachineArn"], name="run-1", input="{}")

    described = states.describe_execution(executionArn=execution["executionArn"])
    deadline = time.monotonic() + 10
    while described["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
        described = states.describe_execution(executionArn=execution["executionArn"])
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"ok": True}


def test_validate_state_machine_definition(aws: AwsClient) -> None:
    states = aws("stepfunctions")

    assert states.validate_state_machine_definition(definition=PASS_MACHINE)["result"] == "OK"
    not_json = states.validate_state_machine_definition(definition="{not json")
    assert not_json["result"] == "FAIL" and not_json["diagnostics"][0]["code"] == "INVALID_JSON_DESCRIPTION"
    not_asl = states.validate_state_machine_definition(definition=json.dumps({"States": "none"}))
    assert not_asl["result"] == "FAIL" and not_asl["diagnostics"][0]["severity"] == "ERROR"


def test_list_state_machine_versions(aws: AwsClient) -> None:
    states = aws("stepfunctions")
    arn = states.create_state_machine(name="versioned", definition=PASS_MACHINE, roleArn="arn:aws:iam::123456789012:role/versioned", publish=True)["stateMachineArn"]
    states.update_state_machine(stateMachineArn=arn, definition=PASS_MACHINE, publish=True)

    listed = states.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [version["stateMachineVersionArn"] for version in listed] == [f"{arn}:2", f"{arn}:1"]
    first_page = states.list_state_machine_versions(stateMachineArn=arn, maxResults=1)
    assert len(first_page["stateMachineVersions"]) == 1
    second_page = states.list_state_machine_versions(stateMachineArn=arn, maxResults=1, nextToken=first_page["nextToken"])
    assert second_page["stateMachineVersions"][0]["stateMachineVersionArn"] == f"{arn}:1" and "nextToken" not in second_page
    unversioned = states.create_state_machine(name="unversioned", definition=PASS_MACHINE, roleArn="arn:aws:iam::123456789012:role/versioned")
    assert states.list_state_machine_versions(stateMachineArn=unversioned["stateMachineArn"])["stateMachineVersions"] == []


def test_pipeline_metadata_timestamps_are_epoch_seconds(aws: AwsClient) -> None:
    pipelines = aws("codepipeline")
    raw: dict[str, Any] = {}
    pipelines.meta.events.register("after-call.codepipeline.GetPipeline", lambda http_response, **_: raw.update(json.loads(http_response.content)))
    stage = {"name": "{}", "actions": [{"name": "A", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}}]}
    pipelines.create_pipeline(
        pipeline={
            "name": "compat-pipeline",
            "roleArn": _role(aws, "compat-pipeline", "codepipeline.amazonaws.com"),
            "artifactStore": {"type": "S3", "location": "compat-artifacts"},
            "stages": [stage | {"name": "One"}, stage | {"name": "Two"}],
        }
    )

    metadata = pipelines.get_pipeline(name="compat-pipeline")["metadata"]
    assert isinstance(raw["metadata"]["created"], (int, float)) and isinstance(raw["metadata"]["updated"], (int, float))
    assert abs(metadata["created"].timestamp() - time.time()) < 300


def test_delete_deployment_group(aws: AwsClient) -> None:
    codedeploy = aws("codedeploy")
    codedeploy.create_application(applicationName="compat-groups", computePlatform="Lambda")
    codedeploy.create_deployment_group(applicationName="compat-groups", deploymentGroupName="doomed", serviceRoleArn=ROLE)

    assert codedeploy.delete_deployment_group(applicationName="compat-groups", deploymentGroupName="doomed")["hooksNotCleanedUp"] == []
    with pytest.raises(ClientError, match="DeploymentGroupDoesNotExistException"):
        codedeploy.get_deployment_group(applicationName="compat-groups", deploymentGroupName="doomed")
    codedeploy.delete_deployment_group(applicationName="compat-groups", deploymentGroupName="doomed")


def test_delete_application(aws: AwsClient) -> None:
    codedeploy = aws("codedeploy")
    codedeploy.create_application(applicationName="compat-app", computePlatform="Lambda")
    codedeploy.create_deployment_group(applicationName="compat-app", deploymentGroupName="group", serviceRoleArn=ROLE)

    codedeploy.delete_application(applicationName="compat-app")
    assert "compat-app" not in codedeploy.list_applications()["applications"]
    with pytest.raises(ClientError, match="ApplicationDoesNotExistException"):
        codedeploy.get_deployment_group(applicationName="compat-app", deploymentGroupName="group")
    codedeploy.delete_application(applicationName="compat-app")


def test_deployment_group_reports_its_alarms_and_no_load_balancer(aws: AwsClient) -> None:
    codedeploy = aws("codedeploy")
    codedeploy.create_application(applicationName="compat-alarms", computePlatform="Lambda")
    alarms = {"enabled": True, "ignorePollAlarmFailure": False, "alarms": [{"name": "errors"}]}
    codedeploy.create_deployment_group(applicationName="compat-alarms", deploymentGroupName="watched", serviceRoleArn=ROLE, alarmConfiguration=alarms)
    codedeploy.create_deployment_group(applicationName="compat-alarms", deploymentGroupName="unwatched", serviceRoleArn=ROLE)

    watched = codedeploy.get_deployment_group(applicationName="compat-alarms", deploymentGroupName="watched")["deploymentGroupInfo"]
    unwatched = codedeploy.get_deployment_group(applicationName="compat-alarms", deploymentGroupName="unwatched")["deploymentGroupInfo"]
    assert watched["alarmConfiguration"] == alarms
    assert unwatched["alarmConfiguration"] == {"enabled": False, "ignorePollAlarmFailure": False, "alarms": []}
    assert "loadBalancerInfo" not in watched


def test_codebuild_project_for_codepipeline_needs_no_location(aws: AwsClient) -> None:
    codebuild = aws("codebuild")
    role = _role(aws, "compat-build", "codebuild.amazonaws.com")

    project = codebuild.create_project(
        name="compat-pipeline-build",
        source={"type": "CODEPIPELINE", "buildspec": "buildspec.yml"},
        artifacts={"type": "CODEPIPELINE"},
        environment=CODEBUILD_ENVIRONMENT,
        serviceRole=role,
    )["project"]
    assert project["source"]["type"] == "CODEPIPELINE" and project["artifacts"]["type"] == "CODEPIPELINE"
    with pytest.raises(ClientError, match="location is required"):
        codebuild.create_project(name="compat-s3-build", source={"type": "S3"}, artifacts={"type": "NO_ARTIFACTS"}, environment=CODEBUILD_ENVIRONMENT, serviceRole=role)


def test_codebuild_project_keeps_its_encryption_key(aws: AwsClient) -> None:
    codebuild = aws("codebuild")
    key = aws("kms").create_key()["KeyMetadata"]["Arn"]

    codebuild.create_project(
        name="compat-encrypted-build",
        source={"type": "NO_SOURCE", "buildspec": "version: 0.2"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment=CODEBUILD_ENVIRONMENT,
        serviceRole=_role(aws, "compat-encrypted-build", "codebuild.amazonaws.com"),
        encryptionKey=key,
    )
    assert codebuild.batch_get_projects(names=["compat-encrypted-build"])["projects"][0]["encryptionKey"] == key


def test_bucket_notification_reports_eventbridge(aws: AwsClient) -> None:
    s3 = aws("s3")
    s3.create_bucket(Bucket="compat-events")
    assert "EventBridgeConfiguration" not in s3.get_bucket_notification_configuration(Bucket="compat-events")

    s3.put_bucket_notification_configuration(Bucket="compat-events", NotificationConfiguration={"EventBridgeConfiguration": {}})
    assert s3.get_bucket_notification_configuration(Bucket="compat-events")["EventBridgeConfiguration"] == {}


def test_bucket_policy_conditions_are_evaluated(aws: AwsClient) -> None:
    s3 = aws("s3")
    insecure_transport = {"Bool": {"aws:SecureTransport": "false"}}
    for bucket, condition in (("compat-tls-only", insecure_transport), ("compat-locked", None)):
        s3.create_bucket(Bucket=bucket)
        statement: dict[str, Any] = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}
        if condition:
            statement["Condition"] = condition
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))

    s3.put_object(Bucket="compat-tls-only", Key="k", Body=b"over TLS")
    assert s3.get_object(Bucket="compat-tls-only", Key="k")["Body"].read() == b"over TLS"
    with pytest.raises(ClientError, match="403"):
        s3.put_object(Bucket="compat-locked", Key="k", Body=b"denied")


WHO_AM_I = """
import boto3

def handler(event, context):
    identity = boto3.client("sts").get_caller_identity()["Arn"]
    try:
        boto3.client("s3").list_buckets()
        listed = "allowed"
    except Exception as error:
        listed = type(error).__name__ + ": " + str(error)
    return {"identity": identity, "list_buckets": listed}
"""


def test_a_function_runs_as_its_role_and_its_calls_are_checked(aws: AwsClient) -> None:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("who.py", WHO_AM_I)
    role = _role(aws, "compat-identity", "lambda.amazonaws.com")
    aws("lambda").create_function(FunctionName="compat-identity-fn", Runtime="python3.12", Role=role, Handler="who.handler", Code={"ZipFile": code.getvalue()})

    answer = json.loads(aws("lambda").invoke(FunctionName="compat-identity-fn", Payload=b"{}")["Payload"].read())

    assert answer["identity"] == "arn:aws:sts::123456789012:assumed-role/compat-identity/compat-identity-fn"
    # The role has no policy: s3:ListAllMyBuckets is denied as AWS would deny it.
    assert answer["list_buckets"].startswith("ClientError: An error occurred (AccessDenied)")
    assert "compat-identity-fn is not authorized to perform: s3:ListAllMyBuckets" in answer["list_buckets"]
