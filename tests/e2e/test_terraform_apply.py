"""The real Terraform applied to the local AWS (tests/e2e/conftest.py): the resources exist as
configured, a plan after a deployment has nothing to change, and destroy finishes in bounded time."""

import json
import re
import time
from collections import Counter
from pathlib import Path

import hcl2
import pytest
from hcl2 import SerializationOptions

from e2e.deployments import PREFIX, ROOT, AwsClient, new_version, push
from local_aws.stack import DEFAULT_VARIABLES, LocalStack
from tools.package import HANDLERS

DESTROY_LIMIT_SECONDS = 120


def variable(name: str) -> str:
    """The value the stack is applied with: DEFAULT_VARIABLES, else the default in variables.tf."""
    if name in DEFAULT_VARIABLES:
        return DEFAULT_VARIABLES[name]
    options = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
    with open(ROOT / "variables.tf", encoding="utf-8") as file:
        document = hcl2.load(file, serialization_options=options)
    return str(next(entry[name]["default"] for entry in document["variable"] if name in entry))


def test_apply_creates_the_state_machine_with_the_handlers(stack: LocalStack, aws: AwsClient) -> None:
    arn = stack.outputs["state_machine_arn"]
    machine = aws("stepfunctions").describe_state_machine(stateMachineArn=arn)

    assert machine["name"] == f"{PREFIX}-deployment" and machine["type"] == "STANDARD"
    assert machine["tracingConfiguration"] == {"enabled": True}
    assert machine["loggingConfiguration"]["level"] == "ALL"
    assert machine["encryptionConfiguration"]["type"] == "CUSTOMER_MANAGED_KMS_KEY"
    definition = machine["definition"]
    assert "${" not in definition, "a templatefile() placeholder was left in the definition"
    functions = aws("lambda")
    for step in ("validate_code", "run_tests", "staging", "production", "rollback"):
        assert functions.get_function(FunctionName=stack.handler_functions[step])["Configuration"]["FunctionArn"] in definition, step
    assert stack.outputs["notification_topic_arn"] in definition
    assert stack.outputs["deployments_table_name"] in definition


def test_apply_creates_every_handler_with_its_environment(stack: LocalStack, aws: AwsClient) -> None:
    outputs = stack.outputs
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
        "waiter": {"STATE_MACHINE_ARN": outputs["state_machine_arn"], "STOP_FUNCTION_NAME": stack.handler_functions["stop_deployment"]},
        "stop_deployment": {
            "STATE_MACHINE_ARN": outputs["state_machine_arn"],
            "ROLLBACK_FUNCTION_NAME": stack.handler_functions["rollback"],
            "DEPLOYMENTS_TABLE": outputs["deployments_table_name"],
            "NOTIFICATION_TOPIC_ARN": outputs["notification_topic_arn"],
        },
    }

    assert sorted(stack.handler_functions) == sorted(HANDLERS) == sorted(expected)
    for step, name in stack.handler_functions.items():
        assert name.startswith(f"{PREFIX}-"), name
        configuration = aws("lambda").get_function(FunctionName=name)["Configuration"]
        assert configuration["Handler"] == "handler.handler", name
        assert configuration["TracingConfig"] == {"Mode": "Active"}, name
        assert len(configuration["Layers"]) == 1, name
        variables = configuration["Environment"]["Variables"]
        assert variables == {"POWERTOOLS_SERVICE_NAME": name, "POWERTOOLS_LOG_LEVEL": "INFO"} | expected[step], name


def test_apply_creates_the_app_functions_with_live_on_a_published_version(stack: LocalStack, aws: AwsClient) -> None:
    functions = aws("lambda")
    for output in ("staging_function_name", "production_function_name"):
        name = stack.outputs[output]
        alias = functions.get_alias(FunctionName=name, Name=stack.outputs["alias_name"])
        assert alias["FunctionVersion"].isdigit(), f"{name}: live must point at a published version"
        assert functions.get_function(FunctionName=name)["Configuration"]["Handler"] == variable("app_handler")

    # The alias runs the code Terraform uploaded, in-process.
    answer = functions.invoke(FunctionName=f"{stack.outputs['staging_function_name']}:live", Payload=json.dumps({"name": "Ada"}))
    assert json.loads(json.loads(answer["Payload"].read())["body"])["message"] == "Hello, Ada!"


def test_apply_creates_the_deployment_groups_with_their_configs(stack: LocalStack, aws: AwsClient) -> None:
    codedeploy = aws("codedeploy")
    application = stack.outputs["codedeploy_application_name"]
    for group in ("staging", "production"):
        info = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=group)["deploymentGroupInfo"]
        assert info["deploymentConfigName"] == variable(f"{group}_deployment_config"), group
        assert info["deploymentStyle"] == {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}, group
        assert info["autoRollbackConfiguration"]["enabled"] is True, group
    production = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName="production")["deploymentGroupInfo"]
    assert production["alarmConfiguration"]["alarms"] == [{"name": f"{PREFIX}-production-errors"}]


def test_apply_creates_the_pipeline_source_build_deploy(stack: LocalStack, aws: AwsClient) -> None:
    pipeline = aws("codepipeline").get_pipeline(name=stack.outputs["pipeline_name"])["pipeline"]

    assert [stage["name"] for stage in pipeline["stages"]] == ["Source", "Build", "Deploy"]
    assert pipeline["pipelineType"] == "V2" and pipeline["executionMode"] == "QUEUED"
    source, build, deploy = (stage["actions"][0] for stage in pipeline["stages"])
    assert source["actionTypeId"]["provider"] == "S3"
    assert source["configuration"]["S3Bucket"] == stack.outputs["source_bucket_name"]
    assert build["actionTypeId"]["provider"] == "CodeBuild"
    assert deploy["actionTypeId"]["provider"] == "Lambda"
    assert deploy["configuration"]["FunctionName"] == stack.handler_functions["waiter"]


def readme_resource_counts() -> tuple[int, dict[str, int], str]:
    """The README's table of what `terraform apply` creates: the total it states, each resource
    type with its count, and the text after the table (what other variables add)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## What `terraform apply` creates") :]
    total = re.search(r"(\d+) resources", section)
    assert total, "the README no longer says how many resources the defaults create"
    table, after = section.split("\n\n")[2], section.split("\n\n")[3]
    counts = {name: int(count) for name, count in re.findall(r"`(aws_\w+)` ×(\d+)", table)}
    return int(total.group(1)), counts, after


def managed_resource_type(address: str) -> str | None:
    """`module.a.aws_s3_bucket.this["x"]` -> aws_s3_bucket; a data source -> None."""
    parts = re.sub(r"\[[^\]]*\]", "", address).split(".")
    while parts[0] == "module":
        parts = parts[2:]
    return None if parts[0] == "data" else parts[0]


def test_the_readme_says_what_apply_creates(stack: LocalStack) -> None:
    listed = stack.terraform.run("state", "list").stdout.split()
    created = Counter(kind for kind in map(managed_resource_type, listed) if kind)
    total, documented, other_variables = readme_resource_counts()
    assert {name: created[name] for name in documented} == documented
    # What the e2e stack's own variables add beyond the defaults is named below the table.
    assert all(f"`{name}`" in other_variables for name in set(created) - set(documented)), sorted(set(created) - set(documented))
    assert total == sum(documented.values())


def test_a_plan_after_a_deployment_has_no_changes(stack: LocalStack, tmp_path: Path) -> None:
    outcome = push(stack, tmp_path, "plan0001", new_version("1.0.1"))
    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution.get("cause")

    started = time.monotonic()
    result = stack.terraform.plan()
    stack.seconds["plan"] = time.monotonic() - started
    # Terraform ignores the code and alias CodeDeploy moved: no revert, no redeploy.
    assert result.returncode == 0, f"terraform plan -detailed-exitcode exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"


@pytest.mark.destroys_stack
def test_destroy_completes_in_bounded_time(stack: LocalStack, aws: AwsClient) -> None:
    stack.destroy()

    assert stack.seconds["destroy"] < DESTROY_LIMIT_SECONDS
    machines = aws("stepfunctions").list_state_machines()["stateMachines"]
    assert stack.outputs["state_machine_arn"] not in [machine["stateMachineArn"] for machine in machines]
    assert stack.outputs["codedeploy_application_name"] not in aws("codedeploy").list_applications()["applications"]
    assert stack.outputs["pipeline_name"] not in [pipeline["name"] for pipeline in aws("codepipeline").list_pipelines()["pipelines"]]
