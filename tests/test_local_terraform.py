"""The real Terraform applied to the local AWS of `local_aws.server` (moto on 127.0.0.1, no AWS
account), and the moto gaps `local_aws.compat` closes for it, each checked through boto3.

The Terraform tests run in file order on one apply: the resources exist under the names Terraform
outputs, a second plan has nothing to change, a commit runs through the state machine Terraform
created, and destroy finishes in bounded time. They are skipped, with the reason shown, without
terraform, a filesystem mirror of the AWS provider, or the zips of `make package`.
"""

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import hcl2
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hcl2 import SerializationOptions

from local_aws.server import REGION, start_local_aws
from local_aws.terraform import LocalTerraform, missing_prerequisites

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "sls-cd"
ROLE = "arn:aws:iam::123456789012:role/compat"
HANDLER_FUNCTIONS = {
    "validate_code": f"{PREFIX}-validate-code",
    "run_tests": f"{PREFIX}-run-tests",
    "staging": f"{PREFIX}-deploy-staging",
    "production": f"{PREFIX}-deploy-production",
    "rollback": f"{PREFIX}-rollback",
    "waiter": f"{PREFIX}-waiter",
}
# Both groups shift all at once: Wait states sleep in real time, a canary would take five minutes.
VARIABLES = {
    "staging_deployment_config": "CodeDeployDefault.LambdaAllAtOnce",
    "production_deployment_config": "CodeDeployDefault.LambdaAllAtOnce",
    "poll_interval_seconds": "1",
}
DESTROY_LIMIT_SECONDS = 120
PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": {"ok": True}, "End": True}}})

AwsClient = Callable[[str], Any]


@dataclass
class Applied:
    terraform: LocalTerraform
    outputs: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


def variable(name: str) -> str:
    """The value the tests apply: VARIABLES, else the default in variables.tf."""
    if name in VARIABLES:
        return VARIABLES[name]
    options = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
    with open(ROOT / "variables.tf", encoding="utf-8") as file:
        document = hcl2.load(file, serialization_options=options)
    return str(next(entry[name]["default"] for entry in document["variable"] if name in entry))


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    url, stop = start_local_aws()
    yield url
    stop()


@pytest.fixture(scope="module")
def aws(endpoint: str) -> AwsClient:
    config = Config(retries={"max_attempts": 1})

    def client(service: str) -> Any:
        return boto3.client(
            service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local", config=config
        )

    return client


@pytest.fixture(scope="module")
def applied(endpoint: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Applied]:
    reason = missing_prerequisites()
    if reason:
        pytest.skip(f"Terraform not applied locally: {reason}")
    terraform = LocalTerraform.prepare(endpoint, workdir=tmp_path_factory.mktemp("local-terraform"), variables=VARIABLES)
    seconds: dict[str, float] = {}
    for step, command in (("init", terraform.init), ("apply", terraform.apply)):
        started = time.monotonic()
        command()
        seconds[step] = time.monotonic() - started
    yield Applied(terraform=terraform, outputs=terraform.outputs(), seconds=seconds)
    terraform.close()
    timings = ", ".join(f"{step} {value:.1f} s" for step, value in seconds.items())
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        print(f"\nlocal terraform wall times: {timings}")


# ---------------------------------------------------------------------------
# terraform apply, plan, destroy
# ---------------------------------------------------------------------------


def test_apply_creates_the_state_machine_with_the_handlers(applied: Applied, aws: AwsClient) -> None:
    arn = applied.outputs["state_machine_arn"]
    machine = aws("stepfunctions").describe_state_machine(stateMachineArn=arn)

    assert machine["name"] == f"{PREFIX}-deployment" and machine["type"] == "STANDARD"
    assert machine["tracingConfiguration"] == {"enabled": True}
    assert machine["loggingConfiguration"]["level"] == "ALL"
    assert machine["encryptionConfiguration"]["type"] == "CUSTOMER_MANAGED_KMS_KEY"
    definition = machine["definition"]
    assert "${" not in definition, "a templatefile() placeholder was left in the definition"
    functions = aws("lambda")
    for step in ("validate_code", "run_tests", "staging", "production", "rollback"):
        assert functions.get_function(FunctionName=HANDLER_FUNCTIONS[step])["Configuration"]["FunctionArn"] in definition, step
    assert applied.outputs["notification_topic_arn"] in definition
    assert applied.outputs["deployments_table_name"] in definition


def test_apply_creates_the_six_handlers_with_their_environment(applied: Applied, aws: AwsClient) -> None:
    outputs = applied.outputs
    alias = outputs["alias_name"]
    functions = {
        "STAGING_FUNCTION_NAME": outputs["staging_function_name"],
        "PRODUCTION_FUNCTION_NAME": outputs["production_function_name"],
        "ALIAS_NAME": alias,
    }
    tests = {"APP_HANDLER": variable("app_handler"), "TEST_CASES_PATH": variable("test_cases_path")}
    deploy = {
        "ALIAS_NAME": alias,
        "CODEDEPLOY_APPLICATION": outputs["codedeploy_application_name"],
        "RELEASE_BUCKET": outputs["release_bucket_name"],
        "DEPLOYMENTS_TABLE": outputs["deployments_table_name"],
        "DEPLOYMENT_TIMEOUT_SECONDS": variable("deployment_timeout_seconds"),
        "POLL_INTERVAL_SECONDS": variable("poll_interval_seconds"),
    }
    expected = {
        "validate_code": tests,
        "run_tests": tests | functions | {"TEST_TIMEOUT_SECONDS": variable("test_timeout_seconds")},
        "staging": deploy | {"FUNCTION_NAME": outputs["staging_function_name"], "DEPLOYMENT_GROUP": "staging"},
        "production": deploy | {"FUNCTION_NAME": outputs["production_function_name"], "DEPLOYMENT_GROUP": "production"},
        "rollback": functions | {"DEPLOYMENTS_TABLE": outputs["deployments_table_name"]},
        "waiter": {"STATE_MACHINE_ARN": outputs["state_machine_arn"]},
    }

    for step, name in HANDLER_FUNCTIONS.items():
        configuration = aws("lambda").get_function(FunctionName=name)["Configuration"]
        assert configuration["Handler"] == "handler.handler", name
        assert configuration["TracingConfig"] == {"Mode": "Active"}, name
        assert len(configuration["Layers"]) == 1, name
        variables = configuration["Environment"]["Variables"]
        assert variables == {"POWERTOOLS_SERVICE_NAME": name, "POWERTOOLS_LOG_LEVEL": "INFO"} | expected[step], name


def test_apply_creates_the_app_functions_with_live_on_version_1(applied: Applied, aws: AwsClient) -> None:
    functions = aws("lambda")
    for output in ("staging_function_name", "production_function_name"):
        name = applied.outputs[output]
        alias = functions.get_alias(FunctionName=name, Name=applied.outputs["alias_name"])
        assert alias["FunctionVersion"] == "1", name
        assert functions.get_function(FunctionName=name)["Configuration"]["Handler"] == variable("app_handler")

    # The alias runs the code Terraform uploaded, in-process.
    answer = functions.invoke(FunctionName=f"{applied.outputs['staging_function_name']}:live", Payload=json.dumps({"name": "Ada"}))
    assert json.loads(json.loads(answer["Payload"].read())["body"])["message"] == "Hello, Ada!"


def test_apply_creates_the_deployment_groups_with_their_configs(applied: Applied, aws: AwsClient) -> None:
    codedeploy = aws("codedeploy")
    application = applied.outputs["codedeploy_application_name"]
    for group in ("staging", "production"):
        info = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=group)["deploymentGroupInfo"]
        assert info["deploymentConfigName"] == variable(f"{group}_deployment_config"), group
        assert info["deploymentStyle"] == {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}, group
        assert info["autoRollbackConfiguration"]["enabled"] is True, group
    production = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName="production")["deploymentGroupInfo"]
    assert production["alarmConfiguration"]["alarms"] == [{"name": f"{PREFIX}-production-errors"}]


def test_apply_creates_the_pipeline_source_build_deploy(applied: Applied, aws: AwsClient) -> None:
    pipeline = aws("codepipeline").get_pipeline(name=applied.outputs["pipeline_name"])["pipeline"]

    assert [stage["name"] for stage in pipeline["stages"]] == ["Source", "Build", "Deploy"]
    assert pipeline["pipelineType"] == "V2" and pipeline["executionMode"] == "QUEUED"
    source, build, deploy = (stage["actions"][0] for stage in pipeline["stages"])
    assert source["actionTypeId"]["provider"] == "S3"
    assert source["configuration"]["S3Bucket"] == applied.outputs["source_bucket_name"]
    assert build["actionTypeId"]["provider"] == "CodeBuild"
    assert deploy["actionTypeId"]["provider"] == "Lambda"
    assert deploy["configuration"]["FunctionName"] == HANDLER_FUNCTIONS["waiter"]


def test_a_second_plan_has_no_changes(applied: Applied) -> None:
    started = time.monotonic()
    result = applied.terraform.plan()
    applied.seconds["plan"] = time.monotonic() - started

    assert result.returncode == 0, f"terraform plan -detailed-exitcode exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"


def changed_app(version: str) -> bytes:
    """build/app.zip with the app's VERSION changed, so that its code differs from what runs."""
    out = io.BytesIO()
    with zipfile.ZipFile(ROOT / "build" / "app.zip") as source, zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            text = source.read(entry).decode()
            target.writestr(entry, text.replace('VERSION = "1.0.0"', f'VERSION = "{version}"') if entry.filename == "app.py" else text)
    return out.getvalue()


def empty_bucket(aws: AwsClient, bucket: str) -> None:
    s3 = aws("s3")
    listed = s3.list_object_versions(Bucket=bucket)
    for entry in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])


def test_a_commit_runs_through_the_state_machine(applied: Applied, aws: AwsClient) -> None:
    outputs = applied.outputs
    artifacts, states = outputs["artifact_bucket_name"], aws("stepfunctions")
    try:
        aws("s3").put_object(Bucket=artifacts, Key="BuildOutput/c0ffee1.zip", Body=changed_app("1.1.0"))
        document = {"commit_id": "c0ffee1", "artifact": {"bucket": artifacts, "key": "BuildOutput/c0ffee1.zip"}}
        arn = states.start_execution(stateMachineArn=outputs["state_machine_arn"], name="c0ffee1-run", input=json.dumps(document))["executionArn"]
        described = states.describe_execution(executionArn=arn)
        deadline = time.monotonic() + 60
        while described["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.2)
            described = states.describe_execution(executionArn=arn)

        assert described["status"] == "SUCCEEDED", f"{described.get('error')}: {described.get('cause')}"
        functions = aws("lambda")
        for environment in ("staging", "production"):
            alias = functions.get_alias(FunctionName=outputs[f"{environment}_function_name"], Name=outputs["alias_name"])
            assert alias["FunctionVersion"] == "2", environment
        key = {"commit_id": {"S": "c0ffee1"}, "execution_name": {"S": "c0ffee1-run"}}
        record = aws("dynamodb").get_item(TableName=outputs["deployments_table_name"], Key=key)["Item"]
        assert record["status"] == {"S": "SUCCEEDED"}
    finally:
        # The buckets are not force_destroy: Terraform, like AWS, refuses to delete them with objects in.
        for bucket in (artifacts, outputs["release_bucket_name"]):
            empty_bucket(aws, bucket)


def test_destroy_completes_in_bounded_time(applied: Applied, aws: AwsClient) -> None:
    started = time.monotonic()
    applied.terraform.destroy(timeout=DESTROY_LIMIT_SECONDS + 60)
    applied.seconds["destroy"] = time.monotonic() - started

    assert applied.seconds["destroy"] < DESTROY_LIMIT_SECONDS
    machines = aws("stepfunctions").list_state_machines()["stateMachines"]
    assert applied.outputs["state_machine_arn"] not in [machine["stateMachineArn"] for machine in machines]
    assert applied.outputs["codedeploy_application_name"] not in aws("codedeploy").list_applications()["applications"]


# ---------------------------------------------------------------------------
# The server, and each gap of local_aws.compat, through boto3
# ---------------------------------------------------------------------------


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
    arn = states.create_state_machine(name="versioned", definition=PASS_MACHINE, roleArn="arn:aws:iam::123456789012:role/versioned", publish=True)[
        "stateMachineArn"
    ]
    states.update_state_machine(stateMachineArn=arn, definition=PASS_MACHINE, publish=True)

    listed = states.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [version["stateMachineVersionArn"] for version in listed] == [f"{arn}:2", f"{arn}:1"]
    first_page = states.list_state_machine_versions(stateMachineArn=arn, maxResults=1)
    assert len(first_page["stateMachineVersions"]) == 1
    second_page = states.list_state_machine_versions(stateMachineArn=arn, maxResults=1, nextToken=first_page["nextToken"])
    assert second_page["stateMachineVersions"][0]["stateMachineVersionArn"] == f"{arn}:1" and "nextToken" not in second_page
    unversioned = states.create_state_machine(name="unversioned", definition=PASS_MACHINE, roleArn="arn:aws:iam::123456789012:role/versioned")
    assert states.list_state_machine_versions(stateMachineArn=unversioned["stateMachineArn"])["stateMachineVersions"] == []


def _role(aws: AwsClient, name: str, service: str) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
    return str(aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


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
    codedeploy.create_deployment_group(
        applicationName="compat-alarms", deploymentGroupName="watched", serviceRoleArn=ROLE, alarmConfiguration=alarms
    )
    codedeploy.create_deployment_group(applicationName="compat-alarms", deploymentGroupName="unwatched", serviceRoleArn=ROLE)

    watched = codedeploy.get_deployment_group(applicationName="compat-alarms", deploymentGroupName="watched")["deploymentGroupInfo"]
    unwatched = codedeploy.get_deployment_group(applicationName="compat-alarms", deploymentGroupName="unwatched")["deploymentGroupInfo"]
    assert watched["alarmConfiguration"] == alarms
    assert unwatched["alarmConfiguration"] == {"enabled": False, "ignorePollAlarmFailure": False, "alarms": []}
    assert "loadBalancerInfo" not in watched


CODEBUILD_ENVIRONMENT = {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL"}


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
        codebuild.create_project(
            name="compat-s3-build", source={"type": "S3"}, artifacts={"type": "NO_ARTIFACTS"}, environment=CODEBUILD_ENVIRONMENT, serviceRole=role
        )


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
